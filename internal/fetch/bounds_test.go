package fetch

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/store"
)

// endless streams bytes without a Content-Length until the client goes,
// or until limit bytes (a guard, so that a client without bounds ends too).
type endless struct {
	limit    int64
	mu       sync.Mutex
	sent     int64
	requests int
}

func (e *endless) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	e.requests++
	e.mu.Unlock()
	buf := make([]byte, 32<<10)
	for i := range buf {
		buf[i] = byte(i)
	}
	for n := int64(0); n < e.limit; {
		m, err := w.Write(buf)
		n += int64(m)
		e.mu.Lock()
		e.sent = n
		e.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// sizes records the largest size each file written through it reached.
type sizes struct {
	store.FS
	mu  sync.Mutex
	max map[string]int64
}

type sizedFile struct {
	store.File
	s    *sizes
	name string
	n    int64
}

func (f *sizedFile) Write(b []byte) (int, error) {
	n, err := f.File.Write(b)
	f.n += int64(n)
	f.s.mu.Lock()
	f.s.max[f.name] = max(f.s.max[f.name], f.n)
	f.s.mu.Unlock()
	return n, err
}

func (s *sizes) OpenFile(name string, flag int, perm os.FileMode) (store.File, error) {
	f, err := s.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &sizedFile{File: f, s: s, name: name}, nil
}

func TestDownloadBounds(t *testing.T) {
	data := payload(300 << 10)
	quick := Retry{Attempts: 3, Base: time.Millisecond}
	t.Run("an announced size over Max is refused before a byte is written", func(t *testing.T) {
		h := &flaky{data: data}
		srv, fsys, dir := setup(t, h)
		os.WriteFile(filepath.Join(dir, "a.part"), data[:10], 0o644)
		f := &Fetcher{Client: srv.Client(), Retry: quick}
		_, err := f.Download(context.Background(), srv.URL+"/a", fsys, "a.part", sum(data), &Bounds{Max: 100 << 10})
		if !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrFetch) || !strings.Contains(err.Error(), fmt.Sprintf("%d bytes, more than the %d", len(data), 100<<10)) {
			t.Fatalf("Download = %v, want ErrTooLarge naming the size and the bound", err)
		}
		if len(h.requests) != 1 {
			t.Errorf("%d requests, want 1: a bound is not worth a retry", len(h.requests))
		}
		if _, err := os.Stat(filepath.Join(dir, "a.part")); !os.IsNotExist(err) {
			t.Errorf("the part file is still there: %v", err)
		}
	})
	t.Run("an endless stream is cut at Max", func(t *testing.T) {
		const bound = 1 << 20
		h := &endless{limit: 256 << 20}
		srv, inner, dir := setup(t, h)
		fsys := &sizes{FS: inner, max: map[string]int64{}}
		f := &Fetcher{Client: srv.Client(), Retry: quick}
		_, err := f.Download(context.Background(), srv.URL+"/a", fsys, "a.part", sum(data), &Bounds{Max: bound})
		srv.Close() // waits for the handler: the stream has ended
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), fmt.Sprintf("more than %d bytes", bound)) || !strings.Contains(err.Error(), "deleted") {
			t.Fatalf("Download = %v, want ErrTooLarge naming the bound and the deletion", err)
		}
		if got := fsys.max["a.part"]; got > bound {
			t.Errorf("a.part reached %d bytes, more than Max %d", got, bound)
		}
		if h.sent >= h.limit || h.requests != 1 {
			t.Errorf("the server sent %d bytes in %d requests: the download did not stop at the bound", h.sent, h.requests)
		}
		if _, err := os.Stat(filepath.Join(dir, "a.part")); !os.IsNotExist(err) {
			t.Errorf("the part file is still there: %v", err)
		}
	})
	t.Run("Room is asked for the size, and its refusal is final", func(t *testing.T) {
		h := &flaky{data: data}
		srv, fsys, dir := setup(t, h)
		os.WriteFile(filepath.Join(dir, "a.part"), data[:1000], 0o644)
		noRoom := errors.New("no room")
		var asked []int64
		f := &Fetcher{Client: srv.Client(), Retry: quick}
		_, err := f.Download(context.Background(), srv.URL+"/a", fsys, "a.part", sum(data), &Bounds{Room: func(n int64) error {
			asked = append(asked, n)
			return noRoom
		}})
		if !errors.Is(err, noRoom) {
			t.Fatalf("Download = %v, want Room's error", err)
		}
		if diff := cmp.Diff([]int64{int64(len(data)) - 1000}, asked); diff != "" {
			t.Errorf("Room asked (-want +got):\n%s", diff)
		}
		if len(h.requests) != 1 {
			t.Errorf("%d requests, want 1", len(h.requests))
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "a.part")); len(b) != 1000 {
			t.Errorf("a.part holds %d bytes, want the 1000 of before, kept to resume", len(b))
		}
	})
	t.Run("without a size Room is asked step by step", func(t *testing.T) {
		h := &flaky{data: data, noRanges: true, chunked: true}
		srv, fsys, _ := setup(t, h)
		var asked []int64
		f := &Fetcher{Client: srv.Client(), Retry: quick}
		if _, err := f.Download(context.Background(), srv.URL+"/a", fsys, "a.part", sum(data), &Bounds{Step: 64 << 10, Room: func(n int64) error {
			asked = append(asked, n)
			return nil
		}}); err != nil {
			t.Fatalf("Download: %v", err)
		}
		want := []int64{64 << 10, 64 << 10, 64 << 10, 64 << 10, 64 << 10} // 300 KiB in 64 KiB steps
		if diff := cmp.Diff(want, asked); diff != "" {
			t.Errorf("Room asked (-want +got):\n%s", diff)
		}
	})
}
