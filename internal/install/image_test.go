package install

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bhojpur/os/internal/execrun"
	"github.com/bhojpur/os/internal/layout"
)

// realMachine is a root for installs with the real tools onto image files
// (no GRUB: grub-install needs a block device, which the QEMU tests have).
func realMachine(t *testing.T) *machine {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("mounting ext4 images needs root")
	}
	need(t, "mkfs.ext4", "mkfs.vfat", "e2label", "mount", "umount", "minfo")
	m := newMachine(t)
	return m
}

func realInstaller(m *machine) *Installer {
	in := m.installer()
	in.Run = execrun.Exec{Log: testLog{m.t}, Debug: true}
	return in
}

// mountRO mounts part of an image read-only for a look, and unmounts it
// when the test ends.
func mountRO(t *testing.T, img string, off, size int64) string {
	t.Helper()
	dir := t.TempDir()
	opts := "loop,ro"
	if size > 0 {
		opts += fmt.Sprintf(",offset=%d,sizelimit=%d", off, size)
	}
	if out, err := exec.Command("mount", "-o", opts, "-t", "ext4", img, dir).CombinedOutput(); err != nil {
		t.Fatalf("mount %s: %v\n%s", img, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, out)
		}
	})
	return dir
}

func TestRealInstallOntoAnImageFile(t *testing.T) {
	m := realMachine(t)
	img := "/disk.img"
	size := 130*MiB + MinStateSize + 2*MiB
	sparse(t, m.path(img), size)
	iso := filepath.Join(t.TempDir(), "iso")
	systemTree(t, iso)
	m.write("config.yaml", goodConfig)
	o := Options{Device: img, ISO: iso, Config: m.path("config.yaml"), Silent: true, NoReboot: true}
	if err := realInstaller(m).Install(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	l, _ := NewLayout("amd64", size, 512)
	parts, err := ReadTable(m.path(img), 512)
	if err != nil || len(parts) != 3 {
		t.Fatalf("GPT = %+v, %v", parts, err)
	}
	state, _ := l.Part(layout.LabelState)
	esp, _ := l.Part(layout.LabelGrub)

	f, err := os.Open(m.path(img))
	if err != nil {
		t.Fatal(err)
	}
	label, ok := ReadExtLabel(io.NewSectionReader(f, state.Start, state.Size))
	f.Close()
	if !ok || label != layout.LabelState {
		t.Errorf("BOS_STATE file system label = %q, %v", label, ok)
	}
	out, err := exec.Command("minfo", "-i", fmt.Sprintf("%s@@%d", m.path(img), esp.Start), "::").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `disk label="BOS_GRUB`) || !strings.Contains(string(out), `disk type="FAT32`) {
		t.Errorf("minfo of the ESP: %v\n%s", err, out)
	}
	dir := mountRO(t, m.path(img), state.Start, state.Size)
	checkState(t, dir, goodConfig)
	if b, err := os.ReadFile(filepath.Join(dir, "boot/grub/grub.cfg")); err != nil || !strings.Contains(string(b), "--label BOS_STATE") {
		t.Errorf("grub.cfg: %v\n%s", err, b)
	}
	if b, _ := exec.Command("losetup", "-j", m.path(img)).CombinedOutput(); strings.Count(string(b), "\n") > 1 {
		t.Errorf("loop devices left on the image:\n%s", b)
	}
}

func TestRealNoFormatOntoAnExt4Image(t *testing.T) {
	m := realMachine(t)
	img := m.path("state.img")
	sparse(t, img, MinStateSize+64*MiB)
	if out, err := exec.Command("mkfs.ext4", "-F", "-q", "-L", "OLD", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	iso := filepath.Join(t.TempDir(), "iso")
	systemTree(t, iso)
	o := Options{Device: "/state.img", NoFormat: true, ISO: iso, Silent: true, NoReboot: true}
	if err := realInstaller(m).Install(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(img)
	label, ok := ReadExtLabel(f)
	f.Close()
	if !ok || label != layout.LabelState {
		t.Errorf("label = %q, %v; want %s", label, ok, layout.LabelState)
	}
	dir := mountRO(t, img, 0, 0)
	checkState(t, dir, "")
	if _, err := os.Stat(filepath.Join(dir, layout.SystemDir, "config.yaml")); !os.IsNotExist(err) {
		t.Errorf("a config was written though none was given: %v", err)
	}
}

func TestRealFailureUnmounts(t *testing.T) {
	m := realMachine(t)
	img := m.path("state.img")
	sparse(t, img, MinStateSize+64*MiB)
	if out, err := exec.Command("mkfs.ext4", "-F", "-q", "-L", layout.LabelState, img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	iso := filepath.Join(t.TempDir(), "iso")
	systemTree(t, iso)
	in := realInstaller(m)
	p, err := in.Plan(context.Background(), Options{Device: "/state.img", NoFormat: true, ISO: iso, Silent: true, NoReboot: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Source.Close()
	// Break the copy: the source disappears after the checks.
	p.Steps = append(p.Steps[:2], copyStep{From: filepath.Join(iso, "gone"), To: filepath.Join(p.StateDir, layout.SystemDir)})
	err = in.Apply(context.Background(), p)
	if err == nil || !strings.Contains(err.Error(), "step 3/3 (copy") {
		t.Fatalf("Apply = %v, want the copy step to fail", err)
	}
	if b, _ := os.ReadFile("/proc/mounts"); strings.Contains(string(b), p.StateDir) {
		exec.Command("umount", p.StateDir).Run()
		t.Errorf("%s is still mounted after the failure", p.StateDir)
	}
}
