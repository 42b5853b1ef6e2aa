package apply

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// ExecRunner runs programs with os/exec, in the directory /.
type ExecRunner struct{}

// Run runs name with args and env, and returns the combined output.
func (ExecRunner) Run(ctx context.Context, env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.Dir = "/"
	return cmd.CombinedOutput()
}

// SysHost is the running kernel's hostname.
type SysHost struct{}

// Hostname returns the kernel's hostname.
func (SysHost) Hostname() (string, error) { return os.Hostname() }

// Sethostname sets the kernel's hostname.
func (SysHost) Sethostname(name string) error { return unix.Sethostname([]byte(name)) }

// RootChowner changes owners under a root directory with lchown(2); the
// path is resolved inside the root, so symlinks cannot lead out of it.
type RootChowner struct{ Root string }

// Lchown changes the owner of name (a path inside the root).
func (c RootChowner) Lchown(name string, uid, gid int) error {
	// resolve the directory inside the root; the last element is not
	// followed, as lchown(2) does.
	dir, err := securejoin.SecureJoin(c.Root, filepath.Dir(filepath.Clean("/"+name)))
	if err != nil {
		return err
	}
	return os.Lchown(filepath.Join(dir, filepath.Base(filepath.Clean("/"+name))), uid, gid)
}
