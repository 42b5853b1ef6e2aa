package packer

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bhojpur/os/internal/vmtest"
)

// Console markers of Bhojpur OS (images/*_test.go has the same).
const (
	markModeDisk    = "bos-init: mode disk"
	markPhaseRun    = "bos: phase runtime done"
	markInstallDone = "bos-install: done"
	markTakeover    = "takeover: done" // bos-init, after deleting what was not Bhojpur OS
	bootTimeout     = 5 * time.Minute  // TCG on a busy 2-core machine
	buildTimeout    = 45 * time.Minute // a whole Packer build under TCG
)

// The Debian system the takeover builds start from (make debian-disk).
const debianDisk = "build/images/debian-takeover.raw"

func writeConfig(t *testing.T, path, hostname string, key vmtest.Key) {
	t.Helper()
	cfg := fmt.Sprintf("#cloud-config\nhostname: %s\nssh_authorized_keys:\n  - %q\n", hostname, key.Authorized)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

func sha256File(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// serialLog is where a build VM's serial console goes: beside the test's
// other logs, kept after the test.
func serialLog(t *testing.T) string {
	t.Helper()
	if err := os.MkdirAll(vmtest.ArtifactLogDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(vmtest.ArtifactLogDir(), strings.ReplaceAll(t.Name(), "/", "_")+".serial.log")
	os.Remove(p)
	return p
}

func readLog(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("the build VM's serial console: %v", err)
	}
	return string(b)
}

func tailOf(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

type check struct{ what, cmd, want string }

func runChecks(t *testing.T, vm *vmtest.VM, key vmtest.Key, checks []check) {
	t.Helper()
	for _, c := range checks {
		out, err := vm.SSH(key, "bhojpur", c.cmd)
		if got := strings.TrimSpace(out); err != nil || got != c.want {
			t.Errorf("%s: %q printed %q (%v), want %q", c.what, c.cmd, got, err, c.want)
		}
	}
}

// bootImage boots a built image alone and waits for disk mode and SSH.
func bootImage(t *testing.T, fw vmtest.Firmware, disk vmtest.Disk, key vmtest.Key) *vmtest.VM {
	t.Helper()
	vm := vmtest.Start(t, vmtest.Options{Firmware: fw, Disks: []vmtest.Disk{disk}, SSH: true, Timeout: 20 * time.Minute})
	vm.WaitFor("Bhojpur OS", bootTimeout) // the GRUB menu
	took := vm.WaitFor(markModeDisk, bootTimeout)
	t.Logf("%s: disk mode after %v", fw, took.Round(time.Millisecond))
	vm.WaitFor(markPhaseRun, bootTimeout)
	if err := vm.WaitSSH(key, "bhojpur", 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	return vm
}

func powerOff(t *testing.T, vm *vmtest.VM, key vmtest.Key) {
	t.Helper()
	_, _ = vm.SSH(key, "bhojpur", "sudo sync; sudo poweroff")
	if err := vm.WaitExit(3 * time.Minute); err != nil {
		t.Fatalf("poweroff: %v\n--- console tail ---\n%s", err, vm.Console.Tail(2000))
	}
	vm.Kill()
}

// qemuBuildArgs are the arguments of `packer build` for the qemu template
// (the bench times the same build).
func qemuBuildArgs(art, configDir, outDir, serial, accel string) []string {
	return []string{"build",
		"-var", "iso_url=" + filepath.Join(art, "bos-amd64.iso"),
		"-var", "iso_checksum=file:" + filepath.Join(art, "sha256sum-amd64.txt"),
		"-var", "kernel=" + filepath.Join(art, "bos-vmlinuz-amd64"),
		"-var", "initrd=" + filepath.Join(art, "bos-initrd-amd64"),
		"-var", "config_dir=" + configDir,
		"-var", "output_directory=" + outDir,
		"-var", "serial_log=" + serial,
		"-var", "accelerator=" + accel,
		"-var", "disk_size=4G",
		"packer/qemu"}
}

// TestQemuBuild builds the qemu template with Packer under QEMU (the
// installer, unattended, fetching a config with a test key and hostname
// from Packer's HTTP server, powering off), then boots the qcow2 it made
// with BIOS and again with UEFI: both times SSH with the config's key
// works and the hostname is the config's.
func TestQemuBuild(t *testing.T) {
	art := vmtest.Artifacts(t, "bos-vmlinuz-amd64", "bos-initrd-amd64", "sha256sum-amd64.txt")
	vmtest.NeedPacker(t)
	root := repoRoot(t)
	key := vmtest.NewKey(t)
	const hostname = "packer-qemu-e2e"
	cfgDir := t.TempDir()
	writeConfig(t, filepath.Join(cfgDir, "config.yaml"), hostname, key)
	outDir := filepath.Join(t.TempDir(), "out")
	serial := serialLog(t)

	start := time.Now()
	out, err := vmtest.RunPacker(t, root, buildTimeout, qemuBuildArgs(art, cfgDir, outDir, serial, vmtest.Accel())...)
	if err != nil {
		t.Fatalf("%v\n--- build VM console tail ---\n%s", err, tailOf(readLog(t, serial), 3000))
	}
	t.Logf("packer build of packer/qemu: %v", time.Since(start).Round(time.Second))
	for _, m := range []string{"Waiting for shutdown", "finished"} {
		if !strings.Contains(out, m) {
			t.Errorf("packer said no %q", m)
		}
	}
	if con := readLog(t, serial); !strings.Contains(con, markInstallDone) || strings.Contains(con, "bos-install: failed") {
		t.Fatalf("the build VM's console does not show a finished install:\n%s", tailOf(con, 3000))
	}
	img := filepath.Join(outDir, "bos-amd64.qcow2")
	if info, err := exec.Command("qemu-img", "info", img).CombinedOutput(); err != nil || !strings.Contains(string(info), "file format: qcow2") {
		t.Fatalf("qemu-img info %s: %v\n%s", img, err, info)
	}
	disk := vmtest.Disk{Path: img, Format: "qcow2"}
	checks := []check{
		{"hostname from the config", "hostname", hostname},
		{"the key from the config", "grep -c 'bos-vmtest' ~/.ssh/authorized_keys", "1"},
		{"mode", "cat /run/bos/mode", "disk"},
		{"installed config", "sudo stat -c '%a %U' /bos/system/config.yaml", "600 root"},
	}
	if !t.Run("bios", func(t *testing.T) {
		vm := bootImage(t, vmtest.BIOS, disk, key)
		runChecks(t, vm, key, checks)
		powerOff(t, vm, key)
	}) {
		t.FailNow()
	}
	t.Run("uefi", func(t *testing.T) {
		vm := bootImage(t, vmtest.UEFI, disk, key)
		runChecks(t, vm, key, checks)
		powerOff(t, vm, key)
	})
}

// TestQemuTakeoverBuild builds the qemu-takeover template: Packer boots the
// Debian disk, logs in as root with a key that reaches the guest only
// through fw_cfg, runs packer/scripts/takeover.sh and reboots; Bhojpur OS
// deletes Debian and powers off. The image then boots to Bhojpur OS at
// once (the clean-up is not done again), SSH with the config's key works,
// the hostname is the config's, and the partition holds nothing but
// Bhojpur OS and GRUB's directory. The Debian disk itself is unchanged.
func TestQemuTakeoverBuild(t *testing.T) {
	art := vmtest.Artifacts(t, "bos-vmlinuz-amd64", "bos-initrd-amd64", "sha256sum-amd64.txt")
	vmtest.NeedPacker(t)
	root := repoRoot(t)
	base := filepath.Join(root, debianDisk)
	if _, err := os.Stat(base); err != nil {
		if os.Getenv("BOS_REQUIRE_VM") == "1" {
			t.Fatalf("%s missing and BOS_REQUIRE_VM=1: run make debian-disk", base)
		}
		t.Skipf("%s missing: run make debian-disk (BOS_REQUIRE_VM=1 makes this a failure)", base)
	}
	baseSum := sha256File(t, base)
	rootKey := vmtest.NewKey(t) // Packer's, for root on Debian
	pub := rootKey.Private + ".pub"
	nodeKey := vmtest.NewKey(t) // the config's, for bhojpur on Bhojpur OS
	const hostname = "packer-takeover-e2e"
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	writeConfig(t, cfg, hostname, nodeKey)
	outDir := filepath.Join(t.TempDir(), "out")
	serial := serialLog(t)

	start := time.Now()
	out, err := vmtest.RunPacker(t, root, buildTimeout, "build",
		"-var", "base_image="+base,
		"-var", "base_image_checksum=sha256:"+baseSum,
		"-var", "artifacts_dir="+art,
		"-var", "config_file="+cfg,
		"-var", "ssh_private_key_file="+rootKey.Private,
		"-var", "ssh_public_key_file="+pub,
		"-var", "output_directory="+outDir,
		"-var", "serial_log="+serial,
		"-var", "accelerator="+vmtest.Accel(),
		"packer/qemu-takeover")
	if err != nil {
		t.Fatalf("%v\n--- build VM console tail ---\n%s", err, tailOf(readLog(t, serial), 3000))
	}
	t.Logf("packer build of packer/qemu-takeover: %v", time.Since(start).Round(time.Second))
	// The installer runs over SSH: its words are in Packer's output.
	for _, m := range []string{"sha256 verified", markInstallDone, "takeover.sh: done", "Gracefully halting", "finished"} {
		if !strings.Contains(out, m) {
			t.Errorf("packer said no %q", m)
		}
	}
	con := readLog(t, serial)
	for _, m := range []string{"bos-test-authorized-keys: root's key from fw_cfg", markTakeover, "takeover: powering off"} {
		if !strings.Contains(con, m) {
			t.Errorf("no %q on the build VM's console", m)
		}
	}
	if t.Failed() {
		t.Fatalf("--- build VM console tail ---\n%s", tailOf(con, 3000))
	}
	if got := sha256File(t, base); got != baseSum {
		t.Errorf("the build changed %s", base)
	}

	disk := vmtest.Disk{Path: filepath.Join(outDir, "bos-amd64-takeover.qcow2"), Format: "qcow2"}
	vm := bootImage(t, vmtest.BIOS, disk, nodeKey)
	if strings.Contains(vm.Console.String(), "takeover:") {
		t.Errorf("the image's first boot ran the takeover's clean-up again: the build should have")
	}
	const state = "/run/bos/state"
	gone := func(p string) string { return "sudo test -e " + state + p + " && echo present || echo gone" }
	runChecks(t, vm, nodeKey, []check{
		{"hostname from the config", "hostname", hostname},
		{"mode", "cat /run/bos/mode", "disk"},
		{"state partition", "awk '$2 == \"" + state + "\" {print $1}' /proc/mounts", "/dev/vda2"},
		{"label", "sudo e2label /dev/vda2", "BOS_STATE"},
		{"what is left on the partition", "sudo ls -A " + state + " | tr '\\n' ' '", "boot bos lost+found"},
		{"/boot keeps only GRUB", "sudo ls -A " + state + "/boot | tr '\\n' ' '", "grub"},
		{"/etc/debian_version", gone("/etc/debian_version"), "gone"},
		{"Debian's /usr", gone("/usr"), "gone"},
		{"root's home and its fw_cfg key", gone("/root"), "gone"},
		{"the uploads", gone("/tmp"), "gone"},
		{"installed config", "sudo stat -c '%a %U' /bos/system/config.yaml", "600 root"},
		{"the key from the config", "grep -c 'bos-vmtest' ~/.ssh/authorized_keys", "1"},
	})
	powerOff(t, vm, nodeKey)
}
