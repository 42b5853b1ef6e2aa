package install

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func grubConfig(t *testing.T, b Boot) []byte {
	t.Helper()
	cfg, err := b.GrubConfig()
	if err != nil {
		t.Fatalf("Boot%+v.GrubConfig() = %v", b, err)
	}
	return cfg
}

func TestCheckTTY(t *testing.T) {
	for _, tty := range []string{"", "auto", "ttyS0", "ttyS1,115200", "/dev/ttyS0,9600n8", "tty1", "ttyAMA0", "hvc0"} {
		if err := CheckTTY(tty); err != nil {
			t.Errorf("CheckTTY(%q) = %v, want nil", tty, err)
		}
	}
	for _, tty := range []string{"ttyS0,115200 init=/bin/sh", "ttyS1\nset root=evil", "ttyS0'", `tty"0`, "tty0;reboot",
		"ttyS0 ", " ttyS0", "../ttyS0", "/dev/../ttyS0", "ttyS0,", "0tty", "tty${x}", "tty\x00"} {
		if err := CheckTTY(tty); err == nil || !strings.Contains(err.Error(), "is not a console TTY") {
			t.Errorf("CheckTTY(%q) = %v, want refused", tty, err)
		}
		if cfg, err := (Boot{TTY: tty}).GrubConfig(); err == nil {
			t.Errorf("Boot{TTY: %q}.GrubConfig() wrote\n%s\nwant an error", tty, cfg)
		}
	}
}

// TestGrubWordIsOneWord: whatever a value holds, it reaches GRUB as one
// word with exactly its bytes. GRUB's single quotes take every byte
// literally and a "${var}" is one word, as in sh, so sh's printf shows
// the words; grub-script-check then parses each as GRUB's own lexer does.
func TestGrubWordIsOneWord(t *testing.T) {
	values := []string{
		"console=ttyS0,115200", "a b", "init=/bin/sh' 'x", `it's`, `'`, `''`, `\`, `a\'b`, `"`, `$root`, "${root}",
		"; set root=evil", "} menuentry x {", "#comment", "a#b", "*", "?", "[", "]", "{", "}", "|", "&", "<", ">",
		"/bos/system/kernel/${bos_kernel}/vmlinuz", "${bos_kernel}", "x${bos_kernel}'${bos_kernel}", "",
	}
	check, _ := exec.LookPath("grub-script-check")
	for _, v := range values {
		w, err := grubWord(v)
		if err != nil {
			t.Errorf("grubWord(%q) = %v", v, err)
			continue
		}
		want := strings.ReplaceAll(v, "${bos_kernel}", "current") + "\n"
		out, err := exec.Command("sh", "-c", "bos_kernel=current; printf '%s\\n' "+w).Output()
		if err != nil || string(out) != want {
			t.Errorf("grubWord(%q) = %s, which sh reads as %q (%v), want one word %q", v, w, out, err, want)
		}
		if check == "" {
			continue
		}
		p := filepath.Join(t.TempDir(), "grub.cfg")
		if err := os.WriteFile(p, []byte("menuentry "+w+" {\n  linux /vmlinuz "+w+"\n}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(check, p).CombinedOutput(); err != nil {
			t.Errorf("grubWord(%q) = %s: grub-script-check: %v: %s", v, w, err, out)
		}
	}
	for _, v := range []string{"ttyS1\nset root=evil", "a\rb", "a\x00b", "a\tb", "\x1b[2J"} {
		if w, err := grubWord(v); err == nil {
			t.Errorf("grubWord(%q) = %q, want refused (a control character)", v, w)
		}
	}
}
