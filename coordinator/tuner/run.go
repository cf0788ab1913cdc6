package tuner

import (
	"context"

	"github.com/fleetprune/fleetprune/coordinator/reconcile"
)

// Run reconciles every class until ctx ends (see reconcile.RunClasses).
func (r *Reconciler) Run(ctx context.Context) error {
	return reconcile.RunClasses(ctx, r.etcd, r, r.cfg.Log)
}
