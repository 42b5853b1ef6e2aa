package app

import "github.com/bhojpur/os/internal/cli"

// InitDescription is bos-init's --help text.
const InitDescription = `PID 1 of the Bhojpur OS initrd: mount the kernel file systems, load modules,
find the boot media, decide the mode, assemble the root, run the initrd
config phase and switch_root into the real init.`

// InitCLI is bos-init's command line (only used when not PID 1).
type InitCLI struct {
	cli.Globals
}

// Run boots.
func (c *InitCLI) Run(env *cli.Env) error {
	return cli.NotImplemented("booting (issue 5)")
}
