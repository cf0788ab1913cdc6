package rollout

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/fleetprune/fleetprune/profiles"
)

// FuzzNext drives random rollouts (devices joining and leaving, good, slow and
// missing reports, operator commands, lost confirmations) and checks the machine's
// invariants: stages are entered in order, once each; cohorts never overlap; every
// install goes to a device that was eligible; a finished rollout never moves.
func FuzzNext(f *testing.F) {
	f.Add(uint64(1), uint8(20), uint8(4))
	f.Add(uint64(7), uint8(1), uint8(1))
	f.Add(uint64(42), uint8(0), uint8(3))
	f.Add(uint64(99), uint8(200), uint8(10))
	f.Fuzz(func(t *testing.T, seed uint64, nDevices, nStages uint8) {
		rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		stages := make([]float64, 0, 10)
		k := int(nStages%MaxStages) + 1
		for i := 1; i <= k; i++ {
			stages = append(stages, float64(i*100/k))
		}
		stages[len(stages)-1] = 100
		r, err := New("rz", "c", "v2", "v1", Plan{Stages: stages, BakeTime: profiles.Duration(time.Duration(rng.IntN(3)) * time.Second), MinReports: rng.IntN(3) + 1,
			ReportTimeout: profiles.Duration(5 * time.Second)}, t0)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		slo := profiles.SLO{P95Latency: profiles.Duration(10 * time.Millisecond)}
		all := make([]string, int(nDevices))
		for i := range all {
			all[i] = fmt.Sprintf("d%03d", i)
		}
		var reports []Report
		now := t0
		lastStage := -1
		eligible := map[string]bool{}
		for step := 0; step < 200; step++ {
			now = now.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
			var devs []string
			for _, d := range all {
				if rng.IntN(10) > 0 {
					devs = append(devs, d)
				}
			}
			for _, d := range devs {
				eligible[d] = true
			}
			switch rng.IntN(20) {
			case 0:
				r, _ = Pause(r, now, "")
			case 1:
				r, _ = Resume(r, now)
			case 2:
				r, _ = Promote(r, now, "")
			case 3:
				if rng.IntN(5) == 0 {
					r, _ = Abort(r, now, "")
				}
			}
			before := r
			next, acts := Next(r, Observations{SLO: slo, Devices: devs, Reports: reports}, now)
			if before.State.Final() && len(before.Pending) == 0 && (next.State != before.State || len(acts) > 0) {
				t.Fatalf("final rollout moved: %s -> %s, %v", before.State, next.State, acts)
			}
			if next.Stage < lastStage || next.Stage > lastStage+1 {
				t.Fatalf("stage went %d -> %d", lastStage, next.Stage)
			}
			if next.Stage != lastStage && len(next.Cohorts) != next.Stage+1 {
				t.Fatalf("stage %d entered with %d cohorts", next.Stage, len(next.Cohorts))
			}
			lastStage = next.Stage
			seen := map[string]bool{}
			for _, c := range next.Cohorts {
				for _, d := range c {
					if seen[d] {
						t.Fatalf("device %s in two cohorts: %v", d, next.Cohorts)
					}
					if !eligible[d] {
						t.Fatalf("device %s installed but never eligible", d)
					}
					seen[d] = true
				}
			}
			for _, a := range acts {
				if a.Kind == ActionInstall && !slices.Equal(a.Devices, next.Cohorts[a.Stage]) {
					t.Fatalf("install %v is not stage %d's cohort %v", a.Devices, a.Stage, next.Cohorts[a.Stage])
				}
			}
			r = next
			if len(acts) > 0 && rng.IntN(4) > 0 { // sometimes the confirmation is lost
				r = Executed(r, now)
				for _, a := range acts {
					if a.Kind != ActionInstall {
						continue
					}
					for _, d := range a.Devices {
						if rng.IntN(4) == 0 {
							continue // silent device
						}
						p95 := time.Duration(rng.IntN(12)) * time.Millisecond
						reports = append(reports, Report{DeviceID: d, Variant: "v2", Received: now.Add(time.Duration(rng.IntN(2000)) * time.Millisecond),
							OK: true, ParityOK: rng.IntN(30) > 0, P95: p95})
					}
				}
			}
		}
	})
}
