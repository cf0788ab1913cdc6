package coordinator

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
)

// ensureJetStream creates or updates the command and report streams, the model
// bucket and the coordinators' durable report consumer. It is idempotent: every new
// leader calls it, and a later leader keeps what an earlier one created.
func (c *Coordinator) ensureJetStream(ctx context.Context) (jetstream.Consumer, error) {
	cfg := c.cfg
	streams := []jetstream.StreamConfig{
		{
			Name:        fpv1.StreamCommands,
			Description: "fleetprune commands to agents, per device and per class",
			Subjects:    []string{fpv1.SubjectCommandsAll},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			MaxAge:      DefaultCommandMaxAge,
			MaxBytes:    cfg.StreamMaxBytes,
			MaxMsgSize:  int32(fpv1.MaxManifestBytes * 2),
			Discard:     jetstream.DiscardOld,
			Replicas:    cfg.StreamReplicas,
			Duplicates:  DefaultDuplicateWindow,
		},
		{
			Name:        fpv1.StreamReports,
			Description: "fleetprune reports from agents",
			Subjects:    []string{fpv1.SubjectReportsAll},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			MaxAge:      DefaultReportMaxAge,
			MaxBytes:    cfg.StreamMaxBytes,
			MaxMsgSize:  int32(cfg.MaxMessageBytes),
			Discard:     jetstream.DiscardOld,
			Replicas:    cfg.StreamReplicas,
			Duplicates:  DefaultDuplicateWindow,
		},
	}
	for _, sc := range streams {
		if _, err := c.js.CreateOrUpdateStream(ctx, sc); err != nil {
			return nil, fmt.Errorf("jetstream: stream %s: %w", sc.Name, err)
		}
	}
	if _, err := c.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      fpv1.BucketModels,
		Description: "fleetprune model artifacts, named by SHA-256",
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.StreamReplicas,
	}); err != nil {
		return nil, fmt.Errorf("jetstream: object store %s: %w", fpv1.BucketModels, err)
	}
	cons, err := c.js.CreateOrUpdateConsumer(ctx, fpv1.StreamReports, jetstream.ConsumerConfig{
		Durable:       DefaultReportConsumer,
		Description:   "the leader coordinator applies reports to etcd, then acks",
		FilterSubject: fpv1.SubjectReportsAll,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.ReportAckWait,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		MaxAckPending: 4 * cfg.ReportBatch,
		MaxDeliver:    -1,
	})
	if err != nil {
		return nil, fmt.Errorf("jetstream: report consumer: %w", err)
	}
	return cons, nil
}
