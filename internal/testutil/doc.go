// Package testutil holds the shared test fixtures: real embedded etcd and NATS servers
// in a temporary directory, cleaned up with the test, and polling with a deadline.
package testutil
