package profiles

import (
	"context"
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Errors of fenced writes.
var (
	// ErrNotLeader is returned when a fenced write is refused because the writer's
	// leader key is gone or was re-created: it no longer leads.
	ErrNotLeader = errors.New("not the leader: fenced write refused")
	// ErrConflict is returned when a fenced write's own precondition failed (the key
	// changed or exists already) while the fence held.
	ErrConflict = errors.New("conflict: the stored value changed")
)

// Fence guards a leader's writes: a write commits only while the leader key still has
// the create revision it had when leadership was won, as in concurrency.Election's
// Proclaim.
type Fence struct {
	// Key is the leader's key in the election (Election.Key()).
	Key string
	// Rev is that key's create revision (Election.Rev()).
	Rev int64
}

// ElectionFence returns the fence of an election that e won.
func ElectionFence(e *concurrency.Election) Fence { return Fence{Key: e.Key(), Rev: e.Rev()} }

// Cmp is the transaction condition the fence stands for.
func (f Fence) Cmp() clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(f.Key), "=", f.Rev)
}

// String formats the fence for logs.
func (f Fence) String() string { return fmt.Sprintf("%s@%d", f.Key, f.Rev) }

// Commit runs ops as one transaction, guarded by the fence and conds: all of them
// apply or none. It returns ErrNotLeader when the fence failed and ErrConflict when
// the fence held but a condition in conds failed.
func (f Fence) Commit(ctx context.Context, kv clientv3.KV, conds []clientv3.Cmp, ops ...clientv3.Op) (*clientv3.TxnResponse, error) {
	if f.Key == "" || f.Rev <= 0 {
		return nil, fmt.Errorf("fenced write: empty fence: %w", ErrNotLeader)
	}
	cmps := append([]clientv3.Cmp{f.Cmp()}, conds...)
	resp, err := kv.Txn(ctx).If(cmps...).Then(ops...).Else(clientv3.OpGet(f.Key)).Commit()
	if err != nil {
		return nil, fmt.Errorf("fenced write: %w", err)
	}
	if resp.Succeeded {
		return resp, nil
	}
	kvs := resp.Responses[0].GetResponseRange().GetKvs()
	if len(kvs) == 0 || kvs[0].CreateRevision != f.Rev {
		return resp, fmt.Errorf("fenced write by %s: %w", f, ErrNotLeader)
	}
	return resp, ErrConflict
}

// Check reports whether the fence still holds: nil, or ErrNotLeader. Use it before a
// side effect outside etcd (publishing a command) that no write guards.
func (f Fence) Check(ctx context.Context, kv clientv3.KV) error {
	_, err := f.Commit(ctx, kv, nil)
	return err
}
