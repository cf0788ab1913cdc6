package rollout

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/fleetprune/fleetprune/profiles"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Store keeps rollouts in etcd under rollouts/<class>/<rollout>, as JSON. Writes are
// fenced on the coordinator's leadership and compare-and-swap on the revision read.
type Store struct {
	kv clientv3.KV
}

// NewStore returns a store on kv.
func NewStore(kv clientv3.KV) *Store { return &Store{kv: kv} }

// Get returns the rollout and its mod revision (for Put), or profiles.ErrNotFound.
func (s *Store) Get(ctx context.Context, class, id string) (Rollout, int64, error) {
	if profiles.ValidateName(class) != nil || profiles.ValidateName(id) != nil {
		return Rollout{}, 0, fmt.Errorf("rollout: get %s/%s: %w", class, id, profiles.ErrNotFound)
	}
	resp, err := s.kv.Get(ctx, profiles.RolloutKey(class, id))
	if err != nil {
		return Rollout{}, 0, fmt.Errorf("rollout: get %s/%s: %w", class, id, err)
	}
	if len(resp.Kvs) == 0 {
		return Rollout{}, 0, fmt.Errorf("rollout: %s/%s: %w", class, id, profiles.ErrNotFound)
	}
	var r Rollout
	if err := json.Unmarshal(resp.Kvs[0].Value, &r); err != nil {
		return Rollout{}, 0, fmt.Errorf("rollout: decode %s: %w", resp.Kvs[0].Key, err)
	}
	return r, resp.Kvs[0].ModRevision, nil
}

// Stored is a rollout with the mod revision it was read at.
type Stored struct {
	Rollout
	Rev int64
}

// List returns the rollouts of class ("" for every class), ordered by key.
func (s *Store) List(ctx context.Context, class string) ([]Stored, error) {
	prefix := profiles.RolloutPrefix
	if class != "" {
		prefix += class + "/"
	}
	resp, err := s.kv.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("rollout: list %s: %w", strings.TrimSuffix(prefix, "/"), err)
	}
	out := make([]Stored, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var r Rollout
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return nil, fmt.Errorf("rollout: decode %s: %w", kv.Key, err)
		}
		out = append(out, Stored{Rollout: r, Rev: kv.ModRevision})
	}
	return out, nil
}

// Active returns the class's rollout that has not finished, if any.
func (s *Store) Active(ctx context.Context, class string) (Stored, bool, error) {
	all, err := s.List(ctx, class)
	if err != nil {
		return Stored{}, false, err
	}
	for _, r := range all {
		if !r.State.Final() {
			return r, true, nil
		}
	}
	return Stored{}, false, nil
}

// Put stores r if its key is still at mod revision rev (0: only if absent), fenced,
// and returns the new revision. It returns profiles.ErrConflict when the rollout
// changed since it was read and profiles.ErrNotLeader when the fence fails.
func (s *Store) Put(ctx context.Context, f profiles.Fence, r Rollout, rev int64) (int64, error) {
	if profiles.ValidateName(r.Class) != nil || profiles.ValidateName(r.ID) != nil {
		return 0, fmt.Errorf("rollout: put %s/%s: bad class or id: %w", r.Class, r.ID, profiles.ErrInvalid)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return 0, fmt.Errorf("rollout: encode %s: %w", r.ID, err)
	}
	key := profiles.RolloutKey(r.Class, r.ID)
	resp, err := f.Commit(ctx, s.kv, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", rev)}, clientv3.OpPut(key, string(b)))
	if err != nil {
		return 0, fmt.Errorf("rollout: put %s/%s: %w", r.Class, r.ID, err)
	}
	return resp.Header.Revision, nil
}

// Create stores a new rollout, refusing when the class has an unfinished one
// (profiles.ErrConflict) or the ID is taken.
func (s *Store) Create(ctx context.Context, f profiles.Fence, r Rollout) (int64, error) {
	if a, ok, err := s.Active(ctx, r.Class); err != nil {
		return 0, err
	} else if ok {
		return 0, fmt.Errorf("rollout: create %s: class %s has rollout %s in state %s: %w", r.ID, r.Class, a.ID, a.State, profiles.ErrConflict)
	}
	return s.Put(ctx, f, r, 0)
}
