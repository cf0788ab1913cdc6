package embedded

import "time"

// Defaults of the embedded etcd server.
const (
	// DefaultEtcdName is the member name of the single-node cluster.
	DefaultEtcdName = "fleetprune"
	// DefaultStartTimeout bounds server start-up when the caller's context has no deadline.
	DefaultStartTimeout = 60 * time.Second
	// DefaultEtcdLogLevel keeps etcd's own zap logs to errors only.
	DefaultEtcdLogLevel = "error"
	// DefaultEtcdQuotaBytes is the backend size quota (etcd's default is 2 GiB).
	DefaultEtcdQuotaBytes = 2 << 30
)

type etcdConfig struct {
	name       string
	clientURL  string
	peerURL    string
	logLevel   string
	quotaBytes int64
	noFsync    bool
}

func defaultEtcdConfig() etcdConfig {
	return etcdConfig{
		name:       DefaultEtcdName,
		clientURL:  "http://127.0.0.1:0",
		peerURL:    "http://127.0.0.1:0",
		logLevel:   DefaultEtcdLogLevel,
		quotaBytes: DefaultEtcdQuotaBytes,
	}
}

// EtcdOption configures StartEtcd.
type EtcdOption func(*etcdConfig)

// WithEtcdClientURL sets the client URL to listen on, such as "http://127.0.0.1:2379".
// The default (also for "") listens on 127.0.0.1 with a free port chosen by the
// kernel.
func WithEtcdClientURL(u string) EtcdOption {
	return func(c *etcdConfig) {
		if u != "" {
			c.clientURL = u
		}
	}
}

// WithEtcdPeerURL sets the peer URL to listen on; the default (also for "") is
// 127.0.0.1 with a free port.
func WithEtcdPeerURL(u string) EtcdOption {
	return func(c *etcdConfig) {
		if u != "" {
			c.peerURL = u
		}
	}
}

// WithEtcdLogLevel sets the level of etcd's own logs on stderr: debug, info, warn,
// error (the default) or fatal to silence them.
func WithEtcdLogLevel(level string) EtcdOption {
	return func(c *etcdConfig) {
		if level != "" {
			c.logLevel = level
		}
	}
}

// WithEtcdQuotaBytes sets the backend size quota in bytes.
func WithEtcdQuotaBytes(n int64) EtcdOption { return func(c *etcdConfig) { c.quotaBytes = n } }

// WithEtcdUnsafeNoFsync turns fsync off. Only for tests: a crash may lose data.
func WithEtcdUnsafeNoFsync() EtcdOption { return func(c *etcdConfig) { c.noFsync = true } }
