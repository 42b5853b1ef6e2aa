// Package cli is the shared edge of every bos-* command: the global flags,
// the environment handed to each command's Run, the kong parser set-up and
// the mapping from errors to documented exit codes.
package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/alecthomas/kong"
	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/osfs"
	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/exitcode"
	"github.com/bhojpur/os/internal/layout"
	"github.com/bhojpur/os/internal/logger"
	"github.com/bhojpur/os/internal/version"
)

// Globals are the flags every command takes.
type Globals struct {
	Root    string           `help:"Operate on the system rooted at this directory; every path read or written is taken inside it." default:"/" type:"path" env:"BOS_ROOT" placeholder:"DIR"`
	Debug   bool             `help:"Verbose logs and error stack traces (also BOS_DEBUG=1)." env:"BOS_DEBUG"`
	Version kong.VersionFlag `help:"Print the version and commit, then exit."`
}

// Env is what a command's Run receives: the target root, standard streams
// and a logger. Commands that need more (a runner, syscalls) build it from
// here so tests can swap the pieces.
type Env struct {
	Root   string           // absolute path of the target root
	FS     billy.Filesystem // rooted at Root
	Debug  bool
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Log    logger.Logger
}

// Debugf logs only when debugging is on.
func (e *Env) Debugf(format string, args ...any) {
	if e.Debug {
		e.Log.Printf(format, args...)
	}
}

// hasGlobals is a command struct that embeds Globals.
type hasGlobals interface{ globals() *Globals }

func (g *Globals) globals() *Globals { return g }

// IO are the streams a run uses.
type IO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// StdIO is the process's own streams.
func StdIO() IO { return IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr} }

type exitPanic int

// Run parses args into cmd (a struct embedding Globals), runs the selected
// command with an Env and returns the exit code. It never calls os.Exit, so
// tests run commands in-process.
func Run(name, description string, cmd hasGlobals, args []string, streams IO) (code int) {
	parser, err := kong.New(cmd,
		kong.Name(name),
		kong.Description(description+"\n"+exitcode.Help),
		kong.UsageOnError(),
		Vars(name),
		kong.Writers(streams.Stdout, streams.Stderr),
		kong.Exit(func(c int) { panic(exitPanic(c)) }),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
	)
	if err != nil {
		fmt.Fprintf(streams.Stderr, "%s: internal error building the CLI: %v\n", name, err)
		return exitcode.Failure
	}
	defer func() {
		if r := recover(); r != nil {
			c, ok := r.(exitPanic)
			if !ok {
				panic(r)
			}
			code = int(c)
		}
	}()
	ctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(streams.Stderr, "%s: %v\n", name, err)
		if ctx != nil {
			_ = ctx.PrintUsage(true)
		}
		return exitcode.Usage
	}
	g := cmd.globals()
	env, err := NewEnv(g, streams, name)
	if err != nil {
		fmt.Fprintf(streams.Stderr, "%s: %v\n", name, err)
		return exitcode.BadInput
	}
	err = ctx.Run(env)
	if err == nil {
		return exitcode.OK
	}
	code = exitcode.Of(err)
	var ee *exitcode.Error
	if errors.As(err, &ee) && ee.Err == nil {
		return code
	}
	if g.Debug {
		fmt.Fprintf(streams.Stderr, "%s: %+v\n", name, err)
	} else {
		fmt.Fprintf(streams.Stderr, "%s: %v\n", name, err)
	}
	return code
}

// Vars are the variables the commands' flag tags use (${system_dir}):
// the version, and the layout's names as flag defaults.
func Vars(name string) kong.Vars {
	return kong.Vars{
		"version":      name + " " + version.String(),
		"system_dir":   layout.SystemDir,
		"upgrade_lock": layout.UpgradeLock,
		"grubenv":      layout.GrubEnvFile,
	}
}

// NewEnv builds the environment for a run from the global flags.
func NewEnv(g *Globals, streams IO, name string) (*Env, error) {
	root := g.Root
	if root == "" {
		root = "/"
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, errors.Wrapf(err, "--root %s", g.Root)
	}
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return nil, errors.Errorf("--root %s: not a directory", root)
	}
	return &Env{
		Root:   root,
		FS:     osfs.New(root, osfs.WithBoundOS()),
		Debug:  g.Debug,
		Stdin:  streams.Stdin,
		Stdout: streams.Stdout,
		Stderr: streams.Stderr,
		Log:    logger.Writer{W: streams.Stderr, Prefix: name + ": "},
	}, nil
}
