package coordinator

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

const pemTypePrivateKey = "PRIVATE KEY"

// LoadOrCreateSigningKey reads the coordinator's ed25519 manifest signing key from
// path (PKCS#8 PEM), or generates one and writes it with mode 0600 when the file does
// not exist. A key file readable by group or others is refused, since whoever reads it
// can sign variants every agent will install.
func LoadOrCreateSigningKey(path string) (ed25519.PrivateKey, error) {
	if path == "" {
		return nil, errors.New("signing key: empty path")
	}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return createSigningKey(path)
	case err != nil:
		return nil, fmt.Errorf("signing key: read %s: %w", path, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: stat %s: %w", path, err)
	}
	if st.Mode().Perm()&0o027 != 0 {
		return nil, fmt.Errorf("signing key: %s has mode %v, readable by others; run chmod 600 on it", path, st.Mode().Perm())
	}
	return parseSigningKey(path, b)
}

func parseSigningKey(path string, b []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != pemTypePrivateKey {
		return nil, fmt.Errorf("signing key: %s holds no %q PEM block", path, pemTypePrivateKey)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("signing key: parse %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("signing key: %s holds a %T, want an ed25519 key", path, k)
	}
	return priv, nil
}

func createSigningKey(path string) (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("signing key: generate: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("signing key: encode: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("signing key: create dir: %w", err)
	}
	// O_EXCL: two coordinators starting on one data dir must not each write a key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadOrCreateSigningKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("signing key: create %s: %w", path, err)
	}
	if err := pem.Encode(f, &pem.Block{Type: pemTypePrivateKey, Bytes: der}); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("signing key: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("signing key: sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("signing key: close %s: %w", path, err)
	}
	return priv, nil
}
