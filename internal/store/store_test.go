package store

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pkg/errors"
)

func newStore(t *testing.T) (*Store, string) {
	dir := t.TempDir()
	fsys, err := NewOSFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &Store{FS: fsys, Dir: "/bos/system"}, dir
}

func stage(t *testing.T, s *Store, name, content string) string {
	t.Helper()
	dir := "/bos/system/.upgrade/" + name
	if err := s.FS.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(s.FS, dir+"/rootfs.squashfs", []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestCommitSwitchPruneRollback(t *testing.T) {
	s, root := newStore(t)
	for _, v := range []string{"v1", "v2", "v3"} {
		if err := s.Commit("bos", v, stage(t, s, v, "rootfs "+v)); err != nil {
			t.Fatalf("Commit %s: %+v", v, err)
		}
		if _, err := s.Switch("bos", v); err != nil {
			t.Fatalf("Switch %s: %+v", v, err)
		}
	}
	if cur, _ := s.Link("bos", Current); cur != "v3" {
		t.Errorf("current = %q", cur)
	}
	if prev, _ := s.Link("bos", Previous); prev != "v2" {
		t.Errorf("previous = %q", prev)
	}
	if target, _ := os.Readlink(filepath.Join(root, "bos/system/bos/current")); target != "v3" {
		t.Errorf("current is not a relative link to the version name: %q", target)
	}
	if plan, _ := s.Plan("bos", "v4"); !cmp.Equal(plan, []string{"v1", "v2"}) {
		t.Errorf("Plan(v4) = %q, want [v1 v2] (v3 becomes previous)", plan)
	}
	removed, err := s.Prune("bos")
	if err != nil || !cmp.Equal(removed, []string{"v1"}) {
		t.Errorf("Prune = %q, %v; want [v1]", removed, err)
	}
	if vs, _ := s.Versions("bos"); !cmp.Equal(vs, []string{"v2", "v3"}) {
		t.Errorf("versions = %q", vs)
	}
	from, to, err := s.Rollback("bos")
	if err != nil || from != "v3" || to != "v2" {
		t.Fatalf("Rollback = %q %q %v", from, to, err)
	}
	if cur, _ := s.Link("bos", Current); cur != "v2" {
		t.Errorf("current after rollback = %q", cur)
	}
	if prev, _ := s.Link("bos", Previous); prev != "v3" {
		t.Errorf("previous after rollback = %q", prev)
	}
	// The current version cannot be replaced; another one can (moved aside).
	if err := s.Commit("bos", "v2", stage(t, s, "again", "x")); err == nil || !strings.Contains(err.Error(), "is current") {
		t.Errorf("Commit over current = %v", err)
	}
	if err := s.Commit("bos", "v3", stage(t, s, "v3b", "new v3")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "bos/system/bos/v3/rootfs.squashfs")); string(b) != "new v3" {
		t.Errorf("v3 after recommit holds %q", b)
	}
	if removed, _ := s.Prune("bos"); !cmp.Equal(removed, []string{".aside-v3"}) {
		t.Errorf("Prune after recommit = %q", removed)
	}
}

func TestLinkErrors(t *testing.T) {
	s, root := newStore(t)
	if v, err := s.Link("bos", Current); v != "" || err != nil {
		t.Errorf("Link with none = %q, %v", v, err)
	}
	os.MkdirAll(filepath.Join(root, "bos/system/bos"), 0o755)
	os.Symlink("../..", filepath.Join(root, "bos/system/bos/current"))
	if _, err := s.Link("bos", Current); err == nil {
		t.Error("Link to ../.. = nil error")
	}
	if _, _, err := s.Rollback("kernel"); err == nil || !strings.Contains(err.Error(), "no previous") {
		t.Errorf("Rollback without previous = %v", err)
	}
}

func TestOSFSStaysInsideItsRoot(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	os.MkdirAll(root, 0o755)
	os.Symlink("/", filepath.Join(root, "escape"))
	fsys, _ := NewOSFS(root)
	if err := fsys.MkdirAll("escape/tmp", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(fsys, "escape/tmp/bos-osfs-test", []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/tmp/bos-osfs-test"); err == nil {
		os.Remove("/tmp/bos-osfs-test")
		t.Fatal("a write through a symlink left the root")
	}
	if _, err := os.Stat(filepath.Join(root, "tmp/bos-osfs-test")); err != nil {
		t.Errorf("the write did not land inside the root: %v", err)
	}
	// Operations act on a final symlink itself.
	if err := fsys.RemoveAll("escape"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/tmp"); err != nil {
		t.Fatal("removing a symlink removed its target")
	}
}

func TestValidVersion(t *testing.T) {
	for v, want := range map[string]bool{"v1.0.0": true, "6.1.0-18-amd64": true, "v1+rc.1_x": true, "": false, ".hidden": false, "a/b": false, "..": false, "current": false, "v 1": false} {
		if got := ValidVersion(v); got != want {
			t.Errorf("ValidVersion(%q) = %v, want %v", v, got, want)
		}
	}
}

// RollBackFailed switches back only what is still on the failed version,
// takes DCP along with bos, and does nothing when called a second time.
func TestRollBackFailed(t *testing.T) {
	s, _ := newStore(t)
	for _, c := range []string{OS, DCP, Kernel} {
		for _, v := range []string{"A", "B"} {
			if err := s.Commit(c, v, stage(t, s, c+v, c+" "+v)); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Switch(c, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	did, err := s.RollBackFailed(OS, "B")
	if err != nil || !cmp.Equal(did, []string{"dcp B -> A", "bos B -> A"}) {
		t.Errorf("RollBackFailed(bos, B) = %q, %v", did, err)
	}
	if cur, _ := s.Link(Kernel, Current); cur != "B" {
		t.Errorf("kernel current = %q: rolling bos back moved the kernel", cur)
	}
	if did, err := s.RollBackFailed(OS, "B"); err != nil || len(did) != 0 {
		t.Errorf("second RollBackFailed = %q, %v; want nothing done", did, err)
	}
	if cur, _ := s.Link(OS, Current); cur != "A" {
		t.Errorf("bos current = %q after the second call", cur)
	}
}

// WriteFile creates its temporary file under a fresh name: neither a
// leftover of an earlier write nor a symlink placed where a temporary
// file could be is opened, and concurrent writers do not clash.
func TestWriteFileTemporaryNames(t *testing.T) {
	root := t.TempDir()
	fsys, _ := NewOSFS(root)
	outside := filepath.Join(t.TempDir(), "outside")
	os.WriteFile(outside, []byte("keep"), 0o644)
	os.Symlink(outside, filepath.Join(root, ".tmp-f"))                   // the old fixed name
	os.WriteFile(filepath.Join(root, ".f.tmp-000000000000"), nil, 0o644) // a leftover
	if err := WriteFile(fsys, "f", []byte("one"), 0o640); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(outside); string(b) != "keep" {
		t.Errorf("a symlink at a temporary name was followed: outside = %q", b)
	}
	fi, err := os.Stat(filepath.Join(root, "f"))
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("f = %v, %v; want mode 0640", fi, err)
	}

	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = WriteFile(fsys, "f", []byte(strings.Repeat(fmt.Sprint(i), 1<<16)), 0o644)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	b, _ := os.ReadFile(filepath.Join(root, "f"))
	if len(b) != 1<<16 || strings.Count(string(b), string(b[:1])) != len(b) {
		t.Errorf("f holds %d bytes, not all of one writer's", len(b))
	}
	left, _ := filepath.Glob(filepath.Join(root, ".f.tmp-*"))
	if len(left) != 1 {
		t.Errorf("temporary files %v, want only the leftover made before", left)
	}
}

// CopyIn writes a new file with its mode exactly and refuses a name that
// exists, a symlink included.
func TestCopyIn(t *testing.T) {
	root := t.TempDir()
	fsys, _ := NewOSFS(root)
	data := strings.Repeat("x", 3<<20) // more than one buffer
	if err := CopyIn(fsys, "f", strings.NewReader(data), 0o751); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(root, "f"))
	fi, err := os.Stat(filepath.Join(root, "f"))
	if err != nil || string(b) != data || fi.Mode().Perm() != 0o751 {
		t.Errorf("f = %d bytes, %v, %v; want %d bytes 0751", len(b), fi, err, len(data))
	}
	os.Symlink("f", filepath.Join(root, "l"))
	for _, name := range []string{"f", "l"} {
		if err := CopyIn(fsys, name, strings.NewReader("y"), 0o644); !errors.Is(err, fs.ErrExist) {
			t.Errorf("CopyIn over %s = %v, want ErrExist", name, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(root, "f")); string(b) != data {
		t.Error("a refused CopyIn changed the file")
	}
}
