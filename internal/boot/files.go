package boot

import (
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/atomicfile"
)

// copyTree copies src into dst keeping modes, owners and symlinks; entries
// already at dst are left alone (seeding).
func copyTree(src, dst string) error {
	return filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		existing, statErr := os.Lstat(to)
		exists := statErr == nil
		switch {
		case fi.IsDir():
			if exists && existing.IsDir() {
				return nil
			}
			if err := os.Mkdir(to, fi.Mode().Perm()); err != nil {
				return err
			}
		case exists:
			return nil
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(target, to); err != nil {
				return err
			}
		case fi.Mode().IsRegular():
			if err := copyFile(p, to, fi.Mode().Perm()); err != nil {
				return err
			}
		default:
			return nil // devices, fifos, sockets: not in an image's etc or var
		}
		// New files belong to root already; chown only the others (each
		// system call counts under emulation).
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && (st.Uid != 0 || st.Gid != 0) && os.Geteuid() == 0 {
			if err := os.Lchown(to, int(st.Uid), int(st.Gid)); err != nil {
				return errors.Wrapf(err, "chown %s", to)
			}
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			return os.Chmod(to, fi.Mode()&(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky))
		}
		return nil
	})
}

func copyFile(from, to string, mode os.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return errors.Wrapf(err, "copy %s to %s", from, to)
	}
	return out.Close()
}

// writeFileAtomic replaces p with data (atomicfile), keeping the owner of
// the file it replaces.
func writeFileAtomic(p string, data []byte, mode os.FileMode) error {
	dir, name := filepath.Split(p)
	return atomicfile.Write(osfs.New(dir), name, data, mode, atomicfile.Options{Prepare: func(tmp string) error {
		tmp = filepath.Join(dir, tmp)
		if err := os.Chmod(tmp, mode); err != nil {
			return err
		}
		if fi, err := os.Stat(p); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
				_ = os.Chown(tmp, int(st.Uid), int(st.Gid))
			}
		}
		return nil
	}})
}
