package onnx_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/fleetprune/fleetprune/pruning/models"
	"github.com/fleetprune/fleetprune/pruning/onnx"
)

// checkerScript runs the reference ONNX checker with full shape inference.
const checkerScript = `import sys, onnx
for p in sys.argv[1:]:
    onnx.checker.check_model(onnx.load(p), full_check=True)
`

// TestWrittenModelsPassONNXChecker writes every built-in architecture and checks the
// files with the onnx Python package's checker (strict shape inference included).
func TestWrittenModelsPassONNXChecker(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import onnx").Run(); err != nil {
		t.Skipf("skipping: %s with the onnx package is not installed (Debian: python3-onnx): %v", py, err)
	}
	dir := t.TempDir()
	var paths []string
	for _, arch := range models.Archs() {
		g, err := models.Build(arch, 1)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, arch+".onnx")
		if err := onnx.WriteFile(p, g); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	for _, f := range []string{"lenet5_op13", "mixed_op11", "mixed_op17"} {
		g, err := onnx.ReadFile(filepath.Join(testdata, f+".onnx"))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, f+".onnx")
		if err := onnx.WriteFile(p, g); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, append([]string{"-c", checkerScript}, paths...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("onnx checker: %v\n%s", err, out)
	}
}
