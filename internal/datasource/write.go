package datasource

import (
	"os"

	"github.com/go-git/go-billy/v5"
	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/atomicfile"
)

// writeFile replaces name atomically.
func writeFile(fsys billy.Filesystem, name string, data []byte, mode os.FileMode) error {
	return atomicfile.Write(fsys, name, data, mode)
}

// removeFile removes name; a missing file is no error.
func removeFile(fsys billy.Filesystem, name string) error {
	if err := fsys.Remove(name); err != nil && !os.IsNotExist(err) {
		return errors.Wrapf(err, "remove %s", name)
	}
	return nil
}
