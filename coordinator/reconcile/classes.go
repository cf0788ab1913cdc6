package reconcile

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/fleetprune/fleetprune/profiles"
)

// RunClasses reconciles every device class with r until ctx ends. Changes under a
// class's own keys (classes/, tuning/, rollouts/, current/, reports/<class>/) enqueue
// that class; device and presence changes enqueue every class. A broken watch is
// re-established with a fresh listing, so no change is missed.
func RunClasses(ctx context.Context, cli *clientv3.Client, r Reconciler, log *slog.Logger) error {
	store := profiles.NewStore(cli)
	q := NewQueue()
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.Run(ctx, r, log)
	}()
	defer func() { <-done }()
	for ctx.Err() == nil {
		wctx, cancel := context.WithCancel(ctx)
		// Watch first, then list, so no change between the two is missed.
		wch := cli.Watch(clientv3.WithRequireLeader(wctx), profiles.Prefix, clientv3.WithPrefix())
		names, err := store.Classes.Names(ctx)
		if err != nil {
			cancel()
			if ctx.Err() != nil {
				break
			}
			return fmt.Errorf("reconcile: list classes: %w", err)
		}
		for _, n := range names {
			q.Add(n)
		}
		for resp := range wch {
			if resp.Err() != nil {
				break
			}
			for _, ev := range resp.Events {
				for _, c := range classesOf(ctx, store, string(ev.Kv.Key)) {
					q.Add(c)
				}
			}
		}
		cancel()
	}
	return ctx.Err()
}

// classesOf maps a changed key to the classes it concerns.
func classesOf(ctx context.Context, store *profiles.Store, key string) []string {
	rest, ok := strings.CutPrefix(key, profiles.Prefix)
	if !ok {
		return nil
	}
	kind, name, _ := strings.Cut(rest, "/")
	switch kind {
	case "classes", "tuning", "current":
		return []string{name}
	case "reports", "rollouts":
		class, _, _ := strings.Cut(name, "/")
		return []string{class}
	case "devices", "presence":
		names, err := store.Classes.Names(ctx)
		if err != nil {
			return nil
		}
		return names
	}
	return nil
}
