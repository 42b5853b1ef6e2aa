package server

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// tmpfsWALSegment is the WAL file size on a tmpfs (a live node keeps etcd
// in RAM): etcd preallocates each WAL file, and its 64 MB, twice over (the
// file in use and the next one, made ready), would be 128 MB of a small
// node's memory holding zeros. 8 MB holds thousands of a small cluster's
// writes; etcd cuts a new file when one is full, as it does at 64 MB.
const tmpfsWALSegment = 8 << 20

// fsMagic is the file-system type of the nearest existing directory at
// or above dir (statfs's f_type); a seam for tests.
var fsMagic = func(dir string) (int64, error) {
	for {
		var st unix.Statfs_t
		err := unix.Statfs(dir, &st)
		if err == nil {
			return int64(st.Type), nil
		}
		if !os.IsNotExist(err) || dir == filepath.Dir(dir) {
			return 0, err
		}
		dir = filepath.Dir(dir)
	}
}

// walSegmentBytes is the WAL file size for etcd's data in dir: small on a
// tmpfs, etcd's own default (0) elsewhere.
func walSegmentBytes(dir string) int64 {
	if m, err := fsMagic(dir); err == nil && m == unix.TMPFS_MAGIC {
		return tmpfsWALSegment
	}
	return 0
}
