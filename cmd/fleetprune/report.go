package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/fleetprune/fleetprune/coordinator/dashboard"
	"github.com/fleetprune/fleetprune/coordinator/dashboard/view"
	"github.com/fleetprune/fleetprune/coordinator/report"
	"github.com/fleetprune/fleetprune/profiles"
)

func init() { subcommands = append(subcommands, newReportCmd) }

func newReportCmd() *cobra.Command {
	var class, out string
	cmd := &cobra.Command{
		Use:   "report --class NAME [--out FILE] [--server URL | --etcd URLS]",
		Short: "Write a self-contained HTML report of a class's tuning",
		Long: `Write one HTML file (inline CSS and SVG, nothing fetched from elsewhere) with a
class's SLO and status, every variant tried as a table and a Pareto chart, the base
model's sensitivity curves, the devices and the rollout history. It asks the
coordinator's API (--server), or, with --etcd, reads etcd directly.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := profiles.ValidateName(class); err != nil {
				return fmt.Errorf("report: --class %q: %v", class, err)
			}
			if out == "" {
				return errors.New("report: --out must name a file")
			}
			s, _, err := loadSettings(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var html []byte
			if cmd.Flags().Changed("etcd") {
				html, err = reportFromEtcd(ctx, s.etcdEndpoints(), class, s.Coordinator.StaleAfter)
			} else {
				var cl *dashboard.Client
				if cl, err = dashboard.NewClient(s.Server); err == nil {
					html, err = cl.Report(ctx, class)
				}
			}
			if err != nil {
				return fmt.Errorf("report %s: %w", class, err)
			}
			if err := writeFileAtomic(out, html); err != nil {
				return fmt.Errorf("report: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%d bytes)\n", out, len(html))
			return nil
		},
	}
	cmd.Flags().StringVar(&class, "class", "", "the device class (required)")
	cmd.Flags().StringVar(&out, "out", "report.html", "the HTML file to write")
	cmd.Flags().String("etcd", "", "read etcd at these comma-separated client URLs instead of asking --server")
	_ = cmd.MarkFlagRequired("class")
	addClientFlags(cmd)
	return cmd
}

// reportFromEtcd renders the report of class from etcd at endpoints.
func reportFromEtcd(ctx context.Context, endpoints []string, class string, staleAfter time.Duration) ([]byte, error) {
	if len(endpoints) == 0 {
		return nil, errors.New("--etcd: no client URL given")
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Context: ctx})
	if err != nil {
		return nil, fmt.Errorf("etcd %v: %w", endpoints, err)
	}
	defer cli.Close()
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rep, err := view.NewReader(cli, staleAfter).ClassReport(rctx, class)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := report.Render(&buf, rep); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeFileAtomic writes b to path through a temporary file in the same directory
// and a rename, so a reader never sees half a report.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
