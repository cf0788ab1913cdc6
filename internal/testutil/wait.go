package testutil

import (
	"testing"
	"time"
)

// pollInterval is how often WaitFor and CheckFor re-test their condition.
const pollInterval = 10 * time.Millisecond

// WaitFor polls cond until it returns true, failing the test if timeout passes first.
func WaitFor(t testing.TB, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testutil: condition not met within %s", timeout)
		}
		time.Sleep(pollInterval)
	}
}

// CheckFor polls cond until it returns nil, failing the test with cond's last error if
// timeout passes first.
func CheckFor(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testutil: condition not met within %s: %v", timeout, err)
		}
		time.Sleep(pollInterval)
	}
}
