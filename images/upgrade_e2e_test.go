package images

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/bhojpur/os/internal/vmtest"
)

// Versions served to the guest by TestUpgradeAndRollback, made from the
// build's own artifacts (version A).
const (
	relB       = "e2e-b"         // A relabelled, with a marker file in its rootfs
	relBroken  = "e2e-c-broken"  // its rootfs image is garbage: bos-init fails
	relCorrupt = "e2e-d-corrupt" // its vmlinuz does not match the published sum
	relHang    = "e2e-e-hangs"   // a run_cmd of the config hangs its boot
	// relMarker is the file added to B's rootfs image, at its top.
	relMarker = "bos-e2e-release"
)

// Console markers of trial boots.
const (
	markTrialFailed = "bos-init: the trial boot of " + relBroken + " failed"
	markFallback    = "bos-init: FALLBACK: the trial boot of " + relBroken + " did not come up"
	markGoodB       = "bos: boot of " + relB + " marked good: the trial of " + relB + " is over"
	markTrialHang   = "bos-init: trial boot of " + relHang + ": it must come up (bos-init --mark-good) within 1m0s"
	markWatchdog    = "softdog: Initiating system reboot"
	markFallbackE   = "bos-init: FALLBACK: the trial boot of " + relHang + " did not come up"
)

// hangConfig is a runtime config whose run_cmd hangs the runtime phase
// (and so everything after it) on version relHang only.
const hangConfig = `run_cmd:
  - '[ "$(cat /run/bos/version)" != ` + relHang + ` ] || sleep 100000'
`

// rootfsVersion reads the version of the build's rootfs tarball: its
// top directory is bos-rootfs-VERSION.
func rootfsVersion(t *testing.T, tarball string) string {
	t.Helper()
	f, err := os.Open(tarball)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	h, err := tar.NewReader(zr).Next()
	if err != nil {
		t.Fatal(err)
	}
	top, _, _ := strings.Cut(strings.TrimPrefix(h.Name, "./"), "/")
	v, ok := strings.CutPrefix(top, "bos-rootfs-")
	if !ok {
		t.Fatalf("%s starts with %q, not bos-rootfs-VERSION/", tarball, h.Name)
	}
	return v
}

// relabel copies the rootfs tarball of version from as version to: every
// path element and link target named from is renamed, and rootfs.squashfs
// goes through edit (a file path it may change in place).
func relabel(t *testing.T, in, out, from, to string, edit func(squashfs string)) {
	t.Helper()
	src, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	zr, err := gzip.NewReader(src)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	zw := gzip.NewWriter(dst)
	tw := tar.NewWriter(zw)
	rename := func(p string) string {
		parts := strings.Split(p, "/")
		for i, e := range parts {
			if e == from {
				parts[i] = to
			} else if e == "bos-rootfs-"+from {
				parts[i] = "bos-rootfs-" + to
			}
		}
		return strings.Join(parts, "/")
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		h.Name = rename(h.Name)
		if h.Typeflag == tar.TypeSymlink || h.Typeflag == tar.TypeLink {
			h.Linkname = rename(h.Linkname)
		}
		var body io.Reader = tr
		if h.Typeflag == tar.TypeReg && filepath.Base(h.Name) == "rootfs.squashfs" {
			tmp := filepath.Join(t.TempDir(), "rootfs.squashfs")
			f, err := os.Create(tmp)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(f, tr); err != nil {
				t.Fatal(err)
			}
			f.Close()
			edit(tmp)
			b, err := os.ReadFile(tmp)
			if err != nil {
				t.Fatal(err)
			}
			h.Size = int64(len(b))
			body = bytes.NewReader(b)
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(tw, body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
}

// publish writes release v under dir/v: the rootfs tarball made by
// relabel, the kernel artifacts of the build and sha256sum-amd64.txt over
// them; corrupt, when set, then changes one byte of that artifact after its
// sum was taken.
func publish(t *testing.T, art, dir, from, v string, edit func(string), corrupt string) {
	t.Helper()
	rel := filepath.Join(dir, v)
	if err := os.MkdirAll(rel, 0o755); err != nil {
		t.Fatal(err)
	}
	relabel(t, filepath.Join(art, "bos-rootfs-amd64.tar.gz"), filepath.Join(rel, "bos-rootfs-amd64.tar.gz"), from, v, edit)
	for _, k := range []string{"bos-vmlinuz-amd64", "bos-initrd-amd64", "bos-kernel-amd64.squashfs", "bos-kernel-version-amd64"} {
		b, err := os.ReadFile(filepath.Join(art, k))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(rel, k), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ents, err := os.ReadDir(rel)
	if err != nil {
		t.Fatal(err)
	}
	var sums []string
	for _, e := range ents {
		sums = append(sums, sha256File(t, filepath.Join(rel, e.Name()))+"  "+e.Name())
	}
	sort.Strings(sums)
	if err := os.WriteFile(filepath.Join(rel, "sha256sum-amd64.txt"), []byte(strings.Join(sums, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if corrupt != "" {
		p := filepath.Join(rel, corrupt)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0xff
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// releaseServer serves dir on the host's loopback and returns the
// --release-url the guest uses (10.0.2.2 is the host).
func releaseServer(t *testing.T, dir string) string {
	t.Helper()
	port := serverPort(t, httptest.NewServer(http.FileServer(http.Dir(dir))))
	return fmt.Sprintf("http://10.0.2.2:%d/{version}/{artifact}", port)
}

// mustSSH runs command as bhojpur and fails the test unless it exits 0.
func mustSSH(t *testing.T, vm *vmtest.VM, key vmtest.Key, command string) string {
	t.Helper()
	out, rc := sshRC(t, vm, key, command)
	if rc != 0 {
		t.Fatalf("%q exited %d:\n%s", command, rc, out)
	}
	return out
}

// reboot reboots the guest; QEMU (-no-reboot) exits.
func reboot(t *testing.T, vm *vmtest.VM, key vmtest.Key) {
	t.Helper()
	leave(t, vm, key, "reboot")
}

// running checks what the booted system runs, by SSH.
func running(t *testing.T, vm *vmtest.VM, key vmtest.Key, version string, marker bool) {
	t.Helper()
	want := "absent"
	if marker {
		want = version
	}
	runChecks(t, vm, key, "running "+version, []check{
		{"bos version mounted", "cat /run/bos/version", version},
		{"kernel version directory", "cat /run/bos/kernel-version", version},
		{"bos/current", "readlink /bos/system/bos/current", version},
		{"kernel/current", "readlink /bos/system/kernel/current", version},
		{"marker in the rootfs image", "cat /run/bos/rootfs/" + relMarker + " 2>/dev/null || echo absent", want},
	})
}

// TestUpgradeAndRollback installs version A, upgrades rootfs and kernel
// to B from a loopback HTTP server and boots B (a trial, marked good);
// refuses a corrupted download and changes nothing; boots A from the
// menu's previous entry, rolls back to A by hand and boots A; then upgrades to C, whose init fails: the trial boot
// reboots by itself and the next boot is B again, rolled back
// automatically, with the fallback on the console, in /run/bos and in the
// DCP node labels; last, upgrades to E, whose boot hangs: the watchdog
// reboots it and the next boot is B again.
func TestUpgradeAndRollback(t *testing.T) {
	art := vmtest.Artifacts(t, "bos-vmlinuz-amd64", "bos-initrd-amd64", "bos-rootfs-amd64.tar.gz", "bos-kernel-amd64.squashfs", "bos-kernel-version-amd64")
	if _, err := exec.LookPath("mksquashfs"); err != nil {
		t.Fatalf("mksquashfs (squashfs-tools) is needed: %v", err)
	}
	relA := rootfsVersion(t, filepath.Join(art, "bos-rootfs-amd64.tar.gz"))
	releases := t.TempDir()
	marked := func(v string) func(string) {
		return func(sq string) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, relMarker), []byte(v+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			// Appending to the image adds the file at its top.
			if out, err := exec.Command("mksquashfs", dir, sq, "-no-recovery", "-no-progress", "-quiet", "-all-root").CombinedOutput(); err != nil {
				t.Fatalf("mksquashfs: %v: %s", err, out)
			}
		}
	}
	publish(t, art, releases, relA, relB, marked(relB), "")
	publish(t, art, releases, relA, relHang, marked(relHang), "")
	publish(t, art, releases, relA, relBroken, func(sq string) {
		if err := os.WriteFile(sq, bytes.Repeat([]byte("not a squashfs "), 1<<16), 0o644); err != nil {
			t.Fatal(err)
		}
	}, "")
	publish(t, art, releases, relA, relCorrupt, func(string) {}, "bos-vmlinuz-amd64")
	url := releaseServer(t, releases)
	upgrade := func(cmd, v string) string {
		return fmt.Sprintf("sudo %s --remount --release %s --insecure-http --release-url '%s' 2>&1", cmd, v, url)
	}

	key := vmtest.NewKey(t)
	port := configServer(t, map[string]string{"/config.yaml": nodeConfig("upgrade-e2e", key)})
	disk := rawDisk(t, "disk.raw", 4*gib)
	step := func(name string, fn func(t *testing.T)) {
		if !t.Run(name, fn) {
			t.FailNow()
		}
	}
	step("install-A", func(t *testing.T) { automatedInstall(t, disk, port, "/config.yaml") })

	step("A-upgrade-to-B", func(t *testing.T) {
		vm := bootDisk(t, vmtest.BIOS, disk, key)
		running(t, vm, key, relA, false)
		// Under TCG on a loaded host DCP's node can take longer than the
		// default trial (10m) to be Ready: give B's trial the test's time.
		trial := fmt.Sprintf(" --trial-timeout %v", dcpTimeout)
		out := mustSSH(t, vm, key, upgrade("bos-upgrade-rootfs", relB)+" && "+upgrade("bos-upgrade-kernel", relB)+trial)
		for _, want := range []string{"bos: " + relA + " -> " + relB, "kernel: " + relA + " -> " + relB, "the next boot is a trial of kernel " + relB} {
			if !strings.Contains(out, want) {
				t.Errorf("the upgrades did not say %q:\n%s", want, out)
			}
		}
		reboot(t, vm, key)
	})

	step("B-boots-and-refuses-a-corrupted-download", func(t *testing.T) {
		// A boot is marked good once DCP's node is Ready: give DCP a
		// node of its size and the time it takes under TCG.
		vm := bootDiskWith(t, vmtest.Options{Firmware: vmtest.BIOS, CPUs: 2, MemoryMB: 2048, Timeout: 30 * time.Minute}, disk, key)
		vm.WaitFor(markGoodB, dcpTimeout)
		running(t, vm, key, relB, true)
		runChecks(t, vm, key, "B", []check{
			{"trial ended", "sudo grep -c '^bos_trial=' /run/bos/state/boot/grub/grubenv || true", "0"},
			{"B recorded good", "sudo grep '^bos_good=' /run/bos/state/boot/grub/grubenv", "bos_good=" + relB},
		})
		// The links, the version directories, no leftovers, the GRUB environment.
		state := "sudo sha256sum /run/bos/state/boot/grub/grubenv; ls -l /bos/system/kernel /bos/system/bos; ls -A /bos/system"
		before := mustSSH(t, vm, key, state)
		out, rc := sshRC(t, vm, key, upgrade("bos-upgrade-kernel", relCorrupt))
		if rc != exitDownload || !strings.Contains(out, "sha256") {
			t.Errorf("upgrade to a corrupted release exited %d, want %d and a checksum error:\n%s", rc, exitDownload, out)
		}
		if after := mustSSH(t, vm, key, state); after != before {
			t.Errorf("the refused upgrade changed the system:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		reboot(t, vm, key)
	})

	step("menu-previous-entry-boots-A-then-rollback", func(t *testing.T) {
		vm := vmtest.Start(t, vmtest.Options{Firmware: vmtest.BIOS, Disks: []vmtest.Disk{{Path: disk}}, SSH: true})
		vm.WaitFor("Bhojpur OS (previous)", bootTimeout)
		vm.Send("\x1b[B") // down: the second entry
		time.Sleep(time.Second)
		vm.Send("\r")
		vm.WaitFor(MarkModeDisk, bootTimeout)
		vm.WaitFor(MarkPhaseRun, bootTimeout)
		if err := vm.WaitSSH(key, "bhojpur", 3*time.Minute); err != nil {
			t.Fatal(err)
		}
		runChecks(t, vm, key, "the previous entry", []check{
			{"bos version mounted", "cat /run/bos/version", relA},
			{"kernel version directory", "cat /run/bos/kernel-version", relA},
			{"links untouched", "readlink /bos/system/bos/current /bos/system/kernel/current | sort -u", relB},
		})
		mustSSH(t, vm, key, "sudo bos-upgrade-rootfs --remount --rollback && sudo bos-upgrade-kernel --remount --rollback")
		reboot(t, vm, key)
	})

	step("A-after-rollback-then-upgrade-to-broken-C", func(t *testing.T) {
		vm := bootDisk(t, vmtest.BIOS, disk, key)
		running(t, vm, key, relA, false)
		// Forward to B again (rollback swaps), then C on top: previous is B.
		mustSSH(t, vm, key, "sudo bos-upgrade-rootfs --remount --rollback && sudo bos-upgrade-kernel --remount --rollback")
		mustSSH(t, vm, key, upgrade("bos-upgrade-rootfs", relBroken)+" && "+upgrade("bos-upgrade-kernel", relBroken))
		runChecks(t, vm, key, "before the trial of C", []check{
			{"bos/previous", "readlink /bos/system/bos/previous", relB},
			{"trial armed", "sudo grep '^bos_trial=' /run/bos/state/boot/grub/grubenv", "bos_trial=" + relBroken},
		})
		reboot(t, vm, key)
	})

	step("C-trial-fails-and-reboots", func(t *testing.T) {
		vm := vmtest.Start(t, vmtest.Options{Firmware: vmtest.BIOS, Disks: []vmtest.Disk{{Path: disk}}})
		vm.WaitFor(markTrialFailed, bootTimeout)
		if err := vm.WaitExit(2 * time.Minute); err != nil {
			t.Fatalf("the failed trial boot did not reboot: %v\n--- console tail ---\n%s", err, vm.Console.Tail(2000))
		}
	})

	step("falls-back-to-B", func(t *testing.T) {
		vm := bootDisk(t, vmtest.BIOS, disk, key)
		if !strings.Contains(vm.Console.String(), markFallback) {
			t.Errorf("the console does not say %q", markFallback)
		}
		running(t, vm, key, relB, true)
		runChecks(t, vm, key, "after the fallback", []check{
			{"fallback in /run/bos", "cat /run/bos/fallback", relBroken},
			{"bos/previous is the failed version", "readlink /bos/system/bos/previous", relBroken},
			{"DCP node label", "sudo bos-config show --dcp -o json | grep -c 'bhojpur.net/fallback=" + relBroken + "'", "1"},
		})
		mustSSH(t, vm, key, "printf '%s' '"+strings.ReplaceAll(hangConfig, "'", `'\''`)+"' | sudo tee /var/lib/bhojpur/os/config.yaml >/dev/null")
		mustSSH(t, vm, key, upgrade("bos-upgrade-rootfs", relHang)+" --trial-timeout 60s")
		reboot(t, vm, key)
	})

	step("E-trial-hangs-and-the-watchdog-reboots", func(t *testing.T) {
		vm := vmtest.Start(t, vmtest.Options{Firmware: vmtest.BIOS, Disks: []vmtest.Disk{{Path: disk}}})
		vm.WaitFor(markTrialHang, bootTimeout)
		vm.WaitFor(markWatchdog, bootTimeout)
		if err := vm.WaitExit(2 * time.Minute); err != nil {
			t.Fatalf("the watchdog did not reboot the hung trial boot: %v\n--- console tail ---\n%s", err, vm.Console.Tail(2000))
		}
		if strings.Contains(vm.Console.String(), MarkPhaseRun) {
			t.Errorf("the runtime phase of %s finished: the boot was not hung", relHang)
		}
	})

	step("falls-back-to-B-again", func(t *testing.T) {
		vm := bootDisk(t, vmtest.BIOS, disk, key)
		if !strings.Contains(vm.Console.String(), markFallbackE) {
			t.Errorf("the console does not say %q", markFallbackE)
		}
		running(t, vm, key, relB, true)
		runChecks(t, vm, key, "after the second fallback", []check{
			{"fallback in /run/bos", "cat /run/bos/fallback", relHang},
		})
		powerOff(t, vm, key)
	})
}
