package boot

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/grubenv"
	"github.com/bhojpur/os/internal/layout"
	"github.com/bhojpur/os/internal/store"
)

// TrialTimeout is how long a trial boot has to come up (bos-init
// --mark-good) before the watchdog reboots it, and GRUB falls back, unless
// the upgrade said otherwise (--trial-timeout).
const TrialTimeout = 10 * time.Minute

// trialReboot is how long the console shows why a trial boot failed
// before bos-init reboots to fall back.
const trialReboot = 10 * time.Second

// checkTrial reads the GRUB environment block on BOS_STATE: after GRUB
// fell back from a failed trial it rolls the parts on trial back (so that
// current is the version that worked) and says so; on the trial boot
// itself it arms the watchdog.
func (b *Boot) checkTrial(_ context.Context) error {
	fsys, err := store.NewOSFS(b.path(layout.StateDir))
	if err != nil {
		return err
	}
	e, err := grubenv.Read(fsys, grubenv.Path)
	if err != nil {
		return err
	}
	t := e.State()
	if t.Boot == "previous" {
		b.bootPrevious = true
		b.logf("the boot menu's previous entry: booting the previous version")
	}
	if t.RollbackDue() {
		if err := b.rollBack(fsys, e, t); err != nil {
			return err
		}
	}
	if t.Fallback != "" {
		msg := fmt.Sprintf("%s\n", t.Fallback)
		if err := writeFileAtomic(b.path(layout.FallbackFile), []byte(msg), 0o644); err != nil {
			return err
		}
	}
	if t.Booting() {
		return b.startTrial(t)
	}
	return nil
}

// rollBack rolls back the parts of a failed trial after GRUB fell back
// from it, so that current is the version that worked, and records in
// the environment block that it did.
func (b *Boot) rollBack(fsys store.FS, e *grubenv.Env, t grubenv.Trial) error {
	st := &store.Store{FS: fsys, Dir: "/" + layout.SystemDir, Log: b.logf}
	var did []string
	for _, p := range []struct{ component, version string }{{store.Kernel, t.Kernel}, {store.OS, t.Bos}} {
		if p.version == "" {
			continue
		}
		d, err := st.RollBackFailed(p.component, p.version)
		did = append(did, d...)
		if err != nil {
			return errors.Wrapf(err, "roll back %s after the failed trial of %s", p.component, t.Fallback)
		}
	}
	e.RolledBack()
	if err := grubenv.Write(fsys, grubenv.Path, e); err != nil {
		return err
	}
	if len(did) == 0 {
		did = []string{"nothing left to switch"}
	}
	b.logf("FALLBACK: the trial boot of %s did not come up; GRUB booted the previous version; rolled back: %s", t.Fallback, strings.Join(did, ", "))
	return nil
}

// startTrial records the trial boot of t's version and arms its watchdog.
func (b *Boot) startTrial(t grubenv.Trial) error {
	b.Trial = t.Version
	if err := writeFileAtomic(b.path(layout.TrialFile), []byte(t.Version+"\n"), 0o644); err != nil {
		return err
	}
	timeout := t.TimeoutOr(TrialTimeout)
	b.logf("trial boot of %s: it must come up (bos-init --mark-good) within %v, or the next boot falls back to the previous version", t.Version, timeout)
	if err := b.armWatchdog(timeout); err != nil {
		b.logf("warning: no watchdog for the trial boot (a hang will not fall back by itself): %v", err)
	}
	return nil
}

// armWatchdog loads softdog with the trial's timeout and starts it by
// opening /dev/watchdog, then closes it without the magic 'V': the timer
// keeps running, and only bos-init --mark-good (which writes 'V') stops
// it. Failing that, the kernel reboots the machine.
func (b *Boot) armWatchdog(timeout time.Duration) error {
	if err := b.initModules(); err != nil {
		return err
	}
	if _, err := b.modules.Load("softdog", fmt.Sprintf("soft_margin=%d", int(timeout.Seconds()))); err != nil {
		return err
	}
	if err := writeWatchdog(b.path("/dev/watchdog"), '1'); err != nil {
		return err
	}
	return writeFileAtomic(b.path(layout.WatchdogFile), []byte(fmt.Sprintf("%d\n", int(timeout.Seconds()))), 0o644)
}

// FailTrial is the end of a trial boot whose bos-init failed: it says why
// on the console and reboots, so that GRUB falls back to the previous
// version; only if the reboot fails does the rescue shell open.
func (b *Boot) FailTrial(ctx context.Context, why error) {
	b.logf("the trial boot of %s failed: %v", b.Trial, why)
	b.logf("rebooting in %v: GRUB falls back to the previous version", trialReboot)
	b.Sleep(trialReboot)
	b.Rescue(ctx, errors.Wrap(b.Sys.Reboot(), "reboot after the failed trial boot"))
}

// recordVersions writes what runs under /run/bos.
func (b *Boot) recordVersions() error {
	if err := writeFileAtomic(b.path(layout.VersionFile), []byte(b.Layout.Version+"\n"), 0o644); err != nil {
		return err
	}
	return writeFileAtomic(b.path(layout.KernelVersionFile), []byte(b.Layout.Kernel+"\n"), 0o644)
}

// MarkGood ends the trial boot (if any) of the running system, under
// root: it records in the GRUB environment block that the versions in
// /run/bos came up, and stops the trial watchdog. It is what the
// bos-mark-good service runs once sshd (and DCP) run. It returns what it
// did, for the console.
func MarkGood(root string) (string, error) {
	read := func(name string) (string, error) {
		b, err := os.ReadFile(filepath.Join(root, name))
		return strings.TrimSpace(string(b)), errors.Wrapf(err, "read %s (written by bos-init)", name)
	}
	bos, err := read(layout.VersionFile)
	if err != nil {
		return "", err
	}
	kernel, err := read(layout.KernelVersionFile)
	if err != nil {
		return "", err
	}
	said, err := markGoodEnv(root, bos, kernel)
	if err != nil {
		return "", err
	}
	return stopTrialWatchdog(root, said)
}

// markGoodEnv records in the GRUB environment block on BOS_STATE under
// root that bos and kernel came up, and says what that did.
func markGoodEnv(root, bos, kernel string) (string, error) {
	fsys, err := store.NewOSFS(filepath.Join(root, layout.StateDir))
	if err != nil {
		return "", err
	}
	if ok, err := store.Exists(fsys, grubenv.Path); err != nil {
		return "", err
	} else if !ok {
		return fmt.Sprintf("bos: boot of %s: no %s%s (not an installed system), no trial to end", bos, layout.StateDir, grubenv.Path), nil
	}
	e, err := grubenv.Read(fsys, grubenv.Path)
	if err != nil {
		return "", err
	}
	trial := e.State()
	if e.MarkGood(grubenv.Running{Bos: bos, Kernel: kernel}) {
		if err := grubenv.Write(fsys, grubenv.Path, e); err != nil {
			return "", err
		}
	}
	switch {
	case trial.Version != "" && !trial.Booting():
		return fmt.Sprintf("bos: boot of %s marked good; the trial of %s armed by an upgrade starts at the next boot", bos, trial.Version), nil
	case trial.Booting() && e.State().Version == "":
		return fmt.Sprintf("bos: boot of %s marked good: the trial of %s is over", bos, trial.Version), nil
	case trial.Booting():
		return fmt.Sprintf("bos: boot of %s (kernel %s) is not the trial of %s: the trial stays failed", bos, kernel, trial.Version), nil
	}
	return fmt.Sprintf("bos: boot of %s marked good", bos), nil
}

// stopTrialWatchdog stops the watchdog bos-init armed for a trial boot,
// if it did, adding that to what MarkGood said.
func stopTrialWatchdog(root, said string) (string, error) {
	if _, err := os.Stat(filepath.Join(root, layout.WatchdogFile)); err != nil {
		return said, nil
	}
	if err := writeWatchdog(filepath.Join(root, "/dev/watchdog"), 'V'); err != nil {
		return said, errors.Wrap(err, "stop the trial watchdog")
	}
	if err := os.Remove(filepath.Join(root, layout.WatchdogFile)); err != nil {
		return said, err
	}
	return said + "; watchdog stopped", nil
}

// writeWatchdog opens a watchdog device (which starts it), writes c and
// closes it: '1' keeps it running after the close, the magic 'V' stops it.
func writeWatchdog(dev string, c byte) error {
	f, err := os.OpenFile(dev, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, werr := f.Write([]byte{c})
	if err := f.Close(); err != nil && werr == nil {
		werr = err
	}
	return werr
}
