package upgrade

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestHostRunnerFindsTheHostsProgram(t *testing.T) {
	host := t.TempDir()
	for _, p := range []string{"sbin/reboot", "bin/mount", "usr/sbin/mount"} {
		if err := os.MkdirAll(filepath.Join(host, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(host, p), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r := HostRunner{Dir: host}
	for _, tc := range []struct{ name, path string }{
		{"mount", "/usr/sbin/mount"}, // /usr/sbin before /bin
		{"reboot", "/sbin/reboot"},
		{"/opt/x", "/opt/x"},
	} {
		cmd, err := r.Command(context.Background(), tc.name, "-o", "remount,rw", "/bos")
		if err != nil {
			t.Fatalf("Command(%q) = %v", tc.name, err)
		}
		if cmd.Path != tc.path || cmd.SysProcAttr.Chroot != host || cmd.Dir != "/" {
			t.Errorf("Command(%q) = path %s chroot %s dir %s, want %s in %s from /", tc.name, cmd.Path, cmd.SysProcAttr.Chroot, cmd.Dir, tc.path, host)
		}
		if diff := cmp.Diff([]string{tc.name, "-o", "remount,rw", "/bos"}, cmd.Args); diff != "" {
			t.Errorf("Command(%q) args (-want +got):\n%s", tc.name, diff)
		}
	}
	if _, err := r.Command(context.Background(), "nsenter"); err == nil || !strings.Contains(err.Error(), host) {
		t.Errorf("Command(nsenter) = %v, want not found on the host", err)
	}
}

func TestAfterRebootTheRunnerWaitsForTheShutdown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(10 * time.Millisecond); cancel() }()
	if err := waitForShutdown(ctx, time.Minute); err == nil || !strings.Contains(err.Error(), "waiting for the host to reboot") {
		t.Errorf("waitForShutdown(canceled) = %v, want stopped while waiting", err)
	}
	if err := waitForShutdown(context.Background(), time.Millisecond); err == nil || !strings.Contains(err.Error(), "has not rebooted") {
		t.Errorf("waitForShutdown(timeout) = %v, want not rebooted", err)
	}
}

// TestHostRunnerRunsInTheHostTree runs programs from a fake host tree
// holding a static busybox: they are found in the host's PATH and run
// chrooted there (mount finds no /proc/mounts in it).
func TestHostRunnerRunsInTheHostTree(t *testing.T) {
	const busybox = "/bin/busybox" // Debian busybox-static (make deps)
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root")
	}
	bb, err := os.ReadFile(busybox)
	if err != nil {
		t.Skipf("no static busybox: %v", err)
	}
	host := t.TempDir()
	if err := os.MkdirAll(filepath.Join(host, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(host, "bin", "busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"true", "mount"} {
		if err := os.Symlink("busybox", filepath.Join(host, "bin", p)); err != nil {
			t.Fatal(err)
		}
	}
	if err := runProg(context.Background(), HostRunner{Dir: host}, "true"); err != nil {
		t.Errorf("Run(true) in %s = %v", host, err)
	}
	if err := runProg(context.Background(), HostRunner{Dir: host}, "mount"); err == nil || !strings.Contains(err.Error(), "/proc/mounts") {
		t.Errorf("Run(mount) in %s = %v, want busybox's complaint that the tree has no /proc", host, err)
	}
	// The container's own programs are not the host's.
	if err := runProg(context.Background(), HostRunner{Dir: host}, "ls"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("Run(ls) = %v, want not found in the host tree", err)
	}
}
