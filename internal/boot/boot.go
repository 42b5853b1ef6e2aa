// Package boot is bos-init, PID 1 of the Bhojpur OS initrd: it mounts the
// kernel file systems, loads modules, finds the boot media by label,
// decides the mode, assembles the root from squashfs images and tmpfs, runs
// the initrd config phase and switches root into the real init.
//
// Every action is a Step in a list, planned before it runs: tests diff the
// plan without running it, and the console log under bos.debug is the plan's
// String()s with timings. A required step that fails opens the rescue shell,
// and so does a panic anywhere (see Main): PID 1 never returns.
package boot

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/kmod"
	"github.com/bhojpur/os/internal/logger"
)

// Paths inside the initrd (and, after switch_root, inside /run).
const (
	NewRoot   = "/newroot"
	CgroupDir = "/sys/fs/cgroup" // the cgroup v2 hierarchy
	InitPath  = "/sbin/init"
	MediaWait = 15 * time.Second
)

// diskModules are loaded before looking for media: the SCSI disk and
// CD-ROM class drivers, under which SATA, USB, SCSI and CD drives show up
// as block devices (there is no modprobe in the initrd for the kernel to
// ask).
var diskModules = []string{"sd_mod", "sr_mod"}

// fsModules are the file systems each mode mounts, loaded once the mode is
// known: loading a module costs boot time (ext4 most of them), and a live
// boot has no use for ext4. crc32c first: ext4 and jbd2 want it through
// the crypto API.
var fsModules = map[Mode][]string{
	ModeLive:    {"loop", "squashfs", "overlay", "isofs"},
	ModeInstall: {"loop", "squashfs", "overlay", "isofs"},
	ModeDisk:    {"crc32c_generic", "loop", "squashfs", "overlay", "ext4"},
}

// rescueModules are loaded for the rescue shell: every file system the
// initrd carries, for a person to mount by hand.
var rescueModules = []string{"crc32c_generic", "loop", "squashfs", "overlay", "isofs", "ext4", "vfat", "nls_cp437", "nls_iso8859_1", "nls_utf8"}

// InitrdPhase runs the initrd config phase on the assembled root before
// switch_root. root is the new root's path as bos-init sees it.
type InitrdPhase func(ctx context.Context, root string) error

// Boot is one boot: its seams, what it found and what it decided.
type Boot struct {
	Root   string // "/" in the initrd; a temporary directory in tests
	Sys    Sys
	Log    logger.Logger
	Now    func() time.Time
	Sleep  func(time.Duration)
	Wait   time.Duration // how long to wait for media to appear
	Initrd InitrdPhase   // nil: the initrd phase is skipped (and says so)
	// OnKernelFS runs once /dev, /proc and /sys are mounted (PID 1 reopens
	// its console there).
	OnKernelFS func()
	// HTTP downloads the ISO of a netboot; nil: http.DefaultClient.
	HTTP *http.Client

	Params Params
	Media  Media
	Mode   Mode
	Layout Layout
	// Trial is the version whose trial boot this is ("" if it is not one):
	// a failure then reboots, for GRUB to fall back, instead of opening
	// the rescue shell.
	Trial string

	modules      *kmod.Loader
	matched      map[string]bool // device modaliases coldplug looked up
	modeReason   string
	bootPrevious bool // the menu's previous entry started this boot

	netIface  string // the interface a netboot configured
	isoMax    int64  // the RAM a netboot's ISO may take
	isoBudget string // how isoMax was reckoned, for messages
}

// Layout is where the system files of the chosen media are, resolved
// through the current symlinks.
type Layout struct {
	Media     string // mount point of the media: layout.MediaDir or layout.StateDir
	BosDir    string // <media>/bos/system/bos/<version>
	KernelDir string // <media>/bos/system/kernel/<version>
	Version   string
	Kernel    string
}

func (b *Boot) path(p string) string { return filepath.Join(b.Root, p) }

func (b *Boot) logf(format string, args ...any) { b.Log.Printf(format, args...) }

func (b *Boot) debugf(format string, args ...any) {
	if b.Params.Debug {
		b.Log.Printf(format, args...)
	}
}

// run applies steps in order. Optional failures are logged; the first
// required failure is returned. A step that panics stops the boot as a
// failed required step does, with the panic as its error.
func (b *Boot) run(ctx context.Context, steps []Step) error {
	for _, s := range steps {
		if err := b.runStep(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// runStep applies one step and logs how it went; it returns a StepError
// when the boot must stop.
func (b *Boot) runStep(ctx context.Context, s Step) error {
	start := b.Now()
	err := b.guard(s.String(), func() error { return s.Apply(ctx, b) })
	took := b.Now().Sub(start).Round(time.Millisecond)
	var panicked *PanicError
	switch {
	case err != nil && (IsRequired(s) || errors.As(err, &panicked)):
		b.logf("FAILED %s: %v (%v)", s, err, took)
		return &StepError{Step: s, Err: err}
	case err != nil:
		b.logf("warning: %s: %v (%v)", s, err, took)
	default:
		b.debugf("%s (%v)", s, took)
	}
	return nil
}

// Boot runs the whole boot. It returns only when the rescue shell should
// be opened, with the reason; on success SwitchRoot never returns.
func (b *Boot) Boot(ctx context.Context) error {
	b.defaults()
	start := b.Now()
	if err := b.run(ctx, KernelFSSteps()); err != nil {
		return err
	}
	if b.OnKernelFS != nil {
		b.OnKernelFS()
	}
	if err := b.run(ctx, DetectSteps()); err != nil {
		return err
	}
	b.logf("mode %s (%s)", b.Mode, b.modeReason)
	if b.Mode == ModeShell {
		return errors.New(b.modeReason)
	}
	if needsNetboot(b.Mode, b.Media) {
		if err := b.run(ctx, NetbootSteps(b.Params.ISOURL)); err != nil {
			return err
		}
	}
	if err := b.run(ctx, MediaSteps(b.Mode, b.Media)); err != nil {
		return err
	}
	steps := RootSteps(b.Mode, b.Layout, b.Params.Consoles)
	b.debugf("booting %s after %v", b.Mode, b.Now().Sub(start).Round(time.Millisecond))
	return b.run(ctx, steps)
}

// defaults fills the clock and sleep seams that were left nil.
func (b *Boot) defaults() {
	if b.Now == nil {
		b.Now = time.Now
	}
	if b.Sleep == nil {
		b.Sleep = time.Sleep
	}
}

// Rescue prints why and opens the rescue shell, again and again: PID 1
// never returns. A panic while it loads the rescue modules is a warning,
// one in the shell's start another round.
func (b *Boot) Rescue(ctx context.Context, why error) {
	if err := b.guard("load the rescue modules", func() error { return b.loadModules(rescueModules) }); err != nil {
		b.logf("warning: %v", err)
	}
	for {
		b.logf("rescue shell: %v", why)
		b.logf("the busybox shell of the initrd follows; media are under /dev, see /proc/cmdline; 'poweroff -f' or 'reboot -f' to leave")
		if err := b.guard("the rescue shell", func() error { return b.Sys.Shell(ctx) }); err != nil {
			b.logf("rescue shell: %v", err)
			b.Sleep(5 * time.Second)
		}
	}
}

// readCmdline reads the kernel command line.
func (b *Boot) readCmdline() error {
	data, err := os.ReadFile(b.path("/proc/cmdline"))
	if err != nil {
		return errors.Wrap(err, "read the kernel cmdline")
	}
	var warnings []string
	b.Params, warnings = parseCmdline(strings.TrimSpace(string(data)))
	for _, w := range warnings {
		b.logf("warning: %s", w)
	}
	return nil
}
