package install

import (
	"os"
	"testing"

	"github.com/go-git/go-billy/v5/osfs"
)

// TestDiskImageIsAFileOutsideDev: a regular file is a disk image when the
// path resolves (links and .. included) outside /dev.
func TestDiskImageIsAFileOutsideDev(t *testing.T) {
	m := newMachine(t)
	sparse(t, m.path("images/disk.img"), 3*GiB)
	if err := os.Symlink("../images/disk.img", m.path("dev/../images/link.img")); err != nil {
		t.Fatal(err)
	}
	pr := Probe{Root: m.root, FS: osfs.New(m.root, osfs.WithBoundOS())}
	for _, arg := range []string{"/images/disk.img", "/dev/../images/disk.img", "/images/link.img"} {
		d, err := pr.Device(arg)
		if err != nil || d.Kind != KindImage || d.Size != 3*GiB {
			t.Errorf("Device(%q) = %+v, %v; want a 3 GiB disk image", arg, d, err)
		}
	}
}
