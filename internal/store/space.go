package store

import (
	"fmt"

	"github.com/pkg/errors"
	"golang.org/x/sys/unix"
)

// ErrNoSpace: the file system lacks the room an operation needs; nothing
// was written for it.
var ErrNoSpace = errors.New("not enough space")

// SpaceMargin is kept free beyond what an operation needs: the file system
// holding /bos/system (BOS_STATE) also holds /var, so an upgrade never
// takes its last bytes.
const SpaceMargin = 32 << 20

// Spacer is an FS that can say how much room is left.
type Spacer interface {
	// Free is the number of bytes an unprivileged user may still write
	// on the file system that holds name (statfs f_bavail: the blocks
	// reserved for root stay reserved).
	Free(name string) (int64, error)
}

// Free implements Spacer.
func (o *OSFS) Free(name string) (int64, error) {
	p, err := o.Path(name)
	if err != nil {
		return 0, err
	}
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return 0, errors.Wrapf(err, "statfs %s", p)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// NeedSpace refuses (ErrNoSpace) when the file system holding dir has less
// than need bytes free beyond SpaceMargin; what names the bytes in the
// message. An FS that is not a Spacer has room for anything.
func NeedSpace(fsys FS, dir string, need int64, what string) error {
	sp, ok := fsys.(Spacer)
	if !ok || need <= 0 {
		return nil
	}
	free, err := sp.Free(dir)
	if err != nil {
		return err
	}
	if free-SpaceMargin >= need {
		return nil
	}
	return errors.Wrapf(ErrNoSpace, "%s needs %s on the file system of %s, which has %s free and keeps %s of it spare: make room there (it holds /var too) and run again",
		what, MiB(need), dir, MiB(free), MiB(SpaceMargin))
}

// MiB formats a byte count for a message.
func MiB(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%d bytes", n)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
