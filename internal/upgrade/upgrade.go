// Package upgrade is the work of bos-upgrade-rootfs and bos-upgrade-kernel:
// pick a release, fetch and verify it (or take it from a local tree),
// install it into new version directories and switch the current links,
// keeping the old version as previous; or roll back to previous.
//
// An upgrade keeps the order "write, hash, sync, switch" of package store:
// nothing current changes before the whole new version is written,
// verified and synced, so a crash at any step leaves the old version
// booting or the new one. Its steps:
//
//  1. take the lock, remount /bos read-write (--remount);
//  2. resolve the version (--release, the --source tree, or the channel);
//     the version already current is a no-op (leftovers are still cleaned);
//  3. stage every component under <dest>/.upgrade/<version>/: each download
//     is bounded (Caps), checked for room before it is written, hashed as
//     it streams to a file and checked against sha256sum-<arch>.txt; only
//     a verified rootfs tarball is unpacked, within bounds derived from
//     its size (archive.Limits), each file after a check for its room;
//     every file and directory staged is fsynced;
//  4. only then: commit each staged tree as <component>/<version> (rename)
//     and switch the links, dcp before bos so that bos/current on the new
//     version means the whole upgrade is in place;
//  5. remove versions other than current and previous, and the staging;
//  6. sync, reboot (--sync, --reboot).
package upgrade

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/execrun"
	"github.com/bhojpur/os/internal/exitcode"
	"github.com/bhojpur/os/internal/fetch"
	"github.com/bhojpur/os/internal/grubenv"
	"github.com/bhojpur/os/internal/layout"
	"github.com/bhojpur/os/internal/store"
	"github.com/bhojpur/os/internal/upgrade/archive"
	"github.com/bhojpur/os/internal/upgrade/lock"
)

// Components: bos-upgrade-rootfs upgrades OS (and, when bundled, DCP),
// bos-upgrade-kernel Kernel.
const (
	OS     = store.OS
	DCP    = store.DCP
	Kernel = store.Kernel
)

// BosMount is the mount point remounted read-write by --remount.
const BosMount = "/bos"

// stagingDir is where a run stages, inside the destination.
const stagingDir = ".upgrade"

// Options are the flags of a run.
type Options struct {
	Component string // OS or Kernel
	Release   string // version to install; "" means the latest of Channel
	Channel   string // URL that resolves the latest release
	URL       string // artifact URL template ({version}, {artifact})
	Arch      string // artifact architecture (amd64, arm64)
	Source    string // local bos/system tree (host path) instead of downloading
	Dest      string // system tree inside FS, e.g. /bos/system
	LockFile  string // host path of the lock file ("" for none)
	Remount   bool
	Sync      bool
	Reboot    bool
	DryRun    bool
	Rollback  bool
	GrubEnv   string // GRUB environment block inside FS ("" or missing: no trial boots)
	// FallbackFile (inside FS; "" for none) names the version whose trial
	// boot failed since the system booted (layout.FallbackFile): that
	// version is refused, not installed again.
	FallbackFile string
	// TrialTimeout is how long the trial boot after an upgrade has to come
	// up before its watchdog reboots it (0: bos-init's default).
	TrialTimeout time.Duration
	// InsecureHTTP allows plain http:// release and channel URLs (with a
	// warning): whoever is on the path can then choose the release and
	// its checksums alike. Redirects from https to http are refused even
	// so.
	InsecureHTTP bool
	// Caps bound the downloads (zero fields: the defaults).
	Caps Caps
}

// Caps bound the size of a release's artifacts. A download larger than
// its cap stops there and is deleted. Unpacking is bounded by the
// verified tarball's own size (archive.Limits).
type Caps struct {
	Image int64 // the rootfs tarball and kernel.squashfs (DefaultImageCap)
	Boot  int64 // vmlinuz and initrd (DefaultBootCap)
}

// Default caps: a release's rootfs tarball is a few hundred MiB, its
// kernel and initrd tens of MiB.
const (
	DefaultImageCap = 2 << 30
	DefaultBootCap  = 512 << 20
	// versionCap bounds bos-kernel-version, one line.
	versionCap = 64 << 10
)

func (c Caps) image() int64 {
	if c.Image > 0 {
		return c.Image
	}
	return DefaultImageCap
}

func (c Caps) boot() int64 {
	if c.Boot > 0 {
		return c.Boot
	}
	return DefaultBootCap
}

// Env is what a run works on: the seams.
type Env struct {
	Root    string   // host path of the target root; "/" on a running system
	FS      store.FS // rooted at Root
	Fetcher *fetch.Fetcher
	Runner  execrun.Runner
	Sync    func() // sync(2)
	Log     func(format string, args ...any)
	Out     io.Writer // results and the dry-run plan
}

func (e *Env) logf(format string, args ...any) {
	if e.Log != nil {
		e.Log(format, args...)
	}
}

func (e *Env) say(format string, args ...any) {
	if e.Out != nil {
		fmt.Fprintf(e.Out, format+"\n", args...)
	} else {
		e.logf(format, args...)
	}
}

// classed marks an error with an exit-code class (a cli sentinel) and
// keeps its message.
type classed struct{ err, class error }

func (c classed) Error() string   { return c.err.Error() }
func (c classed) Unwrap() []error { return []error{c.err, c.class} }
func (c classed) Format(s fmt.State, verb rune) {
	if verb == 'v' && s.Flag('+') {
		fmt.Fprintf(s, "%+v", c.err)
		return
	}
	io.WriteString(s, c.Error())
}

// classify maps the errors of the parts to the documented exit codes.
func classify(err error) error {
	if err == nil {
		return nil
	}
	for _, c := range []error{exitcode.ErrLocked, exitcode.ErrDownload, exitcode.ErrBadInput, exitcode.ErrDisk, exitcode.ErrNoSpace} {
		if errors.Is(err, c) {
			return err
		}
	}
	switch {
	case errors.Is(err, store.ErrNoSpace), errors.Is(err, syscall.ENOSPC):
		return classed{err, exitcode.ErrNoSpace}
	case errors.Is(err, lock.ErrHeld):
		return classed{err, exitcode.ErrLocked}
	case errors.Is(err, fetch.ErrChecksum), errors.Is(err, fetch.ErrFetch):
		return classed{err, exitcode.ErrDownload}
	case errors.Is(err, archive.ErrUnsafe), errors.Is(err, archive.ErrFormat), errors.Is(err, errRelease):
		return classed{err, exitcode.ErrBadInput}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	var pe *fs.PathError
	var le *os.LinkError
	var errno syscall.Errno
	if errors.As(err, &pe) || errors.As(err, &le) || errors.As(err, &errno) {
		return classed{err, exitcode.ErrDisk}
	}
	return err
}

// checkScheme refuses release and channel URLs that are not https, or
// http without InsecureHTTP, before anything is fetched. The channel
// counts only when it is used (no --release, no --source).
func checkScheme(opt Options, env *Env) error {
	if opt.Source != "" || opt.Rollback {
		return nil
	}
	urls := [][2]string{{"--release-url", opt.URL}}
	if opt.Release == "" {
		urls = append(urls, [2]string{"--channel", opt.Channel})
	}
	for _, u := range urls {
		scheme, _, _ := strings.Cut(u[1], "://")
		switch strings.ToLower(scheme) {
		case "https":
		case "http":
			if !opt.InsecureHTTP {
				return classed{errors.Errorf("%s %s is plain http: anyone on the path could choose the release and its checksums; use https, or --insecure-http to accept that", u[0], u[1]), exitcode.ErrBadInput}
			}
			env.logf("warning: %s %s is plain http (--insecure-http): the checksums only catch corruption, not someone on the path", u[0], u[1])
		default:
			return classed{errors.Errorf("%s %q is not an https:// URL", u[0], u[1]), exitcode.ErrBadInput}
		}
	}
	return nil
}

// errRelease: the release or the source tree is not what it must be.
var errRelease = errors.New("bad release")

func badRelease(format string, args ...any) error {
	return errors.Wrapf(errRelease, format, args...)
}

// Run does what opt says.
func Run(ctx context.Context, opt Options, env *Env) error {
	return classify(run(ctx, opt, env))
}

func run(ctx context.Context, opt Options, env *Env) (err error) {
	if opt.Component != OS && opt.Component != Kernel {
		return errors.Errorf("unknown component %q", opt.Component)
	}
	if opt.Release != "" && !store.ValidVersion(opt.Release) {
		return classed{errors.Errorf("--release %q is not a valid version (letters, digits, . _ + -)", opt.Release), exitcode.ErrBadInput}
	}
	if opt.Arch == "" {
		return classed{errors.New("no architecture given"), exitcode.ErrBadInput}
	}
	if err := checkScheme(opt, env); err != nil {
		return err
	}
	st := &store.Store{FS: env.FS, Dir: opt.Dest, Log: env.Log}

	if opt.Component == Kernel {
		if local, why, err := overlayInstall(env.FS, opt.Dest); err != nil {
			return err
		} else if local {
			env.logf("warning: %s: this is an overlay install running the distribution's kernel; bos-upgrade-kernel does nothing", why)
			return nil
		}
	}

	if !opt.DryRun && opt.LockFile != "" {
		l, err := lock.Acquire(opt.LockFile, lock.Holder())
		if err != nil {
			return err
		}
		defer l.Release()
	}
	if opt.Remount && !opt.DryRun {
		undo, err := remount(ctx, env)
		if err != nil {
			return err
		}
		defer func() {
			if uerr := undo(); uerr != nil && err == nil {
				err = uerr
			}
		}()
	}

	changed := false
	if opt.Rollback {
		changed, err = rollback(opt, env, st)
	} else {
		changed, err = upgrade(ctx, opt, env, st)
	}
	if err != nil || opt.DryRun {
		return err
	}
	if changed {
		if err := trial(opt, env, st); err != nil {
			return err
		}
	}
	return finish(ctx, opt, env, changed)
}

// trial makes the next boot a trial of what an upgrade switched to (GRUB
// boots it once and falls back to previous unless the system marks it
// good), or, after a rollback by hand, ends any trial. It runs after the
// switch: a crash between the two costs the trial, never a version.
func trial(opt Options, env *Env, st *store.Store) error {
	if opt.GrubEnv == "" {
		return nil
	}
	if ok, err := store.Exists(env.FS, opt.GrubEnv); err != nil {
		return classed{errors.Wrapf(err, "stat %s", opt.GrubEnv), exitcode.ErrDisk}
	} else if !ok {
		if !opt.Rollback {
			env.logf("no trial boot: %s does not exist (not a system installed by bos-install); the next boot runs the new version without an automatic fallback", opt.GrubEnv)
		}
		return nil
	}
	e, err := grubenv.Read(env.FS, opt.GrubEnv)
	if err != nil {
		return classed{err, exitcode.ErrDisk}
	}
	if opt.Rollback {
		if !e.Disarm() {
			return nil
		}
		env.logf("the pending trial boot is cancelled")
	} else {
		v, err := st.Link(opt.Component, store.Current)
		if err != nil {
			return err
		}
		part := grubenv.PartBos
		if opt.Component == Kernel {
			part = grubenv.PartKernel
		}
		e.Arm(part, v, opt.TrialTimeout)
		env.say("the next boot is a trial of %s %s: unless it comes up (bos-init --mark-good), the boot after it falls back to the previous version", opt.Component, v)
	}
	if err := grubenv.Write(env.FS, opt.GrubEnv, e); err != nil {
		return classed{err, exitcode.ErrDisk}
	}
	return nil
}

// overlayInstall says whether the kernel is the distribution's: mode
// local, or no kernel directory in the destination.
func overlayInstall(fsys store.FS, dest string) (bool, string, error) {
	if r, err := fsys.Open(layout.ModeFile); err == nil {
		b, rerr := io.ReadAll(io.LimitReader(r, 256))
		r.Close()
		if rerr != nil {
			return false, "", errors.Wrapf(rerr, "read %s", layout.ModeFile)
		}
		if strings.TrimSpace(string(b)) == "local" {
			return true, layout.ModeFile + " says local", nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, "", errors.Wrapf(err, "read %s", layout.ModeFile)
	}
	dir := path.Join(dest, Kernel)
	if ok, err := store.Exists(fsys, dir); err != nil {
		return false, "", errors.Wrapf(err, "stat %s", dir)
	} else if !ok {
		return true, "no " + dir, nil
	}
	return false, "", nil
}

// remount makes /bos writable and returns the undo.
func remount(ctx context.Context, env *Env) (func() error, error) {
	if env.Root != "/" {
		env.logf("--remount: skipped, the root is %s, not /", env.Root)
		return func() error { return nil }, nil
	}
	if err := runProg(ctx, env.Runner, "mount", "-o", "remount,bind,rw", BosMount); err != nil {
		return nil, classed{errors.Wrapf(err, "remount %s read-write", BosMount), exitcode.ErrDisk}
	}
	return func() error {
		if err := runProg(context.WithoutCancel(ctx), env.Runner, "mount", "-o", "remount,bind,ro", BosMount); err != nil {
			return classed{errors.Wrapf(err, "remount %s read-only", BosMount), exitcode.ErrDisk}
		}
		return nil
	}, nil
}

// finish syncs and reboots as asked.
func finish(ctx context.Context, opt Options, env *Env, changed bool) error {
	if opt.Sync && env.Sync != nil {
		env.Sync()
	}
	if !opt.Reboot {
		return nil
	}
	switch {
	case !changed:
		env.logf("--reboot: nothing changed, not rebooting")
	case env.Root != "/":
		env.logf("--reboot: skipped, the root is %s, not /", env.Root)
	default:
		env.logf("rebooting")
		if env.Sync != nil {
			env.Sync()
		}
		if err := runProg(ctx, env.Runner, "reboot"); err != nil {
			return classed{errors.Wrap(err, "reboot"), exitcode.ErrDisk}
		}
	}
	return nil
}

// components are what a command installs, in switch order.
func components(c string) []string {
	if c == Kernel {
		return []string{Kernel}
	}
	return []string{DCP, OS}
}

// rollback swaps current and previous.
func rollback(opt Options, env *Env, st *store.Store) (bool, error) {
	primary := opt.Component
	cur, err := st.Link(primary, store.Current)
	if err != nil {
		return false, err
	}
	prev, err := st.Link(primary, store.Previous)
	if err != nil {
		return false, err
	}
	if prev == "" {
		return false, classed{errors.Errorf("%s has no previous version to roll back to (current: %s)", st.Path(primary), orNone(cur)), exitcode.ErrBadInput}
	}
	if opt.DryRun {
		env.say("would roll back %s from %s to %s", primary, orNone(cur), prev)
		if primary == OS {
			if d, _ := st.Link(DCP, store.Previous); d == prev {
				dcur, _ := st.Link(DCP, store.Current)
				env.say("would roll back %s from %s to %s", DCP, orNone(dcur), prev)
			}
		}
		return false, nil
	}
	// dcp first, as in an upgrade: bos/current names the whole state.
	if primary == OS {
		if d, err := st.Link(DCP, store.Previous); err != nil {
			return false, err
		} else if d == prev {
			from, to, err := st.Rollback(DCP)
			if err != nil {
				return false, err
			}
			env.say("rolled back %s from %s to %s", DCP, orNone(from), to)
		} else if dcur, _ := st.Link(DCP, store.Current); dcur != "" {
			env.logf("%s stays at %s (it has no previous %s)", DCP, dcur, prev)
		}
	}
	from, to, err := st.Rollback(primary)
	if err != nil {
		return false, err
	}
	env.say("rolled back %s from %s to %s", primary, orNone(from), to)
	return true, nil
}

func orNone(v string) string {
	if v == "" {
		return "(none)"
	}
	return v
}

// runProg runs a program for its effect; its output is in the error.
func runProg(ctx context.Context, r execrun.Runner, name string, args ...string) error {
	_, err := r.Run(ctx, execrun.Command(name, args...))
	return err
}
