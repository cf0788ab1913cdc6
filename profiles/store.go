package profiles

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// listPage is how many keys one List request reads.
const listPage = 500

// Collection is one kind of record in etcd under a key prefix, such as the device
// classes under classes/. Values are JSON. Reads are plain; writes are fenced.
type Collection[T any] struct {
	kv       clientv3.KV
	prefix   string
	noun     string
	nameOf   func(T) string
	validate func(T) error
}

// Key returns the key of the record named name.
func (c Collection[T]) Key(name string) string { return c.prefix + name }

// Get returns the record named name, or ErrNotFound.
func (c Collection[T]) Get(ctx context.Context, name string) (T, error) {
	v, _, err := c.GetWithRev(ctx, name)
	return v, err
}

// GetWithRev returns the record named name and its mod revision (for PutIfRev), or
// ErrNotFound.
func (c Collection[T]) GetWithRev(ctx context.Context, name string) (T, int64, error) {
	var v T
	if err := ValidateName(name); err != nil {
		return v, 0, fmt.Errorf("profiles: get %s: name: %v: %w", c.noun, err, ErrNotFound)
	}
	resp, err := c.kv.Get(ctx, c.Key(name))
	if err != nil {
		return v, 0, fmt.Errorf("profiles: get %s %s: %w", c.noun, name, err)
	}
	if len(resp.Kvs) == 0 {
		return v, 0, fmt.Errorf("profiles: %s %s: %w", c.noun, name, ErrNotFound)
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, &v); err != nil {
		return v, 0, fmt.Errorf("profiles: decode %s at %s: %w", c.noun, resp.Kvs[0].Key, err)
	}
	return v, resp.Kvs[0].ModRevision, nil
}

// List returns every record, ordered by name.
func (c Collection[T]) List(ctx context.Context) ([]T, error) {
	var out []T
	end := clientv3.GetPrefixRangeEnd(c.prefix)
	key := c.prefix
	for {
		resp, err := c.kv.Get(ctx, key, clientv3.WithRange(end), clientv3.WithLimit(listPage))
		if err != nil {
			return nil, fmt.Errorf("profiles: list %ss: %w", c.noun, err)
		}
		for _, kv := range resp.Kvs {
			var v T
			if err := json.Unmarshal(kv.Value, &v); err != nil {
				return nil, fmt.Errorf("profiles: decode %s at %s: %w", c.noun, kv.Key, err)
			}
			out = append(out, v)
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return out, nil
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// Names returns the names of every record, ordered.
func (c Collection[T]) Names(ctx context.Context) ([]string, error) {
	resp, err := c.kv.Get(ctx, c.prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("profiles: list %ss: %w", c.noun, err)
	}
	names := make([]string, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		names = append(names, strings.TrimPrefix(string(kv.Key), c.prefix))
	}
	return names, nil
}

// PutOp validates v and returns the operation that stores it, for composing into one
// fenced transaction with Fence.Commit. The error is an ErrorList.
func (c Collection[T]) PutOp(v T) (clientv3.Op, error) {
	if err := c.validate(v); err != nil {
		return clientv3.Op{}, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return clientv3.Op{}, fmt.Errorf("profiles: encode %s: %w", c.noun, err)
	}
	return clientv3.OpPut(c.Key(c.nameOf(v)), string(b)), nil
}

// Put validates and stores v, fenced. It returns an ErrorList (ErrInvalid) when v
// is invalid and ErrNotLeader when the fence fails.
func (c Collection[T]) Put(ctx context.Context, f Fence, v T) error {
	op, err := c.PutOp(v)
	if err != nil {
		return fmt.Errorf("profiles: put %s: %w", c.noun, err)
	}
	if _, err := f.Commit(ctx, c.kv, nil, op); err != nil {
		return fmt.Errorf("profiles: put %s %s: %w", c.noun, c.nameOf(v), err)
	}
	return nil
}

// PutIfRev stores v only if its key still has mod revision rev (0: only if absent),
// fenced. It returns ErrConflict when the key changed, ErrNotLeader when the fence
// fails.
func (c Collection[T]) PutIfRev(ctx context.Context, f Fence, v T, rev int64) error {
	op, err := c.PutOp(v)
	if err != nil {
		return fmt.Errorf("profiles: put %s: %w", c.noun, err)
	}
	cond := clientv3.Compare(clientv3.ModRevision(c.Key(c.nameOf(v))), "=", rev)
	if _, err := f.Commit(ctx, c.kv, []clientv3.Cmp{cond}, op); err != nil {
		return fmt.Errorf("profiles: put %s %s: %w", c.noun, c.nameOf(v), err)
	}
	return nil
}

// Delete removes the record named name, fenced. It returns ErrNotFound when there is
// none and ErrNotLeader when the fence fails.
func (c Collection[T]) Delete(ctx context.Context, f Fence, name string) error {
	resp, err := f.Commit(ctx, c.kv, nil, clientv3.OpDelete(c.Key(name)))
	if err != nil {
		return fmt.Errorf("profiles: delete %s %s: %w", c.noun, name, err)
	}
	if resp.Responses[0].GetResponseDeleteRange().GetDeleted() == 0 {
		return fmt.Errorf("profiles: delete %s %s: %w", c.noun, name, ErrNotFound)
	}
	return nil
}

// Store keeps classes, models and devices in etcd under Prefix.
type Store struct {
	kv      clientv3.KV
	Classes Collection[DeviceClass]
	Models  Collection[Model]
	Devices Collection[Device]
}

// NewStore returns a store on kv (a *clientv3.Client, or a namespaced KV).
func NewStore(kv clientv3.KV) *Store {
	return &Store{
		kv: kv,
		Classes: Collection[DeviceClass]{kv: kv, prefix: ClassPrefix, noun: "class",
			nameOf: func(c DeviceClass) string { return c.Name }, validate: func(c DeviceClass) error { return c.Validate("") }},
		Models: Collection[Model]{kv: kv, prefix: ModelPrefix, noun: "model",
			nameOf: func(m Model) string { return m.Name }, validate: func(m Model) error { return m.Validate("") }},
		Devices: Collection[Device]{kv: kv, prefix: DevicePrefix, noun: "device",
			nameOf: func(d Device) string { return d.ID }, validate: func(d Device) error { return d.Validate("") }},
	}
}

// ApplyFleet stores every class and model of f in one fenced transaction: all or
// nothing. A class's baseModel must be in f or already stored. Classes and models
// already stored but absent from f stay (delete them one by one). It returns an
// ErrorList (ErrInvalid) naming every problem, ErrNotLeader when the fence fails.
func (s *Store) ApplyFleet(ctx context.Context, f Fence, fleet *Fleet) error {
	if err := fleet.Validate(); err != nil {
		return fmt.Errorf("profiles: apply fleet: %w", err)
	}
	var ops []clientv3.Op
	for _, m := range fleet.Models {
		op, err := s.Models.PutOp(m)
		if err != nil {
			return fmt.Errorf("profiles: apply fleet: %w", err)
		}
		ops = append(ops, op)
	}
	var conds []clientv3.Cmp
	external := map[string]bool{} // base models outside the document
	for _, c := range fleet.Classes {
		op, err := s.Classes.PutOp(c)
		if err != nil {
			return fmt.Errorf("profiles: apply fleet: %w", err)
		}
		ops = append(ops, op)
		if _, ok := fleet.Model(c.BaseModel); !ok {
			if !external[c.BaseModel] {
				conds = append(conds, clientv3.Compare(clientv3.CreateRevision(ModelKey(c.BaseModel)), ">", 0))
			}
			external[c.BaseModel] = true
		}
	}
	_, err := f.Commit(ctx, s.kv, conds, ops...)
	if !errors.Is(err, ErrConflict) {
		if err != nil {
			return fmt.Errorf("profiles: apply fleet: %w", err)
		}
		return nil
	}
	// A base model outside the document is missing: say which.
	missing := map[string]bool{}
	for name := range external {
		if _, gerr := s.Models.Get(ctx, name); errors.Is(gerr, ErrNotFound) {
			missing[name] = true
		}
	}
	var e errs
	for i, c := range fleet.Classes {
		if missing[c.BaseModel] {
			e.add(join(index("classes", i), "baseModel"), 0, "model %q is neither in the document nor registered", c.BaseModel)
		}
	}
	if len(e.list) == 0 {
		return fmt.Errorf("profiles: apply fleet: a base model was deleted meanwhile, try again: %w", ErrConflict)
	}
	return fmt.Errorf("profiles: apply fleet: %w", e.err())
}
