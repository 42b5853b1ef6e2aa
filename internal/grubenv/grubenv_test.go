package grubenv

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bhojpur/os/internal/store"
)

// editenv runs grub-editenv on file, or skips the test without it.
func editenv(t *testing.T, file string, args ...string) {
	t.Helper()
	bin, err := exec.LookPath("grub-editenv")
	if err != nil {
		if os.Getenv("BOS_REQUIRE_VM") != "" {
			t.Fatal("grub-editenv not found (package grub-common)")
		}
		t.Skip("grub-editenv not found (package grub-common)")
	}
	if out, err := exec.Command(bin, append([]string{file}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("grub-editenv %v: %v: %s", args, err, out)
	}
}

// TestSameBytesAsGrubEditenv applies the same edits with grub-editenv and
// with this package and compares the files byte for byte.
func TestSameBytesAsGrubEditenv(t *testing.T) {
	type op struct {
		set   []string // key=value
		unset []string
	}
	for _, tc := range []struct {
		name string
		ops  []op
	}{
		{"empty", nil},
		{"set", []op{{set: []string{"a=1", "b=two words"}}}},
		{"replace in place", []op{{set: []string{"a=1", "b=2"}}, {set: []string{"a=3"}}}},
		{"unset", []op{{set: []string{"a=1", "b=2", "c=3"}}, {unset: []string{"b"}}}},
		{"escapes", []op{{set: []string{"p=back\\slash", "n=two\nlines", "e=a=b"}}}},
		{"trial", []op{{set: []string{"bos_trial=v2.0.0", "bos_tries=1"}}, {set: []string{"bos_tries=0"}}, {unset: []string{"bos_trial", "bos_tries"}}, {set: []string{"bos_good=v2.0.0"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "grubenv")
			editenv(t, file, "create")
			e := New()
			for _, o := range tc.ops {
				if len(o.set) > 0 {
					editenv(t, file, append([]string{"set"}, o.set...)...)
					for _, kv := range o.set {
						k, v, _ := cut(kv)
						e.Set(k, v)
					}
				}
				if len(o.unset) > 0 {
					editenv(t, file, append([]string{"unset"}, o.unset...)...)
					for _, k := range o.unset {
						e.Unset(k)
					}
				}
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			got, err := e.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != Size || !bytes.Equal(got, want) {
				t.Errorf("Bytes() differs from grub-editenv:\n got %q\nwant %q", got, want)
			}
			// And what grub-editenv wrote parses to the same variables.
			parsed, err := Parse(want)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(e.vars, parsed.vars, cmp.AllowUnexported(variable{})); diff != "" {
				t.Errorf("Parse(grub-editenv output) (-want +got):\n%s", diff)
			}
		})
	}
}

func cut(kv string) (string, string, bool) {
	for i := 0; i < len(kv); i++ {
		if kv[i] == '=' {
			return kv[:i], kv[i+1:], true
		}
	}
	return kv, "", false
}

func TestGrubEditenvReadsWhatWeWrite(t *testing.T) {
	dir := t.TempDir()
	fsys, err := store.NewOSFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := New()
	e.Arm(PartBos, "v2.0.0", 0)
	e.Set("other", "x\\y")
	if err := Write(fsys, "grubenv", e); err != nil {
		t.Fatal(err)
	}
	editenv(t, filepath.Join(dir, "grubenv"), "set", "bos_tries=0")
	back, err := Read(fsys, "grubenv")
	if err != nil {
		t.Fatal(err)
	}
	if got := back.State(); got != (Trial{Version: "v2.0.0", Tries: "0", Bos: "v2.0.0"}) {
		t.Errorf("State() = %+v", got)
	}
	if v, _ := back.Get("other"); v != "x\\y" {
		t.Errorf("other = %q", v)
	}
}

// TestTrial walks a block through the life of trials: armed by an
// upgrade, booted (GRUB's part, done here by hand), marked good; armed
// again, fallen back, rolled back; and a rollback by hand disarming.
func TestTrial(t *testing.T) {
	e := New()
	e.Set(VarFallback, "v0")
	e.Arm(PartBos, "v2", 0)
	e.Arm(PartKernel, "v2", 0) // rootfs and kernel upgraded before one reboot
	if got := e.State(); got != (Trial{Version: "v2", Tries: "1", Kernel: "v2", Bos: "v2"}) {
		t.Errorf("after Arm: %+v", got)
	}
	if e.State().Booting() {
		t.Error("Booting() before GRUB used the try")
	}
	if e.MarkGood(Running{Bos: "v2", Kernel: "v2"}) {
		t.Error("MarkGood before the trial boot changed the block")
	}
	e.Set(VarTries, "0") // GRUB boots the trial
	if !e.State().Booting() {
		t.Error("Booting() = false on the trial boot")
	}
	if e.MarkGood(Running{Bos: "v1", Kernel: "v2"}) {
		t.Error("MarkGood with another bos than the trial's changed the block")
	}
	if !e.MarkGood(Running{Bos: "v2", Kernel: "v2"}) {
		t.Error("MarkGood(v2) changed nothing")
	}
	if got := e.State(); got != (Trial{Good: "v2"}) {
		t.Errorf("after MarkGood: %+v", got)
	}
	if e.MarkGood(Running{Bos: "v2", Kernel: "v2"}) {
		t.Error("a second MarkGood changed the block")
	}

	// A kernel-only trial that fails.
	e.Arm(PartKernel, "v3", 0)
	if got := e.State(); got != (Trial{Version: "v3", Tries: "1", Kernel: "v3", Good: "v2"}) {
		t.Errorf("after Arm(kernel): %+v", got)
	}
	e.Set(VarTries, "0")     // GRUB boots it ...
	e.Set(VarFallback, "v3") // ... and, unmarked, falls back the boot after
	e.Set(VarTrial, "")      //
	if st := e.State(); !st.RollbackDue() || st.Booting() {
		t.Errorf("after the fallback: RollbackDue %v, Booting %v", st.RollbackDue(), st.Booting())
	}
	e.RolledBack()
	if e.State().RollbackDue() {
		t.Error("RollbackDue after RolledBack")
	}
	if !e.MarkGood(Running{Bos: "v2-again", Kernel: "v2"}) || e.State().Fallback != "v3" {
		t.Errorf("after the fallback boot came up: %+v", e.State())
	}

	// Arm, then roll back by hand before rebooting.
	e.Arm(PartBos, "v4", 0)
	if !e.Disarm() {
		t.Error("Disarm of an armed trial changed nothing")
	}
	if st := e.State(); st.Version != "" || st.Tries != "" || st.Bos != "" || st.Kernel != "" {
		t.Errorf("after Disarm: %+v", st)
	}
	if e.Disarm() {
		t.Error("a second Disarm changed the block")
	}
}

// TestGrubScriptParses checks the fragment with GRUB's own parser, inside
// the grub.cfg the installer writes around it.
func TestGrubScriptParses(t *testing.T) {
	check, err := exec.LookPath("grub-script-check")
	if err != nil {
		t.Skip("grub-script-check (grub-common) is not installed")
	}
	p := filepath.Join(t.TempDir(), "grub.cfg")
	if err := os.WriteFile(p, []byte(GrubScript), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(check, p).CombinedOutput(); err != nil {
		t.Errorf("grub-script-check: %v: %s", err, out)
	}
}

func TestReadMissingAndBad(t *testing.T) {
	dir := t.TempDir()
	fsys, _ := store.NewOSFS(dir)
	e, err := Read(fsys, "none")
	if err != nil || len(e.Keys()) != 0 {
		t.Errorf("Read(missing) = %v, %v", e, err)
	}
	os.WriteFile(filepath.Join(dir, "bad"), []byte("hello"), 0o644)
	if _, err := Read(fsys, "bad"); err == nil {
		t.Error("Read(not a block) = nil error")
	}
	big := New()
	big.Set("k", string(bytes.Repeat([]byte("v"), 2000)))
	if _, err := big.Bytes(); err == nil {
		t.Error("Bytes() of an oversized block = nil error")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(Header + "a=1\nb=x\\\ny\n####"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Parse(b)
		if err != nil {
			return
		}
		out, err := e.Bytes()
		if err != nil {
			return // too big for a block
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(Bytes()) = %v", err)
		}
		if !cmp.Equal(e.vars, again.vars, cmp.AllowUnexported(variable{})) {
			t.Fatalf("round trip: %q became %q", e.vars, again.vars)
		}
	})
}
