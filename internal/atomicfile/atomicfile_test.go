package atomicfile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/go-git/go-billy/v5/memfs"
	"github.com/go-git/go-billy/v5/osfs"
	"github.com/pkg/errors"
)

func TestWriteReplacesWithMode(t *testing.T) {
	root := t.TempDir()
	fs := osfs.New(root, osfs.WithBoundOS())
	if err := Write(fs, "a/b/file", []byte("one"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := Write(fs, "a/b/file", []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, "a/b/file")
	b, err := os.ReadFile(p)
	fi, _ := os.Stat(p)
	if err != nil || string(b) != "two" || fi.Mode().Perm() != 0o600 {
		t.Errorf("file = %q %v %v, want \"two\" 0600", b, fi.Mode(), err)
	}
	if left, _ := filepath.Glob(filepath.Join(root, "a/b/.file.tmp-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestFailedPrepareLeavesOldFile(t *testing.T) {
	fs := memfs.New()
	if err := Write(fs, "f", []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Write(fs, "f", []byte("new"), 0o644, Options{Prepare: func(string) error { return boom }})
	if !errors.Is(err, boom) {
		t.Fatalf("Write with failing Prepare = %v, want boom", err)
	}
	f, _ := fs.Open("f")
	b := make([]byte, 10)
	n, _ := f.Read(b)
	if string(b[:n]) != "old" {
		t.Errorf("file = %q after a failed write, want old", b[:n])
	}
	infos, _ := fs.ReadDir("/")
	if len(infos) != 1 {
		t.Errorf("%d entries after a failed write, want 1 (no temporary left)", len(infos))
	}
}
