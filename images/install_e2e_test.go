package images

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bhojpur/os/internal/vmtest"
)

// Console markers of an install and of an installed system.
const (
	MarkModeDisk     = "bos-init: mode disk"
	MarkModeInstall  = "bos-init: mode install"
	MarkInstallStart = "bos-install: install mode: starting the installer"
	MarkInstallDone  = "bos-install: done"
	MarkInstallFail  = "bos-install: failed"
	installTimeout   = 10 * time.Minute // boot, fetch, partition, copy, GRUB twice under TCG
)

// bos-install's documented exit codes (internal/install).
const (
	exitBadInput = 3
	exitDownload = 4
)

// configServer serves files on the host's loopback; the guest reaches it
// at 10.0.2.2 (QEMU user networking). It returns the port.
func configServer(t *testing.T, files map[string]string) int {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, body)
	}))
	return serverPort(t, srv)
}

// serverPort closes srv when the test ends and returns its port.
func serverPort(t *testing.T, srv *httptest.Server) int {
	t.Helper()
	t.Cleanup(srv.Close)
	port, err := strconv.Atoi(srv.URL[strings.LastIndex(srv.URL, ":")+1:])
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// nodeConfig is a config with a hostname and the test's SSH key.
func nodeConfig(hostname string, key vmtest.Key) string {
	return fmt.Sprintf("#cloud-config\nhostname: %s\nssh_authorized_keys:\n  - %q\n", hostname, key.Authorized)
}

// rawDisk makes a sparse raw disk image of size bytes.
func rawDisk(t *testing.T, name string, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
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

const gib = int64(1) << 30

// sshRC runs command over SSH and returns its output and exit code (the
// command's own, printed after it, so that SSH failures stay apart).
func sshRC(t *testing.T, vm *vmtest.VM, key vmtest.Key, command string) (string, int) {
	t.Helper()
	out, err := vm.SSH(key, "bhojpur", command+"; echo \"BOS-RC=$?\"")
	i := strings.LastIndex(out, "BOS-RC=")
	if i < 0 {
		t.Fatalf("%q: no exit code in %q: %v", command, out, err)
	}
	rc, perr := strconv.Atoi(strings.TrimSpace(out[i+len("BOS-RC="):]))
	if perr != nil {
		t.Fatalf("%q: exit code in %q: %v", command, out, perr)
	}
	return out[:i], rc
}

// liveVM boots the artifacts' kernel and initrd with the ISO as a CD, the
// test's key on the cmdline and disks attached, and waits for SSH.
func liveVM(t *testing.T, key vmtest.Key, disks ...vmtest.Disk) *vmtest.VM {
	t.Helper()
	art := vmtest.Artifacts(t, "bos-vmlinuz-amd64", "bos-initrd-amd64")
	vm := vmtest.Start(t, vmtest.Options{
		ISO:      filepath.Join(art, "bos-amd64.iso"),
		Kernel:   filepath.Join(art, "bos-vmlinuz-amd64"),
		Initrd:   filepath.Join(art, "bos-initrd-amd64"),
		Append:   fmt.Sprintf(`%s bos.ssh_authorized_keys="%s"`, baseCmdline, key.Authorized),
		Disks:    disks,
		SSH:      true,
		MemoryMB: 1536,
	})
	vm.WaitFor(MarkModeLive, bootTimeout)
	vm.WaitFor(MarkPhaseRun, bootTimeout)
	if err := vm.WaitSSH(key, "bhojpur", 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	return vm
}

// bootDisk boots an installed disk alone with fw and waits for disk mode
// and SSH.
func bootDisk(t *testing.T, fw vmtest.Firmware, disk string, key vmtest.Key) *vmtest.VM {
	t.Helper()
	return bootDiskWith(t, vmtest.Options{Firmware: fw}, disk, key)
}

// bootDiskWith is bootDisk with more of the VM's options (CPUs, memory).
func bootDiskWith(t *testing.T, opts vmtest.Options, disk string, key vmtest.Key) *vmtest.VM {
	t.Helper()
	fw := opts.Firmware
	opts.Disks, opts.SSH = []vmtest.Disk{{Path: disk}}, true
	vm := vmtest.Start(t, opts)
	vm.WaitFor("Bhojpur OS", bootTimeout) // the GRUB menu of the installed disk
	took := vm.WaitFor(MarkModeDisk, bootTimeout)
	t.Logf("%s: disk mode after %v", fw, took.Round(time.Millisecond))
	vm.WaitFor(MarkPhaseRun, bootTimeout)
	if err := vm.WaitSSH(key, "bhojpur", 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: ssh after %v", fw, time.Since(vm.Started).Round(time.Millisecond))
	// GRUB's own complaints start a line with "error: ".
	for _, l := range strings.Split(vm.Console.String(), "\n") {
		if i := strings.Index(l, "error: "); i >= 0 && !strings.Contains(l[:i], "]") {
			t.Errorf("%s: the boot loader says %q", fw, strings.TrimSpace(l[i:]))
		}
	}
	return vm
}

// powerOff shuts the guest down cleanly and waits for QEMU to exit.
func powerOff(t *testing.T, vm *vmtest.VM, key vmtest.Key) {
	t.Helper()
	leave(t, vm, key, "poweroff")
}

// leave runs poweroff or reboot in the guest over SSH and waits for QEMU
// to exit (-no-reboot: a reboot ends it too).
func leave(t *testing.T, vm *vmtest.VM, key vmtest.Key, how string) {
	t.Helper()
	_, _ = vm.SSH(key, "bhojpur", "sudo sync; sudo "+how)
	if err := vm.WaitExit(3 * time.Minute); err != nil {
		t.Fatalf("%s: %v\n--- console tail ---\n%s", how, err, vm.Console.Tail(2000))
	}
	vm.Kill()
}

type check struct{ what, cmd, want string }

func runChecks(t *testing.T, vm *vmtest.VM, key vmtest.Key, label string, checks []check) {
	t.Helper()
	for _, c := range checks {
		out, err := vm.SSH(key, "bhojpur", c.cmd)
		if got := strings.TrimSpace(out); err != nil || got != c.want {
			t.Errorf("%s: %s: %q printed %q (%v), want %q", label, c.what, c.cmd, got, err, c.want)
		}
	}
}

// automatedInstall installs the artifacts onto disk, as /dev/vda, with
// the kernel cmdline alone (bos.mode=install and bos.install.*), the config
// coming from path on the host's loopback server at port, and waits for
// the guest to power off.
func automatedInstall(t *testing.T, disk string, port int, path string) {
	t.Helper()
	art := vmtest.Artifacts(t, "bos-vmlinuz-amd64", "bos-initrd-amd64")
	start := time.Now()
	vm := vmtest.Start(t, vmtest.Options{
		ISO:    filepath.Join(art, "bos-amd64.iso"),
		Kernel: filepath.Join(art, "bos-vmlinuz-amd64"),
		Initrd: filepath.Join(art, "bos-initrd-amd64"),
		Append: fmt.Sprintf("%s bos.mode=install bos.install.silent bos.install.device=/dev/vda bos.install.config_url=http://10.0.2.2:%d%s bos.install.power_off",
			baseCmdline, port, path),
		Disks:    []vmtest.Disk{{Path: disk}},
		SSH:      true, // the guest's network: the config is fetched from the host
		MemoryMB: 1536,
	})
	vm.WaitFor(MarkModeInstall, bootTimeout)
	vm.WaitFor(MarkInstallStart, bootTimeout)
	vm.WaitFor(MarkInstallDone, installTimeout)
	if err := vm.WaitExit(2 * time.Minute); err != nil {
		t.Fatalf("after the install: %v", err)
	}
	if strings.Contains(vm.Console.String(), MarkInstallFail) {
		t.Fatalf("the console says %q", MarkInstallFail)
	}
	t.Logf("automated install: powered off after %v", time.Since(start).Round(time.Millisecond))
}

// TestAutomatedInstall installs from the artifacts with the kernel cmdline
// alone (bos.mode=install and bos.install.*; the config comes from an HTTP
// server on the host's loopback), then boots the installed disk with BIOS,
// leaves a file under /var and one under /etc, powers off, and boots it
// again with UEFI: the config's hostname and key work both times, the
// /var file survived and the /etc file did not.
func TestAutomatedInstall(t *testing.T) {
	key := vmtest.NewKey(t)
	const hostname = "installed-e2e"
	port := configServer(t, map[string]string{"/config.yaml": nodeConfig(hostname, key)})
	disk := rawDisk(t, "disk.raw", 4*gib)

	// Each VM runs in its own subtest: its console log is its own file.
	if !t.Run("install", func(t *testing.T) { automatedInstall(t, disk, port, "/config.yaml") }) {
		t.FailNow()
	}

	common := []check{
		{"hostname from the config", "hostname", hostname},
		{"the key from the config", "grep -c 'bos-vmtest' ~/.ssh/authorized_keys", "1"},
		{"mode", "cat /run/bos/mode", "disk"},
		{"installed config", "sudo stat -c '%a %U' /bos/system/config.yaml", "600 root"},
		{"installed config content", "sudo grep -c '^hostname: " + hostname + "$' /bos/system/config.yaml", "1"},
		{"BOS_STATE holds /var", "awk '$2 == \"/var\" {print $3}' /proc/mounts", "ext4"},
		// The product document: an installation to disk has no opsutl install.
		{"no opsutl install once installed", "sudo opsutl install 2>&1; echo rc=$?",
			"opsutl install: only on a system booted live from the ISO; this one runs in mode disk (installed): upgrade with bos-upgrade-rootfs, or boot the ISO to reinstall\nrc=1"},
		// The installed config is root's: without sudo, one line says so.
		{"bos-config show without sudo", "bash -lc 'bos-config show' 2>&1; echo rc=$?", "bos-config show: needs root (run: sudo bos-config show)\nrc=1"},
		{"the motd's sudo bos-config show", "sudo bos-config show | grep -c '^hostname: " + hostname + "$'", "1"},
	}

	// DCP runs on the installed node: 2 vCPUs, 2 GiB, as TestDCPLive.
	dcpVM := vmtest.Options{CPUs: 2, MemoryMB: 2048, Timeout: 40 * time.Minute}
	if !t.Run("bios", func(t *testing.T) {
		opts := dcpVM
		opts.Firmware = vmtest.BIOS
		bios := bootDiskWith(t, opts, disk, key)
		runChecks(t, bios, key, "bios", append(common,
			check{"write under /var", "sudo sh -c 'echo kept > /var/lib/bos-e2e-persist' && echo ok", "ok"},
			check{"write under /etc", "sudo sh -c 'echo lost > /etc/bos-e2e-ephemeral' && echo ok", "ok"},
		))
		// A cluster object made before the reboot is there after it.
		g := guest{t, bios, key}
		if g.until("node Ready", "kubectl get nodes --no-headers", " Ready ", dcpTimeout) {
			if out, err := g.run("kubectl create configmap kept-across-reboots --from-literal=k=v"); err != nil {
				t.Errorf("kubectl create configmap: %q, %v", out, err)
			}
		}
		powerOff(t, bios, key)
	}) {
		t.FailNow()
	}
	t.Run("uefi-after-reboot", func(t *testing.T) {
		opts := dcpVM
		opts.Firmware = vmtest.UEFI
		uefi := bootDiskWith(t, opts, disk, key)
		runChecks(t, uefi, key, "uefi after a reboot", append(common,
			check{"/var survives a reboot", "cat /var/lib/bos-e2e-persist", "kept"},
			check{"/etc does not", "test -e /etc/bos-e2e-ephemeral && echo present || echo gone", "gone"},
			check{"etcd is on BOS_STATE", "sudo df --output=fstype /var/lib/bhojpur/dcp/server/db | tail -1", "ext4"},
		))
		// The node is Ready again with nobody touching it, and keeps the
		// cluster's objects.
		g := guest{t, uefi, key}
		if g.until("node Ready after the reboot", "kubectl get nodes --no-headers", " Ready ", dcpTimeout) {
			if out, err := g.run("kubectl get configmap kept-across-reboots -o jsonpath='{.data.k}'"); err != nil || out != "v" {
				t.Errorf("the configmap made before the reboot: %q, %v", out, err)
			}
		}
		powerOff(t, uefi, key)
	})
}

// TestNoFormatInstall prepares a disk on the host (GPT: BIOS boot, an ESP
// and an ext4 partition made with mkfs offsets, labelled "old"), installs
// onto the ext4 partition with --no-format from a live system over SSH,
// checks BOS_STATE there, and boots the disk.
func TestNoFormatInstall(t *testing.T) {
	vmtest.Artifacts(t, "bos-vmlinuz-amd64", "bos-initrd-amd64")
	for _, tool := range []string{"sgdisk", "mkfs.ext4", "mkfs.vfat"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed to prepare the disk: %v", tool, err)
		}
	}
	key := vmtest.NewKey(t)
	const hostname = "noformat-e2e"
	port := configServer(t, map[string]string{"/config.yaml": nodeConfig(hostname, key)})
	disk := rawDisk(t, "disk.raw", 4*gib)
	const mib = int64(1) << 20
	const espStart, espSize, stateStart = 2 * mib, 128 * mib, 130 * mib
	stateSize := 4*gib - stateStart - 1*mib // the backup GPT sits in the last MiB
	host := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	host("sgdisk", "-n", "1:2048:4095", "-t", "1:ef02", "-c", "1:bios",
		"-n", fmt.Sprintf("2:%d:+%dM", espStart/512, espSize/mib), "-t", "2:ef00", "-c", "2:esp",
		"-n", fmt.Sprintf("3:%d:+%dM", stateStart/512, stateSize/mib), "-t", "3:8300", "-c", "3:root", disk)
	host("mkfs.vfat", "-F", "32", "-s", "1", "-n", "ESP", "--offset", strconv.FormatInt(espStart/512, 10), disk, strconv.FormatInt(espSize/1024, 10))
	host("mkfs.ext4", "-F", "-q", "-L", "old", "-E", "offset="+strconv.FormatInt(stateStart, 10), disk, strconv.FormatInt(stateSize/1024, 10)+"k")

	if !t.Run("live", func(t *testing.T) {
		vm := liveVM(t, key, vmtest.Disk{Path: disk})
		start := time.Now()
		out, rc := sshRC(t, vm, key, fmt.Sprintf("sudo bos-install --silent --no-reboot --no-format --config http://10.0.2.2:%d/config.yaml /dev/vda3 2>&1", port))
		t.Logf("bos-install --no-format (%v, exit %d):\n%s", time.Since(start).Round(time.Millisecond), rc, out)
		if rc != 0 {
			t.Fatalf("bos-install --no-format exited %d", rc)
		}
		runChecks(t, vm, key, "live", []check{
			{"label", "sudo e2label /dev/vda3", "BOS_STATE"},
			{"mount", "sudo mkdir -p /mnt/s && sudo mount -o ro /dev/vda3 /mnt/s && echo ok", "ok"},
			{"bos current", "sudo test -d /mnt/s/bos/system/bos/current/ && sudo test -f /mnt/s/bos/system/bos/current/rootfs.squashfs && echo ok", "ok"},
			{"kernel current", "sudo test -f /mnt/s/bos/system/kernel/current/vmlinuz && sudo test -f /mnt/s/bos/system/kernel/current/initrd && echo ok", "ok"},
			{"same system as the media", "cd /bos/system && sudo find -L . -type f | sort | xargs sudo sha256sum > /tmp/a; cd /mnt/s/bos/system && sudo find -L . -type f ! -name config.yaml | sort | xargs sudo sha256sum > /tmp/b; cmp /tmp/a /tmp/b && echo same", "same"},
			{"config 0600", "sudo stat -c %a /mnt/s/bos/system/config.yaml", "600"},
			{"grub.cfg", "sudo grep -c 'search --no-floppy --label BOS_STATE' /mnt/s/boot/grub/grub.cfg", "1"},
			{"data dir", "sudo test -d /mnt/s/bos/data/opt && echo ok", "ok"},
			{"umount", "sudo umount /mnt/s && echo ok", "ok"},
		})
		powerOff(t, vm, key)
	}) {
		t.FailNow()
	}
	t.Run("boot-bios", func(t *testing.T) {
		installed := bootDisk(t, vmtest.BIOS, disk, key)
		runChecks(t, installed, key, "installed", []check{
			{"hostname", "hostname", hostname},
			{"mode", "cat /run/bos/mode", "disk"},
			{"state partition", "awk '$2 == \"/run/bos/state\" {print $1}' /proc/mounts", "/dev/vda3"},
		})
		powerOff(t, installed, key)
	})
}

// TestInstallBadInput runs bos-install over SSH with input it must refuse
// and proves, by the sha256 of the disk image files on the host, that it
// wrote nothing: a disk too small for BOS_STATE, a missing device, a config
// that does not validate, a config URL nobody answers. Each run must exit
// with its documented code.
func TestInstallBadInput(t *testing.T) {
	vmtest.Artifacts(t, "bos-vmlinuz-amd64", "bos-initrd-amd64")
	key := vmtest.NewKey(t)
	port := configServer(t, map[string]string{
		"/good.yaml": nodeConfig("bad-input-e2e", key),
		"/bad.yaml":  "hostname: x\nno_such_key: 1\n",
		// Not an ISO: the published sum must stop the install before
		// the file is even opened.
		"/iso/bos-amd64.iso":       strings.Repeat("not an ISO\n", 4096),
		"/iso/sha256sum-amd64.txt": strings.Repeat("0", 64) + "  bos-amd64.iso\n",
	})
	small := rawDisk(t, "small.raw", 1*gib)
	normal := rawDisk(t, "normal.raw", 3*gib)
	before := map[string]string{small: sha256File(t, small), normal: sha256File(t, normal)}

	vm := liveVM(t, key, vmtest.Disk{Path: small}, vmtest.Disk{Path: normal})
	url := func(p string) string { return fmt.Sprintf("http://10.0.2.2:%d%s", port, p) }
	tests := []struct {
		name, args string
		want       int
	}{
		{"too-small", "--config " + url("/good.yaml") + " /dev/vda", exitBadInput},
		{"missing-device", "--config " + url("/good.yaml") + " /dev/vdz", exitBadInput},
		{"invalid-config", "--config " + url("/bad.yaml") + " /dev/vdb", exitBadInput},
		{"config-not-found", "--config " + url("/nothing.yaml") + " /dev/vdb", exitDownload},
		{"unreachable-config", "--config http://10.0.2.2:9/config.yaml /dev/vdb", exitDownload},
		{"wrong-iso-checksum", "--config " + url("/good.yaml") + " /dev/vdb " + url("/iso/bos-amd64.iso"), exitDownload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, rc := sshRC(t, vm, key, "sudo bos-install --silent --no-reboot "+tt.args+" 2>&1")
			t.Logf("exit %d:\n%s", rc, out)
			if rc != tt.want {
				t.Errorf("bos-install %s exited %d, want %d", tt.args, rc, tt.want)
			}
		})
	}
	powerOff(t, vm, key)
	for p, sum := range before {
		if got := sha256File(t, p); got != sum {
			t.Errorf("%s changed: sha256 %s, was %s", filepath.Base(p), got, sum)
		}
	}
}

// TestInteractiveInstall boots install mode with no bos.install.* at all
// and two disks, and answers the installer's questions on the serial
// console: the disk by name, no config URL, a password, no wifi, a server,
// and the confirmation. The installed disk then boots and takes the
// password on the console; the other disk was not touched.
func TestInteractiveInstall(t *testing.T) {
	art := vmtest.Artifacts(t, "bos-vmlinuz-amd64", "bos-initrd-amd64")
	const password = "e2e-Secret-42"
	disk := rawDisk(t, "disk.raw", 4*gib)
	other := rawDisk(t, "other.raw", 3*gib)
	otherSum := sha256File(t, other)

	if !t.Run("install", func(t *testing.T) {
		vm := vmtest.Start(t, vmtest.Options{
			ISO:      filepath.Join(art, "bos-amd64.iso"),
			Kernel:   filepath.Join(art, "bos-vmlinuz-amd64"),
			Initrd:   filepath.Join(art, "bos-initrd-amd64"),
			Append:   baseCmdline + " bos.mode=install",
			Disks:    []vmtest.Disk{{Path: disk}, {Path: other}},
			SSH:      true,
			MemoryMB: 1536,
		})
		vm.WaitFor(MarkInstallStart, bootTimeout)
		answers := []struct{ prompt, answer string }{
			{"Disk to install to [1-2]: ", "vda"},
			{"Config URL or path (leave empty to answer a few questions instead): ", ""},
			{"GitHub users whose SSH keys may log in as bhojpur", ""},
			{"Password for bhojpur (empty for none): ", password},
			{"The password again: ", password},
			{"Configure wifi? [y/N]: ", "n"},
			{"[server/agent] (server): ", "server"},
			{"Cluster secret for other nodes to join with (empty for none): ", ""},
			{"Erase everything on /dev/vda and install Bhojpur OS? [y/N]: ", "y"},
		}
		for _, a := range answers {
			vm.WaitFor(a.prompt, 2*time.Minute)
			time.Sleep(300 * time.Millisecond) // the installer is reading now
			vm.Send(a.answer + "\n")
		}
		took := vm.WaitFor("bos-install: done, rebooting", installTimeout)
		t.Logf("interactive install done after %v", took.Round(time.Millisecond))
		if err := vm.WaitExit(2 * time.Minute); err != nil {
			t.Fatalf("after the install: %v", err)
		}
		con := vm.Console.String()
		if strings.Contains(con, password) {
			t.Errorf("the password was echoed on the console")
		}
		// The disk list names the disks for people, not by a vendor id.
		if !strings.Contains(con, "/dev/vda  4 GiB  virtio disk") || strings.Contains(con, "0x1af4") {
			t.Errorf("the disk list does not say \"/dev/vda  4 GiB  virtio disk\" (see the console log)")
		}
	}) {
		t.FailNow()
	}
	if got := sha256File(t, other); got != otherSum {
		t.Errorf("the disk not chosen changed: sha256 %s, was %s", got, otherSum)
	}
	t.Run("boot-bios", func(t *testing.T) {
		vm := vmtest.Start(t, vmtest.Options{Disks: []vmtest.Disk{{Path: disk}}, SSH: true})
		vm.WaitFor(MarkModeDisk, bootTimeout)
		vm.WaitFor(MarkPhaseRun, bootTimeout)
		vm.WaitFor(MarkLogin, bootTimeout)
		time.Sleep(2 * time.Second)
		vm.Send("bhojpur\n")
		vm.WaitFor("Password: ", time.Minute)
		time.Sleep(500 * time.Millisecond)
		vm.Send(password + "\n")
		time.Sleep(3 * time.Second)
		vm.Send("echo LOGIN-$((40+2)) $(cat /run/bos/mode) $(id -un)\n")
		vm.WaitFor("LOGIN-42 disk bhojpur", time.Minute)
		vm.Send("sudo poweroff\n")
		if err := vm.WaitExit(3 * time.Minute); err != nil {
			t.Error(err)
		}
	})
}
