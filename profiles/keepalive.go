package profiles

import (
	"context"
	"fmt"
	"sync"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
)

// keepAliveStream renews leases one at a time over one long-lived LeaseKeepAlive
// stream. clientv3's KeepAliveOnce opens a stream per call, which costs several
// times a renewal; a heartbeat per device per few seconds needs the cheap path.
type keepAliveStream struct {
	lc pb.LeaseClient

	mu     sync.Mutex
	stream grpc.BidiStreamingClient[pb.LeaseKeepAliveRequest, pb.LeaseKeepAliveResponse]
	cancel context.CancelFunc
}

func newKeepAliveStream(cli *clientv3.Client) *keepAliveStream {
	return &keepAliveStream{lc: pb.NewLeaseClient(cli.ActiveConnection())}
}

// renew renews lease id and returns its new TTL in seconds; 0 means the lease is
// gone (expired or revoked).
func (k *keepAliveStream) renew(ctx context.Context, id clientv3.LeaseID) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stream == nil {
		sctx, cancel := context.WithCancel(context.Background())
		s, err := k.lc.LeaseKeepAlive(sctx)
		if err != nil {
			cancel()
			return 0, fmt.Errorf("open keep-alive stream: %w", err)
		}
		k.stream, k.cancel = s, cancel
	}
	// The stream outlives ctx; if ctx ends mid-call, drop the stream to unblock.
	stop := context.AfterFunc(ctx, k.cancel)
	defer stop()
	if err := k.stream.Send(&pb.LeaseKeepAliveRequest{ID: int64(id)}); err != nil {
		k.resetLocked()
		return 0, k.failure(ctx, err)
	}
	resp, err := k.stream.Recv()
	if err != nil {
		k.resetLocked()
		return 0, k.failure(ctx, err)
	}
	if resp.ID != int64(id) {
		// Not ours: the stream is out of step; start over.
		k.resetLocked()
		return 0, fmt.Errorf("keep-alive stream answered lease %x for %x", resp.ID, int64(id))
	}
	return resp.TTL, nil
}

func (k *keepAliveStream) failure(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("keep-alive: %w", err)
}

func (k *keepAliveStream) resetLocked() {
	if k.cancel != nil {
		k.cancel()
	}
	k.stream, k.cancel = nil, nil
}

// close ends the stream.
func (k *keepAliveStream) close() {
	k.mu.Lock()
	k.resetLocked()
	k.mu.Unlock()
}
