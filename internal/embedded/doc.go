// Package embedded runs an etcd server and a NATS server with JetStream inside the
// process, for `fleetprune up`, the demo and tests.
package embedded
