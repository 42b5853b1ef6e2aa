// Package atomicfile replaces files so that a reader, or a power cut, sees
// the old contents or the new, never a part: create a temporary file of a
// unique name in the same directory with O_EXCL, check the write, sync,
// close, rename it over the name, sync the directory. It is the one way
// files are replaced (go-billy's util.WriteFile drops write errors in some
// releases).
//
// The steps are written once, in WriteFS, on FS: the little they need of a
// file system. Write runs them on a billy.Filesystem (configuration and the
// trees apply writes); store.WriteFile runs them on a store.FS (the system
// tree and the GRUB environment block), where faultfs can crash each step.
package atomicfile

import (
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"

	"github.com/go-git/go-billy/v5"
	"github.com/pkg/errors"
)

// File is the temporary file being written.
type File interface {
	io.Writer
	Sync() error
	Close() error
}

// FS is what WriteFS needs of a file system. Names are slash-separated.
type FS interface {
	// OpenFile opens as os.OpenFile does. WriteFS creates its temporary
	// file with O_WRONLY|O_CREATE|O_EXCL, so an existing file or symlink
	// of that name is never opened.
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	Rename(oldname, newname string) error
	Remove(name string) error
	// SyncDir fsyncs a directory, making a rename in it durable.
	SyncDir(dir string) error
}

// Options refine a write.
type Options struct {
	// Prepare runs on the closed temporary file before the rename, to give
	// it its owner and mode. Write's default: chmod to the mode given to
	// it; WriteFS's: nothing (the file keeps the mode it was created with).
	Prepare func(tmp string) error
}

func options(opts []Options) Options {
	if len(opts) > 0 {
		return opts[0]
	}
	return Options{}
}

// createTries is how many temporary names are tried before giving up.
const createTries = 3

// WriteFS replaces name on fsys with data. The temporary file is created
// with perm; the directory of name must exist. A failure before the
// rename removes the temporary file and leaves name as it was.
func WriteFS(fsys FS, name string, data []byte, perm fs.FileMode, opts ...Options) error {
	o := options(opts)
	tmp, err := writeTemp(fsys, name, data, perm)
	if err == nil && o.Prepare != nil {
		err = o.Prepare(tmp)
	}
	if err == nil {
		err = errors.Wrapf(fsys.Rename(tmp, name), "rename %s to %s", tmp, name)
	}
	if err != nil {
		if tmp != "" {
			_ = fsys.Remove(tmp)
		}
		return err
	}
	dir := path.Dir(name)
	return errors.Wrapf(fsys.SyncDir(dir), "sync %s", dir)
}

// writeTemp creates a temporary file next to name and writes, syncs and
// closes it. It returns the temporary name once the file exists, even on
// a later failure, so that the caller can remove it.
func writeTemp(fsys FS, name string, data []byte, perm fs.FileMode) (string, error) {
	tmp, f, err := create(fsys, name, perm)
	if err != nil {
		return "", err
	}
	n, err := f.Write(data)
	if err == nil && n != len(data) {
		err = io.ErrShortWrite
	}
	if err != nil {
		_ = f.Close()
		return tmp, errors.Wrapf(err, "write %s", tmp)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return tmp, errors.Wrapf(err, "sync %s", tmp)
	}
	return tmp, errors.Wrapf(f.Close(), "close %s", tmp)
}

// create makes a new temporary file next to name. O_EXCL makes the name
// safe: it needs to be unique, not secret, so it comes from math/rand,
// which never waits, where crypto/rand can wait for the kernel's entropy
// pool early in a boot (the initrd writes files too).
func create(fsys FS, name string, perm fs.FileMode) (string, File, error) {
	dir, base := path.Dir(name), path.Base(name)
	for try := 1; ; try++ {
		tmp := path.Join(dir, fmt.Sprintf(".%s.tmp-%012x", base, rand.Uint64()&(1<<48-1)))
		f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if err == nil {
			return tmp, f, nil
		}
		if !errors.Is(err, fs.ErrExist) || try == createTries {
			return "", nil, errors.Wrapf(err, "create %s", tmp)
		}
	}
}

// Write replaces name on fs with data, creating its directory when
// missing. The temporary file is created 0600, so nothing is readable
// before Prepare (default: a chmod to mode) has given it its mode.
func Write(fs billy.Filesystem, name string, data []byte, mode os.FileMode, opts ...Options) error {
	dir := path.Dir(name)
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return errors.Wrapf(err, "create directory %s", dir)
	}
	o := options(opts)
	if o.Prepare == nil {
		o.Prepare = func(tmp string) error {
			if ch, ok := fs.(billy.Chmod); ok {
				return errors.Wrapf(ch.Chmod(tmp, mode), "chmod %s", tmp)
			}
			return nil
		}
	}
	return WriteFS(billyFS{fs}, name, data, 0o600, o)
}

// SyncDir fsyncs a directory so that a rename in it is durable; file
// systems that cannot (memfs) are skipped, and so are errors: a billy
// tree is synced as well as it can be.
func SyncDir(fs billy.Filesystem, dir string) {
	d, err := fs.Open(dir)
	if err != nil {
		return
	}
	if s, ok := d.(syncer); ok {
		_ = s.Sync()
	}
	_ = d.Close()
}

type syncer interface{ Sync() error }

// billyFS is a billy.Filesystem as FS: files that cannot sync (memfs)
// skip it, and directories are synced as SyncDir does.
type billyFS struct{ fs billy.Filesystem }

func (b billyFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := b.fs.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return billyFile{f}, nil
}

func (b billyFS) Rename(oldname, newname string) error { return b.fs.Rename(oldname, newname) }
func (b billyFS) Remove(name string) error             { return b.fs.Remove(name) }
func (b billyFS) SyncDir(dir string) error             { SyncDir(b.fs, dir); return nil }

type billyFile struct{ billy.File }

func (f billyFile) Sync() error {
	if s, ok := f.File.(syncer); ok {
		return s.Sync()
	}
	return nil
}
