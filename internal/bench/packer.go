package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/bhojpur/os/internal/vmtest"
)

// Packer figure (issue 17): seconds of `packer build packer/qemu` (the
// unattended install from the ISO, driven by Packer) next to the same
// install without Packer in the same run: QEMU booting the same kernel,
// initrd and ISO with the same installer words onto the same kind of disk,
// the config served from loopback, until the guest powers off. The ratio is
// Packer's overhead (ISO checksum, disk creation, VNC, the final
// conversion of the qcow2).
func init() {
	register("packer: qemu template build vs plain install", benchPacker)
}

const packerInstallWords = "console=ttyS0,115200 panic=-1 bos.mode=install bos.install.silent bos.install.device=/dev/vda bos.install.power_off"

func benchPacker() error {
	root, err := vmtest.RepoRoot()
	if err != nil {
		return err
	}
	if _, err := exec.LookPath(vmtest.Packer); err != nil {
		return fmt.Errorf("packer not installed: make deps")
	}
	art := filepath.Join(root, "dist", "artifacts")
	for _, n := range []string{"bos-amd64.iso", "bos-vmlinuz-amd64", "bos-initrd-amd64", "sha256sum-amd64.txt"} {
		if _, err := os.Stat(filepath.Join(art, n)); err != nil {
			return fmt.Errorf("%s: run make iso first", filepath.Join(art, n))
		}
	}
	const config = "#cloud-config\nhostname: bench-packer\n"
	plain, err := withTB("install-plain", func(t *benchTB) time.Duration {
		dir := t.TempDir()
		disk := filepath.Join(dir, "disk.qcow2")
		if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", disk, "4G").CombinedOutput(); err != nil {
			t.Fatalf("qemu-img create: %v: %s", err, out)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/config.yaml" {
				http.NotFound(w, r)
				return
			}
			fmt.Fprint(w, config)
		}), ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(l)
		t.Cleanup(func() { srv.Close() })
		port := l.Addr().(*net.TCPAddr).Port
		start := time.Now()
		vm := vmtest.Start(t, vmtest.Options{
			ISO:    filepath.Join(art, "bos-amd64.iso"),
			Kernel: filepath.Join(art, "bos-vmlinuz-amd64"),
			Initrd: filepath.Join(art, "bos-initrd-amd64"),
			Append: fmt.Sprintf("%s bos.install.config_url=http://10.0.2.2:%d/config.yaml", packerInstallWords, port),
			Disks:  []vmtest.Disk{{Path: disk, Format: "qcow2"}},
			SSH:    true, MemoryMB: 1536, Timeout: 30 * time.Minute,
		})
		vm.WaitFor("bos-install: done", 25*time.Minute)
		if err := vm.WaitExit(5 * time.Minute); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	})
	if err != nil {
		return err
	}
	build, err := withTB("install-packer", func(t *benchTB) time.Duration {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err := vmtest.RunPacker(t, root, 45*time.Minute, "build",
			"-var", "iso_url="+filepath.Join(art, "bos-amd64.iso"),
			"-var", "iso_checksum=file:"+filepath.Join(art, "sha256sum-amd64.txt"),
			"-var", "kernel="+filepath.Join(art, "bos-vmlinuz-amd64"),
			"-var", "initrd="+filepath.Join(art, "bos-initrd-amd64"),
			"-var", "config_dir="+dir,
			"-var", "output_directory="+filepath.Join(dir, "out"),
			"-var", "accelerator="+vmtest.Accel(),
			"-var", "disk_size=4G",
			"packer/qemu")
		if err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	})
	if err != nil {
		return err
	}
	ratio(fmt.Sprintf("packer build packer/qemu (%s) vs the same install in plain QEMU", vmtest.Accel()), build, plain, "at most 1.5x")
	return nil
}
