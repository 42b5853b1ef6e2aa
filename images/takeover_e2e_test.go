package images

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bhojpur/os/internal/vmtest"
)

// The Debian system the takeover test takes over (make debian-disk).
const debianDisk = "build/images/debian-takeover.raw"

// Console markers of the Debian system (images/debian-disk-hook.sh).
const (
	MarkGrub        = "GNU GRUB"         // the header of GRUB's menu
	MarkDebianGrub  = "Debian GNU/Linux" // Debian's entry in it
	MarkDebianShell = "root@debian-takeover:~#"
	MarkTakeover    = "takeover: done"
	takeoverTimeout = 20 * time.Minute // download, check and copy a 200 MB ISO under TCG
)

// fileServer serves files of the host (by path) and strings on the host's
// loopback; the guest reaches it at 10.0.2.2. It returns the port.
func fileServer(t *testing.T, files, texts map[string]string) int {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := files[r.URL.Path]; ok {
			http.ServeFile(w, r, p)
			return
		}
		if s, ok := texts[r.URL.Path]; ok {
			w.Write([]byte(s))
			return
		}
		http.NotFound(w, r)
	}))
	return serverPort(t, srv)
}

// TestTakeoverInstall takes over a running Debian system. The Debian disk
// (GPT, a BIOS boot partition and an ext4 root /dev/vda2, booting from its
// own GRUB) runs on a qcow2 overlay; root, logged in on the serial console,
// fetches install.sh from the host and runs
//
//	install.sh --takeover --no-format --config URL /dev/vda2 ISO_URL
//
// with the ISO and its published checksums served from the host's loopback.
// The installer reboots; the same disk then boots through Debian's GRUB
// into Bhojpur OS, which deletes the Debian files at its first boot. Over
// SSH as bhojpur (the config's key): the config's hostname, disk mode,
// bos/system intact, and on the partition nothing of Debian left beside
// Bhojpur OS and GRUB's own directory.
func TestTakeoverInstall(t *testing.T) {
	art := vmtest.Artifacts(t, "bos-vmlinuz-amd64", "bos-initrd-amd64", "sha256sum-amd64.txt")
	root, err := vmtest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(root, debianDisk)
	missing := func(what, fix string) {
		t.Helper()
		if os.Getenv("BOS_REQUIRE_VM") == "1" {
			t.Fatalf("%s missing and BOS_REQUIRE_VM=1: %s", what, fix)
		}
		t.Skipf("%s missing: %s (BOS_REQUIRE_VM=1 makes this a failure)", what, fix)
	}
	if _, err := os.Stat(base); err != nil {
		missing(base, "run make debian-disk")
	}
	if _, err := exec.LookPath("qemu-img"); err != nil {
		missing("qemu-img", "make deps")
	}
	overlay := filepath.Join(t.TempDir(), "debian.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", base, overlay).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v\n%s", err, out)
	}
	disk := vmtest.Disk{Path: overlay, Format: "qcow2"}

	key := vmtest.NewKey(t)
	const hostname = "takeover-e2e"
	port := fileServer(t, map[string]string{
		"/install.sh":              filepath.Join(root, "install.sh"),
		"/iso/bos-amd64.iso":       filepath.Join(art, "bos-amd64.iso"),
		"/iso/sha256sum-amd64.txt": filepath.Join(art, "sha256sum-amd64.txt"),
	}, map[string]string{"/config.yaml": nodeConfig(hostname, key)})
	url := func(p string) string { return fmt.Sprintf("http://10.0.2.2:%d%s", port, p) }

	if !t.Run("debian", func(t *testing.T) {
		vm := vmtest.Start(t, vmtest.Options{Disks: []vmtest.Disk{disk}, SSH: true, Timeout: 40 * time.Minute})
		vm.WaitFor(MarkGrub, bootTimeout)
		vm.WaitFor(MarkDebianGrub, bootTimeout)
		took := vm.WaitFor(MarkDebianShell, bootTimeout)
		t.Logf("Debian: root shell after %v", took.Round(time.Millisecond))
		time.Sleep(2 * time.Second)
		// The markers are computed, so the typed command line never
		// matches them.
		vm.Send("test -f /etc/debian_version && test -f /root/old-file && echo DEBIAN-$((40+2)) $(findmnt -no SOURCE /)\n")
		vm.WaitFor("DEBIAN-42 /dev/vda2", time.Minute)
		start := time.Now()
		vm.Send(fmt.Sprintf("until curl -fsS -o /tmp/install.sh %s; do sleep 2; done; sh /tmp/install.sh --takeover --no-format --config %s /dev/vda2 %s; echo INSTALL-EXIT-$((40+2))=$?\n",
			url("/install.sh"), url("/config.yaml"), url("/iso/bos-amd64.iso")))
		if err := vm.Console.Wait("INSTALL-EXIT-42=", takeoverTimeout, vm.Exited()); err == nil {
			t.Fatalf("install.sh returned instead of rebooting:\n%s", vm.Console.Tail(3000))
		}
		if err := vm.WaitExit(time.Minute); err != nil {
			t.Fatalf("after the install: %v\n%s", err, vm.Console.Tail(3000))
		}
		con := vm.Console.String()
		for _, m := range []string{"sha256 verified", "bos-install: done, rebooting"} {
			if !strings.Contains(con, m) {
				t.Errorf("no %q on the console", m)
			}
		}
		t.Logf("takeover install: rebooting after %v", time.Since(start).Round(time.Millisecond))
	}) {
		t.FailNow()
	}

	if !t.Run("bhojpur", func(t *testing.T) {
		vm := vmtest.Start(t, vmtest.Options{Disks: []vmtest.Disk{disk}, SSH: true})
		vm.WaitFor(MarkGrub, bootTimeout)
		vm.WaitFor("Bhojpur OS", bootTimeout) // our menu, shown by Debian's GRUB
		took := vm.WaitFor(MarkTakeover, bootTimeout)
		t.Logf("takeover finished after %v", took.Round(time.Millisecond))
		vm.WaitFor(MarkModeDisk, bootTimeout)
		vm.WaitFor(MarkPhaseRun, bootTimeout)
		if err := vm.WaitSSH(key, "bhojpur", 3*time.Minute); err != nil {
			t.Fatal(err)
		}
		const state = "/run/bos/state"
		gone := func(p string) string { return "sudo test -e " + state + p + " && echo present || echo gone" }
		runChecks(t, vm, key, "after the takeover", []check{
			{"hostname from the config", "hostname", hostname},
			{"mode", "cat /run/bos/mode", "disk"},
			{"state partition", "awk '$2 == \"" + state + "\" {print $1}' /proc/mounts", "/dev/vda2"},
			{"label", "sudo e2label /dev/vda2", "BOS_STATE"},
			{"what is left on the partition", "sudo ls -A " + state + " | tr '\\n' ' '", "boot bos lost+found"},
			{"/boot keeps only GRUB", "sudo ls -A " + state + "/boot | tr '\\n' ' '", "grub"},
			{"Debian's GRUB modules kept", "sudo test -f " + state + "/boot/grub/i386-pc/normal.mod && echo ok", "ok"},
			{"our grub.cfg", "sudo grep -c 'search --no-floppy --label BOS_STATE' " + state + "/boot/grub/grub.cfg", "1"},
			{"Debian's grub.cfg kept aside", "sudo grep -q 'Debian GNU/Linux' " + state + "/boot/grub/grub.cfg.before-bos && echo ok", "ok"},
			{"/etc/debian_version", gone("/etc/debian_version"), "gone"},
			{"/root/old-file", gone("/root/old-file"), "gone"},
			{"Debian's /usr", gone("/usr"), "gone"},
			{"Debian's kernels", "sudo sh -c 'ls " + state + "/boot/vmlinuz-* 2>/dev/null | wc -l'", "0"},
			{"the takeover marker", gone("/bos/takeover"), "gone"},
			{"bos current", "sudo test -f /bos/system/bos/current/rootfs.squashfs && echo ok", "ok"},
			{"kernel current", "sudo test -f /bos/system/kernel/current/vmlinuz && sudo test -f /bos/system/kernel/current/initrd && echo ok", "ok"},
			{"installed config", "sudo stat -c '%a %U' /bos/system/config.yaml", "600 root"},
			{"the key from the config", "grep -c 'bos-vmtest' ~/.ssh/authorized_keys", "1"},
		})
		powerOff(t, vm, key)
	}) {
		t.FailNow()
	}

	// The first boot read grub.cfg before the clean-up: the next one
	// proves that Debian's GRUB still finds what it needs on the pruned
	// partition, and that nothing is pruned twice.
	t.Run("reboot", func(t *testing.T) {
		vm := vmtest.Start(t, vmtest.Options{Disks: []vmtest.Disk{disk}, SSH: true})
		vm.WaitFor(MarkGrub, bootTimeout)
		vm.WaitFor("Bhojpur OS", bootTimeout)
		vm.WaitFor(MarkModeDisk, bootTimeout)
		vm.WaitFor(MarkPhaseRun, bootTimeout)
		if err := vm.WaitSSH(key, "bhojpur", 3*time.Minute); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(vm.Console.String(), "takeover:") {
			t.Errorf("the second boot ran the takeover again")
		}
		for _, l := range strings.Split(vm.Console.String(), "\n") {
			if i := strings.Index(l, "error: "); i >= 0 && !strings.Contains(l[:i], "]") {
				t.Errorf("the boot loader says %q", strings.TrimSpace(l[i:]))
			}
		}
		runChecks(t, vm, key, "second boot", []check{
			{"hostname", "hostname", hostname},
			{"mode", "cat /run/bos/mode", "disk"},
		})
		powerOff(t, vm, key)
	})
}
