package coordinator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/fleetprune/fleetprune/profiles"
	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
)

// presenceWorkers is how many devices' presence leases are renewed at once.
const presenceWorkers = 16

// Presence is the last heartbeat of a device that the leading coordinator saw. It is
// kept in the leader's memory; etcd holds presence as a lease (profiles.Presence).
type Presence struct {
	LastSeen         time.Time `json:"last_seen"`
	InstalledVariant string    `json:"installed_variant,omitempty"`
	Seq              uint64    `json:"seq,omitempty"`
}

// presence is the leader's view of heartbeats: which devices are registered (so a
// heartbeat needs no etcd read) and which devices sent a heartbeat since the last
// flush. Every PresenceFlush the leader renews the presence lease of each of those
// (profiles.Presence: presence/<id> lives under a lease of StaleAfter), so a
// thousand agents cost lease renewals, not writes to the raft log.
type presence struct {
	mu      sync.Mutex
	known   map[string]string // device -> class
	pending map[string]Presence
	last    map[string]Presence  // device -> last heartbeat seen while leading
	asked   map[string]time.Time // device -> when it was last asked to register again
}

func newPresence() *presence {
	return &presence{known: map[string]string{}, pending: map[string]Presence{}, last: map[string]Presence{}, asked: map[string]time.Time{}}
}

// mayAsk reports whether device may be asked to register again now, at most once
// per every, so an agent that keeps naming a stale class is not flooded.
func (p *presence) mayAsk(device string, every time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.asked[device]) < every {
		return false
	}
	p.asked[device] = now
	return true
}

func (p *presence) setKnown(device, class string) {
	p.mu.Lock()
	p.known[device] = class
	p.mu.Unlock()
}

func (p *presence) class(device string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.known[device]
	return c, ok
}

// merge sets the class of every device in known; devices registered meanwhile stay.
func (p *presence) merge(known map[string]string) {
	p.mu.Lock()
	for d, c := range known {
		p.known[d] = c
	}
	p.mu.Unlock()
}

func (p *presence) seen(device string, pr Presence) {
	p.mu.Lock()
	p.pending[device] = pr
	p.last[device] = pr
	p.mu.Unlock()
}

// lastSeen returns the last heartbeat of device seen while leading.
func (p *presence) lastSeen(device string) (Presence, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pr, ok := p.last[device]
	return pr, ok
}

func (p *presence) take() map[string]Presence {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.pending
	p.pending = map[string]Presence{}
	return out
}

// handleHeartbeat records a heartbeat of a registered device. A heartbeat sent as a
// request (with a reply subject) is answered with a RegisterReply carrying the
// device's current class: that is how an agent learns it was re-placed. A malformed
// heartbeat, or one of an unknown device, is logged and dropped; an unknown device
// that asked for a reply is told to register again.
func (c *Coordinator) handleHeartbeat(ctx context.Context, m *nats.Msg) {
	hb, err := c.decodeHeartbeat(m.Subject, m.Data)
	if err != nil {
		c.metrics.heartbeats.WithLabelValues("rejected").Inc()
		c.log.Debug("heartbeat rejected", "subject", truncate(m.Subject, 128), "reason", err)
		c.replyRegister(m, &fpv1.RegisterReply{Reason: err.Error()})
		return
	}
	class, ok := c.presence.class(hb.GetDeviceId())
	if !ok {
		c.metrics.heartbeats.WithLabelValues("unknown_device").Inc()
		c.replyRegister(m, &fpv1.RegisterReply{Reason: "device " + hb.GetDeviceId() + " is not registered; register again"})
		return
	}
	c.metrics.heartbeats.WithLabelValues("ok").Inc()
	if hb.GetClass() != class && m.Reply == "" && c.presence.mayAsk(hb.GetDeviceId(), c.cfg.StaleAfter) {
		c.askReregister(hb.GetDeviceId())
	}
	c.presence.seen(hb.GetDeviceId(), Presence{LastSeen: time.Now().UTC(), InstalledVariant: hb.GetInstalledVariant(), Seq: hb.GetSeq()})
	c.replyRegister(m, c.registerReply(class))
}

// decodeHeartbeat checks size and subject and decodes a heartbeat.
func (c *Coordinator) decodeHeartbeat(subject string, data []byte) (*fpv1.Heartbeat, error) {
	if err := checkSize("heartbeat", len(data), c.cfg.MaxMessageBytes); err != nil {
		return nil, err
	}
	toks, err := subjectTokens(subject, []string{"fleet", "v1", "heartbeat"}, 4)
	if err != nil {
		return nil, err
	}
	hb := &fpv1.Heartbeat{}
	if err := proto.Unmarshal(data, hb); err != nil {
		return nil, fmt.Errorf("%w: heartbeat: decode: %v", errRejected, err)
	}
	if err := checkName("device_id", hb.GetDeviceId()); err != nil {
		return nil, err
	}
	if hb.GetDeviceId() != toks[0] {
		return nil, fmt.Errorf("%w: heartbeat of %s on the subject of %s", errRejected, hb.GetDeviceId(), truncate(toks[0], 64))
	}
	if len(hb.GetInstalledVariant()) > maxNameLen || len(hb.GetClass()) > maxNameLen {
		return nil, fmt.Errorf("%w: heartbeat: class or installed_variant longer than %d bytes", errRejected, maxNameLen)
	}
	return hb, nil
}

// replyRegister answers m with r when m was sent as a request.
func (c *Coordinator) replyRegister(m *nats.Msg, r *fpv1.RegisterReply) {
	if m.Reply == "" {
		return
	}
	b, err := proto.Marshal(r)
	if err != nil {
		c.log.Error("encode reply", "err", err)
		return
	}
	if err := m.Respond(b); err != nil {
		c.log.Debug("reply", "err", err)
	}
}

// flushPresence renews, every PresenceFlush, the presence lease of each device that
// sent a heartbeat since the last flush, until ctx ends or the fence fails.
func (c *Coordinator) flushPresence(ctx context.Context, f profiles.Fence) error {
	pres := profiles.NewPresence(c.etcd, c.cfg.StaleAfter)
	defer pres.Close()
	tick := time.NewTicker(c.cfg.PresenceFlush)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if err := c.touchAll(ctx, f, pres, c.presence.take()); err != nil {
			return err
		}
	}
}

// touchAll renews the presence leases of batch's devices with a few workers. It
// returns ErrNotLeader when the fence failed; other failures are logged and the
// device is tried again at its next heartbeat.
func (c *Coordinator) touchAll(ctx context.Context, f profiles.Fence, pres *profiles.Presence, batch map[string]Presence) error {
	ids := make(chan string)
	var notLeader atomic.Bool
	var wg sync.WaitGroup
	for range min(presenceWorkers, len(batch)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ids {
				cctx, cancel := c.callCtx(ctx)
				err := pres.Touch(cctx, f, id)
				cancel()
				switch {
				case errors.Is(err, ErrNotLeader):
					notLeader.Store(true)
				case err != nil && ctx.Err() == nil:
					c.log.Warn("presence", "device", id, "err", err)
				}
			}
		}()
	}
	for id := range batch {
		if notLeader.Load() || ctx.Err() != nil {
			break
		}
		ids <- id
	}
	close(ids)
	wg.Wait()
	if notLeader.Load() {
		return ErrNotLeader
	}
	return nil
}
