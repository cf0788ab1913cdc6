package view

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/fleetprune/fleetprune/profiles"
	"github.com/fleetprune/fleetprune/rollout"
)

// RolloutView is one rollout as stored under rollouts/<class>/<rollout>, with the
// figures the dashboard shows beside it.
type RolloutView struct {
	rollout.Rollout
	// ModRevision is the etcd revision of the rollout's last change.
	ModRevision int64 `json:"modRevision"`
	// StagePercent is the current stage's share of the class, 0 before the first.
	StagePercent float64 `json:"stagePercent"`
	// StagesPassed counts the stages whose gate passed.
	StagesPassed int `json:"stagesPassed"`
	// Final is true once the rollout has ended.
	Final bool `json:"final"`
}

func decodeRollouts(kvs []*mvccpb.KeyValue) ([]RolloutView, error) {
	out := make([]RolloutView, 0, len(kvs))
	for _, kv := range kvs {
		var ro rollout.Rollout
		if err := json.Unmarshal(kv.Value, &ro); err != nil {
			return nil, fmt.Errorf("view: decode rollout at %s: %w", kv.Key, err)
		}
		rest := strings.TrimPrefix(string(kv.Key), profiles.RolloutPrefix)
		if class, id, ok := strings.Cut(rest, "/"); ok {
			// The key names the rollout even if the record is incomplete.
			ro.Class, ro.ID = class, id
		}
		out = append(out, RolloutView{Rollout: ro, ModRevision: kv.ModRevision,
			StagePercent: ro.StagePercent(), StagesPassed: ro.StagesPassed(), Final: ro.State.Final()})
	}
	return out, nil
}

// Rollouts returns the rollouts of class (of every class when class is ""), ordered
// by class and id, or an error wrapping profiles.ErrNotFound when the class does not
// exist.
func (r *Reader) Rollouts(ctx context.Context, class string) ([]RolloutView, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	prefixes := []string{profiles.RolloutPrefix}
	if class != "" {
		if err := profiles.ValidateName(class); err != nil {
			return nil, fmt.Errorf("view: class %q: %v: %w", class, err, profiles.ErrNotFound)
		}
		prefixes = []string{profiles.RolloutPrefix + class + "/", profiles.ClassKey(class)}
	}
	s, err := r.read(ctx, prefixes...)
	if err != nil {
		return nil, err
	}
	if class != "" {
		if _, err := classOf(s, class); err != nil {
			return nil, err
		}
	}
	return decodeRollouts(s.kvs[prefixes[0]])
}

// Rollout returns one rollout, or an error wrapping profiles.ErrNotFound when there is
// no such class or rollout.
func (r *Reader) Rollout(ctx context.Context, class, id string) (*RolloutView, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	if err := profiles.ValidateName(class); err != nil {
		return nil, fmt.Errorf("view: class %q: %v: %w", class, err, profiles.ErrNotFound)
	}
	if err := profiles.ValidateName(id); err != nil {
		return nil, fmt.Errorf("view: rollout %q: %v: %w", id, err, profiles.ErrNotFound)
	}
	s, err := r.read(ctx, profiles.RolloutKey(class, id))
	if err != nil {
		return nil, err
	}
	rs, err := decodeRollouts(s.kvs[profiles.RolloutKey(class, id)])
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("view: no rollout %q in class %q; GET /api/v1/rollouts lists them: %w", id, class, profiles.ErrNotFound)
	}
	return &rs[0], nil
}
