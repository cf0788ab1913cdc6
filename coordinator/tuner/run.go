package tuner

import (
	"context"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/fleetprune/fleetprune/coordinator/reconcile"
	"github.com/fleetprune/fleetprune/profiles"
)

// Run reconciles every class until ctx ends. Changes to a class, its tuning state or
// its reports enqueue that class; device and presence changes enqueue every class.
// It returns ctx's error, or an error when the first listing of classes fails.
func (r *Reconciler) Run(ctx context.Context) error {
	q := reconcile.NewQueue()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Watch first, then list, so no change between the two is missed.
	wch := r.etcd.Watch(clientv3.WithRequireLeader(wctx), profiles.Prefix, clientv3.WithPrefix())
	names, err := r.store.Classes.Names(ctx)
	if err != nil {
		return fmt.Errorf("tuner: list classes: %w", err)
	}
	for _, n := range names {
		q.Add(n)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.Run(wctx, r, r.cfg.Log)
	}()
	for {
		select {
		case <-ctx.Done():
			cancel()
			<-done
			return ctx.Err()
		case resp, ok := <-wch:
			if !ok || resp.Err() != nil {
				// The watch broke (etcd leader change, compaction): re-list.
				cancel()
				<-done
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return r.Run(ctx)
			}
			for _, ev := range resp.Events {
				r.enqueue(ctx, q, string(ev.Kv.Key))
			}
		}
	}
}

// enqueue maps a changed key to the classes it concerns.
func (r *Reconciler) enqueue(ctx context.Context, q *reconcile.Queue, key string) {
	rest, ok := strings.CutPrefix(key, profiles.Prefix)
	if !ok {
		return
	}
	kind, name, _ := strings.Cut(rest, "/")
	switch kind {
	case "classes", "tuning":
		q.Add(name)
	case "reports":
		class, _, _ := strings.Cut(name, "/")
		q.Add(class)
	case "devices", "presence":
		names, err := r.store.Classes.Names(ctx)
		if err != nil {
			return
		}
		for _, n := range names {
			q.Add(n)
		}
	}
}
