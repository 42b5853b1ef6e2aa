package app

import (
	"fmt"
	"strings"

	"github.com/bhojpur/os/internal/boot"
	"github.com/bhojpur/os/internal/cli"
	"github.com/bhojpur/os/internal/exitcode"
	"github.com/bhojpur/os/internal/initrd"
)

// InitDescription is bos-init's --help text.
const InitDescription = `PID 1 of the Bhojpur OS initrd: mount the kernel file systems, load modules,
find the boot media, decide the mode, assemble the root, run the initrd
config phase and switch_root into the real init.

As PID 1 it ignores its arguments. Run by hand it explains: --plan prints
the steps it would take for a mode. --mark-good, run by the bos-mark-good
service once the system is up, ends the trial boot of an upgrade: without
it the next boot falls back to the previous version.`

// InitCLI is bos-init's command line (only used when not PID 1).
type InitCLI struct {
	cli.Globals
	Plan     bool     `help:"Print the root-assembly steps for --mode and exit." xor:"action"`
	MarkGood bool     `name:"mark-good" help:"Mark this boot good: end the trial boot of an upgrade (GRUB environment on BOS_STATE) and stop its watchdog." xor:"action"`
	Mode     string   `help:"Mode whose plan to print." enum:"live,install,disk" default:"live"`
	Consoles []string `help:"console= values for the plan (for example ttyS0,115200)." name:"console" placeholder:"TTY"`
}

// Run prints the plan or marks the boot good; booting is only done as
// PID 1 (see InitPID1).
func (c *InitCLI) Run(env *cli.Env) error {
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
	media := "/run/bos/media"
	if c.Mode == string(boot.ModeDisk) {
		media = "/run/bos/state"
	}
	l := boot.Layout{Media: media, Version: "<version>", Kernel: "<kernel>",
		BosDir: media + "/bos/system/bos/<version>", KernelDir: media + "/bos/system/kernel/<kernel>"}
	for _, s := range boot.RootSteps(boot.Mode(c.Mode), l, cs) {
		req := "optional"
		if boot.IsRequired(s) {
			req = "required"
		}
		fmt.Fprintf(env.Stdout, "%-8s %s\n", req, s)
	}
	return nil
}

// InitPID1 boots; it never returns.
func InitPID1() {
	initrd.PID1()
}
