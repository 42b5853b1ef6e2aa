package apply

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-billy/v5/osfs"

	"github.com/bhojpur/os/internal/config"
	"github.com/bhojpur/os/internal/execrun"
	"github.com/bhojpur/os/internal/fetch"
)

// chownRecorder records every chown and also performs it (tests run as
// root here; elsewhere the real chown is skipped).
type chownRecorder struct {
	mu    sync.Mutex
	real  Chowner
	calls map[string][2]int
}

func (c *chownRecorder) Lchown(name string, uid, gid int) error {
	c.mu.Lock()
	c.calls[fsPath(name)] = [2]int{uid, gid}
	c.mu.Unlock()
	if os.Geteuid() != 0 {
		return nil
	}
	return c.real.Lchown(name, uid, gid)
}

// owner returns the owner last set for name: recorded for files that were
// written this run, else taken from the real file.
func (c *chownRecorder) owner(t *testing.T, root, name string) [2]int {
	t.Helper()
	name = fsPath(name)
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range c.calls {
		if strings.HasPrefix(filepath.Base(k), "."+filepath.Base(name)+".bos-") && filepath.Dir(k) == filepath.Dir(name) || k == name {
			return v
		}
	}
	fi, err := os.Lstat(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return [2]int{int(st.Uid), int(st.Gid)}
}

type fakeHost struct{ name string }

func (h *fakeHost) Hostname() (string, error)     { return h.name, nil }
func (h *fakeHost) Sethostname(name string) error { h.name = name; return nil }

type fakeModules struct{ loaded []string }

func (m *fakeModules) Load(name, params string) error {
	m.loaded = append(m.loaded, strings.TrimSpace(name+" "+params))
	return nil
}

// recordingRunner records the argv of every run and runs nothing.
type recordingRunner struct{ runs [][]string }

func (r *recordingRunner) Run(ctx context.Context, c execrun.Cmd) ([]byte, error) {
	r.runs = append(r.runs, append([]string{c.Name}, c.Args...))
	return nil, nil
}

type bufLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *bufLog) Printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	msg := strings.TrimRight(fmt.Sprintf(format, args...), "\n")
	l.b.WriteString(msg + "\n")
}

func (l *bufLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Image files of the test root: what the booted image has in /etc.
var imageFiles = map[string]struct {
	data string
	mode os.FileMode
	gid  int
}{
	"etc/passwd":                    {"root:x:0:0:root:/root:/bin/sh\nbhojpur:x:1000:1000:Bhojpur:/home/bhojpur:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n", 0o644, 0},
	"etc/group":                     {"root:x:0:\nshadow:x:42:\nbhojpur:x:1000:\nnogroup:x:65534:\n", 0o644, 0},
	"etc/shadow":                    {"root:*:19000:0:99999:7:::\nbhojpur:!:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n", 0o640, 42},
	"etc/hosts":                     {"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n", 0o644, 0},
	"etc/connman/main.conf":         {"[General]\n# image default\nPreferredTechnologies=ethernet,wifi\n", 0o644, 0},
	"etc/machine-id":                {"0123456789abcdef0123456789abcdef\n", 0o444, 0},
	"proc/sys/kernel/printk":        {"7\t4\t1\t7\n", 0o644, 0},
	"proc/sys/kernel/kptr_restrict": {"0\n", 0o644, 0},
	"usr/bin/dcp":                   {"#!/bin/sh\necho fake dcp\n", 0o755, 0},
}

// newRoot makes a real directory root with the image's files.
func newRoot(t testing.TB) string {
	t.Helper()
	root := t.TempDir()
	for name, f := range imageFiles {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f.data), f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, f.mode); err != nil {
			t.Fatal(err)
		}
		if os.Geteuid() == 0 {
			if err := os.Chown(p, 0, f.gid); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, d := range []string{"etc/runlevels/default", "home"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

type testTarget struct {
	*Target
	chown   *chownRecorder
	runner  *recordingRunner
	host    *fakeHost
	modules *fakeModules
	log     *bufLog
}

// newTarget applies into root; live says whether non-file actions run
// (through the fakes).
func newTarget(root string, live bool) *testTarget {
	tt := &testTarget{
		chown:   &chownRecorder{real: RootChowner{Root: root}, calls: map[string][2]int{}},
		runner:  &recordingRunner{},
		host:    &fakeHost{name: "localhost"},
		modules: &fakeModules{},
		log:     &bufLog{},
	}
	tt.Target = &Target{
		FS:      osfs.New(root, osfs.WithBoundOS()),
		Root:    root,
		Live:    live,
		Log:     tt.log,
		Runner:  tt.runner,
		Host:    tt.host,
		Modules: tt.modules,
		Chown:   tt.chown,
		Env:     []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"},
		Salt:    func() (string, error) { return "saltsalt", nil },
		Get:     testGet,
	}
	return tt
}

// loadConfig loads a YAML config file with the config engine.
func loadConfig(t testing.TB, name string) *config.Config {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l, err := config.LoadFile(name, f)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Err(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &l.Config
}

func readRoot(t *testing.T, root, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func modeOf(t *testing.T, root, name string) os.FileMode {
	t.Helper()
	fi, err := os.Lstat(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode() & modeBits
}

// testGet fetches through the one downloader, retrying at once.
func testGet(ctx context.Context, url string, limit int64) ([]byte, error) {
	f := &fetch.Fetcher{Retry: fetch.Retry{Attempts: 3, Base: time.Millisecond, Timeout: 5 * time.Second}}
	body, _, err := f.Get(ctx, url, limit)
	return body, err
}
