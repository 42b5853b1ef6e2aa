package datasource

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/osfs"
)

// tlog logs through t.Logf.
type tlog struct{ t testing.TB }

func (l tlog) Printf(format string, args ...any) { l.t.Helper(); l.t.Logf(format, args...) }

// recLog records log lines, to prove what is and is not logged.
type recLog struct {
	mu    sync.Mutex
	lines []string
	t     testing.TB
}

func (l *recLog) Printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := fmt.Sprintf(format, args...)
	l.lines = append(l.lines, s)
	if l.t != nil {
		l.t.Log(s)
	}
}

func (l *recLog) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// noDevices is a cdrom seam with no devices.
type noDevices struct{}

func (noDevices) List() ([]string, error) { return nil, nil }
func (noDevices) Open(string) (Device, int64, error) {
	return nil, 0, os.ErrNotExist
}

// testOpts are fast options for loopback servers.
func testOpts(t testing.TB, urls map[string]string) Options {
	return Options{
		URLs:           urls,
		Timeout:        5 * time.Second,
		AttemptTimeout: 300 * time.Millisecond,
		Attempts:       3,
		Backoff:        10 * time.Millisecond,
		Devices:        noDevices{},
		Log:            tlog{t},
	}
}

// server starts an httptest server closed at the end of the test.
func server(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

// root is a billy file system on a fresh temp dir, and the dir.
func root(t testing.TB) (billy.Filesystem, string) {
	dir := t.TempDir()
	return osfs.New(dir, osfs.WithBoundOS()), dir
}

func readRoot(t testing.TB, dir, name string) (string, os.FileMode, bool) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	b, err := os.ReadFile(p)
	if os.IsNotExist(err) {
		return "", 0, false
	}
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), fi.Mode().Perm(), true
}

// fetchData asks the provider name for its data, within o.Timeout.
func fetchData(t testing.TB, name string, o Options) (*Data, error) {
	t.Helper()
	p, err := New(name, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	return p.Fetch(ctx)
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
