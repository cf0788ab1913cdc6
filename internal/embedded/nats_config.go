package embedded

// Defaults of the embedded NATS server.
const (
	// DefaultNATSHost is the interface the NATS server listens on.
	DefaultNATSHost = "127.0.0.1"
	// DefaultNATSMaxPayload is the largest message in bytes (NATS's default is 1 MiB).
	DefaultNATSMaxPayload = 8 << 20
)

type natsConfig struct {
	host       string
	port       int
	name       string
	maxPayload int32
	maxStore   int64
	maxMemory  int64
}

func defaultNATSConfig() natsConfig {
	return natsConfig{host: DefaultNATSHost, port: -1, name: "fleetprune", maxPayload: DefaultNATSMaxPayload}
}

// NATSOption configures StartNATS.
type NATSOption func(*natsConfig)

// WithNATSPort sets the client port; -1 (the default) picks a free one, and so does
// 0 (unlike nats-server, where 0 means 4222: an unset config value should not
// collide with a NATS server already on the machine).
func WithNATSPort(port int) NATSOption {
	return func(c *natsConfig) {
		if port == 0 {
			port = -1
		}
		c.port = port
	}
}

// WithNATSHost sets the interface to listen on (default, also for "", 127.0.0.1).
func WithNATSHost(host string) NATSOption {
	return func(c *natsConfig) {
		if host != "" {
			c.host = host
		}
	}
}

// WithNATSServerName sets the server name (default "fleetprune"). JetStream stores
// its state per server name, so keep it stable across restarts of one directory.
func WithNATSServerName(name string) NATSOption { return func(c *natsConfig) { c.name = name } }

// WithNATSMaxPayload sets the largest message size in bytes.
func WithNATSMaxPayload(n int32) NATSOption { return func(c *natsConfig) { c.maxPayload = n } }

// WithJetStreamLimits sets JetStream's file and memory storage limits in bytes; 0
// keeps the server's default (a share of free disk and memory).
func WithJetStreamLimits(maxStore, maxMemory int64) NATSOption {
	return func(c *natsConfig) { c.maxStore, c.maxMemory = maxStore, maxMemory }
}
