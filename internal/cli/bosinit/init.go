package bosinit

import (
	"fmt"
	"strings"

	"github.com/bhojpur/os/internal/boot"
	"github.com/bhojpur/os/internal/cli"
	"github.com/bhojpur/os/internal/exitcode"
	"github.com/bhojpur/os/internal/initrd"
	"github.com/bhojpur/os/internal/layout"
)

// Name is the command's name.
const Name = "bos-init"

// Main runs bos-init's command line (not as PID 1: see PID1) on args and
// returns its exit code.
func Main(name string, args []string, streams cli.IO) int {
	return cli.Run(name, Description, &CLI{}, args, streams)
}

// Description is bos-init's --help text.
const Description = `PID 1 of the Bhojpur OS initrd: mount the kernel file systems, load modules,
find the boot media, decide the mode, assemble the root, run the initrd
config phase and switch_root into the real init.

As PID 1 it ignores its arguments. Run by hand it explains: --plan prints
the steps it would take for a mode. --mark-good, run by the bos-mark-good
service once the system is up, ends the trial boot of an upgrade: without
it the next boot falls back to the previous version.`

// CLI is bos-init's command line (only used when not PID 1).
type CLI struct {
	cli.Globals
	Plan     bool     `help:"Print the root-assembly steps for --mode and exit." xor:"action"`
	MarkGood bool     `name:"mark-good" help:"Mark this boot good: end the trial boot of an upgrade (GRUB environment on BOS_STATE) and stop its watchdog." xor:"action"`
	Mode     string   `help:"Mode whose plan to print." enum:"live,install,disk" default:"live"`
	Consoles []string `help:"console= values for the plan (for example ttyS0,115200)." name:"console" placeholder:"TTY"`
}

// Run prints the plan or marks the boot good; booting is only done as
// PID 1 (see PID1).
func (c *CLI) Run(env *cli.Env) error {
	if c.MarkGood {
		said, err := boot.MarkGood(env.Root)
		if said != "" {
			fmt.Fprintln(env.Stdout, said)
		}
		return err
	}
	if !c.Plan {
		return fmt.Errorf("bos-init boots only as PID 1 of the initrd; use --plan to see its steps, or --mark-good: %w", exitcode.ErrUsage)
	}
	var cs []boot.Console
	for _, s := range c.Consoles {
		name, baud, _ := strings.Cut(s, ",")
		cs = append(cs, boot.Console{Name: name, Baud: baud})
	}
	media := layout.MediaDir
	if c.Mode == string(boot.ModeDisk) {
		media = layout.StateDir
	}
	l := boot.Layout{Media: media, Version: "<version>", Kernel: "<kernel>",
		BosDir: media + "/" + layout.SystemDir + "/bos/<version>", KernelDir: media + "/" + layout.SystemDir + "/kernel/<kernel>"}
	for _, s := range boot.RootSteps(boot.Mode(c.Mode), l, cs) {
		req := "optional"
		if boot.IsRequired(s) {
			req = "required"
		}
		fmt.Fprintf(env.Stdout, "%-8s %s\n", req, s)
	}
	return nil
}

// PID1 boots; it never returns.
func PID1() {
	initrd.PID1()
}
