package bosconfig

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bhojpur/os/internal/cli"
	"github.com/bhojpur/os/internal/cli/clitest"
	"github.com/bhojpur/os/internal/exitcode"
)

type applyTestCLI struct {
	cli.Globals
	Apply ApplyCmd `cmd:"" help:"Apply a phase of the config."`
}

const testKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFXgMxutej63IN7ROY+tzajxkWiZFL5phjMjBolTDo2/"

func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	clitest.WriteTree(t, root, files)
}

func runApply(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Run("bos-config", Description, &applyTestCLI{}, args, cli.IO{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr})
	return code, stdout.String(), stderr.String()
}

func TestApplyCLI(t *testing.T) {
	full, err := os.ReadFile("../../apply/testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bhojpur.keys" {
			fmt.Fprintln(w, testKey)
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"etc/passwd":                     "root:x:0:0:root:/root:/bin/sh\nbhojpur:x:1000:1000::/home/bhojpur:/bin/sh\n",
		"etc/group":                      "root:x:0:\nshadow:x:42:\nbhojpur:x:1000:\n",
		"etc/shadow":                     "root:*:19000:0:99999:7:::\nbhojpur:!:19000:0:99999:7:::\n",
		"run/bos/mode":                   "disk\n",
		"var/lib/bhojpur/os/config.yaml": string(full),
	})

	code, stdout, stderr := runApply(t, "--root", root, "apply", "--phase", "boot")
	if code != exitcode.OK || stdout != "bos: phase boot done\n" {
		t.Fatalf("apply --phase boot = %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	for _, line := range []string{"bos-config: wrote /etc/hostname", "bos-config: no DCP is installed", "is not /): boot_cmd[0] echo hello, boot command"} {
		if !strings.Contains(stderr, line) {
			t.Errorf("stderr lacks %q:\n%s", line, stderr)
		}
	}
	if b, err := os.ReadFile(filepath.Join(root, "run/bos/phases/boot")); string(b) != "done\n" {
		t.Errorf("boot phase stamp = %q (%v), want done", b, err)
	}
	conf, err := os.ReadFile(filepath.Join(root, "etc/bhojpur/dcp.conf"))
	if err != nil || !strings.Contains(string(conf), "arg bhojpur.net/mode=disk\n") {
		t.Errorf("dcp.conf (%v):\n%s", err, conf)
	}

	code, stdout, stderr = runApply(t, "--root", root, "apply", "--phase", "runtime", "--github-url", srv.URL)
	if code != exitcode.OK || stdout != "bos: phase runtime done\n" {
		t.Fatalf("apply --phase runtime = %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	keys, err := os.ReadFile(filepath.Join(root, "home/bhojpur/.ssh/authorized_keys"))
	if err != nil || !strings.Contains(string(keys), "\n# from github:bhojpur\n"+testKey+"\n# END ") || strings.Count(string(keys), "\n") != 5 {
		t.Errorf("authorized_keys (%v):\n%s", err, keys)
	}
	if strings.Contains(stderr, "wrote /etc/hostname") {
		t.Errorf("runtime rewrote what boot wrote:\n%s", stderr)
	}

	// A failing step: exit 1, the marker still printed, the summary on stderr.
	t.Setenv("BOS_GITHUB_URL", srv.URL+"/nothing")
	code, stdout, stderr = runApply(t, "--root", root, "apply", "--phase", "runtime")
	if code != exitcode.Failure || stdout != "bos: phase runtime done\n" || !strings.Contains(stderr, "1 of ") || !strings.Contains(stderr, "404 Not Found") {
		t.Errorf("failing apply = %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	if b, err := os.ReadFile(filepath.Join(root, "run/bos/phases/runtime")); string(b) != "failed\n" {
		t.Errorf("failed runtime phase stamp = %q (%v), want failed", b, err)
	}

	if code, _, stderr := runApply(t, "--root", root, "apply", "--phase", "later"); code != exitcode.Usage {
		t.Errorf("bad phase = %d, want %d:\n%s", code, exitcode.Usage, stderr)
	}
}
