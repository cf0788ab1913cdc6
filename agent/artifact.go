package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/nats-io/nats.go/jetstream"

	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
)

// refusal is an error for which the agent refuses a command or artifact for good:
// retrying cannot help. Reason is a short metric label.
type refusal struct {
	reason string
	err    error
}

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

func refuse(reason string, err error) error { return &refusal{reason: reason, err: err} }

// artifact is a verified model file ready to benchmark or install. Temporary ones
// are removed by release unless Install took them.
type artifact struct {
	path string
	temp bool
}

func (f *artifact) release() {
	if f.temp {
		os.Remove(f.path)
	}
}

// fetchArtifact returns the verified bytes of m as a file: the stored copy when this
// device already holds that digest, else a fresh download from the model bucket,
// hashed while it is written and fsynced. A missing object, a size or digest that
// differs from the manifest, or an object the store itself finds corrupt is a
// refusal; other errors (server unavailable) are transient.
func (a *Agent) fetchArtifact(ctx context.Context, m *fpv1.VariantManifest) (*artifact, error) {
	local := a.store.modelPath(m.GetSha256())
	if _, err := os.Stat(local); err == nil {
		if err := checkFileDigest(local, m.GetSha256()); err == nil {
			return &artifact{path: local}, nil
		}
		a.log.Warn("stored model damaged; downloading again", "sha256", m.GetSha256())
	}
	obs, err := a.js.ObjectStore(ctx, fpv1.BucketModels)
	if err != nil {
		return nil, fmt.Errorf("artifact: bucket %s: %w", fpv1.BucketModels, err)
	}
	info, err := obs.GetInfo(ctx, m.GetObjectName())
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, refuse("missing", fmt.Errorf("artifact: object %q not in bucket %s", m.GetObjectName(), fpv1.BucketModels))
	}
	if err != nil {
		return nil, fmt.Errorf("artifact: %w", err)
	}
	if int64(info.Size) > a.cfg.maxArtifactBytes {
		return nil, refuse("size", fmt.Errorf("artifact: object %q is %d bytes, limit %d", m.GetObjectName(), info.Size, a.cfg.maxArtifactBytes))
	}
	if m.GetSizeBytes() != 0 && info.Size != m.GetSizeBytes() {
		return nil, refuse("size", fmt.Errorf("artifact: object %q is %d bytes, manifest says %d", m.GetObjectName(), info.Size, m.GetSizeBytes()))
	}
	res, err := obs.Get(ctx, m.GetObjectName())
	if err != nil {
		return nil, fmt.Errorf("artifact: get %q: %w", m.GetObjectName(), err)
	}
	defer res.Close()
	f, err := a.store.createDownload()
	if err != nil {
		return nil, fmt.Errorf("artifact: %w", err)
	}
	art := &artifact{path: f.Name(), temp: true}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			art.release()
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(res, a.cfg.maxArtifactBytes+1))
	switch {
	case errors.Is(err, jetstream.ErrDigestMismatch):
		return nil, refuse("digest", fmt.Errorf("artifact: object %q: %w: the object store found it corrupt", m.GetObjectName(), ErrDigestMismatch))
	case err != nil:
		return nil, fmt.Errorf("artifact: download %q: %w", m.GetObjectName(), err)
	case n > a.cfg.maxArtifactBytes:
		return nil, refuse("size", fmt.Errorf("artifact: object %q exceeds %d bytes", m.GetObjectName(), a.cfg.maxArtifactBytes))
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != m.GetSha256() {
		return nil, refuse("digest", fmt.Errorf("artifact: object %q: %w: sha256 %s, manifest says %s", m.GetObjectName(), ErrDigestMismatch, got, m.GetSha256()))
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("artifact: sync: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("artifact: close: %w", err)
	}
	ok = true
	return art, nil
}
