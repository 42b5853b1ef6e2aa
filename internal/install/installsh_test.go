package install

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bhojpur/os/internal/layout"
)

const installSh = "../../install.sh"

// need skips a test when a tool is missing, unless BOS_REQUIRE_VM says the
// full tool set must be there (make test).
func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("BOS_REQUIRE_VM") != "" {
				t.Fatalf("%s is required (BOS_REQUIRE_VM is set): %v", tool, err)
			}
			t.Skipf("%s not installed", tool)
		}
	}
}

func TestInstallShIsShellcheckClean(t *testing.T) {
	need(t, "shellcheck")
	out, err := exec.Command("shellcheck", "--shell=sh", installSh).CombinedOutput()
	if err != nil {
		t.Errorf("shellcheck install.sh: %v\n%s", err, out)
	}
}

// fakeISO builds an ISO whose bos-install writes its arguments to $OUT.
func fakeISO(t *testing.T, dir string) string {
	t.Helper()
	need(t, "xorriso")
	tree := filepath.Join(t.TempDir(), "tree")
	systemTree(t, tree)
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$OUT\"\nexit 0\n"
	if err := os.WriteFile(filepath.Join(tree, layout.SystemDir, "bos/v1.0.0/bos-install"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	iso := filepath.Join(dir, "bos-amd64.iso")
	if out, err := exec.Command("xorriso", "-as", "mkisofs", "-R", "-V", "BOS", "-o", iso, tree).CombinedOutput(); err != nil {
		t.Fatalf("xorriso: %v\n%s", err, out)
	}
	return iso
}

func runInstallSh(t *testing.T, args ...string) (code int, args2 []string, output string) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("install.sh needs root (it mounts the ISO)")
	}
	out := filepath.Join(t.TempDir(), "args")
	cmd := exec.Command("sh", append([]string{installSh}, args...)...)
	cmd.Env = append(os.Environ(), "OUT="+out, "TMPDIR="+t.TempDir())
	b, err := cmd.CombinedOutput()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(out); err == nil {
		args2 = strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
	}
	return code, args2, string(b)
}

func TestInstallShRunsTheISOsInstallerWithTheDocumentedUsage(t *testing.T) {
	need(t, "sh", "sha256sum")
	dir := t.TempDir()
	iso := fakeISO(t, dir)
	// The product document's example, as written.
	code, got, out := runInstallSh(t, "--takeover", "--debug", "--tty", "ttyS0", "--config", "/tmp/config.yaml", "--no-format", "/dev/vda1", iso)
	want := []string{"--silent", "--takeover", "--debug", "--tty", "ttyS0", "--config", "/tmp/config.yaml", "--no-format", "/dev/vda1", iso}
	if code != 0 || !cmp.Equal(want, got) {
		t.Errorf("install.sh = exit %d, bos-install got %q, want %q\n%s", code, got, want, out)
	}
	// Every flag of the usage line, in its order.
	code, got, out = runInstallSh(t, "--force-efi", "--debug", "--tty", "ttyS1", "--poweroff", "--takeover", "--no-format", "--config", "https://example.com/config.yaml", "/dev/vda2", iso)
	want = []string{"--silent", "--force-efi", "--debug", "--tty", "ttyS1", "--poweroff", "--takeover", "--no-format", "--config", "https://example.com/config.yaml", "/dev/vda2", iso}
	if code != 0 || !cmp.Equal(want, got) {
		t.Errorf("install.sh = exit %d, bos-install got %q, want %q\n%s", code, got, want, out)
	}
	if b, err := exec.Command("losetup", "-j", iso).CombinedOutput(); err == nil && len(b) > 0 {
		t.Errorf("a loop device is left on the ISO: %s", b)
	}
}

func TestInstallShChecksAndDownloads(t *testing.T) {
	need(t, "sh", "sha256sum", "curl")
	dir := t.TempDir()
	iso := fakeISO(t, dir)
	data, err := os.ReadFile(iso)
	if err != nil {
		t.Fatal(err)
	}
	sum := fmt.Sprintf("%x", sha256.Sum256(data))

	// A local ISO with a wrong published sum: exit 4, installer not run.
	if err := os.WriteFile(filepath.Join(dir, "sha256sum-amd64.txt"), []byte(strings.Repeat("0", 64)+"  bos-amd64.iso\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, got, out := runInstallSh(t, "/dev/vda", iso)
	if code != 4 || got != nil || !strings.Contains(out, "does not match the published") {
		t.Errorf("wrong sum: exit %d, installer args %q\n%s", code, got, out)
	}

	// Over HTTP with the right sum.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v0.10.0/bos-amd64.iso":
			w.Write(data)
		case "/v0.10.0/sha256sum-amd64.txt":
			fmt.Fprintf(w, "%s  bos-amd64.iso\n", sum)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	code, got, out = runInstallSh(t, "/dev/vda", srv.URL+"/v0.10.0/bos-amd64.iso")
	if code != 0 || len(got) != 3 || got[1] != "/dev/vda" || filepath.Base(got[2]) != "bos-amd64.iso" || !strings.Contains(out, "sha256 verified") {
		t.Errorf("download: exit %d, installer args %q\n%s", code, got, out)
	}

	// Usage errors.
	for _, args := range [][]string{{}, {"/dev/vda"}, {"--bogus", "/dev/vda", iso}, {"/dev/vda", iso, "extra"}, {"--tty"}} {
		if code, _, out := runInstallSh(t, args...); code != 2 {
			t.Errorf("install.sh %q = exit %d, want 2\n%s", args, code, out)
		}
	}
}
