// Package agent is the fleetprune device agent: it detects its hardware, registers
// with the coordinator, keeps presence, takes commands from a durable JetStream
// consumer, downloads and verifies signed variants, installs them atomically with
// rollback, benchmarks them under real resource limits and reports the results.
package agent
