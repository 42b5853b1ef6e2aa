package bosupgrade

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/bhojpur/os/internal/cli"
	"github.com/bhojpur/os/internal/execrun"
	"github.com/bhojpur/os/internal/fetch"
	"github.com/bhojpur/os/internal/layout"
	"github.com/bhojpur/os/internal/store"
	"github.com/bhojpur/os/internal/upgrade"
)

// The commands' names.
const (
	RootfsName = "bos-upgrade-rootfs"
	KernelName = "bos-upgrade-kernel"
)

// RootfsMain runs bos-upgrade-rootfs on args and returns its exit code.
func RootfsMain(name string, args []string, streams cli.IO) int {
	return cli.Run(name, RootfsDescription, NewCLI("bos"), args, streams)
}

// KernelMain runs bos-upgrade-kernel on args and returns its exit code.
func KernelMain(name string, args []string, streams cli.IO) int {
	return cli.Run(name, KernelDescription, NewCLI("kernel"), args, streams)
}

// RootfsDescription is bos-upgrade-rootfs's --help text.
const RootfsDescription = `Upgrade the Bhojpur OS root file system and DCP to a release: download,
verify every artifact against the release's checksums, install into a new
version directory and switch the current link atomically.`

// KernelDescription is bos-upgrade-kernel's --help text.
const KernelDescription = `Upgrade the Bhojpur OS kernel (vmlinuz, initrd, modules and firmware) to a
release: download, verify, install into a new version directory and switch the
current link atomically. On overlay installs (a distro kernel) it warns and
does nothing.`

// hostRebootWait is how long a --host-root run waits, after asking the host
// to reboot, for the shutdown to stop it (see upgrade.HostRunner).
const hostRebootWait = 10 * time.Minute

// CLI is the command line shared by both upgrade commands.
type CLI struct {
	cli.Globals
	Release      string        `name:"release" aliases:"to" help:"Release to install (default: the latest of the channel)." env:"BOS_VERSION" placeholder:"VERSION"`
	Channel      string        `help:"Release channel URL used to resolve the latest release: it redirects to .../tag/VERSION, or answers JSON with tag_name or version, or plain text VERSION." env:"BOS_CHANNEL_URL" default:"https://github.com/bhojpur/os/releases/latest" placeholder:"URL"`
	ReleaseURL   string        `name:"release-url" help:"Where artifacts are: a template with {version} and {artifact}, or a base URL to which /VERSION/ARTIFACT is added." env:"BOS_RELEASE_URL" default:"https://github.com/bhojpur/os/releases/download/{version}/{artifact}" placeholder:"URL"`
	Arch         string        `help:"Architecture of the artifacts to fetch (default: this machine's)." env:"BOS_ARCH" placeholder:"ARCH"`
	Source       string        `help:"Install from this local bos/system tree instead of downloading (a host path, not taken inside --root)." type:"path" placeholder:"DIR"`
	Destination  string        `help:"System tree to upgrade (inside --root)." default:"/${system_dir}" placeholder:"DIR"`
	LockFile     string        `name:"lock-file" help:"Lock file (inside --root); a second run fails and says who holds it." default:"${upgrade_lock}" placeholder:"FILE"`
	Remount      bool          `help:"Remount /bos read-write for the upgrade and read-only after."`
	Sync         bool          `help:"Sync file systems after the upgrade."`
	Reboot       bool          `help:"Reboot after a successful upgrade."`
	DryRun       bool          `name:"dry-run" help:"Say what would be done and change nothing."`
	Rollback     bool          `help:"Switch current back to previous."`
	GrubEnv      string        `name:"grubenv" help:"GRUB environment block of the installed system (inside --root): an upgrade makes the next boot a trial there, which falls back to previous unless the system comes up; a missing file means no trial." default:"${grubenv}" placeholder:"FILE"`
	TrialTimeout time.Duration `name:"trial-timeout" help:"How long the trial boot after the upgrade has to come up (config phases, sshd, DCP) before a watchdog reboots it and GRUB falls back." default:"10m" placeholder:"DURATION"`
	InsecureHTTP bool          `name:"insecure-http" help:"Allow plain http:// for --release-url and --channel, with a warning: anyone on the path could then choose the release and its checksums. A redirect from https to http is refused even so." env:"BOS_INSECURE_HTTP"`
	HostRoot     string        `name:"host-root" help:"Run mount (--remount) and reboot (--reboot) chrooted into DIR, the host's / as a container sees it (the Kubernetes upgrade job: /host)." type:"existingdir" placeholder:"DIR"`
	component    string
}

// NewCLI returns the CLI for one component (bos or kernel).
func NewCLI(component string) *CLI { return &CLI{component: component} }

// Run upgrades, or rolls back.
func (c *CLI) Run(env *cli.Env) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fsys, err := store.NewOSFS(env.Root)
	if err != nil {
		return err
	}
	f := &fetch.Fetcher{Log: env.Log.Printf}
	if t, ok := env.Stderr.(*os.File); ok && term.IsTerminal(int(t.Fd())) {
		f.Progress = fetch.TerminalProgress(env.Stderr)
	}
	arch := c.Arch
	if arch == "" {
		arch = runtime.GOARCH
	}
	opt := upgrade.Options{
		Component:    c.component,
		Release:      c.Release,
		Channel:      c.Channel,
		URL:          c.ReleaseURL,
		Arch:         arch,
		Source:       c.Source,
		Dest:         c.Destination,
		LockFile:     filepath.Join(env.Root, c.LockFile),
		Remount:      c.Remount,
		Sync:         c.Sync,
		Reboot:       c.Reboot,
		DryRun:       c.DryRun,
		Rollback:     c.Rollback,
		GrubEnv:      c.GrubEnv,
		TrialTimeout: c.TrialTimeout,
		InsecureHTTP: c.InsecureHTTP,
		FallbackFile: layout.FallbackFile,
	}
	var runner execrun.Runner = execrun.Exec{}
	if c.HostRoot != "" {
		// The host's /run/bos/fallback, as the container sees it (inside
		// --root, or none if --host-root is outside it).
		opt.FallbackFile = ""
		if rel, err := filepath.Rel(env.Root, c.HostRoot); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			opt.FallbackFile = filepath.Join("/", rel, layout.FallbackFile)
		}
		runner = upgrade.HostRunner{Dir: c.HostRoot, RebootWait: hostRebootWait}
	}
	return upgrade.Run(ctx, opt, &upgrade.Env{
		Root:    env.Root,
		FS:      fsys,
		Fetcher: f,
		Runner:  runner,
		Sync:    syscall.Sync,
		Log:     env.Log.Printf,
		Out:     env.Stdout,
	})
}
