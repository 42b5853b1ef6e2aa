package apply

import (
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"

	"github.com/go-git/go-billy/v5"
	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/atomicfile"
)

// fsPath turns an absolute path of the target system into a path of the
// target's billy filesystem ("/etc/hosts" -> "etc/hosts").
func fsPath(p string) string {
	return strings.TrimPrefix(path.Clean("/"+p), "/")
}

// show is how a path is named in logs: as the target system sees it.
func show(name string) string { return "/" + fsPath(name) }

func readFile(fs billy.Filesystem, name string) ([]byte, error) {
	f, err := fs.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

func exists(fs billy.Filesystem, name string) bool {
	_, err := fs.Stat(name)
	return err == nil
}

// ownerOf returns the numeric owner of a file when the filesystem tells it
// (osfs does, memfs does not).
func ownerOf(fi os.FileInfo) (uid, gid int, ok bool) {
	if st, isStat := fi.Sys().(*syscall.Stat_t); isStat {
		return int(st.Uid), int(st.Gid), true
	}
	return 0, 0, false
}

// unixMode turns permission bits as written in config ("4755") into an
// os.FileMode.
func unixMode(perm uint32) os.FileMode {
	m := os.FileMode(perm & 0o777)
	if perm&0o4000 != 0 {
		m |= os.ModeSetuid
	}
	if perm&0o2000 != 0 {
		m |= os.ModeSetgid
	}
	if perm&0o1000 != 0 {
		m |= os.ModeSticky
	}
	return m
}

const modeBits = os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky

// writeFile makes name hold data with mode and owner uid:gid, and reports
// whether anything changed. Same bytes are not rewritten: only a wrong mode
// or owner is fixed. New contents go to a temporary file in the same
// directory (written, synced, closed, chowned, chmoded) which is then
// renamed over name, so readers see the old file or the new one, never a
// part. This is the one place that writes files.
func (t *Target) writeFile(name string, data []byte, mode os.FileMode, uid, gid int) (bool, error) {
	name = fsPath(name)
	if fi, err := t.FS.Lstat(name); err == nil && fi.Mode().IsRegular() {
		old, err := readFile(t.FS, name)
		if err == nil && string(old) == string(data) {
			return t.fixAttrs(name, fi, mode, uid, gid)
		}
	}
	// chown first: it clears setuid bits that chmod then sets.
	prepare := func(tmp string) error {
		if err := t.lchown(tmp, uid, gid); err != nil {
			return err
		}
		return t.chmod(tmp, mode)
	}
	if err := atomicfile.Write(t.FS, name, data, mode, atomicfile.Options{Prepare: prepare}); err != nil {
		return false, errors.Wrapf(err, "write %s", show(name))
	}
	t.Writes++
	t.logf("wrote %s", show(name))
	if isConnmanProvisioning(name) {
		if err := notifyModified(t.FS, name, len(data)); err != nil {
			return true, errors.Wrapf(err, "tell connman of %s", show(name))
		}
	}
	return true, nil
}

// isConnmanProvisioning says whether name is one of connman's provisioning
// files (/var/lib/connman/*.config: wifi, static addresses).
func isConnmanProvisioning(name string) bool {
	return path.Dir(name) == "var/lib/connman" && strings.HasSuffix(name, ".config")
}

// notifyModified truncates name to its size, which changes nothing in it
// but makes the kernel report it modified (inotify IN_MODIFY). A running
// connman loads a provisioning file's contents on that event only: a file
// renamed into place (IN_MOVED_TO), as every write here is, would be
// registered by it and left empty, its settings never applied.
func notifyModified(fs billy.Filesystem, name string, size int) error {
	f, err := fs.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if err := f.Truncate(int64(size)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// fixAttrs fixes the mode and owner of an existing file or directory.
func (t *Target) fixAttrs(name string, fi os.FileInfo, mode os.FileMode, uid, gid int) (bool, error) {
	changed := false
	if u, g, ok := ownerOf(fi); ok && (u != uid || g != gid) {
		if err := t.lchown(name, uid, gid); err != nil {
			return false, err
		}
		t.logf("changed owner of %s to %d:%d", show(name), uid, gid)
		changed = true
		// chown may have cleared setuid bits: look again.
		if nfi, err := t.FS.Lstat(name); err == nil {
			fi = nfi
		}
	}
	if fi.Mode()&modeBits != mode&modeBits {
		if err := t.chmod(name, mode); err != nil {
			return false, err
		}
		t.logf("changed mode of %s to %04o", show(name), uint32(mode.Perm())|specialBits(mode))
		changed = true
	}
	if changed {
		t.Writes++
	}
	return changed, nil
}

func specialBits(m os.FileMode) uint32 {
	var b uint32
	if m&os.ModeSetuid != 0 {
		b |= 0o4000
	}
	if m&os.ModeSetgid != 0 {
		b |= 0o2000
	}
	if m&os.ModeSticky != 0 {
		b |= 0o1000
	}
	return b
}

// ensureDir makes sure a directory exists with mode and owner.
func (t *Target) ensureDir(name string, mode os.FileMode, uid, gid int) error {
	name = fsPath(name)
	fi, err := t.FS.Stat(name)
	switch {
	case err == nil && !fi.IsDir():
		return errors.Errorf("%s is not a directory", show(name))
	case err == nil:
		_, err := t.fixAttrs(name, fi, mode|os.ModeDir, uid, gid)
		return err
	case !errors.Is(err, os.ErrNotExist):
		return errors.Wrapf(err, "stat %s", show(name))
	}
	if err := t.FS.MkdirAll(name, mode.Perm()); err != nil {
		return errors.Wrapf(err, "create %s", show(name))
	}
	if err := t.lchown(name, uid, gid); err != nil {
		return err
	}
	if err := t.chmod(name, mode); err != nil {
		return err
	}
	t.Writes++
	t.logf("created %s", show(name))
	return nil
}

// updateFile rewrites a file through a pure function, keeping the mode
// (limited to the bits of mask) and owner of an existing file; a new file
// gets mode and newUID:newGID.
func (t *Target) updateFile(name string, rewrite func([]byte) []byte, mode, mask os.FileMode, newUID, newGID int) (bool, error) {
	name = fsPath(name)
	old, err := readFile(t.FS, name)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, errors.Wrapf(err, "read %s", show(name))
	}
	uid, gid := newUID, newGID
	if err == nil {
		if fi, err := t.FS.Stat(name); err == nil {
			mode = fi.Mode() & modeBits & mask
			if u, g, ok := ownerOf(fi); ok {
				uid, gid = u, g
			}
		}
	}
	next := rewrite(old)
	if err == nil && string(next) == string(old) {
		return false, nil
	}
	return t.writeFile(name, next, mode, uid, gid)
}

// keepMode keeps every mode bit of an existing file in updateFile.
const keepMode = modeBits

func (t *Target) chmod(name string, mode os.FileMode) error {
	c, ok := t.FS.(billy.Chmod)
	if !ok {
		return nil
	}
	if err := c.Chmod(name, mode&modeBits); err != nil {
		return errors.Wrapf(err, "chmod %s", show(name))
	}
	return nil
}

func (t *Target) lchown(name string, uid, gid int) error {
	if t.Chown == nil {
		return nil
	}
	if err := t.Chown.Lchown(name, uid, gid); err != nil {
		return errors.Wrapf(err, "chown %s to %d:%d", show(name), uid, gid)
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func isNotExist(err error) bool { return errors.Is(err, os.ErrNotExist) }
