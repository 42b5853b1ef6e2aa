package upgrade

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bhojpur/os/internal/execrun"
	"github.com/bhojpur/os/internal/fetch"
	"github.com/bhojpur/os/internal/store"
)

const arch = "amd64"

// release is a test release: the files of each component's version
// directory.
type release struct {
	version string
	bos     map[string]string
	dcp     map[string]string // nil: DCP not bundled
	kernel  map[string]string
	extra   []tar.Header // more entries at the end of the tarball (no content)
}

func newRelease(v string) release {
	return release{
		version: v,
		bos: map[string]string{
			"rootfs.squashfs":    "squashfs of " + v + noise(v, 96<<10),
			"bos-init":           "#!bos-init " + v,
			"bos-config":         "#!bos-config " + v,
			"bos-install":        "#!bos-install " + v,
			"bos-upgrade-rootfs": "#!bos-upgrade-rootfs " + v,
			"bos-upgrade-kernel": "#!bos-upgrade-kernel " + v,
		},
		dcp: map[string]string{"dcp": "#!dcp " + v},
		kernel: map[string]string{
			"vmlinuz":         "vmlinuz of " + v,
			"initrd":          "initrd of " + v,
			"kernel.squashfs": "modules of " + v,
			"version":         "6.1.0-" + v + "-amd64\n",
		},
	}
}

// tarball builds bos-rootfs-<arch>.tar.gz the way the image build does:
// a top directory (".") holding bos/system.
func (r release) tarball(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	dir := func(name string) {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755}); err != nil {
			t.Fatal(err)
		}
	}
	file := func(name, content string, mode int64) {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(content))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	dir("./")
	dir("./bos/")
	dir("./bos/system/")
	for _, c := range []struct {
		name  string
		files map[string]string
	}{{"bos", r.bos}, {"dcp", r.dcp}} {
		if c.files == nil {
			continue
		}
		base := "./bos/system/" + c.name + "/"
		dir(base)
		dir(base + r.version + "/")
		for _, n := range sortedKeys(c.files) {
			file(base+r.version+"/"+n, c.files[n], 0o755)
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: base + "current", Linkname: r.version}); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range r.extra {
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// artifacts are the release's files as served, with the sha256sum file.
func (r release) artifacts(t testing.TB) map[string][]byte {
	a := map[string][]byte{
		"bos-rootfs-" + arch + ".tar.gz":   r.tarball(t),
		"bos-vmlinuz-" + arch:              []byte(r.kernel["vmlinuz"]),
		"bos-initrd-" + arch:               []byte(r.kernel["initrd"]),
		"bos-kernel-" + arch + ".squashfs": []byte(r.kernel["kernel.squashfs"]),
		"bos-kernel-version-" + arch:       []byte(r.kernel["version"]),
		"bos-" + arch + ".iso":             []byte("an iso"),
	}
	var sums strings.Builder
	for _, n := range sortedKeys(a) {
		s := sha256.Sum256(a[n])
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(s[:]), n)
	}
	a["sha256sum-"+arch+".txt"] = []byte(sums.String())
	return a
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// install lays out an installed system under root/bos/system: each
// release's version directories, current on the last, previous on the
// one before.
func install(t testing.TB, root string, rels ...release) {
	t.Helper()
	sys := filepath.Join(root, "bos/system")
	for _, r := range rels {
		for c, files := range map[string]map[string]string{"bos": r.bos, "dcp": r.dcp, "kernel": r.kernel} {
			for n, content := range files {
				writeFile(t, filepath.Join(sys, c, r.version, n), content)
			}
		}
	}
	for _, c := range []string{"bos", "dcp", "kernel"} {
		if len(rels) > 1 {
			mustSymlink(t, rels[len(rels)-2].version, filepath.Join(sys, c, "previous"))
		}
		mustSymlink(t, rels[len(rels)-1].version, filepath.Join(sys, c, "current"))
	}
}

func writeFile(t testing.TB, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
}

func mustSymlink(t testing.TB, target, p string) {
	t.Helper()
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

// snapshot describes every file under dir: kind, permissions, content
// digest or link target.
func snapshot(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "link " + target
		case fi.IsDir():
			out[rel] = fmt.Sprintf("dir %v", fi.Mode().Perm())
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s := sha256.Sum256(b)
			out[rel] = fmt.Sprintf("file %v %x", fi.Mode().Perm(), s[:6])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// server serves releases over https at /<version>/<artifact>, and
// /latest redirects to /tag/<latest>. It can cut a download after some
// bytes, once.
type server struct {
	*httptest.Server
	t      testing.TB
	mu     sync.Mutex
	files  map[string][]byte
	latest string
	cut    map[string]int64 // artifact name: bytes after which to drop the first answer
	ranges []string         // Range headers received, as "name range"
	gets   map[string]int
	// handlers answer paths themselves (a hostile server's streams).
	handlers map[string]http.HandlerFunc
}

func newServer(t testing.TB, rels ...release) *server {
	s := newUnstarted(t, rels...)
	s.StartTLS()
	return s
}

// newPlainServer is a server on plain http.
func newPlainServer(t testing.TB, rels ...release) *server {
	s := newUnstarted(t, rels...)
	s.Start()
	return s
}

func newUnstarted(t testing.TB, rels ...release) *server {
	s := &server{t: t, files: map[string][]byte{}, cut: map[string]int64{}, gets: map[string]int{}, handlers: map[string]http.HandlerFunc{}}
	for _, r := range rels {
		for n, b := range r.artifacts(t) {
			s.files["/"+r.version+"/"+n] = b
		}
		s.latest = r.version
	}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/latest" {
		http.Redirect(w, r, "/tag/"+s.latest, http.StatusFound)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/tag/") {
		fmt.Fprint(w, "<html>release page</html>")
		return
	}
	s.mu.Lock()
	b, ok := s.files[r.URL.Path]
	name := filepath.Base(r.URL.Path)
	s.gets[name]++
	if rg := r.Header.Get("Range"); rg != "" {
		s.ranges = append(s.ranges, name+" "+rg)
	}
	cut, cutting := s.cut[name]
	if cutting {
		delete(s.cut, name)
	}
	h := s.handlers[r.URL.Path]
	s.mu.Unlock()
	if h != nil {
		h(w, r)
		return
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	if cutting {
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.WriteHeader(http.StatusOK)
		w.Write(b[:cut])
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			s.t.Errorf("hijack: %v", err)
			return
		}
		conn.Close()
		return
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}

func (s *server) set(path string, b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[path] = b
}

// recorder is the Runner and sync seam of the tests.
type recorder struct {
	mu    sync.Mutex
	calls []string
	syncs int
}

func (r *recorder) Run(_ context.Context, c execrun.Cmd) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, strings.Join(append([]string{c.Name}, c.Args...), " "))
	return nil, nil
}

func (r *recorder) sync() { r.mu.Lock(); r.syncs++; r.mu.Unlock() }

// fixture is a root with an installed system, and what a run needs.
type fixture struct {
	root string
	srv  *server
	rec  *recorder
	out  bytes.Buffer
	logs bytes.Buffer
}

func newFixture(t testing.TB, srv *server, installed ...release) *fixture {
	f := &fixture{root: tempRoot(t), srv: srv, rec: &recorder{}}
	install(t, f.root, installed...)
	return f
}

func (f *fixture) options(component string) Options {
	o := Options{
		Component: component,
		Arch:      arch,
		Dest:      "/bos/system",
		LockFile:  filepath.Join(f.root, "run/bos/upgrade.lock"),
	}
	if f.srv != nil {
		o.URL = f.srv.URL + "/{version}/{artifact}"
		o.Channel = f.srv.URL + "/latest"
	}
	return o
}

func (f *fixture) env(t testing.TB, fsys store.FS) *Env {
	if fsys == nil {
		o, err := store.NewOSFS(f.root)
		if err != nil {
			t.Fatal(err)
		}
		fsys = o
	}
	var client *http.Client
	if f.srv != nil {
		client = f.srv.Client()
	}
	return &Env{
		Root:    f.root,
		FS:      fsys,
		Fetcher: &fetch.Fetcher{Client: client, Retry: fetch.Retry{Attempts: 3, Base: time.Millisecond}, Log: func(format string, args ...any) { fmt.Fprintf(&f.logs, format+"\n", args...) }},
		Runner:  f.rec,
		Sync:    f.rec.sync,
		Log:     func(format string, args ...any) { fmt.Fprintf(&f.logs, format+"\n", args...) },
		Out:     &f.out,
	}
}

func (f *fixture) run(t testing.TB, opt Options) error {
	t.Helper()
	return Run(context.Background(), opt, f.env(t, nil))
}

// link reads a component link.
func (f *fixture) link(t testing.TB, component, name string) string {
	t.Helper()
	target, err := os.Readlink(filepath.Join(f.root, "bos/system", component, name))
	if err != nil {
		return ""
	}
	return target
}

// checkVersion checks that component/v holds exactly rel's files.
func checkVersion(t testing.TB, root, component string, rel release) error {
	t.Helper()
	var want map[string]string
	switch component {
	case "bos":
		want = rel.bos
	case "dcp":
		want = rel.dcp
	case "kernel":
		want = rel.kernel
	}
	dir := filepath.Join(root, "bos/system", component, rel.version)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(ents) != len(want) {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return fmt.Errorf("%s holds %v, want %d files", dir, names, len(want))
	}
	for n, content := range want {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return err
		}
		if string(b) != content {
			return fmt.Errorf("%s/%s differs", dir, n)
		}
	}
	return nil
}

// noise is n bytes that do not compress, the same for the same seed.
func noise(seed string, n int) string {
	out := make([]byte, 0, n+sha256.Size)
	s := sha256.Sum256([]byte(seed))
	for len(out) < n {
		out = append(out, s[:]...)
		s = sha256.Sum256(s[:])
	}
	return string(out[:n])
}

// tempRoot is a temporary directory on tmpfs when there is one: crashes
// are simulated, so real fsyncs only cost time (hundreds of runs).
func tempRoot(t testing.TB) string {
	t.Helper()
	base := ""
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		base = "/dev/shm"
	}
	dir, err := os.MkdirTemp(base, "bos-upgrade-test-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
