package agent

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"google.golang.org/protobuf/proto"

	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
)

// Bounds on what a registration reply may ask for.
const (
	minHeartbeatInterval = 100 * time.Millisecond
	maxHeartbeatInterval = time.Hour
	maxReplyBytes        = 64 << 10
)

// errNotAccepted marks a registration the coordinator declined.
var errNotAccepted = errors.New("registration not accepted")

// register sends RegisterRequests until one is accepted, backing off exponentially
// with jitter between attempts, and keeps the reply's class, key and intervals. It
// returns an error only when ctx ends.
func (a *Agent) register(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		err := a.registerOnce(ctx)
		if err == nil {
			a.met.registrations.WithLabelValues(a.id, "accepted").Inc()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		result := "error"
		if errors.Is(err, errNotAccepted) {
			result = "declined"
		}
		a.met.registrations.WithLabelValues(a.id, result).Inc()
		d := backoff(attempt, a.cfg.retryMin, a.cfg.retryMax)
		a.log.Warn("registration failed; retrying", "attempt", attempt+1, "in", d, "err", err)
		if sleepCtx(ctx, d) != nil {
			return ctx.Err()
		}
	}
}

func (a *Agent) registerOnce(ctx context.Context) error {
	req := &fpv1.RegisterRequest{
		DeviceId:         a.id,
		Profile:          a.profile,
		AgentVersion:     Version,
		InstalledVariant: a.InstalledVariant(),
	}
	b, err := proto.Marshal(req)
	if err != nil {
		return fmt.Errorf("register: encode: %w", err)
	}
	rctx, cancel := context.WithTimeout(ctx, a.cfg.registerTimeout)
	defer cancel()
	sentAt := time.Now()
	msg, err := a.nc.RequestWithContext(rctx, fpv1.SubjectRegister, b)
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	reply, err := decodeRegisterReply(msg.Data)
	if err != nil {
		return err
	}
	if !reply.GetAccepted() {
		return fmt.Errorf("%w: %s", errNotAccepted, reply.GetReason())
	}
	hb := time.Duration(reply.GetHeartbeatIntervalMs()) * time.Millisecond
	if hb == 0 {
		hb = a.cfg.heartbeatInterval
	}
	stream := reply.GetCommandStream()
	if stream == "" {
		stream = fpv1.StreamCommands
	}
	a.mu.Lock()
	old := a.class
	a.class = reply.GetClass()
	a.coordKey = ed25519.PublicKey(reply.GetCoordinatorPublicKey())
	a.hbInterval = hb
	a.stream = stream
	a.registeredAt = sentAt
	a.mu.Unlock()
	a.log.Info("registered", "class", reply.GetClass(), "previous_class", old, "heartbeat", hb)
	return nil
}

// decodeRegisterReply decodes and checks a registration reply: a class that can be a
// subject token (or none), a 32-byte key when accepted, a sane heartbeat interval and
// stream name.
func decodeRegisterReply(b []byte) (*fpv1.RegisterReply, error) {
	if len(b) == 0 || len(b) > maxReplyBytes {
		return nil, fmt.Errorf("register: reply is %d bytes, want 1..%d", len(b), maxReplyBytes)
	}
	r := &fpv1.RegisterReply{}
	if err := proto.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("register: decode reply: %w", err)
	}
	if !r.GetAccepted() {
		return r, nil
	}
	if c := r.GetClass(); c != "" && !namePattern.MatchString(c) {
		return nil, fmt.Errorf("register: reply class %q is not a valid class name", c)
	}
	if n := len(r.GetCoordinatorPublicKey()); n != ed25519.PublicKeySize {
		return nil, fmt.Errorf("register: reply coordinator key is %d bytes, want %d", n, ed25519.PublicKeySize)
	}
	if ms := r.GetHeartbeatIntervalMs(); ms != 0 {
		d := time.Duration(ms) * time.Millisecond
		if ms < 0 || d < minHeartbeatInterval || d > maxHeartbeatInterval {
			return nil, fmt.Errorf("register: reply heartbeat interval %dms, want %s..%s", ms, minHeartbeatInterval, maxHeartbeatInterval)
		}
	}
	if s := r.GetCommandStream(); s != "" && !namePattern.MatchString(s) {
		return nil, fmt.Errorf("register: reply command stream %q is not a valid stream name", s)
	}
	return r, nil
}

// backoff is the delay before retry attempt+1: lo doubled per attempt, capped at
// hi, with up to 50% random jitter taken off so that retrying agents spread out.
func backoff(attempt int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 0; i < attempt && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d - randDuration(d/2)
}

// randDuration is uniform in [0, d).
func randDuration(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(d)))
}

// sleepCtx waits d or until ctx ends, returning ctx's error in that case.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
