// Package agent is the fleetprune device agent: it detects its hardware, registers
// with the coordinator, keeps presence, takes commands from a durable JetStream
// consumer, downloads and verifies signed variants, installs them atomically with
// rollback, benchmarks them under real resource limits and reports the results.
//
// On the wire (see proto/fleetprune/v1): RegisterRequest on fleet.v1.register;
// Heartbeat on fleet.v1.heartbeat.<device>; commands from the durable consumer
// ConsumerName(device) on FLEET_CMD filtered to fleet.v1.cmd.<class>.<device> and
// fleet.v1.cmd.<class>.all; Report on fleet.v1.report.<class>.<device> with a
// per-device sequence number that never repeats across restarts; artifacts from the
// fleet-models Object Store. A message on ReregisterSubject(device) or
// SubjectReregisterAll, or a NATS reconnect, makes the agent register again.
//
// In its data dir an agent keeps device-id, report-seq, installed.json (the live
// and the previous variant: replacing this file atomically is what installs or rolls
// back) and models/<sha256>.onnx.
//
// Benchmarks run in the agent's process, limited to the engine's threads, or, with
// a CPU quota (or WithBenchWorker), in a worker process (ServeBenchWorker) that
// joins a cgroup with the quota and sets GOMAXPROCS to the threads. A worker process
// rather than one locked OS thread in a cgroup: the engine fans out over goroutines
// on other threads, and the Go runtime's own threads would escape the limit.
package agent
