// Package reconcile runs controller-style reconcilers: events enqueue keys (a class,
// a rollout), and a loop calls the reconciler for each due key, requeueing as the
// reconciler asks and backing off on errors.
package reconcile

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// Result tells the loop when to reconcile a key again. A zero Result means only when
// an event enqueues the key.
type Result struct {
	RequeueAfter time.Duration
}

// Reconciler brings one key's observed state one step toward its desired state.
//
// Contract: Reconcile re-reads everything it needs on every call, takes at most one
// corrective step, and returns. Calling it again with nothing changed does nothing.
// A nil error with RequeueAfter > 0 is an explicit poll; a non-nil error means "back
// off and retry"; an error wrapping ErrTerminal means "stop retrying this key until
// an event enqueues it again".
type Reconciler interface {
	Reconcile(ctx context.Context, key string) (Result, error)
}

// ErrTerminal marks an error that retrying cannot fix.
var ErrTerminal = errors.New("terminal")

// Back-off bounds for failed reconciles.
const (
	MinBackoff = 200 * time.Millisecond
	MaxBackoff = 10 * time.Second
)

// Queue holds the keys due for reconciling. The zero value is not usable; use
// NewQueue.
type Queue struct {
	mu      sync.Mutex
	due     map[string]time.Time
	backoff map[string]time.Duration
	// notBefore holds keys in back-off: events do not make them due sooner.
	notBefore map[string]time.Time
	wake      chan struct{}
}

// NewQueue returns an empty queue.
func NewQueue() *Queue {
	return &Queue{due: map[string]time.Time{}, backoff: map[string]time.Duration{}, notBefore: map[string]time.Time{}, wake: make(chan struct{}, 1)}
}

// Add makes key due now.
func (q *Queue) Add(key string) { q.AddAfter(key, 0) }

// AddAfter makes key due after d, unless it is already due sooner.
func (q *Queue) AddAfter(key string, d time.Duration) {
	at := time.Now().Add(d)
	q.mu.Lock()
	if nb, ok := q.notBefore[key]; ok && at.Before(nb) {
		at = nb
	}
	if cur, ok := q.due[key]; !ok || at.Before(cur) {
		q.due[key] = at
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// next pops the earliest due key, or says how long until one is due.
func (q *Queue) next() (string, time.Duration, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.due) == 0 {
		return "", time.Hour, false
	}
	keys := make([]string, 0, len(q.due))
	for k := range q.due {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return q.due[keys[i]].Before(q.due[keys[j]]) })
	k := keys[0]
	if wait := time.Until(q.due[k]); wait > 0 {
		return "", wait, false
	}
	delete(q.due, k)
	return k, 0, true
}

// Run calls r for due keys, one at a time, until ctx ends.
func (q *Queue) Run(ctx context.Context, r Reconciler, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for {
		key, wait, ok := q.next()
		if !ok {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-q.wake:
				t.Stop()
				continue
			case <-t.C:
				continue
			}
		}
		res, err := r.Reconcile(ctx, key)
		if ctx.Err() != nil {
			return
		}
		switch {
		case errors.Is(err, ErrTerminal):
			log.Error("reconcile: giving up until the next event", "key", key, "err", err)
		case err != nil:
			q.mu.Lock()
			b := min(max(2*q.backoff[key], MinBackoff), MaxBackoff)
			q.backoff[key] = b
			q.notBefore[key] = time.Now().Add(b)
			q.mu.Unlock()
			log.Warn("reconcile failed; retrying", "key", key, "in", b, "err", err)
			q.AddAfter(key, b)
		default:
			q.mu.Lock()
			delete(q.backoff, key)
			delete(q.notBefore, key)
			q.mu.Unlock()
			if res.RequeueAfter > 0 {
				q.AddAfter(key, res.RequeueAfter)
			}
		}
	}
}
