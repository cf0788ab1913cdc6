package agent

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// stage writes b as a download in s and returns the variant record for it.
func stage(t *testing.T, s *store, id string, b []byte) (*installedVariant, string) {
	t.Helper()
	f, err := s.createDownload()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return &installedVariant{VariantID: id, SHA256: hex.EncodeToString(sum[:]), SizeBytes: uint64(len(b))}, f.Name()
}

func liveBytes(t *testing.T, s *store) []byte {
	t.Helper()
	cur := s.Current()
	if cur == nil {
		t.Fatal("nothing installed")
	}
	b, err := os.ReadFile(s.modelPath(cur.SHA256))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestStoreInstallRollbackReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rollback(""); !errors.Is(err, ErrNoPrevious) {
		t.Fatalf("rollback of an empty store err = %v, want ErrNoPrevious", err)
	}
	a, b, c := []byte("model a"), []byte("model b"), []byte("model c")
	for _, step := range []struct {
		id   string
		data []byte
	}{{"a", a}, {"b", b}, {"c", c}} {
		v, tmp := stage(t, s, step.id, step.data)
		if err := s.Install(v, tmp); err != nil {
			t.Fatalf("install %s: %v", step.id, err)
		}
		if _, err := os.Stat(tmp); !os.IsNotExist(err) {
			t.Errorf("download %s still exists after install", tmp)
		}
	}
	if got := liveBytes(t, s); !bytes.Equal(got, c) {
		t.Fatalf("live = %q, want %q", got, c)
	}
	// Only c and b are kept: a was garbage-collected.
	entries, _ := os.ReadDir(filepath.Join(dir, storeModelsDir))
	if len(entries) != 2 {
		t.Errorf("models dir holds %d files, want 2", len(entries))
	}
	if _, err := s.Rollback("a"); !errors.Is(err, ErrNoPrevious) {
		t.Errorf("rollback to a dropped variant err = %v, want ErrNoPrevious", err)
	}
	if v, err := s.Rollback("b"); err != nil || v.VariantID != "b" {
		t.Fatalf("rollback to b = %v, %v", v, err)
	}
	if got := liveBytes(t, s); !bytes.Equal(got, b) {
		t.Fatalf("live after rollback = %q, want %q", got, b)
	}
	// Rolling back to the live variant is a no-op.
	if v, err := s.Rollback("b"); err != nil || v.VariantID != "b" || s.Previous().VariantID != "c" {
		t.Fatalf("second rollback to b = %v, %v (previous %v)", v, err, s.Previous())
	}

	// The state survives a reopen, and leftover downloads are cleaned.
	leftover, _ := s.createDownload()
	leftover.Close()
	s2, err := openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Current().VariantID != "b" || s2.Previous().VariantID != "c" {
		t.Errorf("after reopen current %v previous %v, want b and c", s2.Current(), s2.Previous())
	}
	if _, err := os.Stat(leftover.Name()); !os.IsNotExist(err) {
		t.Error("leftover download not removed on open")
	}

	// A damaged previous file is refused, and the live variant stays.
	if err := os.WriteFile(s2.modelPath(s2.Previous().SHA256), []byte("bit rot"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Rollback(""); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("rollback to damaged file err = %v, want ErrDigestMismatch", err)
	}
	if got := liveBytes(t, s2); !bytes.Equal(got, b) {
		t.Errorf("live after refused rollback = %q, want %q", got, b)
	}
}

func TestStoreRejectsBadState(t *testing.T) {
	for name, body := range map[string]string{
		"not json":      "{",
		"bad digest":    `{"current":{"variant_id":"a","sha256":"../../etc/passwd"}}`,
		"missing model": `{"current":{"variant_id":"a","sha256":"` + hex.EncodeToString(make([]byte, 32)) + `"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, storeStateFile), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := openStore(dir); err == nil {
				t.Error("openStore accepted a bad state file")
			}
		})
	}
}

func TestSeqNeverRepeatsAcrossRestarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seq")
	var last uint64
	for restart := 0; restart < 3; restart++ {
		s, err := openSeq(path)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < seqBlock+3; i++ {
			n, err := s.Next()
			if err != nil {
				t.Fatal(err)
			}
			if n <= last {
				t.Fatalf("restart %d: seq %d after %d", restart, n, last)
			}
			last = n
		}
	}
	if err := os.WriteFile(path, []byte("twelve"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := openSeq(path); err == nil {
		t.Error("openSeq accepted a garbage file")
	}
}

func TestPercentiles(t *testing.T) {
	lat := make([]int64, 100)
	for i := range lat {
		lat[len(lat)-1-i] = int64(i + 1) // 100..1, unsorted
	}
	p50, p95, p99, mean := percentiles(lat)
	if p50 != 50 || p95 != 95 || p99 != 99 || mean != 50 {
		t.Errorf("percentiles = %d %d %d mean %d, want 50 95 99 mean 50", p50, p95, p99, mean)
	}
	if p50, p95, p99, _ := percentiles([]int64{7}); p50 != 7 || p95 != 7 || p99 != 7 {
		t.Errorf("one sample: %d %d %d, want 7", p50, p95, p99)
	}
}
