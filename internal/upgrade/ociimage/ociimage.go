// Package ociimage builds the upgrade image that the Kubernetes bos-latest
// Plans run: our static upgrade commands in /usr/sbin and a release's
// bos/system tree in /bos/system, which the commands install from with
// --source. The result is an OCI image layout in one tar archive, made
// without a container runtime, byte for byte the same for the same inputs:
// entries sorted, owned by root, time stamped Created, modes normalised,
// gzip without names or times.
//
// go-containerregistry assembles the image (config, manifest, digests);
// this package writes the one layer and the layout archive itself, so that
// nothing in them depends on the library's compression or file order.
package ociimage

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/layout"
)

// Where things are in the image.
const (
	BinDir    = "/usr/sbin"
	SystemDir = "/" + layout.SystemDir
)

// RefAnnotation names the image in the layout's index.
const RefAnnotation = "org.opencontainers.image.ref.name"

// Spec is what goes into the image.
type Spec struct {
	System     string    // a bos/system tree on disk, copied to SystemDir
	Bins       []string  // static programs, copied to BinDir under their base names; a link to a name beside it (the multi-call binary's command names) stays a link
	Entrypoint []string  // e.g. /usr/sbin/bos-upgrade-rootfs
	Arch       string    // GOARCH of the programs: amd64, arm64
	Version    string    // the release: the ref name and a label
	Created    time.Time // every time stamp in the image
	Work       string    // directory for the temporary layer file ("" for the system's)
}

// Write writes the image described by s to w as an OCI image layout in a
// tar archive, and returns the image.
func Write(w io.Writer, s Spec) (v1.Image, error) {
	if s.System == "" || len(s.Entrypoint) == 0 || s.Arch == "" {
		return nil, errors.New("ociimage: System, Entrypoint and Arch are required")
	}
	created := s.Created.UTC().Truncate(time.Second)
	tmp, err := os.CreateTemp(s.Work, "layer-*.tar.gz")
	if err != nil {
		return nil, errors.Wrap(err, "create the layer file")
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := writeLayer(tmp, s, created); err != nil {
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, errors.Wrapf(err, "close %s", tmp.Name())
	}
	layer, err := tarball.LayerFromFile(tmp.Name(), tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, errors.Wrapf(err, "read the layer %s", tmp.Name())
	}
	img, err := image(layer, s, created)
	if err != nil {
		return nil, err
	}
	if err := writeLayout(w, img, s.Version, created); err != nil {
		return nil, err
	}
	return img, nil
}

// image makes the image of one layer and its config.
func image(layer v1.Layer, s Spec, created time.Time) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History: v1.History{
			Created:   v1.Time{Time: created},
			CreatedBy: "ociimage: upgrade commands in " + BinDir + ", bos/system in " + SystemDir,
		},
	})
	if err != nil {
		return nil, errors.Wrap(err, "add the layer")
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, errors.Wrap(err, "read the config")
	}
	cf = cf.DeepCopy()
	cf.Architecture = s.Arch
	cf.OS = "linux"
	cf.Created = v1.Time{Time: created}
	cf.Config.Entrypoint = append([]string(nil), s.Entrypoint...)
	cf.Config.Env = []string{"PATH=" + BinDir + ":/usr/bin:/sbin:/bin"}
	cf.Config.WorkingDir = "/"
	if s.Version != "" {
		cf.Config.Labels = map[string]string{"org.opencontainers.image.version": s.Version}
	}
	img, err = mutate.ConfigFile(img, cf)
	return img, errors.Wrap(err, "set the config")
}

// entry is one file of the layer.
type entry struct {
	name string      // in the image, no leading slash; directories end in /
	mode fs.FileMode // type and permissions
	link string      // symlink target
	from string      // regular file: its path on disk
	size int64
}

// entries lists the layer's files, sorted by name.
func entries(s Spec) ([]entry, error) {
	var es []entry
	dirs := map[string]bool{}
	addDirs := func(p string) {
		for d := path.Dir(p); d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
			es = append(es, entry{name: d + "/", mode: fs.ModeDir | 0o755})
		}
	}
	bin := strings.TrimPrefix(BinDir, "/")
	seen := map[string]string{}
	for _, b := range s.Bins {
		if li, err := os.Lstat(b); err == nil && li.Mode()&fs.ModeSymlink != 0 {
			if target, err := os.Readlink(b); err == nil && target != "" && !strings.Contains(target, "/") {
				base := filepath.Base(b)
				if other, ok := seen[base]; ok {
					return nil, errors.Errorf("binaries %s and %s have the same name", other, b)
				}
				seen[base] = b
				es = append(es, entry{name: bin + "/" + base, mode: fs.ModeSymlink | 0o777, link: target})
				continue
			}
		}
		fi, err := os.Stat(b)
		if err != nil {
			return nil, errors.Wrapf(err, "binary %s", b)
		}
		if !fi.Mode().IsRegular() {
			return nil, errors.Errorf("binary %s is not a regular file", b)
		}
		base := filepath.Base(b)
		if other, ok := seen[base]; ok {
			return nil, errors.Errorf("binaries %s and %s have the same name", other, b)
		}
		seen[base] = b
		name := bin + "/" + base
		addDirs(name)
		es = append(es, entry{name: name, mode: 0o755, from: b, size: fi.Size()})
	}
	sys := strings.TrimPrefix(SystemDir, "/")
	addDirs(sys + "/x")
	root := filepath.Clean(s.System)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		name := sys + "/" + filepath.ToSlash(rel)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch m := fi.Mode(); {
		case m.IsDir():
			dirs[name] = true
			es = append(es, entry{name: name + "/", mode: fs.ModeDir | 0o755})
		case m&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if path.IsAbs(target) || !strings.HasPrefix(path.Join(path.Dir(name), target), sys+"/") {
				return errors.Errorf("%s: symlink to %s leaves the tree", p, target)
			}
			es = append(es, entry{name: name, mode: fs.ModeSymlink | 0o777, link: target})
		case m.IsRegular():
			perm := fs.FileMode(0o644)
			if m&0o111 != 0 {
				perm = 0o755
			}
			es = append(es, entry{name: name, mode: perm, from: p, size: fi.Size()})
		default:
			return errors.Errorf("%s: %s is neither a file, a directory nor a symlink", p, m.Type())
		}
		return nil
	})
	if err != nil {
		return nil, errors.Wrapf(err, "walk %s", root)
	}
	sort.Slice(es, func(i, j int) bool { return es[i].name < es[j].name })
	return es, nil
}

// writeLayer writes the layer, a gzipped tar, to w.
func writeLayer(w io.Writer, s Spec, created time.Time) error {
	es, err := entries(s)
	if err != nil {
		return err
	}
	zw, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Mode: int64(e.mode.Perm()), ModTime: created, Uname: "root", Gname: "root"}
		switch {
		case e.mode.IsDir():
			h.Typeflag = tar.TypeDir
		case e.mode&fs.ModeSymlink != 0:
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.link
		default:
			h.Typeflag, h.Size = tar.TypeReg, e.size
		}
		if err := tw.WriteHeader(h); err != nil {
			return errors.Wrapf(err, "layer: %s", e.name)
		}
		if h.Typeflag == tar.TypeReg {
			if err := copyFile(tw, e.from, e.size); err != nil {
				return errors.Wrapf(err, "layer: %s", e.name)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return errors.Wrap(err, "layer: close the tar")
	}
	return errors.Wrap(zw.Close(), "layer: close the gzip stream")
}

// copyFile copies exactly size bytes of file to w: a file that changes
// under us is an error, not a corrupt archive.
func copyFile(w io.Writer, file string, size int64) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(w, io.LimitReader(f, size+1))
	if err != nil {
		return err
	}
	if n != size {
		return errors.Errorf("%s changed size while being read (%d bytes, was %d)", file, n, size)
	}
	return nil
}

// writeLayout writes img as an OCI image layout (oci-layout, index.json,
// blobs/sha256/...) in a tar archive to w.
func writeLayout(w io.Writer, img v1.Image, ref string, created time.Time) error {
	manifest, err := img.RawManifest()
	if err != nil {
		return errors.Wrap(err, "manifest")
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return errors.Wrap(err, "config")
	}
	mdigest, err := img.Digest()
	if err != nil {
		return errors.Wrap(err, "manifest digest")
	}
	cdigest, err := img.ConfigName()
	if err != nil {
		return errors.Wrap(err, "config digest")
	}
	layers, err := img.Layers()
	if err != nil {
		return errors.Wrap(err, "layers")
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return errors.Wrap(err, "config")
	}
	desc := v1.Descriptor{
		MediaType: types.OCIManifestSchema1,
		Size:      int64(len(manifest)),
		Digest:    mdigest,
		Platform:  &v1.Platform{OS: cf.OS, Architecture: cf.Architecture},
	}
	if ref != "" {
		desc.Annotations = map[string]string{RefAnnotation: ref}
	}
	index, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{desc}})
	if err != nil {
		return errors.Wrap(err, "index")
	}

	type blob struct {
		digest v1.Hash
		size   int64
		open   func() (io.ReadCloser, error)
	}
	bytesBlob := func(h v1.Hash, b []byte) blob {
		return blob{h, int64(len(b)), func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(string(b))), nil }}
	}
	blobs := []blob{bytesBlob(mdigest, manifest), bytesBlob(cdigest, config)}
	for _, l := range layers {
		h, err := l.Digest()
		if err != nil {
			return errors.Wrap(err, "layer digest")
		}
		n, err := l.Size()
		if err != nil {
			return errors.Wrap(err, "layer size")
		}
		blobs = append(blobs, blob{h, n, l.Compressed})
	}
	sort.Slice(blobs, func(i, j int) bool { return blobs[i].digest.String() < blobs[j].digest.String() })

	tw := tar.NewWriter(w)
	hdr := func(name string, typ byte, mode, size int64) error {
		return tw.WriteHeader(&tar.Header{Name: name, Typeflag: typ, Mode: mode, Size: size, ModTime: created, Uname: "root", Gname: "root"})
	}
	if err := hdr("blobs/", tar.TypeDir, 0o755, 0); err != nil {
		return err
	}
	if err := hdr("blobs/sha256/", tar.TypeDir, 0o755, 0); err != nil {
		return err
	}
	for _, b := range blobs {
		name := "blobs/" + b.digest.Algorithm + "/" + b.digest.Hex
		if err := hdr(name, tar.TypeReg, 0o644, b.size); err != nil {
			return errors.Wrapf(err, "layout: %s", name)
		}
		r, err := b.open()
		if err != nil {
			return errors.Wrapf(err, "layout: %s", name)
		}
		n, err := io.Copy(tw, r)
		r.Close()
		if err != nil {
			return errors.Wrapf(err, "layout: %s", name)
		}
		if n != b.size {
			return errors.Errorf("layout: %s: %d bytes, want %d", name, n, b.size)
		}
	}
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"index.json", index},
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
	} {
		if err := hdr(f.name, tar.TypeReg, 0o644, int64(len(f.data))); err != nil {
			return errors.Wrapf(err, "layout: %s", f.name)
		}
		if _, err := tw.Write(f.data); err != nil {
			return errors.Wrapf(err, "layout: %s", f.name)
		}
	}
	return errors.Wrap(tw.Close(), "layout: close the tar")
}
