package manifests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecode(t *testing.T) {
	objs, err := Decode([]byte("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n# only a comment\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: b, namespace: x}\n"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName())
	}
	if diff := cmp.Diff([]string{"ConfigMap//a", "Deployment/x/b"}, got); diff != "" {
		t.Errorf("Decode (-want +got):\n%s", diff)
	}
	if objs, err := Decode([]byte(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"j"}}`)); err != nil || len(objs) != 1 {
		t.Errorf("Decode(JSON) = %v, %v", objs, err)
	}
}

func TestDecodeRefuses(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"apiVersion: v1\nmetadata: {name: a}\n", "document 1: no apiVersion or kind"},
		{"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\n", "document 2 (ConfigMap): no metadata.name"},
		{"apiVersion: v1\nkind: ConfigMap\nmetadata: [\n", "document 1"},
	} {
		if _, err := Decode([]byte(tc.doc)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%q) = %v, want an error containing %q", tc.doc, err, tc.want)
		}
	}
}

func TestFiles(t *testing.T) {
	d := t.TempDir()
	for _, f := range []string{"b.yaml", "a.json", "sub/c.yml", "README.md", "sub/d.YAML"} {
		p := filepath.Join(d, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("b.yaml", filepath.Join(d, "link.yaml")); err != nil {
		t.Fatal(err)
	}
	got, err := Files(d)
	if err != nil {
		t.Fatal(err)
	}
	var rel []string
	for _, p := range got {
		r, _ := filepath.Rel(d, p)
		rel = append(rel, r)
	}
	if diff := cmp.Diff([]string{"a.json", "b.yaml", "sub/c.yml", "sub/d.YAML"}, rel); diff != "" {
		t.Errorf("Files (-want +got):\n%s", diff)
	}
	if got, err := Files(filepath.Join(d, "missing")); err != nil || len(got) != 0 {
		t.Errorf("Files(missing dir) = %v, %v; want none and no error", got, err)
	}
}

func TestReadFileBounded(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(p, make([]byte, MaxFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readFile(p); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("readFile(too big) = %v, want a size error", err)
	}
}

func TestCoreDNS(t *testing.T) {
	objs, err := Decode(CoreDNS("img:1", "10.43.0.10", "cluster.local"))
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetKind())
	}
	if diff := cmp.Diff([]string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "Service"}, kinds); diff != "" {
		t.Errorf("CoreDNS kinds (-want +got):\n%s", diff)
	}
	s := string(CoreDNS("img:1", "10.43.0.10", "example.internal"))
	for _, w := range []string{"image: img:1", "clusterIP: 10.43.0.10", "kubernetes example.internal in-addr.arpa"} {
		if !strings.Contains(s, w) {
			t.Errorf("CoreDNS manifest lacks %q", w)
		}
	}
}

func TestFlannel(t *testing.T) {
	objs, err := Decode(Flannel)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.GetKind()+"/"+o.GetName())
	}
	want := []string{"ClusterRole/system:dcp-flannel", "ClusterRoleBinding/system:dcp-flannel"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Flannel objects (-want +got):\n%s", diff)
	}
}
