package ociimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

var epoch = time.Unix(1704067200, 0).UTC()

func write(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // whatever the umask
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, path string) {
	t.Helper()
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

// fakeArtifacts writes a small release: a rootfs tarball laid out as
// images/iso.sh makes it, and the kernel artifacts.
func fakeArtifacts(t *testing.T, v string) string {
	t.Helper()
	dir := t.TempDir()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	top := "bos-rootfs-" + v + "/"
	for _, h := range []*tar.Header{
		{Name: top, Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: top + "bos/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: top + "bos/system/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: top + "bos/system/bos/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: top + "bos/system/bos/" + v + "/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: top + "bos/system/bos/" + v + "/rootfs.squashfs", Typeflag: tar.TypeReg, Mode: 0o644, Size: 6},
		{Name: top + "bos/system/bos/" + v + "/bos-init", Typeflag: tar.TypeReg, Mode: 0o755, Size: 6},
		{Name: top + "bos/system/bos/current", Typeflag: tar.TypeSymlink, Linkname: v},
		{Name: top + "bos/system/dcp/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: top + "bos/system/dcp/" + v + "/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: top + "bos/system/dcp/" + v + "/dcp", Typeflag: tar.TypeReg, Mode: 0o755, Size: 6},
		{Name: top + "bos/system/dcp/current", Typeflag: tar.TypeSymlink, Linkname: v},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte("rootfs"))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	write(t, filepath.Join(dir, "bos-rootfs-amd64.tar.gz"), buf.String(), 0o644)
	write(t, filepath.Join(dir, "bos-vmlinuz-amd64"), "vmlinuz", 0o644)
	write(t, filepath.Join(dir, "bos-initrd-amd64"), "initrd", 0o644)
	write(t, filepath.Join(dir, "bos-kernel-amd64.squashfs"), "modules", 0o644)
	write(t, filepath.Join(dir, "bos-kernel-version-amd64"), "6.1.0-99-amd64\n", 0o644)
	return dir
}

// fakeBins is a multi-call binary, bos, and two of its command names as
// links beside it (what make build writes).
func fakeBins(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	bins := []string{filepath.Join(dir, "bos")}
	write(t, bins[0], "#!static bos", 0o700) // normalised to 0755
	for _, b := range []string{"bos-upgrade-rootfs", "bos-upgrade-kernel"} {
		p := filepath.Join(dir, b)
		if err := os.Symlink("bos", p); err != nil {
			t.Fatal(err)
		}
		bins = append(bins, p)
	}
	return bins
}

func build(t *testing.T, sys string, bins []string) []byte {
	t.Helper()
	var out bytes.Buffer
	_, err := Write(&out, Spec{
		System: sys, Bins: bins, Entrypoint: []string{"/usr/sbin/bos-upgrade-rootfs"},
		Arch: "amd64", Version: "v9.9.9", Created: epoch, Work: t.TempDir(),
	})
	if err != nil {
		t.Fatalf("Write = %v", err)
	}
	return out.Bytes()
}

// readLayout unpacks an image archive and opens its only image with
// go-containerregistry.
func readLayout(t *testing.T, archive []byte) (v1.Image, v1.Descriptor) {
	t.Helper()
	dir := t.TempDir()
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, h.Name)
		if h.Typeflag == tar.TypeDir {
			os.MkdirAll(p, 0o755)
			continue
		}
		b, _ := io.ReadAll(tr)
		write(t, p, string(b), 0o644)
	}
	lp, err := layout.FromPath(dir)
	if err != nil {
		t.Fatalf("layout.FromPath = %v", err)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		t.Fatalf("ImageIndex = %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 {
		t.Fatalf("index has %d manifests, want 1", len(im.Manifests))
	}
	img, err := lp.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatalf("Image = %v", err)
	}
	return img, im.Manifests[0]
}

type file struct {
	Mode int64
	Type byte
	Link string
	Data string
	Time time.Time
	Uid  int
}

func layerFiles(t *testing.T, img v1.Image) map[string]file {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("Layers = %d, %v; want one", len(layers), err)
	}
	if mt, _ := layers[0].MediaType(); mt != types.OCILayer {
		t.Errorf("layer media type = %s, want %s", mt, types.OCILayer)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]file{}
	var names []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		names = append(names, h.Name)
		files[h.Name] = file{h.Mode, h.Typeflag, h.Linkname, string(b), h.ModTime.UTC(), h.Uid}
	}
	for i := 1; i < len(names); i++ {
		if names[i-1] >= names[i] {
			t.Errorf("layer entries not sorted: %s before %s", names[i-1], names[i])
		}
	}
	return files
}

func TestImageFromArtifacts(t *testing.T) {
	art := fakeArtifacts(t, "v9.9.9")
	sys := filepath.Join(t.TempDir(), "system")
	v, err := StageSystem(sys, ArtifactsIn(art, "amd64"))
	if err != nil || v != "v9.9.9" {
		t.Fatalf("StageSystem = %q, %v; want v9.9.9", v, err)
	}
	archive := build(t, sys, fakeBins(t))
	img, desc := readLayout(t, archive)

	if desc.Annotations[RefAnnotation] != "v9.9.9" || desc.Platform == nil || desc.Platform.Architecture != "amd64" {
		t.Errorf("index descriptor = %+v, want ref v9.9.9 on amd64", desc)
	}
	if mt, _ := img.MediaType(); mt != types.OCIManifestSchema1 {
		t.Errorf("manifest media type = %s", mt)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"/usr/sbin/bos-upgrade-rootfs"}, cf.Config.Entrypoint); diff != "" {
		t.Errorf("entrypoint (-want +got):\n%s", diff)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" || !cf.Created.Time.Equal(epoch) {
		t.Errorf("config = %s/%s created %v, want linux/amd64 at %v", cf.OS, cf.Architecture, cf.Created, epoch)
	}

	d, x, r := int64(0o755), int64(0o755), int64(0o644)
	want := map[string]file{
		"bos/":                                     {d, tar.TypeDir, "", "", epoch, 0},
		"bos/system/":                              {d, tar.TypeDir, "", "", epoch, 0},
		"bos/system/bos/":                          {d, tar.TypeDir, "", "", epoch, 0},
		"bos/system/bos/current":                   {0o777, tar.TypeSymlink, "v9.9.9", "", epoch, 0},
		"bos/system/bos/v9.9.9/":                   {d, tar.TypeDir, "", "", epoch, 0},
		"bos/system/bos/v9.9.9/bos-init":           {x, tar.TypeReg, "", "rootfs", epoch, 0},
		"bos/system/bos/v9.9.9/rootfs.squashfs":    {r, tar.TypeReg, "", "rootfs", epoch, 0},
		"bos/system/dcp/":                          {d, tar.TypeDir, "", "", epoch, 0},
		"bos/system/dcp/current":                   {0o777, tar.TypeSymlink, "v9.9.9", "", epoch, 0},
		"bos/system/dcp/v9.9.9/":                   {d, tar.TypeDir, "", "", epoch, 0},
		"bos/system/dcp/v9.9.9/dcp":                {x, tar.TypeReg, "", "rootfs", epoch, 0},
		"bos/system/kernel/":                       {d, tar.TypeDir, "", "", epoch, 0},
		"bos/system/kernel/current":                {0o777, tar.TypeSymlink, "v9.9.9", "", epoch, 0},
		"bos/system/kernel/v9.9.9/":                {d, tar.TypeDir, "", "", epoch, 0},
		"bos/system/kernel/v9.9.9/initrd":          {r, tar.TypeReg, "", "initrd", epoch, 0},
		"bos/system/kernel/v9.9.9/kernel.squashfs": {r, tar.TypeReg, "", "modules", epoch, 0},
		"bos/system/kernel/v9.9.9/version":         {r, tar.TypeReg, "", "6.1.0-99-amd64\n", epoch, 0},
		"bos/system/kernel/v9.9.9/vmlinuz":         {r, tar.TypeReg, "", "vmlinuz", epoch, 0},
		"usr/":                                     {d, tar.TypeDir, "", "", epoch, 0},
		"usr/sbin/":                                {d, tar.TypeDir, "", "", epoch, 0},
		"usr/sbin/bos":                             {x, tar.TypeReg, "", "#!static bos", epoch, 0},
		"usr/sbin/bos-upgrade-kernel":              {0o777, tar.TypeSymlink, "bos", "", epoch, 0},
		"usr/sbin/bos-upgrade-rootfs":              {0o777, tar.TypeSymlink, "bos", "", epoch, 0},
	}
	if diff := cmp.Diff(want, layerFiles(t, img)); diff != "" {
		t.Errorf("layer files (-want +got):\n%s", diff)
	}
}

func TestImageIsReproducible(t *testing.T) {
	art := fakeArtifacts(t, "v1")
	bins := fakeBins(t)
	var archives [][]byte
	for i := 0; i < 2; i++ {
		sys := filepath.Join(t.TempDir(), "system")
		if _, err := StageSystem(sys, ArtifactsIn(art, "amd64")); err != nil {
			t.Fatal(err)
		}
		// Different times and permissions on disk must not show.
		now := time.Now().Add(time.Duration(i) * time.Hour)
		filepath.WalkDir(sys, func(p string, d fs.DirEntry, err error) error {
			os.Chtimes(p, now, now)
			if fi, err := os.Lstat(p); err == nil && fi.Mode().IsRegular() && i == 1 {
				if fi.Mode()&0o111 != 0 {
					os.Chmod(p, 0o700)
				} else {
					os.Chmod(p, 0o600)
				}
			}
			return nil
		})
		archives = append(archives, build(t, sys, bins))
	}
	if !bytes.Equal(archives[0], archives[1]) {
		t.Errorf("two builds of the same inputs differ (%d and %d bytes)", len(archives[0]), len(archives[1]))
	}
	// And the archive itself is sorted, root-owned, time stamped.
	tr := tar.NewReader(bytes.NewReader(archives[0]))
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !h.ModTime.Equal(epoch) || h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s: time %v owner %d:%d, want %v root", h.Name, h.ModTime, h.Uid, h.Gid, epoch)
		}
		names = append(names, h.Name)
	}
	if names[0] != "blobs/" || names[len(names)-2] != "index.json" || names[len(names)-1] != "oci-layout" {
		t.Errorf("archive entries = %v", names)
	}
}

func TestStageSystemRefusesEscapes(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    tar.Header
	}{
		{"dotdot", tar.Header{Name: "top/bos/system/../../etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644}},
		{"absolute link", tar.Header{Name: "top/bos/system/bos/current", Typeflag: tar.TypeSymlink, Linkname: "/etc"}},
		{"escaping link", tar.Header{Name: "top/bos/system/bos/current", Typeflag: tar.TypeSymlink, Linkname: "../../x"}},
		{"device", tar.Header{Name: "top/bos/system/bos/null", Typeflag: tar.TypeChar}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			tw := tar.NewWriter(zw)
			tw.WriteHeader(&tc.h)
			tw.Close()
			zw.Close()
			write(t, filepath.Join(dir, "r.tar.gz"), buf.String(), 0o644)
			_, err := StageSystem(filepath.Join(dir, "sys"), Artifacts{Rootfs: filepath.Join(dir, "r.tar.gz")})
			if err == nil {
				t.Errorf("StageSystem(%s) = nil, want an error", tc.h.Name)
			}
		})
	}
}

func TestWriteRefusesLinksOutOfTheTree(t *testing.T) {
	sys := t.TempDir()
	symlink(t, "../../etc", filepath.Join(sys, "x"))
	_, err := Write(io.Discard, Spec{System: sys, Entrypoint: []string{"/x"}, Arch: "amd64", Work: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "leaves the tree") {
		t.Errorf("Write = %v, want a link that leaves the tree", err)
	}
}

// TestStageSystemRefusesLinkChains: the image's tree is unpacked by the
// same extraction as an upgrade, so links through links lead nowhere
// outside it and nothing is written beside it.
func TestStageSystemRefusesLinkChains(t *testing.T) {
	sys := "top/bos/system/"
	for _, tc := range []struct {
		name    string
		entries []tar.Header
		absent  []string // relative to the test directory
	}{
		{"a file through y -> x/.. with x -> .", []tar.Header{
			{Name: sys + "x", Typeflag: tar.TypeSymlink, Linkname: "."},
			{Name: sys + "y", Typeflag: tar.TypeSymlink, Linkname: "x/.."},
			{Name: sys + "y/evil", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1},
		}, []string{"evil", "sys/y"}},
		{"x -> . then x/x/esc -> ../secret", []tar.Header{
			{Name: sys + "x", Typeflag: tar.TypeSymlink, Linkname: "."},
			{Name: sys + "x/x/esc", Typeflag: tar.TypeSymlink, Linkname: "../secret"},
		}, []string{"sys/esc"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			tw := tar.NewWriter(zw)
			for _, h := range append([]tar.Header{{Name: sys, Typeflag: tar.TypeDir, Mode: 0o755}}, tc.entries...) {
				if err := tw.WriteHeader(&h); err != nil {
					t.Fatal(err)
				}
				if h.Size > 0 {
					tw.Write([]byte("x"))
				}
			}
			tw.Close()
			zw.Close()
			write(t, filepath.Join(dir, "r.tar.gz"), buf.String(), 0o644)
			_, err := StageSystem(filepath.Join(dir, "sys"), Artifacts{Rootfs: filepath.Join(dir, "r.tar.gz")})
			if err == nil || !strings.Contains(err.Error(), "leave") {
				t.Errorf("StageSystem = %v, want a link that leaves the tree", err)
			}
			for _, p := range tc.absent {
				if _, err := os.Lstat(filepath.Join(dir, p)); !os.IsNotExist(err) {
					t.Errorf("%s exists: %v", p, err)
				}
			}
		})
	}
}
