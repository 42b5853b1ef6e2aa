package vmtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// Packer is the binary RunPacker runs (Debian's packer package).
const Packer = "packer"

// NeedPacker skips the test when packer is not installed, unless
// BOS_REQUIRE_VM=1 (make test), where it fails.
func NeedPacker(t TB) {
	t.Helper()
	if _, err := exec.LookPath(Packer); err != nil {
		if os.Getenv("BOS_REQUIRE_VM") == "1" {
			t.Fatalf("%s missing and BOS_REQUIRE_VM=1: make deps", Packer)
		}
		t.Skipf("%s missing: make deps (BOS_REQUIRE_VM=1 makes this a failure)", Packer)
	}
}

// PackerEnv is the environment of a packer run: no call home to the
// version check, the download cache in dir, no colours.
func PackerEnv(dir string) []string {
	env := []string{"CHECKPOINT_DISABLE=1", "PACKER_NO_COLOR=1", "PACKER_CACHE_DIR=" + filepath.Join(dir, "packer_cache")}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PACKER_LOG") && !strings.HasPrefix(kv, "PACKER_CACHE_DIR=") {
			env = append(env, kv)
		}
	}
	return env
}

// RunPacker runs packer with args in dir and returns its combined output;
// the output also goes, line by line, to t.Logf and to a log file under
// ArtifactLogDir. Packer and the QEMU it starts run in their own process
// group, killed whole at the timeout or when the test ends. A non-zero exit
// is an error carrying the output's tail.
func RunPacker(t TB, dir string, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	NeedPacker(t)
	name := strings.ReplaceAll(t.Name(), "/", "_")
	logPath := filepath.Join(ArtifactLogDir(), name+".packer.log")
	out := newConsole(t, logPath)
	out.label = "packer"
	defer out.close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, Packer, args...)
	cmd.Dir = dir
	cmd.Env = PackerEnv(t.TempDir())
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	t.Logf("vmtest: %s %s (in %s; log %s)", Packer, strings.Join(args, " "), dir, logPath)
	runtime.LockOSThread() // Pdeathsig follows the thread that started packer
	err := cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
		return "", fmt.Errorf("start %s: %v", Packer, err)
	}
	err = cmd.Wait()
	// Whatever packer left behind in its group (a QEMU) goes too.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	s := out.String()
	if ctx.Err() != nil {
		return s, fmt.Errorf("%s %s: no result after %v\n%s", Packer, args[0], timeout, tail(s, 3000))
	}
	if err != nil {
		return s, fmt.Errorf("%s %s: %v\n%s", Packer, args[0], err, tail(s, 3000))
	}
	return s, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
