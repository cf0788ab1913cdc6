package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Sentinel errors of the variant store.
var (
	// ErrNoPrevious means a rollback was asked for with no previous variant kept.
	ErrNoPrevious = errors.New("store: no previous variant to roll back to")
	// ErrDigestMismatch means bytes on disk or downloaded do not hash to the digest
	// the manifest names.
	ErrDigestMismatch = errors.New("digest mismatch")
)

// installedVariant is a variant on disk with what its manifest said about it.
type installedVariant struct {
	VariantID        string    `json:"variant_id"`
	Class            string    `json:"class"`
	Model            string    `json:"model,omitempty"`
	SHA256           string    `json:"sha256"`
	SizeBytes        uint64    `json:"size_bytes"`
	SampleShape      []int64   `json:"sample_shape,omitempty"`
	ProbeSeed        uint64    `json:"probe_seed"`
	ExpectedChecksum string    `json:"expected_checksum,omitempty"`
	InstalledAt      time.Time `json:"installed_at"`
}

// storeState is the commit record: which variant is live and which is kept for
// rollback. Replacing its file atomically is what installs or rolls back.
type storeState struct {
	Current  *installedVariant `json:"current,omitempty"`
	Previous *installedVariant `json:"previous,omitempty"`
}

// store keeps variants under <data-dir>/models, named by SHA-256, and the state file
// <data-dir>/installed.json.
type store struct {
	dir   string
	mu    sync.Mutex
	state storeState
}

const (
	storeStateFile = "installed.json"
	storeModelsDir = "models"
	downloadPrefix = ".download-"
)

// openStore opens the store under dir, creating it, reading its state and removing
// downloads a crash left behind. A state file that does not decode, or that names a
// model file that is missing, is an error naming the file: the operator decides.
func openStore(dir string) (*store, error) {
	s := &store{dir: dir}
	if err := os.MkdirAll(filepath.Join(dir, storeModelsDir), 0o755); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, storeStateFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("store: %w", err)
	default:
		if err := json.Unmarshal(b, &s.state); err != nil {
			return nil, fmt.Errorf("store: %s: %w", filepath.Join(dir, storeStateFile), err)
		}
		for _, v := range []*installedVariant{s.state.Current, s.state.Previous} {
			if v == nil {
				continue
			}
			if !isHexDigest(v.SHA256) {
				return nil, fmt.Errorf("store: %s: variant %q has digest %q", storeStateFile, v.VariantID, v.SHA256)
			}
			if _, err := os.Stat(s.modelPath(v.SHA256)); err != nil {
				return nil, fmt.Errorf("store: variant %q: %w", v.VariantID, err)
			}
		}
	}
	entries, err := os.ReadDir(filepath.Join(dir, storeModelsDir))
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), downloadPrefix) {
			os.Remove(filepath.Join(dir, storeModelsDir, e.Name()))
		}
	}
	return s, nil
}

func isHexDigest(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil && len(s) == 64 && strings.ToLower(s) == s
}

// modelPath is where the model with digest sha lives once installed.
func (s *store) modelPath(sha string) string {
	return filepath.Join(s.dir, storeModelsDir, sha+".onnx")
}

// createDownload opens a fresh temporary file in the models directory, so that an
// install is a rename within one file system.
func (s *store) createDownload() (*os.File, error) {
	f, err := os.CreateTemp(filepath.Join(s.dir, storeModelsDir), downloadPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return f, nil
}

// Current returns a copy of the live variant, or nil.
func (s *store) Current() *installedVariant {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cloneVariant(s.state.Current)
}

// Previous returns a copy of the variant kept for rollback, or nil.
func (s *store) Previous() *installedVariant {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cloneVariant(s.state.Previous)
}

func cloneVariant(v *installedVariant) *installedVariant {
	if v == nil {
		return nil
	}
	c := *v
	c.SampleShape = append([]int64(nil), v.SampleShape...)
	return &c
}

// Install makes v live. download, the verified and fsynced file holding v's bytes,
// is renamed to its content address (unless those bytes are already stored; download
// may be "" or the stored path itself when they are), then the
// state file is replaced atomically with v as current and the old current as
// previous. Installing the live variant again changes nothing. Models that neither
// state names any more are removed afterwards.
func (s *store) Install(v *installedVariant, download string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	dst := s.modelPath(v.SHA256)
	if download == "" || download == dst {
		if _, err := os.Stat(dst); err != nil {
			return fmt.Errorf("store: install %s: %w", v.VariantID, err)
		}
	} else if _, err := os.Stat(dst); errors.Is(err, fs.ErrNotExist) {
		if err := os.Rename(download, dst); err != nil {
			return fmt.Errorf("store: install %s: %w", v.VariantID, err)
		}
		if err := syncDir(filepath.Dir(dst)); err != nil {
			return fmt.Errorf("store: install %s: %w", v.VariantID, err)
		}
	} else {
		os.Remove(download)
	}
	if cur := s.state.Current; cur != nil && cur.VariantID == v.VariantID && cur.SHA256 == v.SHA256 {
		return nil
	}
	next := storeState{Current: cloneVariant(v), Previous: s.state.Current}
	if err := s.commit(next); err != nil {
		return fmt.Errorf("store: install %s: %w", v.VariantID, err)
	}
	s.gc()
	return nil
}

// Rollback makes the previous variant live again and keeps the replaced one as
// previous, after checking the previous bytes still hash to their digest. With to
// set, the previous variant must be to; if to is already live it does nothing. It
// returns ErrNoPrevious when no previous variant is kept (or it is not to), and
// ErrDigestMismatch when its file was damaged.
func (s *store) Rollback(to string) (restored *installedVariant, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if to != "" && s.state.Current != nil && s.state.Current.VariantID == to {
		return cloneVariant(s.state.Current), nil
	}
	prev := s.state.Previous
	if prev == nil {
		return nil, ErrNoPrevious
	}
	if to != "" && prev.VariantID != to {
		return nil, fmt.Errorf("%w: previous is %q, not %q", ErrNoPrevious, prev.VariantID, to)
	}
	if err := checkFileDigest(s.modelPath(prev.SHA256), prev.SHA256); err != nil {
		return nil, fmt.Errorf("store: rollback to %s: %w", prev.VariantID, err)
	}
	next := storeState{Current: prev, Previous: s.state.Current}
	if err := s.commit(next); err != nil {
		return nil, fmt.Errorf("store: rollback to %s: %w", prev.VariantID, err)
	}
	return cloneVariant(prev), nil
}

func (s *store) commit(next storeState) error {
	b, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(s.dir, storeStateFile), b, 0o644); err != nil {
		return err
	}
	s.state = next
	return nil
}

// gc removes model files that neither the current nor the previous variant uses.
func (s *store) gc() {
	keep := map[string]bool{}
	for _, v := range []*installedVariant{s.state.Current, s.state.Previous} {
		if v != nil {
			keep[v.SHA256+".onnx"] = true
		}
	}
	entries, err := os.ReadDir(filepath.Join(s.dir, storeModelsDir))
	if err != nil {
		return
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".onnx") && !keep[e.Name()] {
			os.Remove(filepath.Join(s.dir, storeModelsDir, e.Name()))
		}
	}
}

// checkFileDigest hashes the file at path and compares with want (lower-case hex).
func checkFileDigest(path, want string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("%w: %s has sha256 %s, want %s", ErrDigestMismatch, filepath.Base(path), got, want)
	}
	return nil
}
