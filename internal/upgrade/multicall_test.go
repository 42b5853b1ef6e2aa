package upgrade

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bhojpur/os/internal/layout"
)

// The image build puts one binary, bos, into a version directory and each
// command's name as a link to it (images/iso.sh). Upgrades from a release
// tarball and from --source keep those links as links.

// multicallTarball is r's bos-rootfs tarball laid out as the image build
// lays it out.
func multicallTarball(t *testing.T, r release) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	write := func(h *tar.Header, body string) {
		h.Size = int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	base := "./bos/system/bos/" + r.version + "/"
	for _, d := range []string{"./", "./bos/", "./bos/system/", "./bos/system/bos/", base} {
		write(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755}, "")
	}
	write(&tar.Header{Typeflag: tar.TypeReg, Name: base + "bos", Mode: 0o755}, "#!bos "+r.version)
	write(&tar.Header{Typeflag: tar.TypeReg, Name: base + "rootfs.squashfs", Mode: 0o644}, r.bos["rootfs.squashfs"])
	for _, n := range layout.Commands {
		write(&tar.Header{Typeflag: tar.TypeSymlink, Name: base + n, Linkname: "bos", Mode: 0o777}, "")
	}
	write(&tar.Header{Typeflag: tar.TypeSymlink, Name: "./bos/system/bos/current", Linkname: r.version, Mode: 0o777}, "")
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// wantMulticall checks that root's bos/<version> holds bos and the links.
func wantMulticall(t *testing.T, root, version string) {
	t.Helper()
	dir := filepath.Join(root, "bos/system/bos", version)
	for _, n := range layout.Commands {
		p := filepath.Join(dir, n)
		if target, err := os.Readlink(p); err != nil || target != "bos" {
			t.Errorf("%s: link to %q (%v), want a link to bos", p, target, err)
		}
		if b, err := os.ReadFile(p); err != nil || string(b) != "#!bos "+version {
			t.Errorf("%s reads %q (%v)", p, b, err)
		}
	}
}

func TestUpgradeKeepsTheCommandLinksOfTheOneBinary(t *testing.T) {
	srv := newServer(t, v2)
	tgz := multicallTarball(t, v2)
	var sums strings.Builder
	for _, n := range sortedKeys(v2.artifacts(t)) {
		b := srv.files["/"+v2.version+"/"+n]
		if n == "bos-rootfs-"+arch+".tar.gz" {
			b = tgz
		}
		if strings.HasPrefix(n, "sha256sum-") {
			continue
		}
		s := sha256.Sum256(b)
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(s[:]), n)
	}
	srv.files["/"+v2.version+"/bos-rootfs-"+arch+".tar.gz"] = tgz
	srv.files["/"+v2.version+"/sha256sum-"+arch+".txt"] = []byte(sums.String())

	f := newFixture(t, srv, v1)
	opt := f.options(OS)
	opt.Release = v2.version
	if err := f.run(t, opt); err != nil {
		t.Fatalf("rootfs upgrade: %+v\nlogs:\n%s", err, f.logs.String())
	}
	wantMulticall(t, f.root, v2.version)

	// From a mounted ISO's bos/system (--source): the tree copy keeps them.
	src := t.TempDir()
	install(t, src, v2)
	dir := filepath.Join(src, "bos/system/bos", v2.version)
	writeFile(t, filepath.Join(dir, "bos"), "#!bos "+v2.version)
	for _, n := range layout.Commands {
		if err := os.Remove(filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
		mustSymlink(t, "bos", filepath.Join(dir, n))
	}
	g := newFixture(t, nil, v1)
	opt = g.options(OS)
	opt.Source = src
	if err := g.run(t, opt); err != nil {
		t.Fatalf("rootfs upgrade from source: %+v\nlogs:\n%s", err, g.logs.String())
	}
	wantMulticall(t, g.root, v2.version)
}
