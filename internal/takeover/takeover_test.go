package takeover

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// tree lists every path under root (relative, with "/" after directories
// and "-> target" after links).
func tree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			rel += " -> " + target
		case d.IsDir():
			rel += "/"
		}
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func mk(t *testing.T, root string, files map[string]string, links map[string]string) {
	t.Helper()
	for p, content := range files {
		f := filepath.Join(root, p)
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(f, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for p, target := range links {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(root, p)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPruneKeepsTheListAndNothingElse(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	outside := filepath.Join(base, "outside")
	mk(t, outside, map[string]string{"precious": "do not touch", "dir/inner": "nor this"}, nil)
	mk(t, root, map[string]string{
		"bos/system/bos/v1/rootfs.squashfs": "squash",
		"bos/system/config.yaml":            "hostname: h",
		"bos/takeover":                      "keep bos\n",
		"boot/grub/grub.cfg":                "menuentry",
		"boot/grub/i386-pc/normal.mod":      "mod",
		"boot/vmlinuz-6.1":                  "old kernel",
		"boot/initrd.img-6.1":               "old initrd",
		"etc/passwd":                        "root:x:0:0",
		"usr/bin/ls":                        "elf",
		"home/user/.bashrc":                 "x",
		"lost+found/":                       "",
		"var/empty/":                        "",
		"bosx":                              "a name that only starts like a kept one",
	}, map[string]string{
		"bos/system/bos/current": "v1",              // kept link inside a kept tree
		"etc/outside":            outside,           // absolute link out of the root
		"usr/escape":             "../../outside",   // relative link out of the root
		"bhojpur":                "bos",             // kept link
		"boot/grub2":             "../" + "outside", // kept link: kept as a link, target untouched
		"vmlinuz":                "boot/vmlinuz-6.1",
	})

	keep := New(false).Keep
	if err := Prune(root, keep); err != nil {
		t.Fatalf("Prune: %v", err)
	}
	want := []string{
		"bhojpur -> bos",
		"boot/",
		"boot/grub/",
		"boot/grub/grub.cfg",
		"boot/grub/i386-pc/",
		"boot/grub/i386-pc/normal.mod",
		"boot/grub2 -> ../outside",
		"bos/",
		"bos/system/",
		"bos/system/bos/",
		"bos/system/bos/current -> v1",
		"bos/system/bos/v1/",
		"bos/system/bos/v1/rootfs.squashfs",
		"bos/system/config.yaml",
		"bos/takeover",
		"lost+found/",
	}
	if diff := cmp.Diff(want, tree(t, root)); diff != "" {
		t.Errorf("after Prune (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"dir/", "dir/inner", "precious"}, tree(t, outside)); diff != "" {
		t.Errorf("Prune reached outside the root through a link (-want +got):\n%s", diff)
	}
	b, err := os.ReadFile(filepath.Join(root, "bos/system/config.yaml"))
	if err != nil || string(b) != "hostname: h" {
		t.Errorf("kept file changed: %q, %v", b, err)
	}
}

func TestPruneDoesNotFollowASymlinkedParent(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	outside := filepath.Join(base, "outside")
	mk(t, outside, map[string]string{"grub/grub.cfg": "theirs", "other": "theirs"}, nil)
	mk(t, root, map[string]string{"bos/x": "x"}, map[string]string{"boot": outside})
	if err := Prune(root, []string{"bos", "boot/grub"}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"bos/", "bos/x"}, tree(t, root)); diff != "" {
		t.Errorf("root (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"grub/", "grub/grub.cfg", "other"}, tree(t, outside)); diff != "" {
		t.Errorf("outside (-want +got):\n%s", diff)
	}
}

func TestPruneRejectsBadKeepPaths(t *testing.T) {
	for _, k := range []string{"/bos", "../x", "", ".", "bos/../etc", "bos/"} {
		if err := Prune(t.TempDir(), []string{k}); err == nil {
			t.Errorf("Prune(keep %q) = nil, want an error", k)
		}
	}
}

func TestMarkerRoundTripAndFinish(t *testing.T) {
	k := New(true)
	got, err := Parse(bytes.NewReader(k.Marshal()))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(k, got); diff != "" {
		t.Errorf("Parse(Marshal()) (-want +got):\n%s", diff)
	}
	if _, err := Parse(strings.NewReader("keep /etc\n")); err == nil {
		t.Error("Parse(keep /etc) = nil, want an error")
	}
	if k, err := Parse(strings.NewReader("keep etc\n")); err != nil || !cmp.Equal(k.Keep, []string{"etc", "bos"}) {
		t.Errorf("Parse(keep etc) = %v, %v; want bos always kept", k.Keep, err)
	}

	root := t.TempDir()
	mk(t, root, map[string]string{"bos/system/x": "x", "etc/passwd": "p", MarkerPath: string(k.Marshal())}, nil)
	if !Pending(root) {
		t.Fatal("Pending = false with a marker")
	}
	powerOff, err := Finish(root, t.Logf)
	if err != nil || !powerOff {
		t.Fatalf("Finish = %v, %v; want true, nil", powerOff, err)
	}
	if diff := cmp.Diff([]string{"bos/", "bos/system/", "bos/system/x"}, tree(t, root)); diff != "" {
		t.Errorf("after Finish (-want +got):\n%s", diff)
	}
	if powerOff, err := Finish(root, t.Logf); err != nil || powerOff {
		t.Errorf("Finish without a marker = %v, %v; want false, nil", powerOff, err)
	}
}
