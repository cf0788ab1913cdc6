package profiles

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// DefaultPresenceTTL is how long a device stays present after its last heartbeat.
const DefaultPresenceTTL = 15 * time.Second

// Presence keeps one etcd lease per device: the key presence/<id> lives under it, so a
// device that stops sending heartbeats goes stale when its lease expires, even if the
// coordinator that granted it died. The leader calls Touch on every heartbeat.
type Presence struct {
	kv    clientv3.KV
	lease clientv3.Lease
	ka    *keepAliveStream
	ttl   time.Duration

	mu     sync.Mutex
	leases map[string]clientv3.LeaseID
}

// presenceValue is stored at presence/<id>.
type presenceValue struct {
	Since time.Time `json:"since"`
	Lease int64     `json:"lease"`
}

// NewPresence returns a presence tracker on cli with leases of ttl (rounded up to
// whole seconds; DefaultPresenceTTL if ttl <= 0). Close it when done.
func NewPresence(cli *clientv3.Client, ttl time.Duration) *Presence {
	if ttl <= 0 {
		ttl = DefaultPresenceTTL
	}
	return &Presence{kv: cli, lease: cli, ka: newKeepAliveStream(cli), ttl: ttl, leases: map[string]clientv3.LeaseID{}}
}

// Close releases the stream that renews leases. Leases stay until they expire.
func (p *Presence) Close() { p.ka.close() }

// TTL returns the lease length.
func (p *Presence) TTL() time.Duration { return p.ttl }

// Touch marks device id present for another TTL: it renews the device's lease, or,
// when there is none (first heartbeat, or the device went stale), grants one and
// writes presence/<id> under it in a fenced transaction. It returns ErrNotLeader when
// the fence fails.
func (p *Presence) Touch(ctx context.Context, f Fence, id string) error {
	if err := ValidateName(id); err != nil {
		return fmt.Errorf("profiles: presence: device id: %v: %w", err, ErrInvalid)
	}
	p.mu.Lock()
	lease, known := p.leases[id]
	p.mu.Unlock()
	if !known {
		// Another coordinator may have granted it before a failover.
		resp, err := p.kv.Get(ctx, PresenceKey(id))
		if err != nil {
			return fmt.Errorf("profiles: presence of %s: %w", id, err)
		}
		if len(resp.Kvs) > 0 && resp.Kvs[0].Lease != 0 {
			lease, known = clientv3.LeaseID(resp.Kvs[0].Lease), true
		}
	}
	if known {
		ttl, err := p.ka.renew(ctx, lease)
		if err != nil {
			return fmt.Errorf("profiles: presence of %s: renew lease: %w", id, err)
		}
		if ttl > 0 {
			p.remember(id, lease)
			return nil
		}
		p.forget(id)
	}
	return p.grant(ctx, f, id)
}

func (p *Presence) grant(ctx context.Context, f Fence, id string) error {
	// Two heartbeats of one device may race here; the presence key is created only
	// if absent, and the loser adopts the winner's lease, so renewals always renew
	// the lease the key lives under.
	for attempt := 0; attempt < 3; attempt++ {
		g, err := p.lease.Grant(ctx, int64((p.ttl+time.Second-1)/time.Second))
		if err != nil {
			return fmt.Errorf("profiles: presence of %s: grant lease: %w", id, err)
		}
		b, err := json.Marshal(presenceValue{Since: time.Now().UTC(), Lease: int64(g.ID)})
		if err != nil {
			return fmt.Errorf("profiles: presence of %s: %w", id, err)
		}
		absent := clientv3.Compare(clientv3.CreateRevision(PresenceKey(id)), "=", 0)
		_, err = f.Commit(ctx, p.kv, []clientv3.Cmp{absent}, clientv3.OpPut(PresenceKey(id), string(b), clientv3.WithLease(g.ID)))
		if err == nil {
			p.remember(id, g.ID)
			return nil
		}
		// Do not leave an unused lease behind; it would expire anyway.
		_, _ = p.lease.Revoke(context.WithoutCancel(ctx), g.ID)
		if !errors.Is(err, ErrConflict) {
			return fmt.Errorf("profiles: presence of %s: %w", id, err)
		}
		resp, err := p.kv.Get(ctx, PresenceKey(id))
		if err != nil {
			return fmt.Errorf("profiles: presence of %s: %w", id, err)
		}
		if len(resp.Kvs) > 0 && resp.Kvs[0].Lease != 0 {
			p.remember(id, clientv3.LeaseID(resp.Kvs[0].Lease))
			return nil
		}
		// The winner's key is gone again (expired or forgotten): try once more.
	}
	return fmt.Errorf("profiles: presence of %s: key keeps changing: %w", id, ErrConflict)
}

// Forget revokes device id's lease, so it is stale at once (for a device that is
// deregistered). It is not an error if the device was not present.
func (p *Presence) Forget(ctx context.Context, f Fence, id string) error {
	resp, err := f.Commit(ctx, p.kv, nil, clientv3.OpGet(PresenceKey(id)), clientv3.OpDelete(PresenceKey(id)))
	if err != nil {
		return fmt.Errorf("profiles: forget presence of %s: %w", id, err)
	}
	p.forget(id)
	if kvs := resp.Responses[0].GetResponseRange().GetKvs(); len(kvs) > 0 && kvs[0].Lease != 0 {
		if _, err := p.lease.Revoke(ctx, clientv3.LeaseID(kvs[0].Lease)); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return fmt.Errorf("profiles: forget presence of %s: revoke: %w", id, err)
		}
	}
	return nil
}

// Present reports whether device id's lease is alive.
func (p *Presence) Present(ctx context.Context, id string) (bool, error) {
	resp, err := p.kv.Get(ctx, PresenceKey(id), clientv3.WithCountOnly())
	if err != nil {
		return false, fmt.Errorf("profiles: presence of %s: %w", id, err)
	}
	return resp.Count > 0, nil
}

// PresentIDs returns the set of devices whose lease is alive; every other registered
// device is stale.
func (p *Presence) PresentIDs(ctx context.Context) (map[string]bool, error) {
	resp, err := p.kv.Get(ctx, PresencePrefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("profiles: list presence: %w", err)
	}
	out := make(map[string]bool, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out[strings.TrimPrefix(string(kv.Key), PresencePrefix)] = true
	}
	return out, nil
}

func (p *Presence) remember(id string, l clientv3.LeaseID) {
	p.mu.Lock()
	p.leases[id] = l
	p.mu.Unlock()
}

func (p *Presence) forget(id string) {
	p.mu.Lock()
	delete(p.leases, id)
	p.mu.Unlock()
}
