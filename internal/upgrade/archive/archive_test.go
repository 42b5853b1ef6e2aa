package archive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/store"
)

type entry struct {
	typ      byte
	name     string
	link     string
	body     string
	mode     int64
	devmajor int64
}

func tarball(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		h := &tar.Header{Typeflag: e.typ, Name: e.name, Linkname: e.link, Mode: mode, Size: int64(len(e.body)), Devmajor: e.devmajor}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// setup is a root with a target directory "t" and a file "secret" next
// to it.
func setup(t *testing.T) (string, store.FS) {
	root := t.TempDir()
	os.Mkdir(filepath.Join(root, "t"), 0o755)
	os.WriteFile(filepath.Join(root, "secret"), []byte("s"), 0o600)
	fsys, err := store.NewOSFS(root)
	if err != nil {
		t.Fatal(err)
	}
	return root, fsys
}

func TestExtractStripsTheTopDirectory(t *testing.T) {
	root, fsys := setup(t)
	b := tarball(t,
		entry{typ: tar.TypeDir, name: "./"},
		entry{typ: tar.TypeDir, name: "./bos/system/bos/v2/", mode: 0o755},
		entry{typ: tar.TypeReg, name: "./bos/system/bos/v2/bos-init", body: "init", mode: 0o755},
		entry{typ: tar.TypeSymlink, name: "./bos/system/bos/current", link: "v2"},
		entry{typ: tar.TypeLink, name: "./bos/system/bos/v2/bos-config", link: "./bos/system/bos/v2/bos-init"},
		entry{typ: tar.TypeReg, name: "top/other", body: "x"},
	)
	if err := Extract(bytes.NewReader(b), fsys, "t", Options{Strip: 1}); err != nil {
		t.Fatalf("Extract: %+v", err)
	}
	for p, want := range map[string]string{"bos/system/bos/v2/bos-init": "init", "bos/system/bos/v2/bos-config": "init", "other": "x"} {
		got, err := os.ReadFile(filepath.Join(root, "t", p))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", p, got, err, want)
		}
	}
	if fi, _ := os.Stat(filepath.Join(root, "t/bos/system/bos/v2/bos-init")); fi.Mode().Perm() != 0o755 {
		t.Errorf("bos-init mode %v, want 0755", fi.Mode().Perm())
	}
	if l, _ := os.Readlink(filepath.Join(root, "t/bos/system/bos/current")); l != "v2" {
		t.Errorf("current -> %q", l)
	}
}

func TestExtractRefusesEscapes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []entry
		want    string
	}{
		{"absolute name", []entry{{typ: tar.TypeReg, name: "/etc/passwd", body: "x"}}, "absolute name"},
		{"dot-dot", []entry{{typ: tar.TypeReg, name: "top/../../secret", body: "x"}}, `".." element`},
		{"dot-dot in the top", []entry{{typ: tar.TypeReg, name: "../secret", body: "x"}}, `".." element`},
		{"absolute symlink", []entry{{typ: tar.TypeSymlink, name: "top/l", link: "/etc"}}, "absolute path"},
		{"symlink out", []entry{{typ: tar.TypeSymlink, name: "top/a/l", link: "../../secret"}}, "leaves the target"},
		{"hard link out", []entry{{typ: tar.TypeLink, name: "top/h", link: "../secret"}}, `".." element`},
		{"hard link to the top", []entry{{typ: tar.TypeLink, name: "top/h", link: "secret"}}, "outside the target"},
		{"hard link to nothing", []entry{{typ: tar.TypeLink, name: "top/h", link: "top/none"}}, "not a file extracted before"},
		{"device", []entry{{typ: tar.TypeChar, name: "top/null", devmajor: 1}}, "not allowed"},
		{"fifo", []entry{{typ: tar.TypeFifo, name: "top/p"}}, "not allowed"},
		{"write through an in-tree symlink to a dir", []entry{
			{typ: tar.TypeSymlink, name: "top/d", link: "."},
			{typ: tar.TypeReg, name: "top/d/../secret", body: "x"},
		}, `".." element`},
		{"file over a symlink", []entry{
			{typ: tar.TypeSymlink, name: "top/f", link: "g"},
			{typ: tar.TypeReg, name: "top/f", body: "x"},
		}, "create"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, fsys := setup(t)
			err := Extract(bytes.NewReader(tarball(t, tc.entries...)), fsys, "t", Options{Strip: 1})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Extract = %v, want an error with %q", err, tc.want)
			}
			if b, _ := os.ReadFile(filepath.Join(root, "secret")); string(b) != "s" {
				t.Errorf("secret was overwritten: %q", b)
			}
			if _, err := os.Lstat("/etc/passwd.x"); err == nil {
				t.Error("wrote outside")
			}
		})
	}
}

func TestExtractErrorClasses(t *testing.T) {
	_, fsys := setup(t)
	err := Extract(bytes.NewReader(tarball(t, entry{typ: tar.TypeReg, name: "/x", body: "x"})), fsys, "t", Options{})
	if !errors.Is(err, ErrUnsafe) {
		t.Errorf("absolute name: %v is not ErrUnsafe", err)
	}
	err = Extract(strings.NewReader("not gzip"), fsys, "t", Options{})
	if !errors.Is(err, ErrFormat) {
		t.Errorf("not gzip: %v is not ErrFormat", err)
	}
	b := tarball(t, entry{typ: tar.TypeReg, name: "top/big", body: strings.Repeat("x", 1000)})
	if err := Extract(bytes.NewReader(b), fsys, "t", Options{Strip: 1, MaxBytes: 100}); !errors.Is(err, ErrUnsafe) {
		t.Errorf("over MaxBytes: %v", err)
	}
	if err := Extract(bytes.NewReader(b[:len(b)/2]), fsys, "t", Options{Strip: 1}); !errors.Is(err, ErrFormat) {
		t.Errorf("truncated: %v is not ErrFormat", err)
	}
}

func FuzzExtract(f *testing.F) {
	f.Add([]byte{})
	f.Add(tarball(f, entry{typ: tar.TypeDir, name: "./"}, entry{typ: tar.TypeReg, name: "./a/b", body: "x"}, entry{typ: tar.TypeSymlink, name: "./a/l", link: "b"}))
	f.Add(tarball(f, entry{typ: tar.TypeSymlink, name: "top/l", link: ".."}, entry{typ: tar.TypeReg, name: "top/l/x", body: "x"}))
	f.Fuzz(func(t *testing.T, b []byte) {
		root := t.TempDir()
		os.Mkdir(filepath.Join(root, "t"), 0o755)
		fsys, _ := store.NewOSFS(root)
		_ = Extract(bytes.NewReader(b), fsys, "t", Options{Strip: 1, MaxBytes: 1 << 20})
		// Whatever happened, nothing exists next to t.
		ents, _ := os.ReadDir(root)
		if len(ents) != 1 {
			t.Fatalf("extraction wrote next to the target: %v", ents)
		}
	})
}

// TestExtractRefusesLinksOutThroughLinks: a link's target is judged from
// where the link really lands, through the links extracted before it,
// and a ".." after a name that is not (yet) a real directory is refused,
// because a later entry could make that name a link.
func TestExtractRefusesLinksOutThroughLinks(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []entry
		created string // the link that must not exist afterwards
	}{
		{"x -> . then x/x/x/esc -> ../secret", []entry{
			{typ: tar.TypeSymlink, name: "top/x", link: "."},
			{typ: tar.TypeSymlink, name: "top/x/x/x/esc", link: "../secret"},
		}, "esc"},
		{"x -> . then x/x/x/x/etc -> ../../../etc", []entry{
			{typ: tar.TypeSymlink, name: "top/x", link: "."},
			{typ: tar.TypeSymlink, name: "top/x/x/x/x/etc", link: "../../../etc"},
		}, "etc"},
		{"through a link that exists", []entry{
			{typ: tar.TypeSymlink, name: "top/r", link: "."},
			{typ: tar.TypeSymlink, name: "top/esc", link: "r/../secret"},
		}, "esc"},
		{"through a link made later", []entry{
			{typ: tar.TypeSymlink, name: "top/esc", link: "r/../secret"},
			{typ: tar.TypeSymlink, name: "top/r", link: "."},
		}, "esc"},
		{"through a file", []entry{
			{typ: tar.TypeReg, name: "top/f", body: "x"},
			{typ: tar.TypeSymlink, name: "top/esc", link: "f/../../secret"},
		}, "esc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, fsys := setup(t)
			err := Extract(bytes.NewReader(tarball(t, tc.entries...)), fsys, "t", Options{Strip: 1})
			if !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "leave") {
				t.Fatalf("Extract = %v, want ErrUnsafe: the link leaves the target", err)
			}
			if _, err := os.Lstat(filepath.Join(root, "t", tc.created)); !os.IsNotExist(err) {
				t.Errorf("t/%s was created: %v", tc.created, err)
			}
		})
	}
}

// TestExtractKeepsLinksInside: links that stay inside, also with ".."
// after a real directory, are made as written.
func TestExtractKeepsLinksInside(t *testing.T) {
	root, fsys := setup(t)
	b := tarball(t,
		entry{typ: tar.TypeDir, name: "top/a/b/", mode: 0o755},
		entry{typ: tar.TypeReg, name: "top/lib/x", body: "x"},
		entry{typ: tar.TypeSymlink, name: "top/a/b/up", link: "../../lib/x"},
		entry{typ: tar.TypeSymlink, name: "top/a/b/c", link: "../b/../../lib"},
		entry{typ: tar.TypeSymlink, name: "top/cur", link: "./lib"},
		entry{typ: tar.TypeSymlink, name: "top/dangling", link: "none/deeper"},
	)
	if err := Extract(bytes.NewReader(b), fsys, "t", Options{Strip: 1}); err != nil {
		t.Fatalf("Extract: %+v", err)
	}
	for name, want := range map[string]string{"a/b/up": "../../lib/x", "a/b/c": "../b/../../lib", "cur": "./lib", "dangling": "none/deeper"} {
		if got, err := os.Readlink(filepath.Join(root, "t", name)); err != nil || got != want {
			t.Errorf("%s -> %q, %v; want %q", name, got, err, want)
		}
	}
	if b, err := os.ReadFile(filepath.Join(root, "t/a/b/up")); err != nil || string(b) != "x" {
		t.Errorf("a/b/up reads %q, %v", b, err)
	}
}

// chainAlphabet are the name elements of FuzzExtractSymlinkChains: few,
// so that names meet and links chain.
var (
	chainNames   = []string{"x", "y", "d", "secret", ".", ".."}
	chainTargets = []string{"x", "y", "d", "secret", "..", ".", "t"}
)

// chainEntries decodes fuzz bytes into at most 16 entries: a type byte
// (file, directory, symlink, hard link), then a count and the elements of
// the name under "top/", then for links a count and the target's
// elements.
func chainEntries(b []byte) []entry {
	next := func() int {
		if len(b) == 0 {
			return 0
		}
		c := int(b[0])
		b = b[1:]
		return c
	}
	elems := func(alpha []string, max int) string {
		n := 1 + next()%max
		parts := make([]string, n)
		for i := range parts {
			parts[i] = alpha[next()%len(alpha)]
		}
		return strings.Join(parts, "/")
	}
	var es []entry
	for len(b) > 0 && len(es) < 16 {
		e := entry{}
		switch next() % 4 {
		case 0:
			e.typ, e.body = tar.TypeReg, "z"
		case 1:
			e.typ = tar.TypeDir
		case 2:
			e.typ = tar.TypeSymlink
		case 3:
			e.typ = tar.TypeLink
		}
		e.name = "top/" + elems(chainNames, 4)
		if e.typ == tar.TypeDir {
			e.name += "/"
		}
		switch e.typ {
		case tar.TypeSymlink:
			e.link = elems(chainTargets, 5)
		case tar.TypeLink:
			e.link = "top/" + elems(chainNames, 4)
		}
		es = append(es, e)
	}
	return es
}

// resolveAll is where the kernel would take p (absolute, with symlinks):
// links are followed element by element, never cleaned lexically; a
// missing element ends the walk there.
func resolveAll(t *testing.T, p string, depth int) string {
	if depth > 40 {
		return "" // ELOOP: goes nowhere
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	cur := "/"
	for i, e := range parts {
		switch e {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, e)
		fi, err := os.Lstat(next)
		if err != nil {
			return next
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			target, err := os.Readlink(next)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(target, "/") {
				target = cur + "/" + target
			}
			return resolveAll(t, target+"/"+strings.Join(parts[i+1:], "/"), depth+1)
		}
		cur = next
	}
	return cur
}

// FuzzExtractSymlinkChains extracts archives of symlink chains, files
// written through them and hard links, and checks that nothing is ever
// created outside the target and that no link in it resolves outside it,
// whatever Extract answered.
func FuzzExtractSymlinkChains(f *testing.F) {
	f.Add([]byte{2, 0, 0, 0, 5, 2, 3, 0, 0, 0, 1, 1, 4, 3})    // x -> ., x/x/x/y -> ../secret
	f.Add([]byte{2, 0, 1, 2, 0, 4, 3, 2, 0, 0, 0, 5})          // y -> x/../secret, then x -> .
	f.Add([]byte{2, 0, 0, 0, 5, 0, 1, 0, 1, 2, 0, 1, 1, 4})    // x -> ., a file x/y, y -> ..
	f.Add([]byte{1, 0, 2, 2, 1, 2, 1, 1, 4, 2, 1, 2, 1, 0, 0}) // d/, d/y -> .., d/x -> d
	f.Fuzz(func(t *testing.T, b []byte) {
		outer := t.TempDir()
		root := filepath.Join(outer, "inner")
		os.MkdirAll(filepath.Join(root, "t"), 0o755)
		os.WriteFile(filepath.Join(root, "secret"), []byte("s"), 0o600)
		fsys, err := store.NewOSFS(root)
		if err != nil {
			t.Fatal(err)
		}
		_ = Extract(bytes.NewReader(tarball(t, chainEntries(b)...)), fsys, "t", Options{Strip: 1, MaxBytes: 1 << 20})
		for dir, want := range map[string]string{outer: "inner", root: "secret t"} {
			ents, _ := os.ReadDir(dir)
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			if got := strings.Join(names, " "); got != want {
				t.Fatalf("%s holds %q after the extraction, want %q", dir, got, want)
			}
		}
		if s, err := os.ReadFile(filepath.Join(root, "secret")); err != nil || string(s) != "s" {
			t.Fatalf("secret = %q, %v: written through the tree", s, err)
		}
		tdir := filepath.Join(root, "t")
		filepath.WalkDir(tdir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.Type()&os.ModeSymlink == 0 {
				return nil
			}
			if to := resolveAll(t, p, 0); to != "" && to != tdir && !strings.HasPrefix(to, tdir+"/") {
				target, _ := os.Readlink(p)
				t.Errorf("%s -> %s resolves to %s, outside %s", p, target, to, tdir)
			}
			return nil
		})
	})
}

// bomb is a gzipped tar whose one entry claims size bytes, followed by
// n zeros (which pack to almost nothing).
func bomb(t testing.TB, size int64, n int) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "top/zeros", Mode: 0o644, Size: size}); err != nil {
		t.Fatal(err)
	}
	zw.Write(make([]byte, n)) // past the tar writer: it would want all of size
	zw.Close()
	return buf.Bytes()
}

func TestBoundsComeBeforeWriting(t *testing.T) {
	b := bomb(t, 1<<40, 1<<20)
	root, fsys := setup(t)
	if _, err := Measure(bytes.NewReader(b), Limits(int64(len(b)))); !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "more than 8388608 bytes") {
		t.Errorf("Measure(1 TB entry) = %v, want ErrUnsafe over 8 MiB", err)
	}
	err := Extract(bytes.NewReader(b), fsys, "t", Limits(int64(len(b))))
	if !errors.Is(err, ErrUnsafe) {
		t.Errorf("Extract(1 TB entry) = %v, want ErrUnsafe", err)
	}
	if _, err := os.Lstat(filepath.Join(root, "t/top")); !os.IsNotExist(err) {
		t.Errorf("Extract wrote t/top before refusing: %v", err)
	}

	var es []entry
	for i := 0; i < 10; i++ {
		es = append(es, entry{typ: tar.TypeReg, name: "top/f" + strconv.Itoa(i), body: "x"})
	}
	many := tarball(t, es...)
	if _, err := Measure(bytes.NewReader(many), Options{Strip: 1, MaxEntries: 9}); !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "more than 9 entries") {
		t.Errorf("Measure(10 entries, at most 9) = %v", err)
	}
	root, fsys = setup(t)
	if err := Extract(bytes.NewReader(many), fsys, "t", Options{Strip: 1, MaxEntries: 9}); !errors.Is(err, ErrUnsafe) {
		t.Errorf("Extract(10 entries, at most 9) = %v", err)
	}
	if _, err := os.Lstat(filepath.Join(root, "t/f9")); !os.IsNotExist(err) {
		t.Errorf("the 10th entry was written: %v", err)
	}
}

func TestMeasure(t *testing.T) {
	b := tarball(t,
		entry{typ: tar.TypeDir, name: "./"},
		entry{typ: tar.TypeDir, name: "./bos/system/bos/v2/"},
		entry{typ: tar.TypeReg, name: "./bos/system/bos/v2/a", body: "12345"},
		entry{typ: tar.TypeSymlink, name: "./bos/system/bos/current", link: "v2"},
		entry{typ: tar.TypeReg, name: "./other", body: "1234567"},
	)
	for _, tc := range []struct {
		opt  Options
		want Totals
	}{
		{Options{Strip: 1}, Totals{Bytes: 12, Entries: 4}},
		{Options{Strip: 1, Prefix: "bos/system"}, Totals{Bytes: 5, Entries: 3}},
	} {
		got, err := Measure(bytes.NewReader(b), tc.opt)
		if err != nil || got != tc.want {
			t.Errorf("Measure(%+v) = %+v, %v; want %+v", tc.opt, got, err, tc.want)
		}
	}
}

// failing reads n bytes of r, then fails with err.
type failing struct {
	r   io.Reader
	n   int
	err error
}

func (f *failing) Read(b []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	n, err := f.r.Read(b[:min(len(b), f.n)])
	f.n -= n
	return n, err
}

// TestAReadErrorIsNotABadArchive: when the reader fails (an I/O error on
// the downloaded file), Extract and Measure return that error, not
// ErrFormat: the file may be fine, and is not to be thrown away as bad.
func TestAReadErrorIsNotABadArchive(t *testing.T) {
	b := tarball(t, entry{typ: tar.TypeReg, name: "top/big", body: noise(1 << 20)})
	eio := errors.New("input/output error")
	for _, at := range []int{0, 5, 100, len(b) / 2, len(b) - 10} {
		_, fsys := setup(t)
		err := Extract(&failing{bytes.NewReader(b), at, eio}, fsys, "t", Options{Strip: 1})
		if !errors.Is(err, eio) || errors.Is(err, ErrFormat) {
			t.Errorf("Extract failing after %d bytes = %v, want the read error and not ErrFormat", at, err)
		}
		_, err = Measure(&failing{bytes.NewReader(b), at, eio}, Options{Strip: 1})
		if !errors.Is(err, eio) || errors.Is(err, ErrFormat) {
			t.Errorf("Measure failing after %d bytes = %v, want the read error and not ErrFormat", at, err)
		}
	}
}

// noise is n bytes that gzip cannot shrink.
func noise(n int) string {
	var b strings.Builder
	x := uint64(88172645463325252)
	for b.Len() < n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b.WriteByte(byte(x))
	}
	return b.String()
}
