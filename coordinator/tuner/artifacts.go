package tuner

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fleetprune/fleetprune/coordinator"
	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
)

// objectArtifacts reads artifacts from the model bucket.
type objectArtifacts struct {
	js jetstream.JetStream
}

// ObjectArtifacts returns Artifacts reading the NATS Object Store bucket of models.
func ObjectArtifacts(js jetstream.JetStream) Artifacts { return objectArtifacts{js: js} }

func (o objectArtifacts) Get(ctx context.Context, digest string) ([]byte, error) {
	obs, err := o.js.ObjectStore(ctx, fpv1.BucketModels)
	if err != nil {
		return nil, fmt.Errorf("artifacts: open bucket %s: %w", fpv1.BucketModels, err)
	}
	info, err := obs.GetInfo(ctx, digest)
	if err != nil {
		return nil, fmt.Errorf("artifacts: %s: %w", digest, err)
	}
	if info.Size > coordinator.MaxArtifactBytes {
		return nil, fmt.Errorf("artifacts: %s is %d bytes, over the %d limit", digest, info.Size, coordinator.MaxArtifactBytes)
	}
	b, err := obs.GetBytes(ctx, digest)
	if err != nil {
		return nil, fmt.Errorf("artifacts: get %s: %w", digest, err)
	}
	return b, nil
}
