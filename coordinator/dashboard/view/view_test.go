package view_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/fleetprune/fleetprune/coordinator"
	"github.com/fleetprune/fleetprune/coordinator/dashboard/view"
	"github.com/fleetprune/fleetprune/coordinator/tuning"
	"github.com/fleetprune/fleetprune/internal/testutil"
	"github.com/fleetprune/fleetprune/profiles"
)

func TestPareto(t *testing.T) {
	slo := profiles.SLO{P95Latency: profiles.Duration(10 * time.Millisecond), MaxAccuracyDrop: 1, MaxModelBytes: 1000}
	rec := func(id string, p95ms int, acc, drop float64, bytes int64) tuning.Record {
		return tuning.Record{Trial: tuning.Trial{VariantID: id, P95: time.Duration(p95ms) * time.Millisecond, AccuracyDrop: drop, ModelBytes: bytes}, Accuracy: acc}
	}
	base := rec("base", 20, 99, 0, 4000)
	st := &tuning.State{Base: &base, Accepted: "a", Trials: []tuning.Record{
		rec("a", 9, 98.5, 0.5, 900),  // meets; frontier
		rec("b", 12, 98.0, 1.0, 900), // slower and less accurate than a: dominated
		rec("c", 5, 97.0, 2.0, 500),  // too inaccurate; fastest: frontier
		rec("d", 8, 98.8, 0.2, 2000), // too big; frontier (dominates a)
		rec("pending", 0, 0, 0, 0),   // not measured: left out
	}}
	pts := view.Pareto(slo, st)
	want := map[string]struct {
		meets, accepted, frontier, base bool
		violation                       string
	}{
		"base": {false, false, true, true, "p95 20ms > slo 10ms"},
		"a":    {true, true, false, false, ""},
		"b":    {false, false, false, false, "p95 12ms > slo 10ms"},
		"c":    {false, false, true, false, "accuracy drop 2.00pp > slo 1.00pp"},
		"d":    {false, false, true, false, "model 2000 bytes > slo 1000"},
	}
	if len(pts) != len(want) {
		t.Fatalf("got %d points, want %d", len(pts), len(want))
	}
	for _, p := range pts {
		w, ok := want[p.VariantID]
		if !ok {
			t.Errorf("unexpected point %s", p.VariantID)
			continue
		}
		if p.MeetsSLO != w.meets || p.Accepted != w.accepted || p.Frontier != w.frontier || p.Base != w.base || p.Violation != w.violation {
			t.Errorf("%s: got meets %v accepted %v frontier %v base %v violation %q, want %+v",
				p.VariantID, p.MeetsSLO, p.Accepted, p.Frontier, p.Base, p.Violation, w)
		}
	}
}

// TestPresenceRecords: a device is live by the coordinator's heartbeat record (a
// time), by a profiles lease record, or by its own LastSeen, and stale otherwise.
func TestPresenceRecords(t *testing.T) {
	cli := testutil.Etcd(t)
	ctx := context.Background()
	now := time.Now().UTC()
	put := func(key string, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cli.Put(ctx, key, string(b)); err != nil {
			t.Fatal(err)
		}
	}
	put(profiles.ClassKey("c"), profiles.DeviceClass{Name: "c", BaseModel: "m",
		SLO: profiles.SLO{P95Latency: profiles.Duration(time.Millisecond), MaxAccuracyDrop: 1}})
	for _, d := range []profiles.Device{
		{ID: "heartbeat", Class: "c", LastSeen: now.Add(-time.Hour)},
		{ID: "old-heartbeat", Class: "c", LastSeen: now.Add(-time.Hour)},
		{ID: "lease", Class: "c"},
		{ID: "registered-now", Class: "c", LastSeen: now},
		{ID: "silent", Class: "c", LastSeen: now.Add(-time.Hour)},
		{ID: "garbage", Class: "c"},
		{ID: "elsewhere", Class: "other", LastSeen: now},
	} {
		put(profiles.DeviceKey(d.ID), d)
	}
	put(profiles.PresenceKey("heartbeat"), coordinator.Presence{LastSeen: now.Add(-2 * time.Second), InstalledVariant: "v7"})
	put(profiles.PresenceKey("old-heartbeat"), coordinator.Presence{LastSeen: now.Add(-time.Minute)})
	lease, err := cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, profiles.PresenceKey("lease"), `{"since":"2026-01-01T00:00:00Z","lease":1}`, clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, profiles.PresenceKey("garbage"), "not json"); err != nil {
		t.Fatal(err)
	}

	ds, err := view.NewReader(cli, 15*time.Second).Devices(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"heartbeat": view.PresenceLive, "old-heartbeat": view.PresenceStale, "lease": view.PresenceLive,
		"registered-now": view.PresenceLive, "silent": view.PresenceStale, "garbage": view.PresenceStale}
	if len(ds) != len(want) {
		t.Fatalf("got %d devices, want %d (only class c)", len(ds), len(want))
	}
	for _, d := range ds {
		if d.Presence != want[d.ID] {
			t.Errorf("%s: got %s, want %s", d.ID, d.Presence, want[d.ID])
		}
		if d.ID == "heartbeat" && d.InstalledVariant != "v7" {
			t.Errorf("heartbeat: installed variant %q, want the heartbeat's v7", d.InstalledVariant)
		}
	}
}

// TestCorruptState: a record this build cannot decode is an error naming its key,
// never a panic or a silently wrong view.
func TestCorruptState(t *testing.T) {
	cli := testutil.Etcd(t)
	ctx := context.Background()
	if _, err := cli.Put(ctx, profiles.ClassKey("c"), `{"name":"c","baseModel":"m","slo":{"p95Latency":"1ms","maxAccuracyDrop":1}}`); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, profiles.TuningKey("c"), `{"phase": 7}`); err != nil {
		t.Fatal(err)
	}
	r := view.NewReader(cli, 0)
	if _, err := r.Tuning(ctx, "c"); err == nil {
		t.Errorf("tuning: no error for a corrupt state")
	}
	if _, err := r.Overview(ctx); err == nil {
		t.Errorf("overview: no error for a corrupt state")
	}
	if _, err := cli.Put(ctx, view.SensitivityKey("m"), `{"version":1,"method":"structured","ratios":[2]}`); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Sensitivity(ctx, "m"); err == nil {
		t.Errorf("sensitivity: no error for invalid curves")
	}
}
