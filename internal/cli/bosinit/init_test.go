package bosinit

import (
	"strings"
	"testing"

	"github.com/bhojpur/os/internal/grubenv"
)

// TestInitMarkGood: bos-init --mark-good under --root ends the trial of
// the running version in the GRUB environment block, and fails clearly
// when bos-init did not record what runs.
func TestInitMarkGood(t *testing.T) {
	root := t.TempDir()
	env := grubenv.New()
	env.Arm(grubenv.PartBos, "v2", 0)
	env.Set(grubenv.VarTries, "0")
	b, err := env.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, root+"/run/bos/state"+grubenv.Path, string(b))
	writeFile(t, root+"/run/bos/version", "v2\n")
	writeFile(t, root+"/run/bos/kernel-version", "v1\n")
	code, out, errs := run(t, "bos-init", "--root", root, "--mark-good")
	if code != 0 || !strings.Contains(out, "bos: boot of v2 marked good: the trial of v2 is over") {
		t.Errorf("--mark-good = %d, %q, %q", code, out, errs)
	}
	code, _, errs = run(t, "bos-init", "--root", t.TempDir(), "--mark-good")
	if code == 0 || !strings.Contains(errs, "/run/bos/version") {
		t.Errorf("--mark-good without /run/bos/version = %d, %q", code, errs)
	}
	if code, _, errs := run(t, "bos-init", "--plan", "--mark-good"); code != 2 {
		t.Errorf("--plan --mark-good = %d, %q; want a usage error", code, errs)
	}
}
