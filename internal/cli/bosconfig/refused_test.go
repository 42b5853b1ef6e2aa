package bosconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bhojpur/os/internal/exitcode"
)

// refusedConfig holds, next to good values, every value validation
// refuses that apply used to write anyway, and (BAD, the module) values
// that validation passed and apply then refused, taking good values with
// them.
const refusedConfig = `hostname: good-host
write_files:
- {path: /etc/ok, content: ok}
- {path: /etc/../escaped, content: bad}
- {path: /etc/perm, content: x, permissions: 600}
- {path: /etc/typo, content: x, permision: "0600"}
- {path: /etc/octal, content: x, permissions: "0o600"}
bos:
  wifi:
  - {name: short, passphrase: "s3cr"}
  - {name: open}
  dns_nameservers: [not-an-ip, 1.1.1.1]
  labels: {"bad key!": v, good: v}
  environment: {GOOD: "1", BAD: "a\nb"}
  modules: ["loop max_loop=8\nx"]
`

func refusedRoot(t *testing.T) string {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"etc/passwd":                     "root:x:0:0:root:/root:/bin/sh\nbhojpur:x:1000:1000::/home/bhojpur:/bin/sh\n",
		"etc/group":                      "root:x:0:\nshadow:x:42:\nbhojpur:x:1000:\n",
		"etc/shadow":                     "root:*:19000:0:99999:7:::\nbhojpur:!:19000:0:99999:7:::\n",
		"etc/connman/main.conf":          "[General]\n",
		"run/bos/mode":                   "disk\n",
		"var/lib/bhojpur/os/config.yaml": refusedConfig,
	})
	return root
}

func readIn(t *testing.T, root, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Errorf("%v", err)
	}
	return string(b)
}

// TestApplyLeavesOutRefusedValues: what validation refuses, no phase
// writes; the rest of the config is applied, and validate and apply agree.
func TestApplyLeavesOutRefusedValues(t *testing.T) {
	root := refusedRoot(t)
	code, _, stderr := runApply(t, "--root", root, "apply", "--phase", "boot")
	if code != exitcode.Failure || !strings.Contains(stderr, "refused values were left out, the rest was applied") {
		t.Errorf("apply = %d, want %d and a summary; stderr:\n%s", code, exitcode.Failure, stderr)
	}
	for _, name := range []string{"etc/ok", "etc/octal", "etc/hostname"} {
		if _, err := os.Stat(filepath.Join(root, name)); err != nil {
			t.Errorf("a valid value was not applied: %v", err)
		}
	}
	if fi, err := os.Stat(filepath.Join(root, "etc/octal")); err == nil && fi.Mode().Perm() != 0o600 {
		t.Errorf("etc/octal: mode %v, want 0600 ('0o600' is valid)", fi.Mode())
	}
	for _, name := range []string{"escaped", "etc/perm", "etc/typo"} {
		if _, err := os.Stat(filepath.Join(root, name)); err == nil {
			t.Errorf("%s was written from a refused write_files entry", name)
		}
	}
	for name, want := range map[string][]string{
		"var/lib/connman/bos-wifi.config": {"Name = open\n"},
		"etc/connman/main.conf":           {"FallbackNameservers=1.1.1.1\n"},
		"etc/bhojpur/dcp.conf":            {"arg --node-label\narg good=v\n", "env GOOD=1\n"},
		"etc/environment":                 {"GOOD='1'\n"},
	} {
		got := readIn(t, root, name)
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s lacks %q:\n%s", name, w, got)
			}
		}
		for _, refused := range []string{"short", "s3cr", "not-an-ip", "bad key!", "BAD"} {
			if strings.Contains(got, refused) {
				t.Errorf("%s holds the refused %q:\n%s", name, refused, got)
			}
		}
	}
	if strings.Contains(stderr, "module loop") {
		t.Errorf("the refused module was planned:\n%s", stderr)
	}

	// validate reports each refused value, and nothing else.
	code, _, errs := run(t, "bos-config", "--root", root, "validate")
	for _, key := range []string{"write_files[1].path", "write_files[2].permissions", "write_files[3].permision", "bos.wifi[0].passphrase",
		"bos.dns_nameservers[0]", "bos.labels[bad key!]", "bos.environment[BAD]", "bos.modules[0]"} {
		if !strings.Contains(errs, ": "+key+": ") {
			t.Errorf("validate does not report %s:\n%s", key, errs)
		}
	}
	for _, out := range []string{stderr, errs} {
		if strings.Contains(out, "s3cr") {
			t.Errorf("a message shows the refused passphrase:\n%s", out)
		}
	}
	if n := strings.Count(errs, "config.yaml:"); code != exitcode.Failure || n != 8 {
		t.Errorf("validate = %d with %d messages, want %d and 8:\n%s", code, n, exitcode.Failure, errs)
	}
}

// TestApplyHoldsDCPWhenItsRoleIsRefused: a refused dcp_args, server_url or
// token leaves DCP's settings as they were; leaving the value out would
// turn an agent into a server of its own.
func TestApplyHoldsDCPWhenItsRoleIsRefused(t *testing.T) {
	root := refusedRoot(t)
	writeTree(t, root, map[string]string{"var/lib/bhojpur/os/config.yaml": "bos:\n  server_url: https://s:6443\n  token: K10abc::node:pw\n"})
	if code, _, stderr := runApply(t, "--root", root, "apply", "--phase", "boot"); code != exitcode.OK {
		t.Fatalf("apply = %d:\n%s", code, stderr)
	}
	before := readIn(t, root, "etc/bhojpur/dcp.conf")
	if !strings.Contains(before, "arg agent\n") {
		t.Fatalf("dcp.conf:\n%s", before)
	}
	for _, bad := range []string{
		"bos:\n  dcp_args: [agent, \"--x\\ny\"]\n",
		"bos:\n  dcp_args: [agnet]\n",
		"bos:\n  server_url: \"https://s:6443\\n--evil\"\n",
		"bos:\n  server_url: 6443\n",
		"bos:\n  token: \"K10abc::node:pw\\nenv X=1\"\n",
		"bos: {",
	} {
		writeTree(t, root, map[string]string{"var/lib/bhojpur/os/config.d/50-bad.yaml": bad})
		code, _, stderr := runApply(t, "--root", root, "apply", "--phase", "boot")
		if code != exitcode.Failure || !strings.Contains(stderr, "left as they were") {
			t.Errorf("%q: apply = %d, want %d and DCP held; stderr:\n%s", bad, code, exitcode.Failure, stderr)
		}
		if got := readIn(t, root, "etc/bhojpur/dcp.conf"); got != before {
			t.Errorf("%q: dcp.conf changed:\n%s", bad, got)
		}
	}
}
