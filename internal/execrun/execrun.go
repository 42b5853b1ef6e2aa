// Package execrun runs external programs, the one way the commands do it
// (bos-install's mkfs, mount and grub-install, bos-config's boot_cmd and
// scripts, bos-upgrade's mount and reboot).
//
// A program to run is a Cmd value and is run through the Runner
// interface, so tests put in a fake that records Cmds and runs nothing.
// Exec, the real Runner, captures standard output and standard error
// together, keeping only the last MaxOutput bytes so that a chatty program
// cannot fill the memory of an initrd. A program that fails, or cannot be
// started, is an *Error that names the command line the way a shell would
// read it and carries the tail of the output, so that one message says
// what ran and what it said; its ExitCode is the exit status (-1 when the
// program did not exit). With Debug, Exec logs each command line and the
// output.
package execrun

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/logger"
)

// Cmd is one program to run.
type Cmd struct {
	Name string // a path, or a name looked up in PATH
	Args []string
	Env  []string // nil: this process's environment
	Dir  string   // "": this process's working directory
}

// Command is the Cmd that runs name with args in this process's
// environment and directory.
func Command(name string, args ...string) Cmd { return Cmd{Name: name, Args: args} }

// String is the command line as a shell would read it (the environment
// and directory are left out: they may hold secrets).
func (c Cmd) String() string {
	parts := make([]string, 0, 1+len(c.Args))
	parts = append(parts, Quote(c.Name))
	for _, a := range c.Args {
		parts = append(parts, Quote(a))
	}
	return strings.Join(parts, " ")
}

// Quote quotes a word for a POSIX shell: as it is when it holds only
// characters a shell reads literally, else in single quotes.
func Quote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=,:+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Runner runs a program to its end and returns its output (standard
// output and standard error together), also when the program fails. Exec
// returns an *Error then; fakes may return any error, and one with an
// ExitCode() int method gives the exit status.
type Runner interface {
	Run(ctx context.Context, c Cmd) ([]byte, error)
}

// DefaultMaxOutput is how much of a program's output Exec keeps when
// MaxOutput is 0.
const DefaultMaxOutput = 1 << 20

// maxMessage bounds the output quoted in an Error's message.
const maxMessage = 2000

// Exec runs programs with os/exec.
type Exec struct {
	Log       logger.Logger // nil: nothing is logged
	Debug     bool          // log each command line and its output
	MaxOutput int           // bytes of output kept (the last ones); 0: DefaultMaxOutput
}

// Run runs c and waits for it.
func (e Exec) Run(ctx context.Context, c Cmd) ([]byte, error) {
	cmd := exec.CommandContext(ctx, c.Name, c.Args...)
	cmd.Env, cmd.Dir = c.Env, c.Dir
	out := &tailBuffer{max: e.MaxOutput}
	if out.max <= 0 {
		out.max = DefaultMaxOutput
	}
	cmd.Stdout, cmd.Stderr = out, out
	e.debugf("run %s", c)
	err := cmd.Run()
	b := out.Bytes()
	if trimmed := bytes.TrimSpace(b); len(trimmed) > 0 {
		e.debugf("%s: %s", c.Name, trimmed)
	}
	if err != nil {
		return b, &Error{Cmd: c, Output: b, Err: err}
	}
	return b, nil
}

func (e Exec) debugf(format string, args ...any) {
	if e.Debug && e.Log != nil {
		e.Log.Printf(format, args...)
	}
}

// Error is a program that failed or could not be started.
type Error struct {
	Cmd    Cmd
	Output []byte // the tail of its output
	Err    error  // an *exec.ExitError, or why it did not start
}

// Error is "COMMAND LINE (OUTPUT): ERR", the output's last 2000 bytes.
func (e *Error) Error() string {
	msg := strings.TrimSpace(string(e.Output))
	if len(msg) > maxMessage {
		msg = "..." + msg[len(msg)-maxMessage:]
	}
	if msg == "" {
		return fmt.Sprintf("%s: %v", e.Cmd, e.Err)
	}
	return fmt.Sprintf("%s (%s): %v", e.Cmd, msg, e.Err)
}

// Unwrap is the cause.
func (e *Error) Unwrap() error { return e.Err }

// ExitCode is the program's exit status, -1 when it did not exit (it
// could not be started, or a signal ended it).
func (e *Error) ExitCode() int {
	var x *exec.ExitError
	if errors.As(e.Err, &x) {
		return x.ExitCode()
	}
	return -1
}

// tailBuffer keeps the last max bytes written to it. It grows to twice
// max before it drops the oldest bytes, so that each byte is moved at most
// once on average.
type tailBuffer struct {
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) >= t.max {
		t.b = append(t.b[:0], p[len(p)-t.max:]...)
		return n, nil
	}
	if len(t.b)+len(p) > 2*t.max {
		keep := t.max - len(p)
		t.b = t.b[:copy(t.b, t.b[len(t.b)-keep:])]
	}
	t.b = append(t.b, p...)
	return n, nil
}

// Bytes is the last max bytes written.
func (t *tailBuffer) Bytes() []byte {
	if len(t.b) > t.max {
		return t.b[len(t.b)-t.max:]
	}
	return t.b
}
