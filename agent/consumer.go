package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
)

// Consumer settings of an agent's durable command consumer.
const (
	// commandMaxDeliver bounds redeliveries of a command the agent cannot finish.
	commandMaxDeliver = 10
	// startTimeSlack is how far before its registration a new agent's consumer
	// starts, to absorb clock skew between agent and server.
	startTimeSlack = 5 * time.Second
	// fetchWait is how long one pull waits for a command.
	fetchWait = 5 * time.Second
)

// ConsumerName is the durable consumer of a device on the command stream.
func ConsumerName(device string) string { return "agent-" + device }

// consumeCommands pulls commands from the device's durable consumer one at a time
// and handles each, until ctx ends. With no class there is nothing to consume.
func (a *Agent) consumeCommands(ctx context.Context) {
	class := a.Class()
	if class == "" {
		a.log.Info("no class matched this device; waiting to be re-placed")
		return
	}
	var cons jetstream.Consumer
	for attempt := 0; ctx.Err() == nil; attempt++ {
		c, err := a.ensureConsumer(ctx, class)
		if err == nil {
			cons = c
			break
		}
		d := backoff(attempt, a.cfg.retryMin, a.cfg.retryMax)
		a.log.Warn("command consumer not ready; retrying", "in", d, "err", err)
		if sleepCtx(ctx, d) != nil {
			return
		}
	}
	failures := 0
	for ctx.Err() == nil {
		err := a.fetchOne(ctx, cons)
		if err == nil || ctx.Err() != nil {
			failures = 0
			continue
		}
		if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
			a.log.Warn("command consumer gone; recreating", "err", err)
			if c, cerr := a.ensureConsumer(ctx, class); cerr == nil {
				cons = c
				continue
			}
		}
		d := backoff(failures, a.cfg.retryMin, a.cfg.retryMax)
		failures++
		a.log.Warn("command fetch failed; retrying", "in", d, "err", err)
		_ = sleepCtx(ctx, d)
	}
}

// fetchOne waits up to fetchWait for one command and handles it.
func (a *Agent) fetchOne(ctx context.Context, cons jetstream.Consumer) error {
	fctx, cancel := context.WithTimeout(ctx, fetchWait)
	defer cancel()
	batch, err := cons.Fetch(1, jetstream.FetchContext(fctx))
	if err != nil {
		if fctx.Err() != nil {
			return nil
		}
		return err
	}
	for msg := range batch.Messages() {
		a.handleMessage(ctx, msg)
	}
	if err := batch.Error(); err != nil && fctx.Err() == nil && !errors.Is(err, jetstream.ErrNoMessages) {
		return err
	}
	return nil
}

// ensureConsumer returns the device's durable consumer on the command stream,
// creating it or moving its filter to class. A new consumer starts from the agent's
// registration time, so commands the class received before the device existed are
// not replayed; an existing one keeps its place, so commands sent while the agent
// was away are delivered when it returns.
func (a *Agent) ensureConsumer(ctx context.Context, class string) (jetstream.Consumer, error) {
	a.mu.Lock()
	stream, since := a.stream, a.registeredAt
	a.mu.Unlock()
	cctx, cancel := context.WithTimeout(ctx, a.cfg.registerTimeout)
	defer cancel()
	name := ConsumerName(a.id)
	filters := []string{fpv1.CommandSubject(class, a.id), fpv1.ClassCommandSubject(class)}
	existing, err := a.js.Consumer(cctx, stream, name)
	switch {
	case err == nil:
		cfg := existing.CachedInfo().Config
		if slices.Equal(cfg.FilterSubjects, filters) && cfg.AckWait == a.cfg.ackWait {
			return existing, nil
		}
		cfg.FilterSubjects, cfg.FilterSubject, cfg.AckWait = filters, "", a.cfg.ackWait
		c, err := a.js.UpdateConsumer(cctx, stream, cfg)
		if err != nil {
			return nil, fmt.Errorf("consumer %s: update: %w", name, err)
		}
		a.log.Info("command consumer moved", "class", class)
		return c, nil
	case !errors.Is(err, jetstream.ErrConsumerNotFound):
		return nil, fmt.Errorf("consumer %s: %w", name, err)
	}
	start := since.Add(-startTimeSlack)
	c, err := a.js.CreateConsumer(cctx, stream, jetstream.ConsumerConfig{
		Durable:        name,
		Description:    "commands of fleetprune device " + a.id,
		FilterSubjects: filters,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        a.cfg.ackWait,
		MaxDeliver:     commandMaxDeliver,
		MaxAckPending:  1,
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy,
		OptStartTime:   &start,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s: create: %w", name, err)
	}
	return c, nil
}
