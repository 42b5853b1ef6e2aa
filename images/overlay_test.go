package images

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// motdCommands are the commands the motd tells a user to type: its lines
// indented by two spaces, up to the next run of two spaces.
func motdCommands(t *testing.T, motd string) []string {
	t.Helper()
	var cmds []string
	for _, l := range strings.Split(motd, "\n") {
		if rest, ok := strings.CutPrefix(l, "  "); ok && strings.TrimSpace(rest) != "" {
			cmd, _, _ := strings.Cut(strings.TrimSpace(rest), "  ")
			cmds = append(cmds, cmd)
		}
	}
	if len(cmds) == 0 {
		t.Fatalf("the motd names no command (lines indented by two spaces):\n%s", motd)
	}
	return cmds
}

// TestOpsutlInstallOnlyLive runs the image's opsutl and opsctl with each
// shell at hand against a fake /run/bos/mode and a fake bos-install:
// "install" runs bos-install on a system booted live (modes live and
// install) only, and an installed system gets one line saying why.
func TestOpsutlInstallOnlyLive(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "bos-install")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho \"bos-install $*\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	modeFile := filepath.Join(dir, "mode")
	var shells [][]string
	for _, sh := range [][]string{{"dash"}, {"busybox", "sh"}, {"bash", "--posix"}} {
		if _, err := exec.LookPath(sh[0]); err == nil {
			shells = append(shells, sh)
		}
	}
	if len(shells) == 0 {
		t.Skip("no POSIX shell")
	}
	for _, name := range []string{"opsutl", "opsctl"} {
		script := filepath.Join("overlay/usr/sbin", name)
		for _, tc := range []struct {
			mode   string // "-" for no mode file
			args   []string
			code   int
			stdout string
			stderr string
		}{
			{"live", []string{"install", "--silent", "/dev/vda"}, 0, "bos-install --silent /dev/vda\n", ""},
			{"install\n", []string{"install"}, 0, "bos-install \n", ""},
			{"disk", []string{"install", "/dev/vda"}, 1, "", name + " install: only on a system booted live from the ISO; this one runs in mode disk (installed)"},
			{"local", []string{"install"}, 1, "", "runs in mode local (installed)"},
			{"shell", []string{"install"}, 1, "", "runs in mode shell"},
			{"-", []string{"install"}, 1, "", name + " install: only on a system booted live from the ISO (" + modeFile + " is missing)"},
			{"live", nil, 2, "", "usage: " + name + " install"},
			{"disk", []string{"upgrade"}, 2, "", "usage: " + name + " install"},
		} {
			os.Remove(modeFile)
			if tc.mode != "-" {
				if err := os.WriteFile(modeFile, []byte(tc.mode), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for _, sh := range shells {
				cmd := exec.Command(sh[0], append(append(sh[1:], script), tc.args...)...)
				cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "BOS_MODE_FILE=" + modeFile, "BOS_INSTALL=" + fake}
				var stdout, stderr strings.Builder
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				_ = cmd.Run()
				code := cmd.ProcessState.ExitCode()
				if os.Geteuid() != 0 && tc.code == 0 {
					continue // the root check answers first; see below
				}
				if code != tc.code || stdout.String() != tc.stdout || !strings.Contains(stderr.String(), tc.stderr) || strings.Count(stderr.String(), "\n") > 1 {
					t.Errorf("%v %s %q (mode %q) = exit %d, stdout %q, stderr %q; want exit %d, stdout %q, one line with %q",
						sh, name, tc.args, tc.mode, code, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.stderr)
				}
			}
		}
	}
}

// TestOpsutlInstallAsAUserSaysSudo: on a live system, a user who forgot
// sudo is told to use it, in one line.
func TestOpsutlInstallAsAUserSaysSudo(t *testing.T) {
	setpriv, err := exec.LookPath("setpriv")
	if os.Geteuid() != 0 || err != nil {
		t.Skip("needs root and setpriv to run the script as another user")
	}
	dir := t.TempDir()
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	modeFile := filepath.Join(dir, "mode")
	if err := os.WriteFile(modeFile, []byte("live\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile("overlay/usr/sbin/opsutl")
	if err != nil {
		t.Fatal(err)
	}
	copyTo := filepath.Join(dir, "opsutl")
	if err := os.WriteFile(copyTo, script, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "sh", copyTo, "install")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "BOS_MODE_FILE=" + modeFile, "BOS_INSTALL=/bin/false"}
	out, _ := cmd.CombinedOutput()
	if code, want := cmd.ProcessState.ExitCode(), "opsutl install: needs root (run: sudo opsutl install)\n"; code != 1 || string(out) != want {
		t.Errorf("opsutl install as nobody = exit %d, %q; want exit 1 and %q", code, out, want)
	}
}

// TestMotdNamesCommandsTheImageHas: every command the motd names is run
// with sudo (the tools are in /usr/sbin and read root's files) and is a
// program of the image. TestLiveSSH runs each one as typed.
func TestMotdNamesCommandsTheImageHas(t *testing.T) {
	motd, err := os.ReadFile("overlay/etc/motd")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range motdCommands(t, string(motd)) {
		f := strings.Fields(c)
		if len(f) < 2 || f[0] != "sudo" {
			t.Errorf("motd: %q: a tool of /usr/sbin is typed with sudo", c)
			continue
		}
		if _, err := os.Stat(filepath.Join("overlay/usr/sbin", f[1])); err != nil && !strings.HasPrefix(f[1], "bos-") {
			t.Errorf("motd: %q: %s is neither in the overlay's /usr/sbin nor a bos- command", c, f[1])
		}
	}
}
