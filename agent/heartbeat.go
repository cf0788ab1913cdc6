package agent

import (
	"context"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
)

// heartbeats publishes a Heartbeat on the device's heartbeat subject at once and then
// every interval, until ctx ends.
func (a *Agent) heartbeats(ctx context.Context) {
	a.mu.Lock()
	interval := a.hbInterval
	a.mu.Unlock()
	t := time.NewTicker(interval)
	defer t.Stop()
	var seq uint64
	for {
		seq++
		a.beat(seq)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *Agent) beat(seq uint64) {
	hb := &fpv1.Heartbeat{
		DeviceId:         a.id,
		Class:            a.Class(),
		InstalledVariant: a.InstalledVariant(),
		Seq:              seq,
		SentAt:           timestamppb.Now(),
	}
	b, err := proto.Marshal(hb)
	if err != nil {
		a.log.Error("heartbeat encode", "err", err)
		return
	}
	if err := a.nc.Publish(fpv1.HeartbeatSubject(a.id), b); err != nil {
		a.log.Warn("heartbeat publish", "err", err)
		return
	}
	a.met.heartbeats.WithLabelValues(a.id).Inc()
}
