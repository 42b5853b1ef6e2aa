// Package atomicfile replaces files so that a reader, or a power cut, sees
// the old contents or the new, never a part: write a temporary file in the
// same directory, check the write, sync, close, rename it over the name,
// sync the directory. It is the one way files are written (go-billy's
// util.WriteFile drops write errors in some releases).
package atomicfile

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path"

	"github.com/go-git/go-billy/v5"
	"github.com/pkg/errors"
)

// Options refine a write.
type Options struct {
	// Prepare runs on the closed temporary file before the rename, to give
	// it its owner and mode; default: chmod to the mode given to Write.
	Prepare func(tmp string) error
}

type syncer interface{ Sync() error }

// Write replaces name on fs with data. The temporary file is created 0600,
// so nothing is readable before its mode is set.
func Write(fs billy.Filesystem, name string, data []byte, mode os.FileMode, opts ...Options) (err error) {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	dir := path.Dir(name)
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return errors.Wrapf(err, "create directory %s", dir)
	}
	// O_EXCL makes the temporary name safe (an existing file or symlink of
	// that name is never opened): it needs to be unique, not secret, so it
	// comes from math/rand, which never waits, where crypto/rand waits for
	// the kernel's entropy pool in the initrd (1 s of every boot under TCG).
	var tmp string
	var f billy.File
	for try := 0; ; try++ {
		tmp = path.Join(dir, fmt.Sprintf(".%s.tmp-%012x", path.Base(name), rand.Uint64()&(1<<48-1)))
		f, err = fs.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			break
		}
		if !os.IsExist(err) || try == 2 {
			return errors.Wrapf(err, "create %s", tmp)
		}
	}
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				_ = f.Close()
			}
			_ = fs.Remove(tmp)
		}
	}()
	n, err := f.Write(data)
	if err == nil && n != len(data) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return errors.Wrapf(err, "write %s", tmp)
	}
	if s, ok := f.(syncer); ok {
		if err = s.Sync(); err != nil {
			return errors.Wrapf(err, "sync %s", tmp)
		}
	}
	closed = true
	if err = f.Close(); err != nil {
		return errors.Wrapf(err, "close %s", tmp)
	}
	if o.Prepare != nil {
		err = o.Prepare(tmp)
	} else if ch, ok := fs.(billy.Chmod); ok {
		err = errors.Wrapf(ch.Chmod(tmp, mode), "chmod %s", tmp)
	}
	if err != nil {
		return err
	}
	if err = fs.Rename(tmp, name); err != nil {
		return errors.Wrapf(err, "rename %s to %s", tmp, name)
	}
	SyncDir(fs, dir)
	return nil
}

// SyncDir fsyncs a directory so that a rename in it is durable; file
// systems that cannot (memfs) are skipped.
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
