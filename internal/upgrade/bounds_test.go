package upgrade

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pkg/errors"
	"golang.org/x/sys/unix"

	"github.com/bhojpur/os/internal/exitcode"
	"github.com/bhojpur/os/internal/fetch"
	"github.com/bhojpur/os/internal/store"
	"github.com/bhojpur/os/internal/upgrade/archive"
)

// treeOf is where a run unpacks the rootfs tarball of v.
func treeOf(v string) string { return path.Join("/bos/system", stagingDir, v, "tree") }

// guard wraps the upgrade's FS and records what is made under prefix.
// Past limit bytes there, its writes fail with ENOSPC, so that a run
// without bounds cannot fill the machine that runs the test.
type guard struct {
	store.FS
	prefix string
	limit  int64

	mu    sync.Mutex
	bytes int64
	names []string
}

func (g *guard) note(name string) {
	name = path.Clean(name)
	if name == g.prefix || strings.HasPrefix(name, g.prefix+"/") {
		g.mu.Lock()
		g.names = append(g.names, name)
		g.mu.Unlock()
	}
}

// made says what was made under prefix, and how many bytes were written.
func (g *guard) made() ([]string, int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.names...), g.bytes
}

type guardFile struct {
	store.File
	g *guard
}

func (f guardFile) Write(b []byte) (int, error) {
	f.g.mu.Lock()
	if f.g.bytes+int64(len(b)) > f.g.limit {
		f.g.mu.Unlock()
		return 0, syscall.ENOSPC
	}
	f.g.bytes += int64(len(b))
	f.g.mu.Unlock()
	return f.File.Write(b)
}

func (g *guard) OpenFile(name string, flag int, perm os.FileMode) (store.File, error) {
	f, err := g.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	c := path.Clean(name)
	if c == g.prefix || strings.HasPrefix(c, g.prefix+"/") {
		g.note(name)
		return guardFile{f, g}, nil
	}
	return f, nil
}

func (g *guard) Mkdir(name string, perm os.FileMode) error {
	g.note(name)
	return g.FS.Mkdir(name, perm)
}

func (g *guard) MkdirAll(name string, perm os.FileMode) error {
	g.note(name)
	return g.FS.MkdirAll(name, perm)
}

func (g *guard) Symlink(target, name string) error {
	g.note(name)
	return g.FS.Symlink(target, name)
}

func (g *guard) Link(oldname, newname string) error {
	g.note(newname)
	return g.FS.Link(oldname, newname)
}

func (g *guard) Free(name string) (int64, error) {
	if sp, ok := g.FS.(store.Spacer); ok {
		return sp.Free(name)
	}
	return 1 << 62, nil
}

func (f *fixture) guarded(t *testing.T, v string) (*Env, *guard) {
	inner, err := store.NewOSFS(f.root)
	if err != nil {
		t.Fatal(err)
	}
	g := &guard{FS: inner, prefix: treeOf(v), limit: 64 << 20}
	return f.env(t, g), g
}

// member is one gzip member holding b. A gzip reader reads concatenated
// members as one stream, so a member of zeros repeated is an endless
// stream of zeros at about 1000:1.
func member(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// headers are the tar blocks of hdrs, without contents or an end.
func headers(t testing.TB, hdrs ...*tar.Header) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes() // tw is not closed: the last file's content is missing
}

// releaseDirs are the directories of a rootfs tarball of v, and a file
// of size bytes that is its rootfs.squashfs.
func releaseHeaders(v string, size int64) []*tar.Header {
	var hdrs []*tar.Header
	for _, d := range []string{"./", "./bos/", "./bos/system/", "./bos/system/bos/", "./bos/system/bos/" + v + "/"} {
		hdrs = append(hdrs, &tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755})
	}
	return append(hdrs, &tar.Header{Typeflag: tar.TypeReg, Name: "./bos/system/bos/" + v + "/rootfs.squashfs", Mode: 0o644, Size: size})
}

// TestHostileStreamIsNeverUnpacked: a server answers the rootfs tarball
// with a tar header for a 1 TB file and then gzipped zeros without end
// (and the checksum list does not match it). The download stops at its
// cap and is deleted; nothing is made under the staging tree; the tree
// of the system is as it was.
func TestHostileStreamIsNeverUnpacked(t *testing.T) {
	const capBytes = 4 << 20
	const serverLimit = 128 << 20 // the "endless" stream ends here, for a client without bounds
	srv := newServer(t, v2)
	name := "bos-rootfs-amd64.tar.gz"
	first := member(t, headers(t, releaseHeaders(v2.version, 1<<40)...))
	zeros := member(t, make([]byte, 1<<20))
	var sent atomic.Int64
	srv.handlers["/"+v2.version+"/"+name] = func(w http.ResponseWriter, r *http.Request) {
		n, err := w.Write(first)
		sent.Add(int64(n))
		for err == nil && sent.Load() < serverLimit {
			n, err = w.Write(zeros)
			sent.Add(int64(n))
		}
	}
	f := newFixture(t, srv, v1)
	before := snapshot(t, f.root)
	opt := f.options(OS)
	opt.Release = v2.version
	opt.Caps.Image = capBytes
	env, g := f.guarded(t, v2.version)
	err := Run(context.Background(), opt, env)
	srv.Close() // waits for the handler: its stream has ended

	if exitcode.Of(err) != exitcode.Download || !errors.Is(err, fetch.ErrTooLarge) ||
		!strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), fmt.Sprintf("more than %d bytes", capBytes)) {
		t.Errorf("hostile stream: %v (exit %d); want exit %d naming the artifact and its cap of %d bytes", err, exitcode.Of(err), exitcode.Download, capBytes)
	}
	if names, n := g.made(); len(names) > 0 || n > 0 {
		t.Errorf("before any verification, %d bytes were written under %s: %q", n, g.prefix, names[:min(len(names), 5)])
	}
	if s := sent.Load(); s >= serverLimit {
		t.Errorf("the server sent all of its %d bytes: the download did not stop at the %d-byte cap", s, capBytes)
	}
	if diff := cmp.Diff(before, withoutRun(snapshot(t, f.root))); diff != "" {
		t.Errorf("a refused download changed the tree (-before +after):\n%s", diff)
	}
}

// TestBombsWithAGoodChecksumAreRefused: the checksum list matches, but
// the tarball unpacks to far more than a release does: refused by the
// bounds of archive.Limits, checked from each header before the entry is
// written, and what was unpacked before is removed.
func TestBombsWithAGoodChecksumAreRefused(t *testing.T) {
	name := "bos-rootfs-amd64.tar.gz"
	for _, tc := range []struct {
		name, want string
		tarball    func(t *testing.T) []byte
	}{
		{"1 GiB of zeros in 1 MB", "more than", func(t *testing.T) []byte {
			const size = 1 << 30
			out := member(t, headers(t, releaseHeaders(v2.version, size)...))
			z := member(t, make([]byte, 1<<20))
			for i := 0; i < size>>20; i++ {
				out = append(out, z...)
			}
			return append(out, member(t, make([]byte, 1024))...) // the end of the archive
		}},
		{"more entries than a release holds", fmt.Sprintf("more than %d entries", archive.MaxEntries), func(t *testing.T) []byte {
			var buf bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
			tw := tar.NewWriter(zw)
			for _, h := range releaseHeaders(v2.version, 0) {
				tw.WriteHeader(h)
			}
			for i := 0; i < archive.MaxEntries; i++ {
				if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("./bos/system/bos/%s/f%06d", v2.version, i), Mode: 0o644}); err != nil {
					t.Fatal(err)
				}
			}
			tw.Close()
			zw.Close()
			return buf.Bytes()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, v2)
			bomb := tc.tarball(t)
			srv.set("/"+v2.version+"/"+name, bomb)
			srv.set("/"+v2.version+"/sha256sum-amd64.txt", []byte(sumLine(bomb, name)))
			f := newFixture(t, srv, v1)
			before := snapshot(t, f.root)
			opt := f.options(OS)
			opt.Release = v2.version
			env, g := f.guarded(t, v2.version)
			err := Run(context.Background(), opt, env)
			if exitcode.Of(err) != exitcode.BadInput || !errors.Is(err, archive.ErrUnsafe) || !strings.Contains(err.Error(), tc.want) ||
				!strings.Contains(err.Error(), "at most 8 times its size") {
				t.Errorf("bomb of %d bytes: %v (exit %d); want exit %d saying %q and the bounds", len(bomb), err, exitcode.Of(err), exitcode.BadInput, tc.want)
			}
			// The bounds come from the headers: no byte of a file over
			// them is written, and no entry past MaxEntries is made.
			if names, n := g.made(); len(names) > archive.MaxEntries+1 || n > 0 {
				t.Errorf("%d bytes in %d names were written under %s: %q", n, len(names), g.prefix, names[:min(len(names), 5)])
			}
			if diff := cmp.Diff(before, withoutRun(snapshot(t, f.root))); diff != "" {
				t.Errorf("a refused release changed the tree (-before +after):\n%s", diff)
			}
		})
	}
}

// tight is an FS with a fixed amount of free space (the statfs seam).
type tight struct {
	store.FS
	free int64
}

func (t *tight) Free(string) (int64, error) { return t.free, nil }

// TestNotEnoughSpace: with the free space given by the seam, a download
// that does not fit is refused before a byte is written, and a file of
// the tarball that does not fit before it is written; what was unpacked
// goes, the verified download stays for the next run (exit 8 both times).
func TestNotEnoughSpace(t *testing.T) {
	name := "bos-rootfs-amd64.tar.gz"
	big := newRelease(v2.version)
	big.bos["rootfs.squashfs"] += strings.Repeat("compressible ", 80_000) // 1 MiB that packs to a few KiB
	srv := newServer(t, big)
	size := int64(len(srv.files["/"+big.version+"/"+name]))
	run := func(t *testing.T, f *fixture, free int64) error {
		inner, err := store.NewOSFS(f.root)
		if err != nil {
			t.Fatal(err)
		}
		opt := f.options(OS)
		opt.Release = big.version
		return Run(context.Background(), opt, f.env(t, &tight{FS: inner, free: free}))
	}

	t.Run("the download", func(t *testing.T) {
		f := newFixture(t, srv, v1)
		before := snapshot(t, f.root)
		err := run(t, f, store.SpaceMargin+size-1)
		if exitcode.Of(err) != exitcode.NoSpace || !errors.Is(err, store.ErrNoSpace) ||
			!strings.Contains(err.Error(), name+": the download needs") || !strings.Contains(err.Error(), "make room") {
			t.Fatalf("download into too little space: %v (exit %d), want exit %d saying what needs how much", err, exitcode.Of(err), exitcode.NoSpace)
		}
		if diff := cmp.Diff(before, withoutRun(snapshot(t, f.root))); diff != "" {
			t.Errorf("a download refused for space wrote (-before +after):\n%s", diff)
		}
	})
	t.Run("the unpacking, then a run with room resumes", func(t *testing.T) {
		f := newFixture(t, srv, v1)
		err := run(t, f, store.SpaceMargin+size)
		if exitcode.Of(err) != exitcode.NoSpace || !strings.Contains(err.Error(), "unpacking "+name) {
			t.Fatalf("unpacking into too little space: %v (exit %d), want exit %d", err, exitcode.Of(err), exitcode.NoSpace)
		}
		staging := filepath.Join(f.root, "bos/system/.upgrade", big.version)
		if _, err := os.Lstat(filepath.Join(staging, "tree")); !os.IsNotExist(err) {
			t.Errorf("what was unpacked before the refusal is still there: %v", err)
		}
		if fi, err := os.Stat(filepath.Join(staging, name+".part")); err != nil || fi.Size() != size {
			t.Errorf("the verified download is not kept for the next run: %v", err)
		}
		if err := run(t, f, 1<<40); err != nil {
			t.Fatalf("run with room: %+v", err)
		}
		if want := []string{name + " bytes=" + itoa(size) + "-"}; !cmp.Equal(srv.ranges, want) {
			t.Errorf("Range requests = %q, want %q (the kept download, not a new one)", srv.ranges, want)
		}
		if err := checkVersion(t, f.root, "bos", big); err != nil {
			t.Error(err)
		}
	})
}

// smallExt4 mounts a fresh ext4 file system of mib MiB (no journal, no
// blocks reserved for root) and returns its mount point and free bytes.
func smallExt4(t *testing.T, mib int) (string, int64) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a loop device needs root")
	}
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		t.Skip("no mkfs.ext4 (e2fsprogs)")
	}
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "state.img"), filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, int64(mib)<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal", "-L", "BOS_STATE", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v: %s", err, out)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		t.Skipf("mount -o loop: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	return mnt, free(t, mnt)
}

func free(t *testing.T, dir string) int64 {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// TestNotEnoughSpaceOnARealFileSystem: the same two refusals on a small
// ext4 file system mounted from a loop device, where statfs is real, and
// with releases that would fill it: nothing is left but the download that
// fits, kept to resume.
func TestNotEnoughSpaceOnARealFileSystem(t *testing.T) {
	name := "bos-rootfs-amd64.tar.gz"
	const packed = 6 << 20 // bytes that gzip cannot shrink
	for _, tc := range []struct {
		name, want string
		// rootfs is the content of rootfs.squashfs for a file system
		// with free bytes free.
		rootfs func(free int64) string
	}{
		{"the download does not fit", name + ": the download needs", func(free int64) string {
			return noise("big", int(free+1<<20))
		}},
		{"the files do not fit", "unpacking " + name, func(free int64) string {
			// The tarball fits beside the margin; its files (within
			// 8 times its size) do not fit beside the tarball.
			return noise("big", packed) + strings.Repeat("squashfs ", int(free-2*packed+2<<20)/9)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mnt, _ := smallExt4(t, 48)
			f := &fixture{root: mnt, rec: &recorder{}}
			install(t, mnt, v1)
			freeBefore := free(t, mnt)
			if freeBefore-store.SpaceMargin < packed+1<<20 || freeBefore > archive.ExpansionRatio*packed {
				t.Fatalf("the file system has %d bytes free: not what the releases of this test are sized for", freeBefore)
			}
			r := newRelease(v2.version)
			r.bos["rootfs.squashfs"] = tc.rootfs(freeBefore)
			f.srv = newServer(t, r)
			before := snapshot(t, mnt)
			opt := f.options(OS)
			opt.Release = r.version
			err := f.run(t, opt)
			if exitcode.Of(err) != exitcode.NoSpace || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v (exit %d), want exit %d saying %q", err, exitcode.Of(err), exitcode.NoSpace, tc.want)
			}
			t.Logf("%v", err)
			if _, err := os.Lstat(filepath.Join(mnt, treeOf(r.version))); !os.IsNotExist(err) {
				t.Errorf("what was unpacked is still there: %v", err)
			}
			after := withoutRun(snapshot(t, mnt))
			kept := int64(0)
			for k := range after {
				if strings.HasSuffix(k, ".part") { // a verified download, kept to resume
					fi, _ := os.Stat(filepath.Join(mnt, k))
					kept += fi.Size()
					delete(after, k)
				}
			}
			for _, k := range []string{"bos/system/.upgrade", "bos/system/.upgrade/" + r.version} {
				delete(after, k)
			}
			if diff := cmp.Diff(withoutRun(before), after); diff != "" {
				t.Errorf("a run refused for space changed the tree (-before +after):\n%s", diff)
			}
			if used := freeBefore - free(t, mnt); used > kept+1<<20 {
				t.Errorf("the refused run used %d bytes of the file system, %d of them in the kept download", used, kept)
			}
		})
	}
}
