package apply

import (
	"context"
	"fmt"
	"strings"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/execrun"
)

// commandStep runs one init_cmd, boot_cmd or run_cmd entry through
// /bin/sh -c (these keys are shell commands by definition) with
// bos.environment added to the environment.
type commandStep struct {
	Key     string
	Index   int
	Command string
	Env     map[string]string
}

func (s commandStep) String() string {
	return fmt.Sprintf("%s[%d] %s", s.Key, s.Index, s.Command)
}

func (s commandStep) Apply(ctx context.Context, t *Target) error {
	if !t.Live {
		t.skipped("%s[%d] %s", s.Key, s.Index, s.Command)
		return nil
	}
	return t.run(ctx, s.Env, "/bin/sh", "-c", s.Command)
}

// scriptStep runs the userdata "#!" script at runtime.
type scriptStep struct {
	Path string
	Env  map[string]string
}

func (s scriptStep) String() string { return "userdata script " + show(s.Path) }

func (s scriptStep) Apply(ctx context.Context, t *Target) error {
	if !t.Live {
		t.skipped("run %s", show(s.Path))
		return nil
	}
	// data sources save userdata 0600: make it executable by root only.
	if fi, err := t.FS.Stat(fsPath(s.Path)); err == nil && fi.Mode()&0o100 == 0 {
		if err := t.chmod(fsPath(s.Path), fi.Mode()&modeBits|0o700); err != nil {
			return err
		}
	}
	return t.run(ctx, s.Env, show(s.Path))
}

// CommandEnv is the environment of commands: the base environment with
// bos.environment set over it.
func CommandEnv(base []string, env map[string]string) []string {
	out := make([]string, 0, len(base)+len(env))
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		if _, over := env[name]; !over {
			out = append(out, kv)
		}
	}
	for _, k := range sortedKeys(env) {
		out = append(out, k+"="+env[k])
	}
	return out
}

type exitCoder interface{ ExitCode() int }

func (t *Target) run(ctx context.Context, env map[string]string, name string, args ...string) error {
	out, err := t.Runner.Run(ctx, command(CommandEnv(t.Env, env), name, args...))
	text := strings.TrimRight(string(out), "\n")
	if err != nil {
		var xe *execrun.Error
		if errors.As(err, &xe) {
			err = xe.Err // the command and its output are the CommandError's
		}
		var ec exitCoder
		status := -1
		if errors.As(err, &ec) {
			status = ec.ExitCode()
		}
		return &CommandError{Status: status, Output: text, Err: err}
	}
	if text != "" {
		t.logf("ran %s:\n%s", strings.Join(append([]string{name}, args...), " "), indent(text))
	} else {
		t.logf("ran %s", strings.Join(append([]string{name}, args...), " "))
	}
	return nil
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// CommandError is a command that failed: its exit status (-1 if it did not
// exit, for example when it could not start) and its output.
type CommandError struct {
	Status int
	Output string
	Err    error
}

func (e *CommandError) Error() string {
	msg := e.Err.Error()
	if e.Status >= 0 {
		msg = fmt.Sprintf("exit status %d", e.Status)
	}
	if e.Output != "" {
		msg += ", output:\n" + indent(e.Output)
	}
	return msg
}

func (e *CommandError) Unwrap() error { return e.Err }
