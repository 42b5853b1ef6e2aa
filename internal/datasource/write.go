package datasource

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path"

	"github.com/go-git/go-billy/v5"
	"github.com/pkg/errors"
)

// writeFile replaces name atomically: a temporary file in the same
// directory is written, synced, closed, given its mode and renamed over
// name. A failure at any step removes the temporary file.
func writeFile(fsys billy.Filesystem, name string, data []byte, mode os.FileMode) (err error) {
	dir := path.Dir(name)
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return errors.Wrapf(err, "create directory %s", dir)
	}
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return errors.Wrap(err, "random name for a temporary file")
	}
	tmp := path.Join(dir, "."+path.Base(name)+".tmp-"+hex.EncodeToString(rnd[:]))
	f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return errors.Wrapf(err, "create %s", tmp)
	}
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				_ = f.Close()
			}
			_ = fsys.Remove(tmp)
		}
	}()
	n, err := f.Write(data)
	if err != nil {
		return errors.Wrapf(err, "write %s", tmp)
	}
	if n != len(data) {
		return errors.Errorf("write %s: short write (%d of %d bytes)", tmp, n, len(data))
	}
	if s, ok := f.(interface{ Sync() error }); ok {
		if err = s.Sync(); err != nil {
			return errors.Wrapf(err, "sync %s", tmp)
		}
	}
	closed = true
	if err = f.Close(); err != nil {
		return errors.Wrapf(err, "close %s", tmp)
	}
	if ch, ok := fsys.(billy.Change); ok {
		if err = ch.Chmod(tmp, mode); err != nil {
			return errors.Wrapf(err, "chmod %s", tmp)
		}
	}
	if err = fsys.Rename(tmp, name); err != nil {
		return errors.Wrapf(err, "rename %s to %s", tmp, name)
	}
	return nil
}

// removeFile removes name; a missing file is no error.
func removeFile(fsys billy.Filesystem, name string) error {
	if err := fsys.Remove(name); err != nil && !os.IsNotExist(err) {
		return errors.Wrapf(err, "remove %s", name)
	}
	return nil
}
