package apply

import (
	"os"
	"path/filepath"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"

	"github.com/bhojpur/os/internal/execrun"
)

// command is how apply runs a program: with env (nil: this process's
// environment), in the directory /.
func command(env []string, name string, args ...string) execrun.Cmd {
	return execrun.Cmd{Name: name, Args: args, Env: env, Dir: "/"}
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
