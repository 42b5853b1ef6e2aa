package ociimage

import (
	"archive/tar"
	"compress/gzip"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/pkg/errors"
)

// Artifacts are the release artifacts the image's bos/system tree is made
// of (DESIGN.md, "The product").
type Artifacts struct {
	Rootfs         string // bos-rootfs-<arch>.tar.gz: bos-rootfs-<v>/bos/system/{bos,dcp}/...
	Vmlinuz        string
	Initrd         string
	KernelSquashfs string
	KernelVersion  string // the kernel's own release, one line
}

// ArtifactsIn names the artifacts of arch in dir, as the image build writes them.
func ArtifactsIn(dir, arch string) Artifacts {
	p := func(f string) string { return filepath.Join(dir, f) }
	return Artifacts{
		Rootfs:         p("bos-rootfs-" + arch + ".tar.gz"),
		Vmlinuz:        p("bos-vmlinuz-" + arch),
		Initrd:         p("bos-initrd-" + arch),
		KernelSquashfs: p("bos-kernel-" + arch + ".squashfs"),
		KernelVersion:  p("bos-kernel-version-" + arch),
	}
}

// StageSystem lays out a bos/system tree in dst (which must not exist) as
// an installed system has it: the rootfs tarball's bos and dcp components,
// and kernel/<version>/{vmlinuz,initrd,kernel.squashfs,version} with
// kernel/current, where version is the release (bos/current's target), as
// on the ISO. It returns the release.
func StageSystem(dst string, a Artifacts) (string, error) {
	if err := os.Mkdir(dst, 0o755); err != nil {
		return "", errors.Wrap(err, "create the staging tree")
	}
	if err := untarSystem(dst, a.Rootfs); err != nil {
		return "", err
	}
	v, err := os.Readlink(filepath.Join(dst, "bos", "current"))
	if err != nil {
		return "", errors.Wrapf(err, "%s has no bos/current", a.Rootfs)
	}
	if v == "" || strings.ContainsAny(v, "/") || v == "." || v == ".." {
		return "", errors.Errorf("%s: bos/current points to %q, not a version directory", a.Rootfs, v)
	}
	kdir := filepath.Join(dst, "kernel", v)
	if err := os.MkdirAll(kdir, 0o755); err != nil {
		return "", errors.Wrapf(err, "create %s", kdir)
	}
	for _, f := range []struct{ from, to string }{
		{a.Vmlinuz, "vmlinuz"}, {a.Initrd, "initrd"}, {a.KernelSquashfs, "kernel.squashfs"},
	} {
		if err := copyOut(filepath.Join(kdir, f.to), f.from, 0o644); err != nil {
			return "", err
		}
	}
	kv, err := os.ReadFile(a.KernelVersion)
	if err != nil {
		return "", errors.Wrap(err, "kernel version")
	}
	kver := strings.TrimSpace(string(kv))
	if kver == "" || strings.ContainsAny(kver, "\n/") {
		return "", errors.Errorf("%s: %q is not a kernel release", a.KernelVersion, kver)
	}
	if err := os.WriteFile(filepath.Join(kdir, "version"), []byte(kver+"\n"), 0o644); err != nil {
		return "", errors.Wrap(err, "write the kernel version")
	}
	if err := os.Symlink(v, filepath.Join(dst, "kernel", "current")); err != nil {
		return "", errors.Wrap(err, "link kernel/current")
	}
	return v, nil
}

// untarSystem unpacks the bos/system part of a rootfs tarball into dst.
func untarSystem(dst, tgz string) error {
	f, err := os.Open(tgz)
	if err != nil {
		return errors.Wrap(err, "rootfs tarball")
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return errors.Wrapf(err, "%s", tgz)
	}
	tr := tar.NewReader(zr)
	found := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return errors.Wrapf(err, "%s", tgz)
		}
		// <top>/bos/system/<rel>
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		parts := strings.SplitN(name, "/", 4)
		if len(parts) < 3 || parts[1] != "bos" || parts[2] != "system" {
			continue
		}
		found = true
		if len(parts) == 3 {
			continue
		}
		rel := parts[3]
		if rel == ".." || strings.HasPrefix(rel, "../") || path.IsAbs(rel) {
			return errors.Errorf("%s: %s leaves bos/system", tgz, h.Name)
		}
		to := filepath.Join(dst, filepath.FromSlash(rel))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(to, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
				return err
			}
			if err := writeFrom(to, tr, os.FileMode(h.Mode).Perm()); err != nil {
				return errors.Wrapf(err, "%s: %s", tgz, h.Name)
			}
		case tar.TypeSymlink:
			if path.IsAbs(h.Linkname) || strings.HasPrefix(path.Join(path.Dir(rel), h.Linkname), "../") {
				return errors.Errorf("%s: %s links to %s, outside bos/system", tgz, h.Name, h.Linkname)
			}
			if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
				return err
			}
			if err := os.Symlink(h.Linkname, to); err != nil {
				return err
			}
		default:
			return errors.Errorf("%s: %s: unexpected entry type %q", tgz, h.Name, h.Typeflag)
		}
	}
	if !found {
		return errors.Errorf("%s has no */bos/system tree", tgz)
	}
	return nil
}

func copyOut(to, from string, mode os.FileMode) error {
	f, err := os.Open(from)
	if err != nil {
		return err
	}
	defer f.Close()
	return errors.Wrapf(writeFrom(to, f, mode), "copy %s", from)
}

func writeFrom(to string, r io.Reader, mode os.FileMode) error {
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
