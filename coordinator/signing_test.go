package coordinator

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSigningKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "coordinator.key")
	k1, err := LoadOrCreateSigningKey(path)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != 0o600 {
		t.Errorf("mode of a new key: got %v, want 0600", got)
	}
	k2, err := LoadOrCreateSigningKey(path)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if !k1.Equal(k2) {
		t.Error("loading the key file again gave another key")
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateSigningKey(path); err == nil {
		t.Error("a key file readable by others was accepted")
	}
	bad := filepath.Join(t.TempDir(), "bad.key")
	for name, content := range map[string]string{
		"not pem":     "hello",
		"wrong block": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
		"garbage der": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
	} {
		if err := os.WriteFile(bad, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadOrCreateSigningKey(bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
