package fetch

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pkg/errors"
)

var errFlaky = errors.New("flaky")

// failing is an op that fails transiently n times, then succeeds.
func failing(n int, calls *int) func() (bool, error) {
	return func() (bool, error) {
		*calls++
		if *calls <= n {
			return false, Transient(errFlaky)
		}
		return false, nil
	}
}

// waits records what Notify hears.
type waits struct{ got []time.Duration }

func (w *waits) notify(err error, d time.Duration) { w.got = append(w.got, d) }

func TestDoRetriesATransientError(t *testing.T) {
	var w waits
	calls := 0
	r := Retry{Attempts: 3, Base: time.Millisecond, Notify: w.notify}
	if err := r.Do(context.Background(), failing(2, &calls)); err != nil {
		t.Fatalf("Do = %v, want success on the third call", err)
	}
	if calls != 3 {
		t.Errorf("op called %d times, want 3", calls)
	}
	if diff := cmp.Diff([]time.Duration{time.Millisecond, 2 * time.Millisecond}, w.got); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
}

func TestDoStopsOnAPermanentError(t *testing.T) {
	final := errors.New("final")
	calls := 0
	r := Retry{Attempts: 5, Base: time.Millisecond}
	err := r.Do(context.Background(), func() (bool, error) { calls++; return false, final })
	if err != final || calls != 1 {
		t.Errorf("Do = %v after %d calls, want the error itself after 1", err, calls)
	}
}

func TestDoGivesUp(t *testing.T) {
	calls := 0
	r := Retry{Attempts: 3, Base: time.Millisecond}
	err := r.Do(context.Background(), failing(100, &calls))
	var g *GaveUp
	if !errors.As(err, &g) || g.Last != errFlaky || g.Attempts != 3 || g.Cancelled != nil || calls != 3 {
		t.Fatalf("Do = %#v after %d calls, want GaveUp after 3", err, calls)
	}
	if !errors.Is(err, errFlaky) || !strings.Contains(err.Error(), "flaky (gave up after 3 attempts)") {
		t.Errorf("Do = %q, want the last error and the count", err)
	}
}

func TestDoProgressStartsTheCountOver(t *testing.T) {
	var w waits
	calls := 0
	r := Retry{Attempts: 2, Base: time.Microsecond, Max: time.Millisecond, Notify: w.notify}
	err := r.Do(context.Background(), func() (bool, error) { calls++; return true, Transient(errFlaky) })
	var g *GaveUp
	if !errors.As(err, &g) || calls != 40 || g.Attempts != 40 {
		t.Fatalf("Do = %v after %d calls, want GaveUp at the cap of 20*Attempts = 40", err, calls)
	}
	for i, d := range w.got {
		if d != time.Microsecond {
			t.Fatalf("wait %d = %v, want Base each time (progress restarts the backoff)", i, d)
		}
	}
}

func TestDoBackoffIsBounded(t *testing.T) {
	var w waits
	calls := 0
	r := Retry{Attempts: 6, Base: time.Millisecond, Max: 4 * time.Millisecond, Notify: w.notify}
	_ = r.Do(context.Background(), failing(100, &calls))
	want := []time.Duration{1, 2, 4, 4, 4}
	for i := range want {
		want[i] *= time.Millisecond
	}
	if diff := cmp.Diff(want, w.got); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
}

func TestDoHonoursCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	r := Retry{Attempts: 5, Base: time.Hour, Notify: func(error, time.Duration) { cancel() }}
	done := make(chan error, 1)
	go func() { done <- r.Do(ctx, failing(100, &calls)) }()
	var err error
	select {
	case err = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Do still waits 5s after ctx ended")
	}
	var g *GaveUp
	if !errors.As(err, &g) || g.Cancelled != context.Canceled || g.Attempts != 1 || calls != 1 {
		t.Fatalf("Do = %#v after %d calls, want GaveUp cancelled after 1", err, calls)
	}
	if !errors.Is(err, context.Canceled) || !errors.Is(err, errFlaky) {
		t.Errorf("Do = %v: errors.Is should find both ctx's error and the last one", err)
	}
}

func TestTransientNil(t *testing.T) {
	if err := Transient(nil); err != nil {
		t.Errorf("Transient(nil) = %v, want nil", err)
	}
}
