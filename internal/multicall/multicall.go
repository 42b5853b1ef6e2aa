// Package multicall is the front of the multi-call binary cmd/bos: it
// picks the command by the name it runs under (bos-config, init) or by its
// first argument (bos config show) and runs that command's CLI.
package multicall

import (
	"fmt"
	"path"
	"strings"

	"github.com/bhojpur/os/internal/cli"
	"github.com/bhojpur/os/internal/cli/bosconfig"
	"github.com/bhojpur/os/internal/cli/bosinit"
	"github.com/bhojpur/os/internal/cli/bosinstall"
	"github.com/bhojpur/os/internal/cli/bosupgrade"
	"github.com/bhojpur/os/internal/exitcode"
	"github.com/bhojpur/os/internal/layout"
)

// runners run each command's kong CLI on its arguments, one per entry
// of layout.Commands (TestRunnersAreTheCommandList).
var runners = map[string]func(name string, args []string, streams cli.IO) int{
	bosinit.Name:          bosinit.Main,
	bosconfig.Name:        bosconfig.Main,
	bosinstall.Name:       bosinstall.Main,
	bosupgrade.RootfsName: bosupgrade.RootfsMain,
	bosupgrade.KernelName: bosupgrade.KernelMain,
}

// Resolve names the command that argv asks for and its arguments. The
// command is the base name of argv[0] (bos-config, ...; "init" is
// bos-init, as the initrd's /init), or, when that is "bos", the first
// argument with or without its "bos-" prefix (`bos config show`). ok is
// false when argv names no command.
func Resolve(argv []string) (name string, args []string, ok bool) {
	if len(argv) == 0 {
		return "", nil, false
	}
	name, args = path.Base(argv[0]), argv[1:]
	if name == "bos" {
		if len(args) == 0 {
			return "", nil, false
		}
		name, args = args[0], args[1:]
		if !strings.HasPrefix(name, "bos-") {
			name = "bos-" + name
		}
	}
	if name == "init" {
		name = "bos-init"
	}
	_, ok = runners[name]
	return name, args, ok
}

// Main runs the command argv names and returns its exit code. As PID 1,
// bos-init boots and never returns; any other command runs as usual (an
// upgrade container runs bos-upgrade-rootfs as its PID 1).
func Main(argv []string, pid1 bool, streams cli.IO) int {
	name, args, ok := Resolve(argv)
	if !ok {
		return usage(argv, streams)
	}
	if pid1 && name == "bos-init" {
		bosinit.PID1() // never returns; argv is the kernel's stray words
	}
	return runners[name](name, args, streams)
}

// usage answers `bos`, `bos --help` and unknown names with the list of
// commands.
func usage(argv []string, streams cli.IO) int {
	w, code := streams.Stderr, exitcode.Usage
	if len(argv) == 2 && (argv[1] == "--help" || argv[1] == "-h" || argv[1] == "help") {
		w, code = streams.Stdout, exitcode.OK
	} else if len(argv) > 1 && path.Base(argv[0]) == "bos" {
		fmt.Fprintf(w, "bos: unknown command %q\n", argv[1])
	} else if len(argv) > 0 && path.Base(argv[0]) != "bos" {
		fmt.Fprintf(w, "bos: unknown command %q (the binary's name)\n", path.Base(argv[0]))
	}
	fmt.Fprintf(w, "Usage: bos COMMAND [ARGS...], or run it as one of its links named COMMAND.\n\nCommands:\n")
	for _, c := range layout.Commands {
		fmt.Fprintf(w, "  %s\n", c)
	}
	fmt.Fprintf(w, "\nbos COMMAND --help shows a command's flags; the bos- prefix is optional.\n")
	return code
}
