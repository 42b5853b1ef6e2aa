package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func FuzzCmdline(f *testing.F) {
	for _, s := range []string{
		`bos.token=TOKEN`,
		`bos.dns_nameserver=1.1.1.1 bos.dns_nameserver=8.8.8.8`,
		`bos.sysctl[kernel.printk]="4 4 1 7"`,
		`bos.install.efi bos.install.device=/dev/vda bos.mode=install`,
		`console=ttyS0 "bos.hostname=a b" bos.labels[a.b/c]=d bos.x[`,
		`bos.ssh_authorized_keys="` + edKey + `"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseCmdline("cmdline", strings.NewReader(s))
		if err != nil {
			t.Fatalf("ParseCmdline(%q): %v", s, err)
		}
		// What the cmdline set must show and load again as a file.
		if _, err := l.YAML(true); err != nil {
			t.Fatalf("YAML of ParseCmdline(%q): %v", s, err)
		}
		if _, err := l.JSON(true); err != nil {
			t.Fatalf("JSON of ParseCmdline(%q): %v", s, err)
		}
	})
}

func FuzzLoadFile(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.yaml")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := LoadFile("fuzz.yaml", bytes.NewReader(data))
		if err != nil {
			t.Fatalf("LoadFile: %v", err)
		}
		if len(l.Problems) > 0 {
			return
		}
		// A valid config shown as YAML loads again to the same config.
		out, err := l.YAML(false)
		if err != nil {
			t.Fatalf("YAML: %v", err)
		}
		again, err := LoadFile("again.yaml", bytes.NewReader(out))
		if err != nil || len(again.Problems) > 0 {
			t.Fatalf("reload of shown config: %v %v\n%s", err, again.Problems, out)
		}
		if diff := cmp.Diff(l.Config, again.Config); diff != "" {
			t.Fatalf("round trip mismatch (-first +again):\n%s\n%s", diff, out)
		}
	})
}
