package images

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/bhojpur/os/internal/vmtest"
)

// TestReproducibleBuild builds the initrd, the rootfs image, the ISO and
// the rootfs tarball again, with the recipes and inputs `make iso` used
// (the same Debian base tree, binaries, kernel, version and time stamp),
// into a temporary directory, and wants the same bytes as the artifacts.
func TestReproducibleBuild(t *testing.T) {
	art := vmtest.Artifacts(t, "bos-initrd-amd64", "bos-rootfs-amd64.tar.gz")
	root, err := vmtest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(root, "build", "images")
	// make iso's version and SOURCE_DATE_EPOCH, read back from its stage:
	// the current link names the version, every file has the epoch's time.
	version, err := os.Readlink(filepath.Join(img, "iso", "bos", "system", "bos", "current"))
	if err != nil {
		t.Fatalf("the ISO stage of make iso: %v", err)
	}
	fi, err := os.Stat(filepath.Join(img, "iso", "boot", "grub", "grub.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	epoch := strconv.FormatInt(fi.ModTime().Unix(), 10)

	out := t.TempDir()
	run := func(script string, args ...string) {
		t.Helper()
		cmd := exec.Command(filepath.Join(root, "images", script), args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH="+epoch)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", script, err, b)
		}
	}
	bin := filepath.Join(root, "dist", "bin")
	run("initrd.sh", filepath.Join(img, "kernel", "root"), filepath.Join(bin, "bos-initrd"), filepath.Join(out, "initrd"), filepath.Join(out, "bos-initrd-amd64"))
	run("rootfs.sh", filepath.Join(img, "base"), bin, filepath.Join(root, "images", "overlay"), filepath.Join(out, "rootfs"), filepath.Join(out, "rootfs.squashfs"))
	// iso.sh takes the kernel from the artifacts and the initrd built here.
	arts := filepath.Join(out, "artifacts")
	if err := os.Mkdir(arts, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"bos-vmlinuz-amd64", "bos-kernel-amd64.squashfs", "bos-kernel-version-amd64"} {
		if err := os.Symlink(filepath.Join(art, n), filepath.Join(arts, n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Rename(filepath.Join(out, "bos-initrd-amd64"), filepath.Join(arts, "bos-initrd-amd64")); err != nil {
		t.Fatal(err)
	}
	isoArgs := []string{arts, filepath.Join(out, "rootfs.squashfs"), bin, version, filepath.Join(out, "iso"),
		filepath.Join(out, "bos-amd64.iso"), filepath.Join(out, "bos-rootfs-amd64.tar.gz")}
	// The DCP tree, when make iso put one in (make dcp-root's dist/dcp).
	if _, err := os.Stat(filepath.Join(img, "iso", "bos", "system", "dcp")); err == nil {
		isoArgs = append(isoArgs, filepath.Join(root, "dist", "dcp"))
	}
	run("iso.sh", isoArgs...)

	for _, c := range []struct{ made, want string }{
		{filepath.Join(arts, "bos-initrd-amd64"), filepath.Join(art, "bos-initrd-amd64")},
		{filepath.Join(out, "rootfs.squashfs"), filepath.Join(img, "rootfs.squashfs")},
		{filepath.Join(out, "bos-amd64.iso"), filepath.Join(art, "bos-amd64.iso")},
		{filepath.Join(out, "bos-rootfs-amd64.tar.gz"), filepath.Join(art, "bos-rootfs-amd64.tar.gz")},
	} {
		got, want := sha256File(t, c.made), sha256File(t, c.want)
		if got != want {
			t.Errorf("%s: sha256 %s, built again %s: the build is not repeatable", filepath.Base(c.want), want, got)
		} else {
			t.Logf("%s: same bytes (sha256 %s)", filepath.Base(c.want), got[:16])
		}
	}
}
