// Package faultfs wraps a store.FS to simulate a crash: after a set number
// of operations, the next one and every later one fail without effect, as
// if the machine had lost power there. Tests run an upgrade once to count
// its operations, then once for every possible crash point.
package faultfs

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sync"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/store"
)

// ErrCrash is what every operation returns from the crash on.
var ErrCrash = errors.New("simulated crash")

// FS counts operations on an inner FS and crashes after Limit of them
// (Limit < 0: never).
type FS struct {
	Inner store.FS
	Limit int

	mu      sync.Mutex
	n       int
	crashed string
	ops     []string
	audit   audit
}

// Violations lists the breaches of "write, sync, switch" seen (see audit).
func (f *FS) Violations() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.audit.violations...)
}

// record updates the audit after an operation succeeded.
func (f *FS) record(fn func(a *audit)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.audit)
}

// New wraps inner, crashing after limit operations (-1: never).
func New(inner store.FS, limit int) *FS { return &FS{Inner: inner, Limit: limit} }

// Ops is how many operations were attempted.
func (f *FS) Ops() int { f.mu.Lock(); defer f.mu.Unlock(); return f.n }

// Crashed names the operation that crashed ("" if none did).
func (f *FS) Crashed() string { f.mu.Lock(); defer f.mu.Unlock(); return f.crashed }

// Log lists the operations attempted, in order.
func (f *FS) Log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.ops...)
}

// op counts one operation and says whether it may run.
func (f *FS) op(format string, args ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	desc := fmt.Sprintf(format, args...)
	f.ops = append(f.ops, desc)
	if f.Limit >= 0 && f.n > f.Limit {
		if f.crashed == "" {
			f.crashed = fmt.Sprintf("#%d %s", f.n, desc)
		}
		return errors.Wrapf(ErrCrash, "%s", desc)
	}
	return nil
}

// OpenFile implements store.FS.
func (f *FS) OpenFile(name string, flag int, perm fs.FileMode) (store.File, error) {
	if err := f.op("open %s %#x", name, flag); err != nil {
		return nil, err
	}
	inner, err := f.Inner.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	if flag&os.O_CREATE != 0 {
		f.record(func(a *audit) { a.changed(name) })
	}
	if flag&os.O_TRUNC != 0 {
		f.record(func(a *audit) { a.written(name) })
	}
	return &file{fs: f, name: name, inner: inner}, nil
}

// Open implements store.FS.
func (f *FS) Open(name string) (io.ReadCloser, error) {
	if err := f.op("open %s", name); err != nil {
		return nil, err
	}
	r, err := f.Inner.Open(name)
	if err != nil {
		return nil, err
	}
	return &reader{fs: f, name: name, inner: r}, nil
}

// Mkdir implements store.FS.
func (f *FS) Mkdir(name string, perm fs.FileMode) error {
	if err := f.op("mkdir %s", name); err != nil {
		return err
	}
	if err := f.Inner.Mkdir(name, perm); err != nil {
		return err
	}
	f.record(func(a *audit) { a.changed(name) })
	return nil
}

// MkdirAll implements store.FS.
func (f *FS) MkdirAll(name string, perm fs.FileMode) error {
	if err := f.op("mkdir -p %s", name); err != nil {
		return err
	}
	if err := f.Inner.MkdirAll(name, perm); err != nil {
		return err
	}
	f.record(func(a *audit) { a.changed(name) })
	return nil
}

// Rename implements store.FS.
func (f *FS) Rename(x, y string) error {
	if err := f.op("rename %s %s", x, y); err != nil {
		return err
	}
	if base := path.Base(y); base == "current" || base == "previous" {
		if target, err := f.Inner.Readlink(x); err == nil {
			f.record(func(a *audit) { a.switching(x, y, target) })
		}
	}
	if err := f.Inner.Rename(x, y); err != nil {
		return err
	}
	f.record(func(a *audit) { a.changed(x); a.changed(y); a.moved(x, y) })
	return nil
}

// Exchange implements store.FS.
func (f *FS) Exchange(x, y string) error {
	if err := f.op("exchange %s %s", x, y); err != nil {
		return err
	}
	if err := f.Inner.Exchange(x, y); err != nil {
		return err
	}
	f.record(func(a *audit) { a.changed(x); a.changed(y) })
	return nil
}

// RemoveAll implements store.FS. A crash may also come in the middle of
// a removal: it counts one operation per entry removed.
func (f *FS) RemoveAll(name string) error {
	if err := f.op("rm -r %s", name); err != nil {
		return err
	}
	err := f.removeAll(name)
	f.record(func(a *audit) { a.changed(name); a.removed(name) })
	return err
}

func (f *FS) removeAll(name string) error {
	fi, err := f.Inner.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		ents, err := f.Inner.ReadDir(name)
		if err != nil {
			return err
		}
		for _, e := range ents {
			child := name + "/" + e.Name()
			if err := f.op("rm %s", child); err != nil {
				return err
			}
			if err := f.removeAll(child); err != nil {
				return err
			}
		}
	}
	return f.Inner.RemoveAll(name)
}

// Symlink implements store.FS.
func (f *FS) Symlink(target, name string) error {
	if err := f.op("symlink %s -> %s", name, target); err != nil {
		return err
	}
	if err := f.Inner.Symlink(target, name); err != nil {
		return err
	}
	f.record(func(a *audit) { a.changed(name) })
	return nil
}

// Link implements store.FS.
func (f *FS) Link(x, y string) error {
	if err := f.op("link %s %s", x, y); err != nil {
		return err
	}
	if err := f.Inner.Link(x, y); err != nil {
		return err
	}
	f.record(func(a *audit) { a.changed(y) })
	return nil
}

// Readlink implements store.FS.
func (f *FS) Readlink(name string) (string, error) {
	if err := f.op("readlink %s", name); err != nil {
		return "", err
	}
	return f.Inner.Readlink(name)
}

// Lstat implements store.FS.
func (f *FS) Lstat(name string) (fs.FileInfo, error) {
	if err := f.op("lstat %s", name); err != nil {
		return nil, err
	}
	return f.Inner.Lstat(name)
}

// ReadDir implements store.FS.
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	if err := f.op("readdir %s", name); err != nil {
		return nil, err
	}
	return f.Inner.ReadDir(name)
}

// SyncDir implements store.FS.
func (f *FS) SyncDir(name string) error {
	if err := f.op("fsync %s/", name); err != nil {
		return err
	}
	if err := f.Inner.SyncDir(name); err != nil {
		return err
	}
	f.record(func(a *audit) { a.syncedDir(name) })
	return nil
}

type file struct {
	fs    *FS
	name  string
	inner store.File
}

func (w *file) Write(p []byte) (int, error) {
	if err := w.fs.op("write %s %d", w.name, len(p)); err != nil {
		return 0, err
	}
	w.fs.record(func(a *audit) { a.written(w.name) })
	return w.inner.Write(p)
}

func (w *file) Sync() error {
	if err := w.fs.op("fsync %s", w.name); err != nil {
		return err
	}
	if err := w.inner.Sync(); err != nil {
		return err
	}
	w.fs.record(func(a *audit) { a.synced(w.name) })
	return nil
}

// Close always closes the inner file (a crash frees descriptors too).
func (w *file) Close() error {
	err := w.fs.op("close %s", w.name)
	if cerr := w.inner.Close(); err == nil {
		err = cerr
	}
	return err
}

type reader struct {
	fs    *FS
	name  string
	inner io.ReadCloser
}

func (r *reader) Read(p []byte) (int, error) {
	if err := r.fs.op("read %s", r.name); err != nil {
		return 0, err
	}
	return r.inner.Read(p)
}

func (r *reader) Close() error {
	err := r.fs.op("close %s", r.name)
	if cerr := r.inner.Close(); err == nil {
		err = cerr
	}
	return err
}

// Free implements store.Spacer when the inner FS does; it is not an
// operation that can crash (it changes nothing).
func (f *FS) Free(name string) (int64, error) {
	if sp, ok := f.Inner.(store.Spacer); ok {
		return sp.Free(name)
	}
	return 1 << 62, nil
}
