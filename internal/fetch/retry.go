package fetch

import (
	"context"
	"fmt"
	"time"

	"github.com/pkg/errors"
)

// Retry is the retry policy for transient errors: for a Fetcher,
// connection refused or cut, timeouts, HTTP 5xx, 408 and 429; for other
// callers of Do, whatever they mark Transient.
type Retry struct {
	Attempts int           // attempts that made no progress before giving up (default 5)
	Base     time.Duration // first backoff, doubled each time (default 500ms)
	Max      time.Duration // longest backoff (default 15s)
	Stall    time.Duration // no bytes for this long cuts an attempt of Download (default 60s)
	Timeout  time.Duration // cuts one attempt of Get, a small document (default 30s)
	// Notify, when set, hears each transient error and the wait before
	// the next attempt. A Fetcher whose Notify is nil logs them.
	Notify func(err error, wait time.Duration)
}

func (r Retry) withDefaults() Retry {
	if r.Attempts <= 0 {
		r.Attempts = 5
	}
	if r.Base <= 0 {
		r.Base = 500 * time.Millisecond
	}
	if r.Max <= 0 {
		r.Max = 15 * time.Second
	}
	if r.Stall <= 0 {
		r.Stall = 60 * time.Second
	}
	if r.Timeout <= 0 {
		r.Timeout = 30 * time.Second
	}
	return r
}

// Do calls op until it succeeds or fails for good. An error op marks
// with Transient is tried again after a backoff (Base, doubling up to
// Max) until Attempts calls in a row have failed; a call that reports
// progress (a download that got bytes) starts the count and the backoff
// over, and 20*Attempts calls in all end it even so. Any other error is
// final: Do returns it as it is, at once. When Do stops retrying, it
// returns a *GaveUp. Only the waits watch ctx: op is to watch it itself.
func (r Retry) Do(ctx context.Context, op func() (progress bool, err error)) error {
	r = r.withDefaults()
	wait := r.Base
	failures := 0
	for total := 1; ; total++ {
		progress, err := op()
		if err == nil {
			return nil
		}
		if !isTransient(err) {
			return err
		}
		if progress {
			failures, wait = 0, r.Base
		}
		failures++
		if failures >= r.Attempts || total >= 20*r.Attempts {
			return &GaveUp{Last: unmark(err), Attempts: total}
		}
		if r.Notify != nil {
			r.Notify(err, wait)
		}
		if cerr := sleep(ctx, wait); cerr != nil {
			return &GaveUp{Last: unmark(err), Attempts: total, Cancelled: cerr}
		}
		wait = min(2*wait, r.Max)
	}
}

// sleep waits d, or less when ctx ends first (then its error).
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// GaveUp is Do's error when it stops retrying a transient error.
type GaveUp struct {
	Last     error // the last error of op, without its Transient mark
	Attempts int   // how many times op ran
	// Cancelled is ctx's error when ctx ended during a backoff; nil when
	// the attempts ran out.
	Cancelled error
}

func (g *GaveUp) Error() string {
	if g.Cancelled != nil {
		return fmt.Sprintf("%v, waiting to retry after %d attempts (last: %v)", g.Cancelled, g.Attempts, g.Last)
	}
	return fmt.Sprintf("%v (gave up after %d attempts)", g.Last, g.Attempts)
}

// Unwrap gives Cancelled, when set, and Last, for errors.Is and As.
func (g *GaveUp) Unwrap() []error {
	if g.Cancelled != nil {
		return []error{g.Cancelled, g.Last}
	}
	return []error{g.Last}
}

// Transient marks err as worth another attempt in Do; nil stays nil.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return transient{err}
}

// transient marks an error worth retrying.
type transient struct{ error }

func (t transient) Unwrap() error { return t.error }

// unmark is err without the Transient mark Do was given.
func unmark(err error) error {
	if t, ok := err.(transient); ok {
		return t.error
	}
	return err
}

func isTransient(err error) bool {
	var t transient
	return errors.As(err, &t)
}
