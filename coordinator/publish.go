package coordinator

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fleetprune/fleetprune/profiles"
	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
)

// MaxArtifactBytes bounds a published ONNX artifact.
const MaxArtifactBytes = 512 << 20

// VariantMeta describes a variant beside its bytes.
type VariantMeta struct {
	// Model is the base model the variant was pruned from.
	Model string
	// InputShape is the per-sample input shape (batch excluded).
	InputShape []int64
	// ProbeSeed seeds the fixed probe batch agents check parity on.
	ProbeSeed uint64
	// ExpectedChecksum is the output checksum the coordinator computed on the probe
	// batch.
	ExpectedChecksum string
}

// Variant is the etcd record of a published variant: its digest and signed manifest,
// never its bytes.
type Variant struct {
	Class     string    `json:"class"`
	ID        string    `json:"id"`
	Model     string    `json:"model,omitempty"`
	SHA256    string    `json:"sha256"`
	SizeBytes uint64    `json:"size_bytes"`
	Object    string    `json:"object"`
	CreatedAt time.Time `json:"created_at"`
	// Manifest is the serialized VariantManifest and Signature its ed25519 signature.
	Manifest  []byte `json:"manifest"`
	Signature []byte `json:"signature"`
}

// Signed returns the variant's signed manifest as sent to agents.
func (v *Variant) Signed() *fpv1.SignedManifest {
	return &fpv1.SignedManifest{Manifest: v.Manifest, Signature: v.Signature}
}

// Publish stores onnx in the model bucket under its SHA-256, signs a manifest for it
// with the coordinator's key and records the variant under variants/<class>/<variant>
// in a fenced transaction. Publishing the same bytes again reuses the stored object.
// The bytes must parse as an ONNX model whose input matches meta.InputShape.
// It returns ErrNotLeader when this coordinator does not lead, and an error naming the
// field when class, variantID or meta is not valid.
func (c *Coordinator) Publish(ctx context.Context, class, variantID string, onnx []byte, meta VariantMeta) (*fpv1.SignedManifest, error) {
	f, ok := c.currentTerm()
	if !ok {
		return nil, ErrNotLeader
	}
	if err := checkName("class", class); err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	if err := checkName("variant", variantID); err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	if len(onnx) == 0 || len(onnx) > MaxArtifactBytes {
		return nil, fmt.Errorf("publish: artifact is %d bytes, want 1..%d", len(onnx), MaxArtifactBytes)
	}
	if err := checkArtifact(onnx, meta.InputShape); err != nil {
		return nil, fmt.Errorf("publish %s/%s: %w", class, variantID, err)
	}
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	sum := sha256.Sum256(onnx)
	digest := hex.EncodeToString(sum[:])
	if err := c.putArtifact(ctx, digest, onnx); err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	m := &fpv1.VariantManifest{
		VariantId:        variantID,
		Class:            class,
		Model:            meta.Model,
		Sha256:           digest,
		SizeBytes:        uint64(len(onnx)),
		ObjectName:       digest,
		CreatedAt:        timestamppb.New(now),
		InputShape:       meta.InputShape,
		ProbeSeed:        meta.ProbeSeed,
		ExpectedChecksum: meta.ExpectedChecksum,
	}
	signed, err := fpv1.SignManifest(c.key, m)
	if err != nil {
		return nil, fmt.Errorf("publish: sign: %w", err)
	}
	rec, err := json.Marshal(Variant{
		Class: class, ID: variantID, Model: meta.Model, SHA256: digest, SizeBytes: uint64(len(onnx)),
		Object: digest, CreatedAt: now, Manifest: signed.Manifest, Signature: signed.Signature,
	})
	if err != nil {
		return nil, fmt.Errorf("publish: encode record: %w", err)
	}
	resp, err := c.etcd.Txn(ctx).If(f.Cmp()).
		Then(clientv3.OpPut(profiles.VariantKey(class, variantID), string(rec))).Commit()
	if err != nil {
		return nil, fmt.Errorf("publish: record variant %s/%s: %w", class, variantID, err)
	}
	if !resp.Succeeded {
		return nil, ErrNotLeader
	}
	c.metrics.published.Inc()
	c.log.Info("variant published", "class", class, "variant", variantID, "sha256", digest, "bytes", len(onnx))
	return signed, nil
}

// putArtifact stores b in the model bucket under digest unless an object of that name
// with that digest is already there.
func (c *Coordinator) putArtifact(ctx context.Context, digest string, b []byte) error {
	obs, err := c.js.ObjectStore(ctx, fpv1.BucketModels)
	if err != nil {
		return fmt.Errorf("publish: open bucket %s: %w", fpv1.BucketModels, err)
	}
	info, err := obs.GetInfo(ctx, digest)
	if err == nil && info.Size == uint64(len(b)) {
		return nil
	}
	if err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("publish: look up object %s: %w", digest, err)
	}
	if _, err := obs.Put(ctx, jetstream.ObjectMeta{Name: digest, Description: "ONNX model variant"}, bytes.NewReader(b)); err != nil {
		return fmt.Errorf("publish: put object %s: %w", digest, err)
	}
	return nil
}

// SendCommand publishes cmd to FLEET_CMD for one device of class, or for every device
// of class when device is "" or "all". It fills in the command's id (when empty),
// class, device and issue time, and uses the id as JetStream message id so a retried
// send is stored once. It returns ErrNotLeader when this coordinator does not lead.
func (c *Coordinator) SendCommand(ctx context.Context, class, device string, cmd *fpv1.Command) (*fpv1.Command, error) {
	if _, ok := c.currentTerm(); !ok {
		return nil, ErrNotLeader
	}
	if cmd == nil || cmd.GetKind() == nil {
		return nil, errors.New("send command: command has no kind (benchmark, install or rollback)")
	}
	if err := checkName("class", class); err != nil {
		return nil, fmt.Errorf("send command: %w", err)
	}
	subject := fpv1.ClassCommandSubject(class)
	if device != "" && device != "all" {
		if err := checkName("device", device); err != nil {
			return nil, fmt.Errorf("send command: %w", err)
		}
		subject = fpv1.CommandSubject(class, device)
	} else {
		device = ""
	}
	cmd = proto.Clone(cmd).(*fpv1.Command)
	if cmd.Id == "" {
		cmd.Id = newID()
	}
	cmd.Class, cmd.DeviceId = class, device
	if cmd.IssuedAt == nil {
		cmd.IssuedAt = timestamppb.Now()
	}
	b, err := proto.Marshal(cmd)
	if err != nil {
		return nil, fmt.Errorf("send command: encode: %w", err)
	}
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	if _, err := c.js.Publish(ctx, subject, b, jetstream.WithMsgID(cmd.Id)); err != nil {
		return nil, fmt.Errorf("send command %s to %s: %w", cmd.Id, subject, err)
	}
	c.metrics.commands.WithLabelValues(commandKind(cmd)).Inc()
	return cmd, nil
}

func commandKind(cmd *fpv1.Command) string {
	switch cmd.GetKind().(type) {
	case *fpv1.Command_Benchmark:
		return "benchmark"
	case *fpv1.Command_Install:
		return "install"
	case *fpv1.Command_Rollback:
		return "rollback"
	}
	return "unknown"
}

// newID returns a random 128-bit id in hex.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
