package install

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/bhojpur/os/internal/layout"
)

// The ISO's bos/<version> holds one binary, bos, and each command's name
// as a link to it (images/iso.sh): the install copies the links as links.
func TestCopyTreeKeepsTheCommandLinks(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	v := filepath.Join(src, "bos", "v1.0.0")
	writeTestFile(t, filepath.Join(v, "bos"), "#!elf")
	names := layout.Commands
	for _, n := range append(names, "../current") {
		target := "bos"
		if n == "../current" {
			target = "v1.0.0"
		}
		if err := os.Symlink(target, filepath.Join(v, n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := copyTree(src, dst); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		p := filepath.Join(dst, "bos", "current", n)
		if target, err := os.Readlink(p); err != nil || target != "bos" {
			t.Errorf("%s: link to %q (%v), want a link to bos", p, target, err)
		}
		if b, err := os.ReadFile(p); err != nil || string(b) != "#!elf" {
			t.Errorf("%s reads %q (%v)", p, b, err)
		}
	}
}
