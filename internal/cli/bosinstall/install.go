package bosinstall

import (
	"context"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/pkg/errors"
	"golang.org/x/term"

	"github.com/bhojpur/os/internal/cli"
	"github.com/bhojpur/os/internal/config"
	"github.com/bhojpur/os/internal/execrun"
	"github.com/bhojpur/os/internal/exitcode"
	"github.com/bhojpur/os/internal/fetch"
	"github.com/bhojpur/os/internal/install"
)

// Name is the command's name.
const Name = "bos-install"

// Main runs bos-install on args and returns its exit code.
func Main(name string, args []string, streams cli.IO) int {
	return cli.Run(name, Description, &CLI{}, args, streams)
}

// Description is bos-install's --help text.
const Description = `Install Bhojpur OS to a disk: partition (GPT: BIOS boot, ESP BOS_GRUB,
BOS_STATE), format, copy /bos/system from the ISO (default: the booted media),
install GRUB for BIOS and UEFI, write grub.cfg and the config, then reboot.
With --no-format, DEVICE is an existing ext4 partition that becomes BOS_STATE;
with --takeover (and --no-format), the partition of the running /: Bhojpur OS
is copied onto it and, at the next boot, everything else there is deleted.

Everything is checked before the disk is touched; --dry-run prints the plan.
Unset flags take the bos.install.* values of the config (the kernel cmdline in
install mode). Without --silent, on a terminal, it asks for the disk and the
config and for a confirmation. Without --tty the installed system uses
console=tty0 console=ttyS0,115200.`

// CLI is bos-install's command line. Its flags mirror install.sh.
type CLI struct {
	cli.Globals
	ForceEFI bool   `name:"force-efi" help:"Fail unless GRUB for EFI can be installed (it is installed whenever available)."`
	TTY      string `name:"tty" help:"Console TTY of the installed system (for example ttyS0); default: tty0 and ttyS0,115200." placeholder:"TTY"`
	PowerOff bool   `name:"poweroff" help:"Power off after installing instead of rebooting (with --takeover: after the clean-up at the next boot)."`
	Takeover bool   `help:"Install onto the running root file system (needs --no-format and DEVICE the partition of /)."`
	NoFormat bool   `name:"no-format" help:"Do not partition or format: DEVICE is an existing ext4 partition that becomes BOS_STATE."`
	Config   string `help:"Config to install as /bos/system/config.yaml: an http(s) URL or a local path." placeholder:"URL|PATH"`
	Silent   bool   `help:"Ask no questions."`
	DryRun   bool   `name:"dry-run" help:"Print the plan and change nothing."`
	NoReboot bool   `name:"no-reboot" help:"Neither reboot nor power off when done."`
	Device   string `arg:"" optional:"" help:"Disk to install to (/dev/vda), or with --no-format the partition (/dev/vda3)."`
	ISOURL   string `arg:"" name:"iso-url" optional:"" help:"ISO to install from: a URL, a local ISO file or a directory holding bos/system; default: the booted media (/bos/system)."`
}

// Validate checks flags that go together.
func (c *CLI) Validate() error {
	if c.Takeover && !c.NoFormat {
		return errors.New("--takeover needs --no-format and DEVICE the partition of /")
	}
	return nil
}

// options merges the flags with the bos.install config: a flag given wins.
func (c *CLI) options(ic config.Install) install.Options {
	o := install.Options{
		Device: c.Device, ISO: c.ISOURL, Config: c.Config, TTY: c.TTY,
		ForceEFI: c.ForceEFI || ic.ForceEFI, PowerOff: c.PowerOff || ic.PowerOff,
		Takeover: c.Takeover, NoFormat: c.NoFormat || ic.NoFormat,
		Silent: c.Silent || ic.Silent, DryRun: c.DryRun, NoReboot: c.NoReboot,
		Debug: c.Debug || ic.Debug,
	}
	fill := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	fill(&o.Device, ic.Device)
	fill(&o.ISO, ic.ISOURL)
	fill(&o.Config, ic.ConfigURL)
	fill(&o.TTY, ic.TTY)
	return o
}

// refused stops the install when the loader refused a bos.install value
// (it is left out of the config, so the install would go on with the
// default in its place: another console, another disk) or a whole source
// (which may have held bos.install values), unless the flag that the value
// would fill was given. Nothing is touched before this check.
func (c *CLI) refused(l *config.Loaded) error {
	given := map[string]bool{
		"bos.install.device": c.Device != "", "bos.install.iso_url": c.ISOURL != "",
		"bos.install.config_url": c.Config != "", "bos.install.tty": c.TTY != "",
		"bos.install.force_efi": c.ForceEFI, "bos.install.power_off": c.PowerOff,
		"bos.install.no_format": c.NoFormat, "bos.install.silent": c.Silent, "bos.install.debug": c.Debug,
	}
	var bad []string
	for _, p := range l.Problems {
		install := p.Key == "bos.install" || strings.HasPrefix(p.Key, "bos.install.")
		if (install && !given[p.Key]) || p.Key == "" {
			bad = append(bad, p.String())
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return errors.Wrapf(exitcode.ErrBadInput, "the config's bos.install settings are refused, nothing was changed: fix them, or give the setting as a flag:\n  %s",
		strings.Join(bad, "\n  "))
}

// Run installs.
func (c *CLI) Run(env *cli.Env) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var ic config.Install
	if l, err := config.Load(config.Options{Root: env.Root, FS: env.FS}); err != nil {
		env.Log.Printf("warning: reading the bos.install settings: %v", err)
	} else {
		if err := c.refused(l); err != nil {
			return err
		}
		for _, p := range l.Problems {
			env.Log.Printf("warning: config: %s", p)
		}
		ic = l.Config.Bos.Install
	}
	o := c.options(ic)

	stdin, inOK := env.Stdin.(*os.File)
	stdout, outOK := env.Stdout.(*os.File)
	terminal := inOK && outOK && term.IsTerminal(int(stdin.Fd())) && term.IsTerminal(int(stdout.Fd()))
	f := &fetch.Fetcher{Client: &http.Client{}, Log: env.Log.Printf}
	if stderr, ok := env.Stderr.(*os.File); ok && term.IsTerminal(int(stderr.Fd())) {
		f.Progress = fetch.TerminalProgress(env.Stderr)
	}
	in := &install.Installer{
		Root: env.Root, FS: env.FS,
		Run:   execrun.Exec{Log: env.Log, Debug: o.Debug},
		Sys:   install.LinuxSystem{},
		Fetch: &install.Fetcher{HTTP: f}, Log: env.Log, Debug: o.Debug,
		Stdin: env.Stdin, Stdout: env.Stdout, Terminal: terminal,
	}
	if terminal {
		in.ReadSecret = func() (string, error) {
			b, err := term.ReadPassword(int(stdin.Fd()))
			return string(b), err
		}
	}
	return in.Install(ctx, o)
}
