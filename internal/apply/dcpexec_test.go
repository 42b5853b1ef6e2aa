package apply

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bhojpur/os/internal/config"
	"github.com/bhojpur/os/internal/dcp"
)

// TestDCPExecEnvironmentCannotChangeTheWrapper runs the real dcp-exec with
// each shell at hand on settings whose bos.environment names are the
// wrapper's own variables (bin, conf, first, line, b) and those of the
// shell (PATH, IFS): the configured DCP runs with its argv, and the
// variables reach its environment, but none of them changes what the
// wrapper runs or how it reads the settings.
func TestDCPExecEnvironmentCannotChangeTheWrapper(t *testing.T) {
	dir := t.TempDir()
	pwned := filepath.Join(dir, "pwned")
	evil := filepath.Join(dir, "evil")
	// A binary, and an env(1) on the PATH the config names, that must never run.
	evilPath := filepath.Join(dir, "evilbin")
	for _, p := range []string{evil, filepath.Join(evilPath, "env"), filepath.Join(evilPath, "dcp")} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\n: >"+pwned+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The names the fake DCP prints (a shell resets IFS when it starts, so
	// IFS is set but not printed).
	names := []string{"bin", "conf", "first", "line", "b", "PATH"}
	fake := filepath.Join(dir, "dcp")
	var script strings.Builder
	script.WriteString("#!/bin/sh\nfor a in \"$@\"; do printf '[%s]\\n' \"$a\"; done\n")
	for _, n := range names {
		fmt.Fprintf(&script, "printf '%s=[%%s]\\n' \"$%s\"\n", n, n)
	}
	if err := os.WriteFile(fake, []byte(script.String()), 0o755); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"bin": evil, "conf": filepath.Join(dir, "missing.conf"), "first": "0", "line": "env bin=" + evil,
		"b": evil, "PATH": evilPath, "IFS": "/",
	}
	inv := dcpInvocation(&config.Config{Bos: config.Bos{DCPArgs: []string{"agent", "--a", "b/c"}, Environment: env}}, dcp.Node{Mode: "disk", Version: "v1"})
	settings, err := DCPSettingsFile(inv)
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "dcp.conf")
	if err := os.WriteFile(conf, settings, 0o600); err != nil {
		t.Fatal(err)
	}
	wrapper := filepath.Join(dir, "dcp-exec")
	if err := os.WriteFile(wrapper, []byte(DCPExecScript), 0o755); err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for _, a := range inv.Argv[1:] {
		fmt.Fprintf(&want, "[%s]\n", a)
	}
	for _, n := range names {
		fmt.Fprintf(&want, "%s=[%s]\n", n, env[n])
	}
	ran := 0
	for _, sh := range [][]string{{"dash"}, {"busybox", "sh"}, {"bash", "--posix"}} {
		if _, err := exec.LookPath(sh[0]); err != nil {
			continue
		}
		ran++
		cmd := exec.Command(sh[0], append(sh[1:], wrapper, conf, fake)...)
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%v dcp-exec: %v\n%s", sh, err, out)
			continue
		}
		if diff := cmp.Diff(want.String(), string(out)); diff != "" {
			t.Errorf("%v dcp-exec (-want +got):\n%s", sh, diff)
		}
		if _, err := os.Stat(pwned); err == nil {
			t.Fatalf("%v dcp-exec ran a program named by bos.environment", sh)
		}
	}
	if ran == 0 {
		t.Skip("no POSIX shell (dash, busybox, bash) to run dcp-exec")
	}
}

// TestDCPExecRefusesMalformedEnvLines: an env line that env(1) would take
// for an option or for the program is refused, and nothing runs.
func TestDCPExecRefusesMalformedEnvLines(t *testing.T) {
	dir := t.TempDir()
	pwned := filepath.Join(dir, "pwned")
	fake := filepath.Join(dir, "dcp")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\n: >"+pwned+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	wrapper := filepath.Join(dir, "dcp-exec")
	if err := os.WriteFile(wrapper, []byte(DCPExecScript), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"env -i", "env -u=PATH", "env /bin/true", "env =x"} {
		conf := filepath.Join(dir, "dcp.conf")
		if err := os.WriteFile(conf, []byte("arg dcp\narg agent\n"+line+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("sh", wrapper, conf, fake).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "an env line without NAME=VALUE") {
			t.Errorf("dcp-exec with %q = %v, %q; want refused", line, err, out)
		}
		if _, err := os.Stat(pwned); err == nil {
			t.Fatalf("dcp-exec with %q ran DCP", line)
		}
	}
}
