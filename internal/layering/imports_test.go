package layering

import (
	"go/build"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/bhojpur/os/internal/"

// The packages that do one command's work, and those that put commands
// together. Every other package under internal/ is shared.
var (
	workOfACommand = map[string]bool{"apply": true, "boot": true, "install": true, "upgrade": true, "operator": true}
	assembly       = []string{"cli/", "multicall", "initrd", "bench", "tools/", "vmtest"}
)

func isAssembly(pkg string) bool {
	for _, a := range assembly {
		if pkg == strings.TrimSuffix(a, "/") || strings.HasPrefix(pkg, a) {
			return true
		}
	}
	return false
}

// commandOf is the command package pkg belongs to ("" for a shared one).
func commandOf(pkg string) string {
	top, _, _ := strings.Cut(pkg, "/")
	if workOfACommand[top] {
		return top
	}
	return ""
}

// TestImportsPointDown: a shared package imports no command's package and
// no command line; a command's package imports no other command's.
func TestImportsPointDown(t *testing.T) {
	checked := 0
	err := filepath.WalkDir("..", func(dir string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() || d.Name() == "testdata" {
			return err
		}
		p, err := build.ImportDir(dir, 0)
		if err != nil {
			return nil // no Go files
		}
		pkg := strings.TrimPrefix(filepath.ToSlash(filepath.Clean(dir)), "../")
		if pkg == ".." || isAssembly(pkg) {
			return nil
		}
		checked++
		for _, imp := range p.Imports {
			dep, ok := strings.CutPrefix(imp, module)
			if !ok {
				continue
			}
			switch to, from := commandOf(dep), commandOf(pkg); {
			case isAssembly(dep):
				t.Errorf("%s imports %s, which puts commands together", pkg, dep)
			case to != "" && from != to:
				t.Errorf("%s imports %s, the work of another command", pkg, dep)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 20 {
		t.Fatalf("checked %d packages; the walk missed the tree", checked)
	}
}
