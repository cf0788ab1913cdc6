package agent

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	// Agents under a CPU quota re-execute this test binary as their benchmark worker.
	RunBenchWorkerIfRequested()
	os.Exit(m.Run())
}
