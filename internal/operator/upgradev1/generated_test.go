package upgradev1

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGenerated: the CRD and the deepcopy code are what controller-gen
// makes of the types now (go generate ./internal/operator/... after a
// change of types.go).
func TestGenerated(t *testing.T) {
	if testing.Short() {
		t.Skip("builds controller-gen")
	}
	dir := t.TempDir()
	cmd := exec.Command("go", "tool", "controller-gen", "object", "crd:crdVersions=v1", "paths=.", "output:dir="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("controller-gen: %v\n%s", err, out)
	}
	for _, f := range []string{"upgrade.cattle.io_plans.yaml", "zz_generated.deepcopy.go"} {
		want, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		have := f
		if f == "upgrade.cattle.io_plans.yaml" {
			have = filepath.Join("..", "..", "operatormanifest", f)
		}
		if got, _ := os.ReadFile(have); !bytes.Equal(got, want) {
			t.Errorf("%s is not what controller-gen makes of types.go: run go generate ./internal/operator/...", f)
		}
	}
}
