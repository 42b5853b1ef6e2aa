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
	Log    Logger
}

// Logger is the one logging seam: Printf-shaped.
type Logger interface {
	Printf(format string, args ...any)
}

// WriterLogger logs lines to a writer.
type WriterLogger struct {
	W      io.Writer
	Prefix string
}

// Printf writes one log line.
func (l WriterLogger) Printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if n := len(msg); n == 0 || msg[n-1] != '\n' {
		msg += "\n"
	}
	fmt.Fprint(l.W, l.Prefix+msg)
}

// Debugf logs only when debugging is on.
func (e *Env) Debugf(format string, args ...any) {
	if e.Debug {
		e.Log.Printf(format, args...)
	}
}

// Exit codes shared by all commands; each command's --help lists them.
const (
	ExitOK             = 0
	ExitFailure        = 1 // the operation failed, or the input did not validate
	ExitUsage          = 2 // bad flags or arguments
	ExitBadInput       = 3 // an input (config, device, version) is invalid
	ExitDownload       = 4 // a download failed or a checksum did not match
	ExitDisk           = 5 // a disk or file-system operation failed
	ExitNotImplemented = 6 // the action is documented but not implemented yet
	ExitLocked         = 7 // another run holds the lock
	ExitNoSpace        = 8 // the file system lacks the room the operation needs
)

// ExitCodesHelp is appended to every command's description.
const ExitCodesHelp = `
Exit codes: 0 success; 1 failure (or invalid input to "validate"); 2 usage error;
3 invalid input (config, device, version); 4 download or checksum error;
5 disk or file-system error; 6 not implemented yet; 7 another run holds the lock;
8 not enough free space.`

// Sentinel errors mapped to exit codes. Wrap them with errors.Wrap.
var (
	ErrUsage          = errors.New("usage")
	ErrBadInput       = errors.New("invalid input")
	ErrDownload       = errors.New("download")
	ErrDisk           = errors.New("disk operation")
	ErrNotImplemented = errors.New("not implemented yet")
	ErrLocked         = errors.New("locked")
	ErrNoSpace        = errors.New("not enough space")
)

// ExitError carries an explicit exit code (for example 1 from validate)
// after its message has already been printed.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// NotImplemented is what a documented but not yet built action returns.
func NotImplemented(what string) error {
	return errors.Wrapf(ErrNotImplemented, "%s", what)
}

// ExitCode maps an error to a documented exit code.
func ExitCode(err error) int {
	var ee *ExitError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.Code
	case errors.Is(err, ErrUsage):
		return ExitUsage
	case errors.Is(err, ErrBadInput):
		return ExitBadInput
	case errors.Is(err, ErrDownload):
		return ExitDownload
	case errors.Is(err, ErrDisk):
		return ExitDisk
	case errors.Is(err, ErrNotImplemented):
		return ExitNotImplemented
	case errors.Is(err, ErrLocked):
		return ExitLocked
	case errors.Is(err, ErrNoSpace):
		return ExitNoSpace
	}
	return ExitFailure
}

// globalsOf finds the embedded Globals of a command struct.
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
		kong.Description(description+"\n"+ExitCodesHelp),
		kong.UsageOnError(),
		kong.Vars{"version": name + " " + version.String()},
		kong.Writers(streams.Stdout, streams.Stderr),
		kong.Exit(func(c int) { panic(exitPanic(c)) }),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
	)
	if err != nil {
		fmt.Fprintf(streams.Stderr, "%s: internal error building the CLI: %v\n", name, err)
		return ExitFailure
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
		return ExitUsage
	}
	g := cmd.globals()
	env, err := NewEnv(g, streams, name)
	if err != nil {
		fmt.Fprintf(streams.Stderr, "%s: %v\n", name, err)
		return ExitBadInput
	}
	err = ctx.Run(env)
	if err == nil {
		return ExitOK
	}
	code = ExitCode(err)
	var ee *ExitError
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
		Log:    WriterLogger{W: streams.Stderr, Prefix: name + ": "},
	}, nil
}
