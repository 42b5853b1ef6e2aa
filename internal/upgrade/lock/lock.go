// Package lock is the upgrade lock: a non-blocking flock on a file that
// also says who holds it (process id and command line), so a second run
// can fail at once and name the first. The kernel drops the lock when the
// holder dies, so a crash never leaves it stuck.
package lock

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/pkg/errors"
)

// ErrHeld: another process holds the lock.
var ErrHeld = errors.New("lock held")

// Lock is a held lock.
type Lock struct {
	f *os.File
}

// Holder describes this process for the lock file.
func Holder() string {
	return fmt.Sprintf("pid %d: %s (since %s)", os.Getpid(), strings.Join(os.Args, " "), time.Now().UTC().Format(time.RFC3339))
}

// Acquire takes the lock at path (creating it and its directory) without
// waiting, and writes holder into it. When another process holds it, the
// error wraps ErrHeld and quotes what that process wrote.
func Acquire(path, holder string) (*Lock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, errors.Wrapf(err, "create the directory of %s", path)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, errors.Wrapf(err, "open lock %s", path)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := make([]byte, 4096)
			n, _ := f.ReadAt(who, 0)
			desc := string(bytes.TrimSpace(who[:n]))
			if desc == "" {
				desc = "another process (it wrote nothing yet)"
			}
			return nil, errors.Wrapf(ErrHeld, "another upgrade is running: %s is held by %s", path, desc)
		}
		return nil, errors.Wrapf(err, "lock %s", path)
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, errors.Wrapf(err, "truncate %s", path)
	}
	if _, err := f.WriteAt([]byte(holder+"\n"), 0); err != nil {
		f.Close()
		return nil, errors.Wrapf(err, "write %s", path)
	}
	return &Lock{f: f}, nil
}

// Release empties the lock file and drops the lock.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	_ = l.f.Truncate(0)
	err := l.f.Close() // closing the last descriptor drops the flock
	l.f = nil
	return err
}
