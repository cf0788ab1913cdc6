package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fleetprune/fleetprune/coordinator"
)

// waitReady waits until the coordinator leads with its API up and returns a client.
func (b *bench) waitReady(ctx context.Context) (*coordinator.Client, error) {
	deadline := time.Now().Add(60 * time.Second)
	for !b.c.IsLeader() || b.c.APIAddr() == "" {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("coordinator did not lead within 60s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return coordinator.NewClient("http://" + b.c.APIAddr())
}

// declareFleet uploads the repository's LeNet-5 fixture and applies two classes.
func (b *bench) declareFleet(ctx context.Context, api *coordinator.Client) error {
	onnx, err := os.ReadFile(filepath.Join("pruning", "testdata", "lenet5_op13.onnx"))
	if err != nil {
		return fmt.Errorf("run from the repository root: %w", err)
	}
	var art *coordinator.ArtifactResult
	deadline := time.Now().Add(30 * time.Second)
	for art, err = api.UploadArtifact(ctx, onnx); err != nil; art, err = api.UploadArtifact(ctx, onnx) {
		if time.Now().After(deadline) {
			return fmt.Errorf("upload model: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	doc := fmt.Sprintf(`models:
  - name: lenet5
    digest: %s
    dataset: mnist
    inputShape: [1, 28, 28]
classes:
  - name: big
    selector: "cores>=4"
    priority: 10
    baseModel: lenet5
    slo: {p95Latency: 2ms, maxAccuracyDrop: 1}
  - name: small
    selector: ""
    baseModel: lenet5
    slo: {p95Latency: 8ms, maxAccuracyDrop: 2}
`, art.SHA256)
	if _, err := api.Apply(ctx, []byte(doc)); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	// Let the leader's class cache see the classes before agents arrive.
	time.Sleep(200 * time.Millisecond)
	return nil
}
