package demo

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"github.com/fleetprune/fleetprune/coordinator/tuner"
	"github.com/fleetprune/fleetprune/coordinator/tuning"
	"github.com/fleetprune/fleetprune/internal/stack"
	"github.com/fleetprune/fleetprune/profiles"
	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
)

// reportSpread returns the p95 of every successful report of variant from the class's
// devices (probe benchmarks and installs), sorted.
func reportSpread(ctx context.Context, s *stack.Stack, class, variant string) ([]time.Duration, error) {
	if variant == "" {
		return nil, nil
	}
	cli, err := s.Client(ctx)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	resp, err := cli.Get(ctx, profiles.Prefix+"reports/"+class+"/", clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	var out []time.Duration
	for _, kv := range resp.Kvs {
		var r fpv1.Report
		if proto.Unmarshal(kv.Value, &r) != nil || !r.GetOk() || r.GetVariantId() != variant || r.GetP95Ns() <= 0 {
			continue
		}
		if k := r.GetKind(); k == "benchmark" || k == "install" || k == "periodic" {
			out = append(out, time.Duration(r.GetP95Ns()))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

func printClass(w io.Writer, r Result) {
	k := r.Kind
	fmt.Fprintf(w, "\n== class %s: %s, SLO p95 <= %v, accuracy drop <= %.2fpp\n", k.Class, k.Describe,
		time.Duration(r.SLO.P95Latency), r.SLO.MaxAccuracyDrop)
	st := r.State
	if st == nil {
		fmt.Fprintf(w, "   no tuning state yet\n")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "variant\tbudget\tparams\tsparsity\tMACs\taccuracy\tdrop\tp95 (probe)\tSLO\t")
	rows := []tuning.Record{}
	if st.Base != nil {
		rows = append(rows, *st.Base)
	}
	rows = append(rows, st.Trials...)
	// Marked as tuning judged them: against the SLO less the default headroom.
	lim := tuner.Limits(r.SLO)
	lim.Headroom = tuner.DefaultHeadroom
	for _, rec := range rows {
		mark := "miss"
		if v := lim.Violation(rec.Trial); v == "" {
			mark = "ok"
		}
		if rec.VariantID == st.Accepted {
			mark += " *"
		}
		fmt.Fprintf(tw, "%s\t%.3f\t%d\t%.1f%%\t%d\t%.2f%%\t%.2fpp\t%v\t%s\t\n", rec.VariantID, rec.Budget, rec.Params,
			100*rec.Sparsity, rec.MACs, rec.Accuracy, rec.AccuracyDrop, rec.P95.Round(time.Microsecond), mark)
	}
	tw.Flush()
	fmt.Fprintf(w, "   verdict: %s", st.Verdict)
	if st.Accepted != "" {
		fmt.Fprintf(w, " (accepted %s, marked *)", st.Accepted)
	}
	fmt.Fprintf(w, "\n   reason: %s\n", st.Reason)
	fmt.Fprintf(w, "   tuning: generation %d, %d variants built, %v to verdict", st.Generation, len(st.Trials), r.WallTime.Round(time.Second))
	if st.RetuneReason != "" {
		fmt.Fprintf(w, "; retuned because %s", st.RetuneReason)
	}
	fmt.Fprintln(w)
	if ro := r.Rollout; ro != nil {
		fmt.Fprintf(w, "   rollout %s: %s, %d of %d stages passed (%s)\n", ro.ID, ro.State, ro.StagesPassed(), len(ro.Plan.Stages), stagesString(ro.Plan.Stages))
	}
	if n := len(r.Spread); n > 0 {
		fmt.Fprintf(w, "   p95 of %s over %d measurements on the class's devices: min %v, median %v, max %v\n",
			st.Accepted, n, r.Spread[0].Round(time.Microsecond), r.Spread[n/2].Round(time.Microsecond), r.Spread[n-1].Round(time.Microsecond))
	}
}

func stagesString(stages []float64) string {
	parts := make([]string, len(stages))
	for i, s := range stages {
		parts[i] = fmt.Sprintf("%g%%", s)
	}
	return strings.Join(parts, " -> ")
}
