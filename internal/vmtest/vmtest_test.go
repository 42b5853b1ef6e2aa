package vmtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestArgs(t *testing.T) {
	dir := t.TempDir()
	args, err := Args(Options{ISO: "/x.iso", SSH: true, Disks: []Disk{{Path: "/d.img", Snapshot: true}}}, "tcg", dir, 2222)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(args, " ")
	for _, want := range []string{
		"-accel tcg", "-m 1024", "-nographic", "-no-reboot", "-machine pc",
		"-drive file=/x.iso,index=2,media=cdrom,readonly=on", "-drive file=/d.img,format=raw,if=virtio,index=0,snapshot=on",
		"-boot order=dc", "hostfwd=tcp:127.0.0.1:2222-:22",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Args lacks %q:\n%s", want, got)
		}
	}
	if args, _ := Args(Options{Machine: "q35", ISO: "/x.iso"}, "tcg", dir, 0); !strings.Contains(strings.Join(args, " "), "-machine q35") {
		t.Errorf("Machine q35 with BIOS: %v", args)
	}
	if _, err := os.Stat(OVMFVars); err != nil {
		t.Skipf("no OVMF: %v", err)
	}
	args, err = Args(Options{Firmware: UEFI, Kernel: "/k", Initrd: "/i", Append: "console=ttyS0"}, "tcg", dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	got = strings.Join(args, " ")
	for _, want := range []string{"-machine q35", "readonly=on,file=" + OVMFCode, "file=" + filepath.Join(dir, "OVMF_VARS.fd"), "-kernel /k -initrd /i -append console=ttyS0", "-nic none"} {
		if !strings.Contains(got, want) {
			t.Errorf("UEFI Args lacks %q:\n%s", want, got)
		}
	}
}

// TestFloorBoot boots a kernel with the one-line power-off initramfs: it
// proves the harness (console capture, markers, exit, cleanup).
func TestFloorBoot(t *testing.T) {
	kernel := ProbeKernel()
	if kernel == "" {
		if os.Getenv("BOS_REQUIRE_VM") == "1" {
			t.Fatal("no kernel to boot: run make iso")
		}
		t.Skip("no kernel to boot (dist/artifacts or /boot)")
	}
	initrd := filepath.Join(t.TempDir(), "floor.cpio")
	if err := WriteFloorInitramfs(initrd); err != nil {
		t.Skip(err)
	}
	vm := Start(t, Options{Kernel: kernel, Initrd: initrd, Append: "console=ttyS0 panic=-1", MemoryMB: 256, Timeout: 2 * time.Minute})
	took := vm.WaitFor(FloorMarker, 90*time.Second)
	if err := vm.WaitExit(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("floor boot (%s): %v", Accel(), took)
}

func TestLastLines(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb\nc", 2, "b\nc"},
		{"a\nb\n", 5, "a\nb"},
		{"", 3, ""},
		{"one", 1, "one"},
	} {
		if got := lastLines(tc.s, tc.n); got != tc.want {
			t.Errorf("lastLines(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}
