package coordinator

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/fleetprune/fleetprune/profiles"
	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
)

// registerQueue is the queue group of the register subscription. Only the leader
// subscribes (registration writes the device record, a leader write); the queue group
// keeps a deposed leader whose unsubscribe is still in flight from answering too.
const registerQueue = "fleetprune-coordinators"

// registerWorkers is how many registrations are handled at once: etcd commits
// concurrent transactions with one fsync, so more in flight means more per second.
const registerWorkers = 32

// subscribeRegister answers registrations with a pool of workers until ctx ends or the
// returned stop function is called.
func (c *Coordinator) subscribeRegister(ctx context.Context, f profiles.Fence) (func(), error) {
	ch := make(chan *nats.Msg, 4096)
	sub, err := c.nc.ChanQueueSubscribe(fpv1.SubjectRegister, registerQueue, ch)
	if err != nil {
		return nil, fmt.Errorf("lead: subscribe %s: %w", fpv1.SubjectRegister, err)
	}
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for range registerWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-wctx.Done():
					return
				case m := <-ch:
					c.handleRegister(wctx, f, m)
				}
			}
		}()
	}
	return func() {
		_ = sub.Unsubscribe()
		cancel()
		wg.Wait()
	}, nil
}

// handleRegister validates a registration, stores the device's profile and class in
// a fenced write, and replies with the class, the coordinator's public key and the
// heartbeat interval. A bad request is answered with accepted=false and the reason.
func (c *Coordinator) handleRegister(ctx context.Context, f profiles.Fence, m *nats.Msg) {
	req, err := c.decodeRegister(m.Data)
	if err != nil {
		c.metrics.registrations.WithLabelValues("rejected").Inc()
		c.log.Warn("registration rejected", "reason", err)
		c.replyRegister(m, &fpv1.RegisterReply{Reason: err.Error()})
		return
	}
	class, err := c.registerDevice(ctx, f, req)
	switch {
	case errors.Is(err, errRejected):
		c.metrics.registrations.WithLabelValues("rejected").Inc()
		c.log.Warn("registration rejected", "device", req.GetDeviceId(), "reason", err)
		c.replyRegister(m, &fpv1.RegisterReply{Reason: err.Error()})
		return
	case err != nil:
		c.metrics.registrations.WithLabelValues("error").Inc()
		c.log.Error("registration failed", "device", req.GetDeviceId(), "err", err)
		c.replyRegister(m, &fpv1.RegisterReply{Reason: "coordinator could not store the registration; retry"})
		return
	}
	c.metrics.registrations.WithLabelValues("accepted").Inc()
	c.presence.setKnown(req.GetDeviceId(), class)
	c.log.Debug("device registered", "device", req.GetDeviceId(), "class", class)
	c.replyRegister(m, c.registerReply(class))
}

// registerReply is the answer to an accepted registration or heartbeat.
func (c *Coordinator) registerReply(class string) *fpv1.RegisterReply {
	return &fpv1.RegisterReply{
		Accepted:             true,
		Class:                class,
		CoordinatorPublicKey: c.PublicKey(),
		HeartbeatIntervalMs:  c.cfg.HeartbeatInterval.Milliseconds(),
		CommandStream:        fpv1.StreamCommands,
	}
}

// decodeRegister checks the size of a registration and decodes and validates it.
func (c *Coordinator) decodeRegister(data []byte) (*fpv1.RegisterRequest, error) {
	if err := checkSize("registration", len(data), c.cfg.MaxMessageBytes); err != nil {
		return nil, err
	}
	req := &fpv1.RegisterRequest{}
	if err := proto.Unmarshal(data, req); err != nil {
		return nil, fmt.Errorf("%w: registration: decode: %v", errRejected, err)
	}
	if err := checkName("device_id", req.GetDeviceId()); err != nil {
		return nil, err
	}
	if req.GetProfile() == nil {
		return nil, fmt.Errorf("%w: registration: profile is missing", errRejected)
	}
	if len(req.GetAgentVersion()) > maxNameLen || len(req.GetInstalledVariant()) > maxNameLen {
		return nil, fmt.Errorf("%w: registration: agent_version or installed_variant longer than %d bytes", errRejected, maxNameLen)
	}
	return req, nil
}
