// Package coordinator is the fleet's control plane: leader election over etcd, NATS
// streams and registration, report ingestion, artifact publishing and the HTTP API.
package coordinator
