// Package images holds the recipes of the Bhojpur OS artifacts; its tests
// boot them in QEMU (internal/vmtest) and check the live system.
package images

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bhojpur/os/internal/vmtest"
)

// Console markers the boot prints (stable strings).
const (
	MarkGrubHint    = "Press Esc for the menu: install, rescue shell." // the ISO's GRUB
	MarkModeLive    = "bos-init: mode live"
	MarkPhaseBoot   = "bos: phase boot done"
	MarkPhaseRun    = "bos: phase runtime done"
	MarkLogin       = " login:"
	MarkRescue      = "bos-init: rescue shell: "
	MarkSwitchRoot  = "bos-init: switch_root /newroot /sbin/init"
	bootTimeout     = 5 * time.Minute // TCG on a busy 2-core machine
	baseCmdline     = "console=ttyS0,115200 panic=-1"
	liveCmdlineBase = baseCmdline
)

// TestISOBoot boots the ISO through GRUB with BIOS and UEFI firmware and
// waits for the live system: the mode, both config phases and a login.
// GRUB's menu is hidden behind a hint: with BIOS the test opens it with Esc
// on the serial console, sees all three entries and boots the highlighted
// live entry with Enter; with UEFI it lets the second pass.
func TestISOBoot(t *testing.T) {
	for _, fw := range []vmtest.Firmware{vmtest.BIOS, vmtest.UEFI} {
		t.Run(fw.String(), func(t *testing.T) {
			t.Parallel()
			art := vmtest.Artifacts(t)
			vm := vmtest.Start(t, vmtest.Options{Firmware: fw, ISO: filepath.Join(art, "bos-amd64.iso"), SSH: true})
			vm.WaitFor(MarkGrubHint, bootTimeout)
			if fw == vmtest.BIOS {
				m := regexp.MustCompile(`Bhojpur OS (\S+): booting live`).FindStringSubmatch(vm.Console.String())
				if m == nil {
					t.Fatalf("no version in GRUB's hint:\n%s", vm.Console.Tail(500))
				}
				vm.Send("\x1b")
				for _, entry := range []string{"live", "install", "rescue shell"} {
					vm.WaitFor("Bhojpur OS "+m[1]+" "+entry, bootTimeout)
				}
				vm.Send("\r")
			}
			for _, m := range []string{MarkModeLive, MarkSwitchRoot, MarkPhaseBoot, MarkPhaseRun, MarkLogin} {
				took := vm.WaitFor(m, bootTimeout)
				t.Logf("%s: %q after %v", fw, m, took.Round(time.Millisecond))
			}
			// OpenRC used the dependency tree built with the image: a
			// default boot changes nothing it depends on.
			if strings.Contains(vm.Console.String(), "Caching service dependencies") {
				t.Errorf("%s: OpenRC computed its dependency tree at boot (the image's was not used)", fw)
			}
			// busybox init applied the boot phase; OpenRC's bos-boot
			// service saw its stamp and did not apply it again.
			if n := strings.Count(vm.Console.String(), MarkPhaseBoot); n != 1 {
				t.Errorf("%s: %q %d times on the console, want once", fw, MarkPhaseBoot, n)
			}
		})
	}
}

// TestLiveSSH boots the artifacts' kernel and initrd directly with config
// on the cmdline and the ISO as a CD, then logs in over SSH as bhojpur.
func TestLiveSSH(t *testing.T) {
	t.Parallel()
	art := vmtest.Artifacts(t, "bos-vmlinuz-amd64", "bos-initrd-amd64")
	key := vmtest.NewKey(t)
	const hostname = "bos-e2e"
	vm := vmtest.Start(t, vmtest.Options{
		ISO:    filepath.Join(art, "bos-amd64.iso"),
		Kernel: filepath.Join(art, "bos-vmlinuz-amd64"),
		Initrd: filepath.Join(art, "bos-initrd-amd64"),
		Append: fmt.Sprintf(`%s bos.debug bos.hostname=%s bos.ssh_authorized_keys="%s" bos.environment[BOS_E2E_PROXY]=%s`, liveCmdlineBase, hostname, key.Authorized, e2eProxy),
		SSH:    true,
	})
	vm.WaitFor(MarkModeLive, bootTimeout)
	vm.WaitFor(MarkPhaseRun, bootTimeout)
	if err := vm.WaitSSH(key, "bhojpur", 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		what, cmd, want string
	}{
		{"hostname from the cmdline", "hostname", hostname},
		{"mode file", "cat /run/bos/mode", "live"},
		{"/usr is read-only", "touch /usr/bos-e2e 2>/dev/null && echo writable || echo read-only", "read-only"},
		{"/usr mounted ro", "awk '$2 == \"/usr\" {split($4, o, \",\"); print o[1]}' /proc/mounts", "ro"},
		{"/etc is writable", "sudo touch /etc/bos-e2e && echo writable", "writable"},
		{"/bhojpur is /bos", "readlink /bhojpur", "bos"},
		{"whoami", "id -un", "bhojpur"},
		// bos-init's work in place of OpenRC's sysinit: cgroup v2 with its
		// controllers delegated, /etc over the image, the image's deptree.
		{"cgroup v2", "stat -fc %T /sys/fs/cgroup", "cgroup2fs"},
		{"cgroup controllers delegated", "grep -wo memory /sys/fs/cgroup/cgroup.subtree_control", "memory"},
		{"/etc is an overlay", "awk '$2 == \"/etc\" {print $3}' /proc/mounts", "overlay"},
		{"sshd runs in its OpenRC cgroup", "cat /proc/$(cat /run/sshd.pid)/cgroup", "0::/sshd"},
		// The boot phase ran from busybox init, before OpenRC; the drivers
		// of the devices that hold no media (the NIC, the entropy source)
		// were bound by bos-coldplug, not the initrd.
		{"boot phase stamped", "cat /run/bos/phases/boot", "done"},
		{"bos-boot started (it skips)", "sudo rc-service bos-boot status >/dev/null && echo started", "started"},
		{"virtio-rng bound by bos-coldplug", "grep -c '^virtio_rng ' /proc/modules", "1"},
		// bos.environment: /etc/environment is root's alone, and pam_env
		// (reading it as root) still gives the variables to the session.
		{"/etc/environment is root's", "sudo stat -c '%a %U:%G' /etc/environment", "600 root:root"},
		{"bos.environment in the SSH session", `printf '%s\n' "$BOS_E2E_PROXY"`, e2eProxy},
		// The tools are on a login shell's PATH: typed without sudo, a
		// command works when it only reads readable files (live: the
		// cmdline), instead of "command not found".
		{"bos-config on a login shell's PATH", "bash -lc 'bos-config show' | grep -c '^hostname: " + hostname + "$'", "1"},
	}
	for _, c := range checks {
		out, err := vm.SSH(key, "bhojpur", c.cmd)
		if err != nil {
			t.Errorf("%s: %v", c.what, err)
			continue
		}
		if got := strings.TrimSpace(out); got != c.want {
			t.Errorf("%s: %q printed %q, want %q", c.what, c.cmd, got, c.want)
		}
	}
	// Every command the motd names runs as typed: found, not refused for
	// want of root (sudo opsutl install stops at "no DEVICE" here).
	motd, err := vm.SSH(key, "bhojpur", "cat /etc/motd")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range motdCommands(t, motd) {
		out, rc := sshRC(t, vm, key, c+" </dev/null 2>&1")
		t.Logf("motd: %q: exit %d: %s", c, rc, strings.TrimSpace(out))
		if rc == 127 || rc == 126 || strings.Contains(out, "not found") || strings.Contains(out, "needs root") || strings.Contains(out, "only on a system booted live") {
			t.Errorf("motd: %q does not run as typed: exit %d: %s", c, rc, out)
		}
	}
	if out, err := vm.SSH(key, "root", "id -un"); err == nil {
		t.Errorf("ssh as root worked (printed %q); root must be refused", out)
	}
}

// e2eProxy is a bos.environment value of TestLiveSSH (a proxy URL with
// credentials, what the variables usually carry).
const e2eProxy = "http://user:s3cret@proxy.invalid:3128"

// TestRescueShell: bos.mode=shell opens the rescue shell on purpose, and a
// machine without any Bhojpur OS media ends there with a clear message.
// Both shells must answer on the console.
func TestRescueShell(t *testing.T) {
	tests := []struct {
		name, append string
		iso          bool
		want         string
	}{
		{"requested", "bos.mode=shell", true, MarkRescue + "bos.mode=shell asks for the rescue shell"},
		{"no-media", "", false, MarkRescue + "no boot media found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			art := vmtest.Artifacts(t, "bos-vmlinuz-amd64", "bos-initrd-amd64")
			opts := vmtest.Options{
				Kernel: filepath.Join(art, "bos-vmlinuz-amd64"),
				Initrd: filepath.Join(art, "bos-initrd-amd64"),
				Append: strings.TrimSpace(baseCmdline + " " + tt.append),
			}
			if tt.iso {
				opts.ISO = filepath.Join(art, "bos-amd64.iso")
			}
			vm := vmtest.Start(t, opts)
			vm.WaitFor(tt.want, bootTimeout)
			time.Sleep(2 * time.Second) // let the shell start reading
			vm.Send("echo RESCUE-$((40+2))\n")
			vm.WaitFor("RESCUE-42", time.Minute)
			vm.Send("poweroff -f\n")
			if err := vm.WaitExit(time.Minute); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestNoCloudBoot attaches a NoCloud volume (ISO9660, label cidata, made
// with xorriso) as a second CD to a live boot with bos.data_sources=cdrom:
// the runtime phase must probe it, then apply its hostname (user-data) and
// SSH key (meta-data public-keys), which SSH proves: the key is nowhere
// else.
func TestNoCloudBoot(t *testing.T) {
	t.Parallel()
	art := vmtest.Artifacts(t, "bos-vmlinuz-amd64", "bos-initrd-amd64")
	if _, err := exec.LookPath("xorriso"); err != nil {
		t.Fatalf("xorriso is needed to build the NoCloud volume: %v", err)
	}
	key := vmtest.NewKey(t)
	const hostname = "nocloud-e2e"
	dir := t.TempDir()
	files := map[string]string{
		"user-data": "#cloud-config\nhostname: " + hostname + "\n",
		"meta-data": "instance-id: e2e-1\nlocal-hostname: from-meta-data\npublic-keys:\n  - " + key.Authorized + "\n",
	}
	src := filepath.Join(dir, "cidata")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(src, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	seed := filepath.Join(dir, "seed.iso")
	if out, err := exec.Command("xorriso", "-as", "mkisofs", "-quiet", "-V", "cidata", "-R", "-J", "-o", seed, src).CombinedOutput(); err != nil {
		t.Fatalf("xorriso: %v\n%s", err, out)
	}
	vm := vmtest.Start(t, vmtest.Options{
		ISO:    filepath.Join(art, "bos-amd64.iso"),
		Kernel: filepath.Join(art, "bos-vmlinuz-amd64"),
		Initrd: filepath.Join(art, "bos-initrd-amd64"),
		Append: liveCmdlineBase + " bos.data_sources=cdrom",
		SSH:    true,
		Extra:  []string{"-drive", "file=" + seed + ",media=cdrom,if=ide,index=1,readonly=on"},
	})
	vm.WaitFor(MarkModeLive, bootTimeout)
	vm.WaitFor(MarkPhaseRun, bootTimeout)
	if err := vm.WaitSSH(key, "bhojpur", 3*time.Minute); err != nil {
		t.Fatalf("ssh with the key from the NoCloud volume: %v", err)
	}
	for cmd, want := range map[string]string{
		"hostname":                              hostname,
		"sudo cat /run/config/local_hostname":   "from-meta-data",
		"sudo head -c 13 /run/config/userdata":  "#cloud-config",
		"sudo stat -c %a /run/config/userdata":  "600",
		"grep -c 'ssh-' ~/.ssh/authorized_keys": "1",
	} {
		out, err := vm.SSH(key, "bhojpur", cmd)
		if got := strings.TrimSpace(out); err != nil || got != want {
			t.Errorf("%q = %q, %v; want %q", cmd, got, err, want)
		}
	}
}
