package coordinator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/fleetprune/fleetprune/profiles"
)

// DefaultClientTimeout bounds one API call when the caller's context has no deadline.
const DefaultClientTimeout = 30 * time.Second

// Client calls a coordinator's HTTP API; the CLI uses it.
type Client struct {
	base *url.URL
	http *http.Client
}

// NewClient returns a client of the API at server, such as "http://127.0.0.1:8080".
func NewClient(server string) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(server, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("api client: server %q is not an http(s) URL with a host", server)
	}
	return &Client{base: u, http: &http.Client{}}, nil
}

// ResponseError is an error answer of the API.
type ResponseError struct {
	Status int
	APIError
}

func (e *ResponseError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (HTTP %d)", e.APIError.Error, e.Status)
	if len(e.Errors) > 1 {
		b.Reset()
		fmt.Fprintf(&b, "%d errors (HTTP %d):", len(e.Errors), e.Status)
		for _, fe := range e.Errors {
			fmt.Fprintf(&b, "\n  %s: %s", fe.Field, fe.Error)
		}
	}
	return b.String()
}

func (cl *Client) do(ctx context.Context, method, path, ctype string, body []byte, out any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultClientTimeout)
		defer cancel()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, cl.base.String()+path, rd)
	if err != nil {
		return fmt.Errorf("api %s %s: %w", method, path, err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := cl.http.Do(req)
	if err != nil {
		return fmt.Errorf("api %s %s: %w (is the coordinator running? start one with `fleetprune up`)", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("api %s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		re := &ResponseError{Status: resp.StatusCode}
		if json.Unmarshal(b, &re.APIError) != nil || re.APIError.Error == "" {
			re.APIError.Error = strings.TrimSpace(string(b))
		}
		return re
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("api %s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// Apply sends a fleet document (YAML or JSON). An invalid document gives a
// *ResponseError listing every error by field path.
func (cl *Client) Apply(ctx context.Context, doc []byte) (*ApplyResult, error) {
	var res ApplyResult
	if err := cl.do(ctx, http.MethodPost, "/api/v1/apply", "application/yaml", doc, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// UploadArtifact stores ONNX bytes in the model bucket and returns their digest.
func (cl *Client) UploadArtifact(ctx context.Context, onnx []byte) (*ArtifactResult, error) {
	var res ArtifactResult
	if err := cl.do(ctx, http.MethodPost, "/api/v1/artifacts", "application/octet-stream", onnx, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Classes lists the classes with their device counts.
func (cl *Client) Classes(ctx context.Context) ([]ClassStatus, error) {
	var out []ClassStatus
	return out, cl.do(ctx, http.MethodGet, "/api/v1/classes", "", nil, &out)
}

// Devices lists the devices with their presence.
func (cl *Client) Devices(ctx context.Context) ([]DeviceStatus, error) {
	var out []DeviceStatus
	return out, cl.do(ctx, http.MethodGet, "/api/v1/devices", "", nil, &out)
}

// Device returns one device; an unknown id gives a *ResponseError with status 404.
func (cl *Client) Device(ctx context.Context, id string) (*DeviceDetail, error) {
	var out DeviceDetail
	if err := cl.do(ctx, http.MethodGet, "/api/v1/devices/"+url.PathEscape(id), "", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Models lists the base models.
func (cl *Client) Models(ctx context.Context) ([]profiles.Model, error) {
	var out []profiles.Model
	return out, cl.do(ctx, http.MethodGet, "/api/v1/models", "", nil, &out)
}

// Variants lists the published variants of class ("" for all).
func (cl *Client) Variants(ctx context.Context, class string) ([]Variant, error) {
	var out []Variant
	path := "/api/v1/variants"
	if class != "" {
		path += "?class=" + url.QueryEscape(class)
	}
	return out, cl.do(ctx, http.MethodGet, path, "", nil, &out)
}

// IsNotFound reports whether err is an API answer 404.
func IsNotFound(err error) bool {
	var re *ResponseError
	return errors.As(err, &re) && re.Status == http.StatusNotFound
}
