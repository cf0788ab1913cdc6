package reconcile

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

type recorder struct {
	mu    sync.Mutex
	calls map[string]int
	fn    func(key string, n int) (Result, error)
}

func (r *recorder) Reconcile(_ context.Context, key string) (Result, error) {
	r.mu.Lock()
	r.calls[key]++
	n := r.calls[key]
	r.mu.Unlock()
	return r.fn(key, n)
}

func (r *recorder) count(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[key]
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestQueueRequeuesAndBacksOff(t *testing.T) {
	r := &recorder{calls: map[string]int{}, fn: func(key string, n int) (Result, error) {
		switch key {
		case "poll":
			if n < 3 {
				return Result{RequeueAfter: time.Millisecond}, nil
			}
		case "flaky":
			if n < 2 {
				return Result{}, errors.New("etcd unavailable")
			}
		case "terminal":
			return Result{}, errors.Join(ErrTerminal, errors.New("bad class"))
		}
		return Result{}, nil
	}}
	q := NewQueue()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); q.Run(ctx, r, nil) }()
	for _, k := range []string{"poll", "flaky", "terminal", "once"} {
		q.Add(k)
	}
	waitFor(t, func() bool { return r.count("poll") == 3 && r.count("flaky") == 2 })
	time.Sleep(50 * time.Millisecond)
	cancel()
	<-done
	if got := r.count("poll"); got != 3 {
		t.Errorf("poll reconciled %d times, want 3 (requeued twice, then idle)", got)
	}
	if got := r.count("flaky"); got != 2 {
		t.Errorf("flaky reconciled %d times, want 2 (one retry after back-off)", got)
	}
	if got := r.count("terminal"); got != 1 {
		t.Errorf("terminal reconciled %d times, want 1", got)
	}
	if got := r.count("once"); got != 1 {
		t.Errorf("once reconciled %d times, want 1", got)
	}
}

func TestQueueEventsRespectBackoff(t *testing.T) {
	r := &recorder{calls: map[string]int{}, fn: func(key string, n int) (Result, error) {
		return Result{}, errors.New("still failing")
	}}
	q := NewQueue()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); q.Run(ctx, r, nil) }()
	start := time.Now() // the first failure, and so its back-off, comes after this
	q.Add("k")
	waitFor(t, func() bool { return r.count("k") == 1 })
	// A storm of events during the back-off must not cause a retry storm. The storm is
	// bounded by the clock, not by a count of sleeps: on a busy machine 50 sleeps of
	// 2ms once outlasted the back-off.
	for time.Since(start) < MinBackoff/2 {
		q.Add("k")
		time.Sleep(2 * time.Millisecond)
	}
	cancel()
	<-done
	if got := r.count("k"); got > 1 {
		t.Errorf("failing key reconciled %d times within its %v back-off, want 1", got, MinBackoff)
	}
}
