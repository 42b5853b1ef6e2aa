// Package install is bos-install: it installs Bhojpur OS to a whole disk
// (partitioned and formatted), onto an existing ext4 partition
// (--no-format) or over the running root file system (--takeover).
//
// An install runs in stages, and nothing is written to any disk before
// every input is checked:
//
//   - probe reads what the plan needs of DEVICE and of this machine
//     (its kind, size, holders, mounts, file system, partition table,
//     the GRUB platforms installed) into Facts;
//   - checkDevice refuses from the Facts what the mode cannot install to;
//     the config is fetched and validated, the install source (the
//     running system, an ISO, a directory) opened and verified;
//   - buildPlan turns all that into a Plan, a list of Steps; it reads
//     nothing, so plans are tested from Facts made by hand;
//   - the plan is printed (--dry-run, or before the confirmation
//     question), then applied step by step through two seams: an
//     execrun.Runner for the programs (mkfs, mount, grub-install) and a
//     System for the kernel (sync, partition re-reading, reboot).
//
// Exit codes (through internal/cli): 2 usage, 3 bad input (device, config,
// size, install source), 4 download or checksum, 5 disk operation.
package install

import (
	"bufio"
	"context"
	"io"
	"path/filepath"
	"runtime"

	"github.com/go-git/go-billy/v5"
	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/execrun"
	"github.com/bhojpur/os/internal/exitcode"
	"github.com/bhojpur/os/internal/fetch"
	"github.com/bhojpur/os/internal/layout"
	"github.com/bhojpur/os/internal/logger"
)

// Options are bos-install's flags (or the bos.install config keys).
type Options struct {
	Device   string // disk, or partition with NoFormat
	ISO      string // ISO URL, ISO path or directory; "" for the running system
	Config   string // config URL or path; "" for none (or the questions)
	TTY      string // "" or "auto": the default consoles
	ForceEFI bool
	PowerOff bool
	Takeover bool
	NoFormat bool
	Silent   bool
	DryRun   bool
	NoReboot bool
	Debug    bool
}

func (o Options) mode() Mode {
	switch {
	case o.Takeover:
		return ModeTakeover
	case o.NoFormat:
		return ModeNoFormat
	}
	return ModeFull
}

// Installer holds the seams of an install.
type Installer struct {
	Root  string           // the target system's root ("/")
	FS    billy.Filesystem // rooted at Root: /proc, /sys
	Run   execrun.Runner   // mkfs, mount, grub-install, ...
	Sys   System
	Fetch *Fetcher
	Log   logger.Logger
	Debug bool

	Stdin  io.Reader
	Stdout io.Writer
	// Terminal says stdin and stdout are a terminal: questions may be
	// asked (unless --silent).
	Terminal bool
	// ReadSecret reads the answer to a password or secret question
	// without showing it (from a terminal with its echo off); nil: the
	// answer is read from Stdin like the others.
	ReadSecret func() (string, error)

	Arch    string // GOARCH of the system installed; default runtime.GOARCH
	TempDir string // for downloads; default os.TempDir()
	WorkDir string // mount points; default Root/run/bos/install

	in *bufio.Reader
}

// run runs a program; its output is in the error when it fails.
func (in *Installer) run(ctx context.Context, name string, args ...string) error {
	_, err := in.Run.Run(ctx, execrun.Command(name, args...))
	return err
}

// Debugf logs when debugging.
func (in *Installer) Debugf(format string, args ...any) {
	if in.Debug {
		in.Log.Printf(format, args...)
	}
}

// Plan checks every input and computes the plan; nothing is written to
// any disk. Close the plan's Source when done.
func (in *Installer) Plan(ctx context.Context, o Options) (*Plan, error) {
	if in.Arch == "" {
		in.Arch = runtime.GOARCH
	}
	if o.Takeover && !o.NoFormat {
		return nil, errors.Wrap(exitcode.ErrUsage, "--takeover needs --no-format and DEVICE the partition of /")
	}
	if err := CheckTTY(o.TTY); err != nil {
		return nil, errors.Wrap(exitcode.ErrBadInput, err.Error())
	}
	interactive := !o.Silent && in.Terminal
	if o.Device == "" {
		if !interactive {
			return nil, bad("no DEVICE: name the disk to install to (bos-install /dev/vda), or set bos.install.device")
		}
		dev, err := in.pickDisk()
		if err != nil {
			return nil, err
		}
		o.Device = dev
	}
	facts, err := in.probe(o.Device)
	if err != nil {
		return nil, err
	}
	lay, err := checkDevice(o, in.Arch, facts)
	if err != nil {
		return nil, err
	}
	var cfg *ConfigFile
	switch {
	case o.Config != "":
		if cfg, err = in.LoadConfig(ctx, o.Config); err != nil {
			return nil, err
		}
	case interactive:
		if cfg, err = in.askConfig(ctx); err != nil {
			return nil, err
		}
	}
	if o.Takeover && o.ISO == "" {
		return nil, bad("--takeover needs ISO_URL: the running system has no Bhojpur OS to copy")
	}
	iso := o.ISO
	if iso != "" && !o.Takeover && in.bootedFrom(iso) {
		in.Log.Printf("%s is the ISO this system booted from (downloaded and verified by bos-init): installing from the booted media", fetch.RedactURL(iso))
		iso = ""
	}
	src, err := in.openSource(ctx, iso, in.Arch)
	if err != nil {
		return nil, err
	}
	if o.Takeover {
		if filepath.Clean(src.Dir) == filepath.Join(in.Root, layout.SystemDir) {
			src.Close()
			return nil, bad("--takeover: the install source is the target's own /%s; name the ISO", layout.SystemDir)
		}
		free, known := in.freeSpace()
		if err := checkFreeSpace(free, known, src); err != nil {
			src.Close()
			return nil, err
		}
	}
	p, err := in.buildPlan(o, facts, lay, src, cfg)
	if err != nil {
		src.Close()
		return nil, err
	}
	return p, nil
}

// Install plans, shows the plan, asks (when interactive), applies it, and
// reboots or powers off.
func (in *Installer) Install(ctx context.Context, o Options) error {
	p, err := in.Plan(ctx, o)
	if err != nil {
		return err
	}
	defer p.Source.Close()
	if o.DryRun {
		_, err := p.WriteTo(in.Stdout)
		return err
	}
	if !o.Silent && in.Terminal {
		if _, err := p.WriteTo(in.Stdout); err != nil {
			return err
		}
		q := "Erase everything on " + p.Device.Arg + " and install Bhojpur OS?"
		if p.Mode != ModeFull {
			q = "Install Bhojpur OS onto " + p.Device.Arg + " (" + string(p.Mode) + ")?"
		}
		ok, err := in.confirm(q)
		if err != nil {
			return err
		}
		if !ok {
			return errors.Wrap(exitcode.ErrBadInput, "not confirmed: nothing was changed")
		}
	}
	if err := in.Apply(ctx, p); err != nil {
		return err
	}
	return in.finish(p)
}

// Apply runs the plan's steps.
func (in *Installer) Apply(ctx context.Context, p *Plan) error {
	x := &Exec{Run: in.Run, Sys: in.Sys, Log: in.Log}
	if err := x.Apply(ctx, p.Steps); err != nil {
		return err
	}
	in.Log.Printf("installed Bhojpur OS on %s", p.Device.Arg)
	return nil
}

func (in *Installer) finish(p *Plan) error {
	if p.NoReboot {
		in.Log.Printf("done")
		return nil
	}
	var err error
	if p.PowerOff && p.Mode != ModeTakeover {
		in.Log.Printf("done, powering off")
		err = in.Sys.PowerOff()
	} else {
		in.Log.Printf("done, rebooting")
		err = in.Sys.Reboot()
	}
	return errors.Wrap(err, "installed, but")
}
