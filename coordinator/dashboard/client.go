package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/fleetprune/fleetprune/coordinator/dashboard/view"
)

// DefaultClientTimeout bounds one call when the caller's context has no deadline.
const DefaultClientTimeout = 30 * time.Second

// maxAnswer bounds an answer the client reads.
const maxAnswer = 64 << 20

// Client calls the dashboard's endpoints of a coordinator; `fleetprune rollout` and
// `fleetprune report` use it.
type Client struct {
	base *url.URL
	http *http.Client
}

// NewClient returns a client of the coordinator at server, such as
// "http://127.0.0.1:8080".
func NewClient(server string) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(server, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("dashboard client: server %q is not an http(s) URL with a host", server)
	}
	return &Client{base: u, http: &http.Client{}}, nil
}

// ResponseError is an error answer of the API.
type ResponseError struct {
	Status int
	APIError
}

func (e *ResponseError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s (%s, HTTP %d)", e.APIError.Error, e.Field, e.Status)
	}
	return fmt.Sprintf("%s (HTTP %d)", e.APIError.Error, e.Status)
}

// do calls method path with the JSON of in (nil: no body) and decodes the answer into
// out (nil: none), or returns its raw bytes when out is a *[]byte.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultClientTimeout)
		defer cancel()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("api %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, body)
	if err != nil {
		return fmt.Errorf("api %s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("api %s %s: %w (is the coordinator running? start one with `fleetprune up`)", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("api %s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		e := &ResponseError{Status: resp.StatusCode}
		if json.Unmarshal(b, &e.APIError) != nil || e.APIError.Error == "" {
			e.APIError.Error = strings.TrimSpace(string(b))
			if e.APIError.Error == "" {
				e.APIError.Error = http.StatusText(resp.StatusCode)
			}
		}
		return e
	}
	switch o := out.(type) {
	case nil:
		return nil
	case *[]byte:
		*o = b
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("api %s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// Overview returns every class, device and rollout.
func (c *Client) Overview(ctx context.Context) (*view.Overview, error) {
	var o view.Overview
	return &o, c.do(ctx, http.MethodGet, "/api/v1/overview", nil, &o)
}

// Rollouts lists the rollouts of class ("" for every class).
func (c *Client) Rollouts(ctx context.Context, class string) ([]view.RolloutView, error) {
	path := "/api/v1/rollouts"
	if class != "" {
		path += "?class=" + url.QueryEscape(class)
	}
	var rs []view.RolloutView
	return rs, c.do(ctx, http.MethodGet, path, nil, &rs)
}

// Rollout returns one rollout.
func (c *Client) Rollout(ctx context.Context, class, id string) (*view.RolloutView, error) {
	var r view.RolloutView
	return &r, c.do(ctx, http.MethodGet, "/api/v1/rollouts/"+url.PathEscape(class)+"/"+url.PathEscape(id), nil, &r)
}

// RolloutAction pauses, resumes, promotes or aborts a rollout. An action not allowed
// in the rollout's state is a *ResponseError with Status 409.
func (c *Client) RolloutAction(ctx context.Context, class, id string, action Action, reason string) (*ActionResult, error) {
	var res ActionResult
	path := "/api/v1/rollouts/" + url.PathEscape(class) + "/" + url.PathEscape(id) + "/" + url.PathEscape(string(action))
	return &res, c.do(ctx, http.MethodPost, path, ActionRequest{Reason: reason}, &res)
}

// Retune starts a new tuning run of class.
func (c *Client) Retune(ctx context.Context, class, reason string) (*ActionResult, error) {
	var res ActionResult
	return &res, c.do(ctx, http.MethodPost, "/api/v1/classes/"+url.PathEscape(class)+"/retune", ActionRequest{Reason: reason}, &res)
}

// Report returns the self-contained HTML report of class.
func (c *Client) Report(ctx context.Context, class string) ([]byte, error) {
	var b []byte
	return b, c.do(ctx, http.MethodGet, "/api/v1/classes/"+url.PathEscape(class)+"/report", nil, &b)
}
