package archive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/upgrade/store"
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
