package phasereq

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bhojpur/os/internal/layout"
)

// TestAskAndServe: requests are answered once each, in the server's
// context, with the phase's outcome and output; a server restarted does
// not run the last request again; an unanswered request times out with a
// message naming the service.
func TestAskAndServe(t *testing.T) {
	f := Files{Root: t.TempDir()}
	var mu sync.Mutex
	runs := 0
	fail := false
	run := func(context.Context) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		runs++
		if fail {
			return []byte("bos: phase runtime done\nsysctl: no such key\n"), errors.New("exit status 1")
		}
		return []byte("bos: phase runtime done\n"), nil
	}
	serve := func() (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = f.Serve(ctx, 20*time.Millisecond, run, t.Logf) }()
		return func() { cancel(); <-done }
	}
	stop := serve()
	ctx := context.Background()
	r, err := f.Ask(ctx, "n1-1", 10*time.Second)
	if err != nil || !r.OK || !strings.Contains(r.Output, "phase runtime done") {
		t.Fatalf("first request: %+v, %v", r, err)
	}
	mu.Lock()
	fail = true
	mu.Unlock()
	r, err = f.Ask(ctx, "n1-2", 10*time.Second)
	if err != nil || r.OK || r.Error != "exit status 1" || !strings.Contains(r.Output, "no such key") {
		t.Fatalf("failing phase: %+v, %v", r, err)
	}
	stop()
	for _, p := range []string{layout.PhaseRequest, layout.PhaseResult} {
		if fi, err := os.Stat(filepath.Join(f.Root, p)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, want mode 0600", p, err)
		}
	}
	// Restarted: the last request is not run again.
	stop = serve()
	time.Sleep(200 * time.Millisecond)
	stop()
	mu.Lock()
	if runs != 2 {
		t.Errorf("%d runs after a restart, want 2", runs)
	}
	mu.Unlock()
	// Nobody serves: a clear timeout.
	if _, err := f.Ask(ctx, "n1-3", 1500*time.Millisecond); err == nil || !strings.Contains(err.Error(), "bos-apply") {
		t.Errorf("unanswered: %v", err)
	}
	if _, err := f.Ask(ctx, "two\nlines", time.Second); err == nil {
		t.Error("an id with a line break was taken")
	}
}
