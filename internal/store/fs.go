package store

import (
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/pkg/errors"
	"golang.org/x/sys/unix"

	"github.com/bhojpur/os/internal/atomicfile"
)

// File is an open file being written.
type File interface {
	io.Writer
	Sync() error
	Close() error
}

// FS is the file-system surface of an upgrade. Names are slash-separated
// and taken inside the file system's root; an operation on a name acts on
// that name itself, never on the target of a symlink it names (as os.Lstat,
// os.Rename and os.Remove do).
type FS interface {
	// OpenFile opens name for writing with os.O_* flags; perm is applied
	// exactly (no umask) when the file is created.
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	Open(name string) (io.ReadCloser, error)
	Mkdir(name string, perm fs.FileMode) error
	MkdirAll(name string, perm fs.FileMode) error
	Rename(oldname, newname string) error
	// Exchange swaps two names atomically (renameat2 RENAME_EXCHANGE).
	Exchange(a, b string) error
	RemoveAll(name string) error
	Symlink(target, name string) error
	Link(oldname, newname string) error
	Readlink(name string) (string, error)
	Lstat(name string) (fs.FileInfo, error)
	ReadDir(name string) ([]fs.DirEntry, error)
	// SyncDir fsyncs a directory, making renames and creations in it durable.
	SyncDir(name string) error
}

// OSFS is FS on the real file system under Root. Every name's parent is
// resolved with securejoin inside Root, so nothing outside Root is ever
// touched, even through symlinks; the last element is used as is.
//
// It exists because billy's BoundOS resolves a final symlink too: a rename
// onto the link "current" would land on the version directory it points
// at, and Remove would remove the target.
type OSFS struct{ Root string }

// NewOSFS returns an OSFS rooted at root (made absolute and clean).
func NewOSFS(root string) (*OSFS, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, errors.Wrapf(err, "root %s", root)
	}
	return &OSFS{Root: filepath.Clean(abs)}, nil
}

// Path is the host path of name: its parent resolved inside Root.
func (o *OSFS) Path(name string) (string, error) {
	clean := path.Clean("/" + filepath.ToSlash(name))
	if clean == "/" {
		return o.Root, nil
	}
	dir, base := path.Split(clean)
	parent, err := securejoin.SecureJoin(o.Root, dir)
	if err != nil {
		return "", errors.Wrapf(err, "resolve %s in %s", dir, o.Root)
	}
	return filepath.Join(parent, base), nil
}

type osFile struct{ *os.File }

// OpenFile implements FS.
func (o *OSFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	p, err := o.Path(name)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, flag|unix.O_NOFOLLOW, perm)
	if err != nil {
		return nil, err
	}
	if flag&os.O_CREATE != 0 {
		if err := f.Chmod(perm); err != nil {
			f.Close()
			return nil, err
		}
	}
	return osFile{f}, nil
}

// Open implements FS.
func (o *OSFS) Open(name string) (io.ReadCloser, error) {
	p, err := o.Path(name)
	if err != nil {
		return nil, err
	}
	return os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW, 0)
}

// Mkdir implements FS.
func (o *OSFS) Mkdir(name string, perm fs.FileMode) error {
	p, err := o.Path(name)
	if err != nil {
		return err
	}
	if err := os.Mkdir(p, perm); err != nil {
		return err
	}
	return os.Chmod(p, perm)
}

// MkdirAll implements FS.
func (o *OSFS) MkdirAll(name string, perm fs.FileMode) error {
	p, err := o.Path(name)
	if err != nil {
		return err
	}
	return os.MkdirAll(p, perm)
}

// Rename implements FS.
func (o *OSFS) Rename(oldname, newname string) error {
	a, b, err := o.two(oldname, newname)
	if err != nil {
		return err
	}
	return os.Rename(a, b)
}

// Exchange implements FS.
func (o *OSFS) Exchange(x, y string) error {
	a, b, err := o.two(x, y)
	if err != nil {
		return err
	}
	if err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE); err != nil {
		return &os.LinkError{Op: "exchange", Old: a, New: b, Err: err}
	}
	return nil
}

// RemoveAll implements FS.
func (o *OSFS) RemoveAll(name string) error {
	p, err := o.Path(name)
	if err != nil {
		return err
	}
	if p == o.Root {
		return errors.Errorf("refusing to remove the root %s", o.Root)
	}
	return os.RemoveAll(p)
}

// Symlink implements FS.
func (o *OSFS) Symlink(target, name string) error {
	p, err := o.Path(name)
	if err != nil {
		return err
	}
	return os.Symlink(target, p)
}

// Link implements FS.
func (o *OSFS) Link(oldname, newname string) error {
	a, b, err := o.two(oldname, newname)
	if err != nil {
		return err
	}
	return os.Link(a, b)
}

// Readlink implements FS.
func (o *OSFS) Readlink(name string) (string, error) {
	p, err := o.Path(name)
	if err != nil {
		return "", err
	}
	return os.Readlink(p)
}

// Lstat implements FS.
func (o *OSFS) Lstat(name string) (fs.FileInfo, error) {
	p, err := o.Path(name)
	if err != nil {
		return nil, err
	}
	return os.Lstat(p)
}

// ReadDir implements FS.
func (o *OSFS) ReadDir(name string) ([]fs.DirEntry, error) {
	p, err := o.Path(name)
	if err != nil {
		return nil, err
	}
	return os.ReadDir(p)
}

// SyncDir implements FS.
func (o *OSFS) SyncDir(name string) error {
	p, err := o.Path(name)
	if err != nil {
		return err
	}
	d, err := os.OpenFile(p, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}

func (o *OSFS) two(x, y string) (string, string, error) {
	a, err := o.Path(x)
	if err != nil {
		return "", "", err
	}
	b, err := o.Path(y)
	if err != nil {
		return "", "", err
	}
	return a, b, nil
}

// Exists says whether name exists (as itself, not following a symlink).
func Exists(fsys FS, name string) (bool, error) {
	_, err := fsys.Lstat(name)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, err
}

// WriteFile replaces name with data through fsys the atomicfile way: a
// temporary file of a unique name next to it, created with O_EXCL and
// perm, every write checked, fsync, close, rename, fsync of the directory.
// Each step is an operation of fsys, so faultfs can crash any of them.
// The directory of name must exist.
func WriteFile(fsys FS, name string, data []byte, perm fs.FileMode) error {
	return atomicfile.WriteFS(atomicFS{fsys}, path.Clean("/"+name), data, perm)
}

// atomicFS is an FS as atomicfile sees it.
type atomicFS struct{ fs FS }

func (a atomicFS) OpenFile(name string, flag int, perm fs.FileMode) (atomicfile.File, error) {
	f, err := a.fs.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (a atomicFS) Rename(oldname, newname string) error { return a.fs.Rename(oldname, newname) }
func (a atomicFS) Remove(name string) error             { return a.fs.RemoveAll(name) }
func (a atomicFS) SyncDir(dir string) error             { return a.fs.SyncDir(dir) }

// CopyIn creates name, which must not exist, with perm and copies r into
// it: every write checked (through a 1 MiB buffer), fsync, close. The
// directory is not synced: a tree copied file by file syncs each directory
// once, at its end.
func CopyIn(fsys FS, name string, r io.Reader, perm fs.FileMode) error {
	f, err := fsys.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return errors.Wrapf(err, "create %s", name)
	}
	// The bare Writer hides a ReadFrom: the copy goes through the buffer.
	if _, err := io.CopyBuffer(struct{ io.Writer }{f}, r, make([]byte, 1<<20)); err != nil {
		f.Close()
		return errors.Wrapf(err, "copy to %s", name)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return errors.Wrapf(err, "sync %s", name)
	}
	return errors.Wrapf(f.Close(), "close %s", name)
}

// ValidVersion says whether v can name a version directory: letters,
// digits and . _ + - only, not starting with a dot.
func ValidVersion(v string) bool {
	if v == "" || len(v) > 128 || v[0] == '.' || v == "current" || v == "previous" {
		return false
	}
	return strings.IndexFunc(v, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._+-", r))
	}) < 0
}
