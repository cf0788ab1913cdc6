package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/fleetprune/fleetprune/profiles"
	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
)

// Presence states of a device.
const (
	PresenceLive  = "live"
	PresenceStale = "stale"
)

// ClassStatus is a class as the API shows it: its declaration and device counts.
type ClassStatus struct {
	profiles.DeviceClass
	Devices      int `json:"devices"`
	LiveDevices  int `json:"liveDevices"`
	StaleDevices int `json:"staleDevices"`
}

// DeviceStatus is a device as the API shows it: its record and its presence.
type DeviceStatus struct {
	profiles.Device
	// Presence is PresenceLive (its presence lease is alive, or it registered less
	// than StaleAfter ago) or PresenceStale.
	Presence string `json:"presence"`
	// PresentSince is when the device's current presence lease was granted.
	PresentSince *time.Time `json:"presentSince,omitempty"`
	// HeartbeatAt is the time of the last heartbeat, known on the leader only.
	HeartbeatAt *time.Time `json:"heartbeatAt,omitempty"`
	// HeartbeatVariant is the variant the device said it runs in that heartbeat.
	HeartbeatVariant string `json:"heartbeatVariant,omitempty"`
}

// DeviceDetail is one device with its last report.
type DeviceDetail struct {
	DeviceStatus
	// LastReport is the last report applied, as protobuf JSON.
	LastReport json.RawMessage `json:"lastReportFull,omitempty"`
	// ReportsApplied counts the reports of the device applied to etcd.
	ReportsApplied int64 `json:"reportsApplied"`
}

// leaseRecord is the value profiles.Presence keeps at presence/<id>.
type leaseRecord struct {
	Since time.Time `json:"since"`
}

// readPresence returns the devices whose presence lease is alive, with the time each
// lease was granted (zero when the record has another format).
func (c *Coordinator) readPresence(ctx context.Context) (map[string]time.Time, error) {
	resp, err := c.etcd.Get(ctx, presencePrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("presence: %w", err)
	}
	out := make(map[string]time.Time, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var rec leaseRecord
		_ = json.Unmarshal(kv.Value, &rec)
		out[strings.TrimPrefix(string(kv.Key), presencePrefix)] = rec.Since
	}
	return out, nil
}

// deviceStatus joins a device record with its presence lease (present, since) and
// the leader's last heartbeat of it.
func (c *Coordinator) deviceStatus(d profiles.Device, present bool, since, now time.Time) DeviceStatus {
	ds := DeviceStatus{Device: d, Presence: PresenceStale}
	if present || now.Sub(d.LastSeen) <= c.cfg.StaleAfter {
		ds.Presence = PresenceLive
	}
	if present && !since.IsZero() {
		ds.PresentSince = &since
	}
	if hb, ok := c.presence.lastSeen(d.ID); ok {
		at := hb.LastSeen
		ds.HeartbeatAt, ds.HeartbeatVariant = &at, hb.InstalledVariant
	}
	return ds
}

// Devices returns every registered device with its presence, ordered by id.
func (c *Coordinator) Devices(ctx context.Context) ([]DeviceStatus, error) {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	devices, err := c.store.Devices.List(ctx)
	if err != nil {
		return nil, err
	}
	pres, err := c.readPresence(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := make([]DeviceStatus, 0, len(devices))
	for _, d := range devices {
		since, ok := pres[d.ID]
		out = append(out, c.deviceStatus(d, ok, since, now))
	}
	return out, nil
}

// Device returns one device with its presence and last report, or an error wrapping
// profiles.ErrNotFound.
func (c *Coordinator) Device(ctx context.Context, id string) (*DeviceDetail, error) {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	d, err := c.store.Devices.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	resp, err := c.etcd.Txn(ctx).Then(
		clientv3.OpGet(presencePrefix+id),
		clientv3.OpGet(lastReportPrefix+id),
	).Commit()
	if err != nil {
		return nil, fmt.Errorf("device %s: %w", id, err)
	}
	var rec leaseRecord
	pk := resp.Responses[0].GetResponseRange().GetKvs()
	if len(pk) == 1 {
		_ = json.Unmarshal(pk[0].Value, &rec)
	}
	out := &DeviceDetail{DeviceStatus: c.deviceStatus(d, len(pk) == 1, rec.Since, time.Now())}
	if lr := resp.Responses[1].GetResponseRange().GetKvs(); len(lr) == 1 {
		out.ReportsApplied = lr[0].Version
		r := &fpv1.Report{}
		if proto.Unmarshal(lr[0].Value, r) == nil {
			if b, err := protojson.Marshal(r); err == nil {
				out.LastReport = b
			}
		}
	}
	return out, nil
}

// Classes returns every class with its device counts, in placement order.
func (c *Coordinator) Classes(ctx context.Context) ([]ClassStatus, error) {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	classes, err := c.store.Classes.List(ctx)
	if err != nil {
		return nil, err
	}
	devices, err := c.Devices(ctx)
	if err != nil {
		return nil, err
	}
	idx := map[string]*ClassStatus{}
	out := make([]ClassStatus, 0, len(classes))
	for _, cl := range profiles.SortForPlacement(classes) {
		out = append(out, ClassStatus{DeviceClass: cl})
	}
	for i := range out {
		idx[out[i].Name] = &out[i]
	}
	for _, d := range devices {
		cs := idx[d.Class]
		if cs == nil {
			continue
		}
		cs.Devices++
		if d.Presence == PresenceLive {
			cs.LiveDevices++
		} else {
			cs.StaleDevices++
		}
	}
	return out, nil
}

// Variants returns the published variants of class, or of every class when class is
// "".
func (c *Coordinator) Variants(ctx context.Context, class string) ([]Variant, error) {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	prefix := profiles.VariantPrefix
	if class != "" {
		if err := profiles.ValidateName(class); err != nil {
			return nil, fmt.Errorf("class: %v: %w", err, profiles.ErrInvalid)
		}
		prefix += class + "/"
	}
	resp, err := c.etcd.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("variants: %w", err)
	}
	out := make([]Variant, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var v Variant
		if err := json.Unmarshal(kv.Value, &v); err != nil {
			return nil, fmt.Errorf("variants: decode %s: %w", kv.Key, err)
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// Leader returns the name of the leading coordinator, "" when none leads.
func (c *Coordinator) Leader(ctx context.Context) (string, error) {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := c.etcd.Get(ctx, LeaderPrefix+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return "", fmt.Errorf("leader: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	return string(resp.Kvs[0].Value), nil
}

// refreshGauges sets the devices-per-class gauge from etcd every few seconds, on
// every coordinator, until ctx ends.
func (c *Coordinator) refreshGauges(ctx context.Context) {
	period := min(max(c.cfg.StaleAfter/3, time.Second), 15*time.Second)
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		devices, err := c.Devices(ctx)
		if err == nil {
			c.metrics.devices.Reset()
			for _, d := range devices {
				class := d.Class
				if class == "" {
					class = "none"
				}
				c.metrics.devices.WithLabelValues(class, d.Presence).Inc()
			}
		} else if !errors.Is(err, context.Canceled) {
			c.log.Debug("refresh gauges", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// StoredReports counts the reports applied to etcd, over every class and device.
func (c *Coordinator) StoredReports(ctx context.Context) (int64, error) {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := c.etcd.Get(ctx, reportsPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("reports: %w", err)
	}
	return resp.Count, nil
}
