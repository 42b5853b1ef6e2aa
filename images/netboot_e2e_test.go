package images

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bhojpur/os/internal/vmtest"
)

// Console markers of a netboot (internal/boot).
const (
	MarkNetUp      = "bos-init: network: "
	MarkDownloaded = "sha256 verified against http://10.0.2.2:"
	MarkFromBooted = "installing from the booted media"
	downloadWait   = 10 * time.Minute // the ISO over QEMU's user network under TCG
)

// nvme attaches disk as the VM's NVMe drive (/dev/nvme0n1).
func nvme(disk string) []string {
	return []string{"-drive", "file=" + disk + ",format=raw,if=none,id=nv0", "-device", "nvme,serial=bos-e2e,drive=nv0"}
}

// artifactServer serves the artifacts under /rel/ (Range requests work, as
// for a resumed download), the same ISO under /bad/ beside a checksum list
// that does not match it, and the config. It counts the requests for the
// ISO under /rel/.
type artifactServer struct {
	mu   sync.Mutex
	isos int
}

func (s *artifactServer) start(t *testing.T, art, config string) int {
	mux := http.NewServeMux()
	files := http.StripPrefix("/rel/", http.FileServer(http.Dir(art)))
	mux.HandleFunc("/rel/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".iso") {
			s.mu.Lock()
			s.isos++
			s.mu.Unlock()
		}
		files.ServeHTTP(w, r)
	})
	mux.HandleFunc("/bad/bos-amd64.iso", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(art, "bos-amd64.iso"))
	})
	mux.HandleFunc("/bad/sha256sum-amd64.txt", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("0", 64)+"  bos-amd64.iso\n")
	})
	mux.HandleFunc("/config.yaml", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, config) })
	return serverPort(t, httptest.NewServer(mux))
}

func (s *artifactServer) isoRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.isos
}

// TestNetbootInstall boots the kernel and initrd alone (no CD), with an
// NVMe disk and the installer's settings on the cmdline: the initrd gets a
// DHCP lease, downloads the ISO from the host's loopback server, verifies
// it against the checksum list beside it and installs from it; the
// installed disk boots and takes SSH with the config's key. First, an ISO
// whose checksum list does not match stops in the initrd, and the disk
// stays byte for byte what it was.
func TestNetbootInstall(t *testing.T) {
	art := vmtest.Artifacts(t, "bos-vmlinuz-amd64", "bos-initrd-amd64", "sha256sum-amd64.txt")
	key := vmtest.NewKey(t)
	const hostname = "netboot-e2e"
	var srv artifactServer
	port := srv.start(t, art, nodeConfig(hostname, key))
	cmdline := func(iso string) string {
		return fmt.Sprintf("%s bos.mode=install bos.install.silent bos.install.device=/dev/nvme0n1 bos.install.config_url=http://10.0.2.2:%d/config.yaml bos.install.iso_url=http://10.0.2.2:%d%s bos.install.power_off",
			baseCmdline, port, port, iso)
	}
	netboot := func(t *testing.T, iso, disk string) *vmtest.VM {
		return vmtest.Start(t, vmtest.Options{
			Kernel: filepath.Join(art, "bos-vmlinuz-amd64"),
			Initrd: filepath.Join(art, "bos-initrd-amd64"),
			Append: cmdline(iso),
			SSH:    true, // QEMU's user network: DHCP, and the host at 10.0.2.2
			// The ISO lives in RAM beside the system (and will grow with
			// the DCP to a few hundred MiB).
			MemoryMB: 2560,
			Extra:    nvme(disk),
			Timeout:  30 * time.Minute,
		})
	}

	if !t.Run("wrong-checksum", func(t *testing.T) {
		disk := rawDisk(t, "untouched.raw", 1*gib)
		before := sha256File(t, disk)
		vm := netboot(t, "/bad/bos-amd64.iso", disk)
		vm.WaitFor(MarkModeInstall, bootTimeout)
		vm.WaitFor(MarkNetUp, bootTimeout)
		vm.WaitFor("checksum mismatch", downloadWait)
		vm.WaitFor(MarkRescue, time.Minute)
		con := vm.Console.String()
		for _, w := range []string{"the ISO does not match http://10.0.2.2:", "no disk was touched"} {
			if !strings.Contains(con, w) {
				t.Errorf("the console does not say %q", w)
			}
		}
		if strings.Contains(con, MarkInstallStart) || strings.Contains(con, MarkSwitchRoot) {
			t.Errorf("the boot went on after the mismatch")
		}
		vm.Kill()
		if got := sha256File(t, disk); got != before {
			t.Errorf("the disk changed: sha256 %s, was %s", got, before)
		}
	}) {
		t.FailNow()
	}

	disk := rawDisk(t, "nvme.raw", 4*gib)
	if !t.Run("install", func(t *testing.T) {
		start := time.Now()
		vm := netboot(t, "/rel/bos-amd64.iso", disk)
		vm.WaitFor(MarkModeInstall, bootTimeout)
		vm.WaitFor(MarkNetUp, bootTimeout)
		took := vm.WaitFor(MarkDownloaded, downloadWait)
		t.Logf("ISO downloaded and verified after %v", took.Round(time.Millisecond))
		vm.WaitFor(MarkInstallStart, bootTimeout)
		vm.WaitFor(MarkFromBooted, bootTimeout)
		vm.WaitFor(MarkInstallDone, installTimeout)
		if err := vm.WaitExit(2 * time.Minute); err != nil {
			t.Fatalf("after the install: %v", err)
		}
		if strings.Contains(vm.Console.String(), MarkInstallFail) {
			t.Fatalf("the console says %q", MarkInstallFail)
		}
		// The initrd's download, and no second one by the installer.
		if n := srv.isoRequests(); n != 1 {
			t.Errorf("the ISO was requested %d times, want once", n)
		}
		t.Logf("netboot install: powered off after %v", time.Since(start).Round(time.Millisecond))
	}) {
		t.FailNow()
	}

	t.Run("boot", func(t *testing.T) {
		vm := vmtest.Start(t, vmtest.Options{Extra: nvme(disk), SSH: true})
		vm.WaitFor(MarkModeDisk, bootTimeout)
		vm.WaitFor(MarkPhaseRun, bootTimeout)
		if err := vm.WaitSSH(key, "bhojpur", 3*time.Minute); err != nil {
			t.Fatal(err)
		}
		runChecks(t, vm, key, "installed from the netboot", []check{
			{"hostname from the config", "hostname", hostname},
			{"mode", "cat /run/bos/mode", "disk"},
			{"BOS_STATE on the NVMe disk", "awk '$2 == \"/run/bos/state\" {print $1}' /proc/mounts", "/dev/nvme0n1p3"},
			{"installed config", "sudo grep -c '^hostname: " + hostname + "$' /bos/system/config.yaml", "1"},
		})
		powerOff(t, vm, key)
	})
}

// TestNetbootLive boots the live system the same way (bos.mode=live and
// bos.install.iso_url, no CD): the ISO in RAM is the media, loop-mounted,
// and the system takes SSH with the cmdline's key.
func TestNetbootLive(t *testing.T) {
	art := vmtest.Artifacts(t, "bos-vmlinuz-amd64", "bos-initrd-amd64", "sha256sum-amd64.txt")
	key := vmtest.NewKey(t)
	var srv artifactServer
	port := srv.start(t, art, "")
	vm := vmtest.Start(t, vmtest.Options{
		Kernel: filepath.Join(art, "bos-vmlinuz-amd64"),
		Initrd: filepath.Join(art, "bos-initrd-amd64"),
		Append: fmt.Sprintf(`%s bos.mode=live bos.install.iso_url=http://10.0.2.2:%d/rel/bos-amd64.iso bos.ssh_authorized_keys="%s"`,
			baseCmdline, port, key.Authorized),
		SSH:      true,
		MemoryMB: 2560,
		Timeout:  20 * time.Minute,
	})
	vm.WaitFor(MarkModeLive, bootTimeout)
	vm.WaitFor(MarkDownloaded, downloadWait)
	vm.WaitFor(MarkPhaseRun, bootTimeout)
	if err := vm.WaitSSH(key, "bhojpur", 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	runChecks(t, vm, key, "netboot live", []check{
		{"mode", "cat /run/bos/mode", "live"},
		{"the media is the ISO in RAM", "awk '$2 == \"/run/bos/media\" {print $3}' /proc/mounts; sudo cat /sys/block/$(awk '$2 == \"/run/bos/media\" {print substr($1, 6)}' /proc/mounts)/loop/backing_file",
			"iso9660\n/run/bos/netboot/media.iso"},
		{"the tmpfs that holds it", "awk '$2 == \"/run/bos/netboot\" {print $3}' /proc/mounts", "tmpfs"},
		{"where it came from", "sudo cat /run/bos/media-url", fmt.Sprintf("http://10.0.2.2:%d/rel/bos-amd64.iso", port)},
	})
	powerOff(t, vm, key)
}
