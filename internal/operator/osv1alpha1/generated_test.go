package osv1alpha1

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGenerated: the CRD and the deepcopy code are what controller-gen and
// mknodeconfigcrd make of the types and the config's rules now (go generate ./internal/operator/... after a
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
	crd := filepath.Join(dir, "os.bhojpur.net_nodeconfigs.yaml")
	if out, err := exec.Command("go", "run", "../../tools/mknodeconfigcrd", crd).CombinedOutput(); err != nil {
		t.Fatalf("mknodeconfigcrd: %v\n%s", err, out)
	}
	for _, f := range []string{"os.bhojpur.net_nodeconfigs.yaml", "zz_generated.deepcopy.go"} {
		want, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		have := f
		if f == "os.bhojpur.net_nodeconfigs.yaml" {
			have = filepath.Join("..", "..", "operatormanifest", f)
		}
		if got, _ := os.ReadFile(have); !bytes.Equal(got, want) {
			t.Errorf("%s is not what controller-gen makes of types.go: run go generate ./internal/operator/...", f)
		}
	}
}
