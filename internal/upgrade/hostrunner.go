package upgrade

import (
	"context"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/execrun"
)

// hostPATH is where HostRunner looks for programs on the host, in order.
var hostPATH = []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin"}

// HostRunner runs programs chrooted into Dir, the host's / as a container
// sees it (the Kubernetes upgrade job mounts it at /host). mount then
// resolves /bos inside the host tree, in the container's mount namespace
// (the bind the job writes through), and reboot is the host's own, which
// signals PID 1: the job runs in the host's PID namespace, so that is the
// host's init and the reboot is an orderly one.
//
// reboot only asks init to shut down. Returning then would let the job
// succeed before the node has rebooted (the controller would uncordon it
// and count it done), so after a reboot Run waits for the shutdown to stop
// it, up to RebootWait, and fails if it is still running: the job then
// completes on its rerun after the boot, where the upgrade is a no-op.
type HostRunner struct {
	Dir        string
	RebootWait time.Duration
}

// Run implements execrun.Runner. c.Env and c.Dir are not used: the
// program runs with the host's PATH from the host's /.
func (r HostRunner) Run(ctx context.Context, c execrun.Cmd) ([]byte, error) {
	cmd, err := r.Command(ctx, c.Name, c.Args...)
	if err != nil {
		return nil, err
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, &execrun.Error{Cmd: c, Output: out, Err: errors.Wrapf(err, "chroot %s", r.Dir)}
	}
	if c.Name != "reboot" || r.RebootWait <= 0 {
		return out, nil
	}
	return out, waitForShutdown(ctx, r.RebootWait)
}

// waitForShutdown returns when ctx ends (the shutdown's SIGTERM) or after
// d: an error either way, as the upgrade is not done until the host is back.
func waitForShutdown(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return errors.Wrap(ctx.Err(), "stopped while waiting for the host to reboot")
	case <-t.C:
		return errors.Errorf("the host has not rebooted %s after reboot", d)
	}
}

// Command is the command Run runs: name found in the host's PATH, run
// chrooted into Dir from its /.
func (r HostRunner) Command(ctx context.Context, name string, args ...string) (*exec.Cmd, error) {
	prog := name
	if !strings.Contains(name, "/") {
		prog = ""
		for _, d := range hostPATH {
			if _, err := os.Lstat(filepath.Join(r.Dir, d, name)); err == nil {
				prog = path.Join(d, name)
				break
			}
		}
		if prog == "" {
			return nil, errors.Errorf("%s: not found in %s of the host at %s", name, strings.Join(hostPATH, ":"), r.Dir)
		}
	}
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Args[0] = name
	cmd.Env = []string{"PATH=" + strings.Join(hostPATH, ":")}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: r.Dir}
	return cmd, nil
}
