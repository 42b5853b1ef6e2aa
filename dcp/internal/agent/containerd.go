package agent

import (
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/dcp/internal/config"
	"github.com/bhojpur/os/dcp/internal/pki"
)

// Namespace is containerd's namespace for the CRI (the kubelet's pods and images).
const Namespace = "k8s.io"

// Containerd runs containerd as a child process until ctx is done or it
// exits. The child gets SIGKILL when dcp dies (so a restarted dcp never
// meets a stale containerd), but the shims it starts, and so the
// containers, live on: a new containerd finds them again. started is closed
// once the API socket answers.
func Containerd(ctx context.Context, c *config.Config, out io.Writer, started chan<- struct{}) error {
	if err := os.MkdirAll(c.ContainerdStateDir(), 0o711); err != nil {
		return errors.WithStack(err)
	}
	cfgPath := c.AgentFile("etc/containerd/config.toml")
	if err := pki.WriteFile(cfgPath, ContainerdConfig(c), 0o600); err != nil {
		return err
	}
	bin := filepath.Join(c.BinDir, "containerd")
	done := make(chan error, 1)
	go func() {
		// Pdeathsig follows the thread that started the child: keep it
		// for the child's whole life.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		cmd := exec.Command(bin, "--config", cfgPath)
		cmd.Stdout, cmd.Stderr = out, out
		// The shims are found on PATH: ours first.
		cmd.Env = append(os.Environ(), "PATH="+c.BinDir+":/usr/sbin:/usr/bin:/sbin:/bin")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			done <- errors.Wrapf(err, "start %s", bin)
			return
		}
		go func() {
			<-ctx.Done()
			_ = cmd.Process.Signal(syscall.SIGTERM)
		}()
		done <- errors.Wrap(cmd.Wait(), "containerd exited")
	}()
	go func() {
		if waitSocket(ctx, c.ContainerdSocket(), done) {
			close(started)
		}
	}()
	err := <-done
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// waitSocket polls until the socket accepts a connection.
func waitSocket(ctx context.Context, path string, done <-chan error) bool {
	for {
		if conn, err := net.DialTimeout("unix", path, time.Second); err == nil {
			conn.Close()
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Archives lists the image archives (*.tar) of dirs, sorted, skipping dirs
// that do not exist.
func Archives(dirs []string) ([]string, error) {
	var out []string
	for _, d := range dirs {
		m, err := filepath.Glob(filepath.Join(d, "*.tar"))
		if err != nil {
			return nil, errors.WithStack(err)
		}
		sort.Strings(m)
		for _, p := range m {
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// ImportArgs is ctr's argv that imports one archive into the CRI's
// namespace, unpacked for the snapshotter the CRI uses. The compressed
// layers are dropped from the content store once unpacked
// (--discard-unpacked-layers, which needs ctr's --local import): the
// containers run from the snapshots, and a live node keeps both in RAM.
func ImportArgs(c *config.Config, archive string) []string {
	return []string{"--address", c.ContainerdSocket(), "--namespace", Namespace,
		"images", "import", "--local", "--discard-unpacked-layers", "--snapshotter", c.Snapshotter, archive}
}

// Import imports every archive of c.ImageDirs into containerd with ctr.
// Importing what is there already is cheap (content is addressed by digest).
func Import(ctx context.Context, c *config.Config, log Logger) error {
	archives, err := Archives(c.ImageDirs)
	if err != nil {
		return err
	}
	ctr := filepath.Join(c.BinDir, "ctr")
	for _, a := range archives {
		start := time.Now()
		ictx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		out, err := exec.CommandContext(ictx, ctr, ImportArgs(c, a)...).CombinedOutput()
		cancel()
		if err != nil {
			return errors.Wrapf(err, "import image %s: %s", a, lastLine(out))
		}
		log.Printf("imported %s in %.1fs", filepath.Base(a), time.Since(start).Seconds())
	}
	return nil
}

func lastLine(b []byte) string {
	s := strings.TrimRight(string(b), "\r\n")
	return s[strings.LastIndexByte(s, '\n')+1:]
}
