package coordinator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/fleetprune/fleetprune/profiles"
	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
)

// reregisterSubjectPrefix + device is the subject that tells one agent to register
// again (agent.ReregisterSubject; the coordinator does not import the agent).
const reregisterSubjectPrefix = "fleet.v1.reregister.dev."

// askReregister tells a device's agent to register again, so it learns its new class
// and moves its command consumer. It is best effort: an agent that misses it learns
// the class from the reply to its next heartbeat request, or when it sends a
// heartbeat naming its old class.
func (c *Coordinator) askReregister(device string) {
	if err := c.nc.Publish(reregisterSubjectPrefix+device, nil); err != nil {
		c.log.Warn("ask agent to register again", "device", device, "err", err)
	}
}

// classCache is the leader's copy of the device classes, kept current by
// watchClasses so that a registration needs no etcd read to be placed.
type classCache struct {
	mu      sync.RWMutex
	classes []profiles.DeviceClass
}

func (cc *classCache) get() []profiles.DeviceClass {
	cc.mu.RLock()
	defer cc.mu.RUnlock()
	return cc.classes
}

func (cc *classCache) set(cl []profiles.DeviceClass) {
	cc.mu.Lock()
	cc.classes = cl
	cc.mu.Unlock()
}

// place returns the name of the class a profile belongs to, "" when none matches.
func place(classes []profiles.DeviceClass, p profiles.HardwareProfile) string {
	if cl, ok := profiles.Place(classes, p); ok {
		return cl.Name
	}
	return ""
}

// registerDevice stores the device of req with the class it is placed in, keeping
// its first registration time, in a fenced write that only succeeds if the record did
// not change since it was read. It returns an errRejected error when the device
// record is not valid.
func (c *Coordinator) registerDevice(ctx context.Context, f profiles.Fence, req *fpv1.RegisterRequest) (string, error) {
	prof := profiles.ProfileFromProto(req.GetProfile())
	class := place(c.classes.get(), prof)
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	// Most registrations are of new devices: try to create the record first, one
	// round trip; a device that registers again costs a read and a compare-and-put.
	var (
		old profiles.Device
		rev int64
	)
	for attempt := range 4 {
		now := time.Now().UTC()
		if attempt > 0 {
			var err error
			old, rev, err = c.store.Devices.GetWithRev(ctx, req.GetDeviceId())
			if err != nil && !errors.Is(err, profiles.ErrNotFound) {
				return "", err
			}
		}
		d := profiles.Device{
			ID: req.GetDeviceId(), Profile: prof, Class: class,
			InstalledVariant: req.GetInstalledVariant(), AgentVersion: req.GetAgentVersion(),
			RegisteredAt: now, LastSeen: now,
		}
		if rev != 0 {
			d.RegisteredAt, d.PreviousVariant, d.LastReport = old.RegisteredAt, old.PreviousVariant, old.LastReport
		}
		err := c.store.Devices.PutIfRev(ctx, f, d, rev)
		switch {
		case errors.Is(err, profiles.ErrInvalid):
			return "", fmt.Errorf("%w: %v", errRejected, err)
		case errors.Is(err, profiles.ErrConflict):
			continue
		case err != nil:
			return "", err
		}
		c.presence.seen(d.ID, Presence{LastSeen: now, InstalledVariant: d.InstalledVariant})
		return class, nil
	}
	return "", fmt.Errorf("register %s: the device record kept changing: %w", req.GetDeviceId(), profiles.ErrConflict)
}

// watchClasses keeps the class cache current and re-places every device whose class
// changed, first when leadership begins (classes may have changed while no one led)
// and then on every change to a class, until ctx ends. A re-placed agent learns its
// new class from the reply to its next heartbeat.
func (c *Coordinator) watchClasses(ctx context.Context, f profiles.Fence) error {
	for ctx.Err() == nil {
		rev, err := c.reloadClasses(ctx)
		if err != nil {
			c.log.Warn("load classes", "err", err)
			sleepCtx(ctx, time.Second)
			continue
		}
		if err := c.replaceDevices(ctx, f); err != nil {
			if errors.Is(err, ErrNotLeader) {
				return err
			}
			c.log.Warn("re-place devices", "err", err)
		}
		wch := c.etcd.Watch(clientv3.WithRequireLeader(ctx), profiles.ClassPrefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
		for resp := range wch {
			if err := resp.Err(); err != nil {
				c.log.Warn("class watch", "err", err)
				break
			}
			if _, err := c.reloadClasses(ctx); err != nil {
				c.log.Warn("reload classes", "err", err)
				break
			}
			if err := c.replaceDevices(ctx, f); err != nil {
				if errors.Is(err, ErrNotLeader) {
					return err
				}
				c.log.Warn("re-place devices", "err", err)
			}
		}
	}
	return ctx.Err()
}

// reloadClasses reads every class into the cache and returns the revision read at.
func (c *Coordinator) reloadClasses(ctx context.Context) (int64, error) {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := c.etcd.Get(ctx, profiles.ClassPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("classes: %w", err)
	}
	classes, err := c.store.Classes.List(ctx)
	if err != nil {
		return 0, err
	}
	c.classes.set(classes)
	return resp.Header.Revision, nil
}

// replaceDevices moves every device whose placement differs from its stored class,
// and refreshes the presence view's map of known devices.
func (c *Coordinator) replaceDevices(ctx context.Context, f profiles.Fence) error {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	devices, err := c.store.Devices.List(ctx)
	if err != nil {
		return err
	}
	classes := c.classes.get()
	known := make(map[string]string, len(devices))
	moved := 0
	for _, d := range devices {
		want := place(classes, d.Profile)
		known[d.ID] = d.Class
		if want == d.Class {
			continue
		}
		cur, rev, err := c.store.Devices.GetWithRev(ctx, d.ID)
		if err != nil {
			continue
		}
		cur.Class = want
		switch err := c.store.Devices.PutIfRev(ctx, f, cur, rev); {
		case errors.Is(err, ErrNotLeader):
			return err
		case err != nil:
			c.log.Warn("re-place device", "device", d.ID, "err", err)
			continue
		}
		known[d.ID] = want
		moved++
		c.log.Info("device re-placed", "device", d.ID, "from", d.Class, "to", want)
		c.askReregister(d.ID)
	}
	c.presence.merge(known)
	if moved > 0 {
		c.metrics.replacements.Add(float64(moved))
	}
	return nil
}
