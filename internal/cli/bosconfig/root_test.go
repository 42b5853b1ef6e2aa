package bosconfig

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestShowAsAUserSaysItNeedsRoot builds the bos binary and runs
// bos-config show and validate as the user nobody on a root whose
// /bos/system/config.yaml is 0600, as on an installed system: one line
// that says how to run it, exit 1.
func TestShowAsAUserSaysItNeedsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a command as another user")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv (util-linux) is not installed")
	}
	dir := t.TempDir()
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "bos-config")
	// The flags of make build, so that its build cache serves this one.
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "github.com/bhojpur/os/cmd/bos")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	root := filepath.Join(dir, "root")
	writeTree(t, root, map[string]string{"bos/system/config.yaml": "hostname: h1\n", "proc/cmdline": "quiet\n"})
	if err := os.Chmod(filepath.Join(root, "bos/system/config.yaml"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"show", "validate"} {
		cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", bin, "--root", root, sub)
		out, err := cmd.CombinedOutput()
		want := "bos-config " + sub + ": needs root (run: sudo bos-config " + sub + ")\n"
		if code := cmd.ProcessState.ExitCode(); code != 1 || string(out) != want {
			t.Errorf("bos-config %s as nobody = exit %d (%v), %q; want exit 1 and %q", sub, code, err, out, want)
		}
	}
	// As root the same command shows the config.
	out, err := exec.Command(bin, "--root", root, "show").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "hostname: h1") {
		t.Errorf("bos-config show as root = %v, %q", err, out)
	}
}
