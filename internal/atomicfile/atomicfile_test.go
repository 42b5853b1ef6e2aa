package atomicfile

import (
	"io"
	iofs "io/fs"
	"os"
	"path"
	"path/filepath"
	"testing"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/memfs"
	"github.com/go-git/go-billy/v5/osfs"
	"github.com/google/go-cmp/cmp"
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

// opFS is an FS on memfs that logs each operation and can fail one kind.
type opFS struct {
	billyFS
	log    []string
	exists int    // OpenFile fails with fs.ErrExist this many times first
	fail   string // the operation that fails
}

var errFail = errors.New("injected")

func (o *opFS) op(kind, name string) error {
	o.log = append(o.log, kind+" "+path.Base(name))
	if kind == o.fail {
		return errFail
	}
	return nil
}

func (o *opFS) OpenFile(name string, flag int, perm iofs.FileMode) (File, error) {
	if flag&os.O_EXCL == 0 {
		return nil, errors.Errorf("open %s without O_EXCL", name)
	}
	if o.exists > 0 {
		o.exists--
		o.log = append(o.log, "exists")
		return nil, os.ErrExist
	}
	if err := o.op("create", name); err != nil {
		return nil, err
	}
	f, err := o.billyFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &opFile{f, o, name}, nil
}

func (o *opFS) Rename(a, b string) error {
	if err := o.op("rename", b); err != nil {
		return err
	}
	return o.billyFS.Rename(a, b)
}

func (o *opFS) Remove(name string) error {
	o.log = append(o.log, "remove")
	return o.billyFS.Remove(name)
}

func (o *opFS) SyncDir(dir string) error { return o.op("syncdir", dir) }

type opFile struct {
	File
	o    *opFS
	name string
}

func (f *opFile) Write(p []byte) (int, error) {
	if err := f.o.op("write", "x"); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}
func (f *opFile) Sync() error { return f.o.op("sync", "x") }
func (f *opFile) Close() error {
	if err := f.o.op("close", "x"); err != nil {
		f.File.Close()
		return err
	}
	return f.File.Close()
}

func readMem(t *testing.T, fs billy.Filesystem, name string) string {
	t.Helper()
	f, err := fs.Open(name)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWriteFSOrder(t *testing.T) {
	mem := memfs.New()
	o := &opFS{billyFS: billyFS{mem}, exists: 2}
	if err := WriteFS(o, "dir/f", []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := []string{"exists", "exists", "create .f.tmp-", "write x", "sync x", "close x", "rename f", "syncdir dir"}
	got := append([]string(nil), o.log...)
	if len(got) > 2 {
		got[2] = got[2][:len(want[2])] // the random part
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("operations (-want +got):\n%s", diff)
	}
	if s := readMem(t, mem, "dir/f"); s != "new" {
		t.Errorf("dir/f = %q, want new", s)
	}
}

func TestWriteFSFailureKeepsOld(t *testing.T) {
	for _, step := range []string{"write", "sync", "close", "rename"} {
		t.Run(step, func(t *testing.T) {
			mem := memfs.New()
			if err := Write(mem, "f", []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			o := &opFS{billyFS: billyFS{mem}, fail: step}
			if err := WriteFS(o, "f", []byte("new"), 0o644); !errors.Is(err, errFail) {
				t.Fatalf("WriteFS failing at %s = %v, want the failure", step, err)
			}
			if s := readMem(t, mem, "f"); s != "old" {
				t.Errorf("f = %q after a failed %s, want old", s, step)
			}
			if infos, _ := mem.ReadDir("/"); len(infos) != 1 {
				t.Errorf("%d entries after a failed %s, want 1 (no temporary left)", len(infos), step)
			}
		})
	}
}

func TestWriteFSGivesUpOnTakenNames(t *testing.T) {
	o := &opFS{billyFS: billyFS{memfs.New()}, exists: createTries}
	if err := WriteFS(o, "f", []byte("x"), 0o644); !errors.Is(err, iofs.ErrExist) {
		t.Fatalf("WriteFS with every name taken = %v, want ErrExist", err)
	}
	if len(o.log) != createTries {
		t.Errorf("operations %v, want %d tries and nothing else", o.log, createTries)
	}
}

func TestSyncDirFailureIsReported(t *testing.T) {
	o := &opFS{billyFS: billyFS{memfs.New()}, fail: "syncdir"}
	if err := WriteFS(o, "f", []byte("x"), 0o644); !errors.Is(err, errFail) {
		t.Fatalf("WriteFS with a failing directory sync = %v, want the failure", err)
	}
}
