package profiles_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/fleetprune/fleetprune/internal/testutil"
	"github.com/fleetprune/fleetprune/profiles"
)

// BenchmarkPlace places a device among 64 classes (the most one document holds).
func BenchmarkPlace(b *testing.B) {
	classes := make([]profiles.DeviceClass, 64)
	for i := range classes {
		classes[i] = profiles.DeviceClass{Name: fmt.Sprintf("c%02d", i), Priority: i,
			Selector: profiles.MustParseSelector(fmt.Sprintf("arch=arm64, cores>=%d, memory>=1GiB, site in (a,b,c)", i+2))}
	}
	p := profiles.HardwareProfile{Arch: "amd64", Cores: 4, MemoryBytes: 2 * profiles.GiB}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := profiles.Place(classes, p); ok {
			b.Fatal("placed a device no class matches")
		}
	}
}

// BenchmarkParseFleet parses the example fleet document.
func BenchmarkParseFleet(b *testing.B) {
	doc, err := os.ReadFile("testdata/fleet.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if _, err := profiles.ParseFleet(doc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFencedDevicePut measures fenced device writes (one transaction each) on
// an embedded etcd: the registration path's etcd cost.
func BenchmarkFencedDevicePut(b *testing.B) {
	cli := testutil.Etcd(b)
	fence := benchFence(b, cli)
	st := profiles.NewStore(cli)
	ctx := context.Background()
	d := profiles.Device{Class: "small", Profile: profiles.HardwareProfile{Arch: "amd64", Cores: 2, MemoryBytes: 2 * profiles.GiB}}
	i := 0
	for b.Loop() {
		d.ID = fmt.Sprintf("dev-%d", i%1000)
		i++
		if err := st.Devices.Put(ctx, fence, d); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}

// BenchmarkPresenceTouch measures heartbeats of devices that are present already
// (lease renewals); BenchmarkPresenceGrant the first heartbeat of each (lease grant
// and a fenced write).
func BenchmarkPresenceTouch(b *testing.B) {
	cli := testutil.Etcd(b)
	fence := benchFence(b, cli)
	pr := profiles.NewPresence(cli, profiles.DefaultPresenceTTL)
	defer pr.Close()
	ctx := context.Background()
	const devices = 100
	for i := range devices {
		if err := pr.Touch(ctx, fence, fmt.Sprintf("dev-%d", i)); err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	for b.Loop() {
		if err := pr.Touch(ctx, fence, fmt.Sprintf("dev-%d", i%devices)); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "touches/s")
}

func BenchmarkPresenceGrant(b *testing.B) {
	cli := testutil.Etcd(b)
	fence := benchFence(b, cli)
	pr := profiles.NewPresence(cli, profiles.DefaultPresenceTTL)
	defer pr.Close()
	ctx := context.Background()
	i := 0
	for b.Loop() {
		if err := pr.Touch(ctx, fence, fmt.Sprintf("dev-%d", i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "grants/s")
}
