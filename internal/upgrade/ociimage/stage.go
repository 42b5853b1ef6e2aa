package ociimage

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/layout"
	"github.com/bhojpur/os/internal/store"
	"github.com/bhojpur/os/internal/upgrade/archive"
)

// Artifacts are the release artifacts the image's bos/system tree is made
// of: the rootfs tarball holds the bos and dcp components, the other four
// make the kernel component (see package store for the layout).
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
		Rootfs:         p(layout.Rootfs(arch)),
		Vmlinuz:        p(layout.Vmlinuz(arch)),
		Initrd:         p(layout.Initrd(arch)),
		KernelSquashfs: p(layout.KernelSquashfs(arch)),
		KernelVersion:  p(layout.KernelVersion(arch)),
	}
}

// StageSystem lays out a bos/system tree in dst (which must not exist) as
// an installed system has it: the rootfs tarball's bos and dcp components,
// and kernel/<version>/{vmlinuz,initrd,kernel.squashfs,version} with
// kernel/current, where version is the release (bos/current's target), as
// on the ISO. It returns the release.
//
// Everything is written through a store.FS rooted at dst's parent, with
// the upgrade's extraction and file copy: nothing lands outside dst, even
// through the links the tarball brings.
func StageSystem(dst string, a Artifacts) (string, error) {
	if err := os.Mkdir(dst, 0o755); err != nil {
		return "", errors.Wrap(err, "create the staging tree")
	}
	fsys, err := store.NewOSFS(filepath.Dir(dst))
	if err != nil {
		return "", err
	}
	top := "/" + filepath.Base(dst)
	if err := untarSystem(fsys, top, a.Rootfs); err != nil {
		return "", err
	}
	v, err := fsys.Readlink(path.Join(top, "bos", "current"))
	if err != nil {
		return "", errors.Wrapf(err, "%s has no bos/current", a.Rootfs)
	}
	if v == "" || strings.ContainsAny(v, "/") || v == "." || v == ".." {
		return "", errors.Errorf("%s: bos/current points to %q, not a version directory", a.Rootfs, v)
	}
	kdir := path.Join(top, "kernel", v)
	if err := fsys.MkdirAll(kdir, 0o755); err != nil {
		return "", errors.Wrapf(err, "create %s", kdir)
	}
	for _, f := range []struct{ from, to string }{
		{a.Vmlinuz, "vmlinuz"}, {a.Initrd, "initrd"}, {a.KernelSquashfs, "kernel.squashfs"},
	} {
		if err := copyIn(fsys, path.Join(kdir, f.to), f.from, 0o644); err != nil {
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
	if err := store.WriteFile(fsys, path.Join(kdir, "version"), []byte(kver+"\n"), 0o644); err != nil {
		return "", errors.Wrap(err, "write the kernel version")
	}
	if err := fsys.Symlink(v, path.Join(top, "kernel", "current")); err != nil {
		return "", errors.Wrap(err, "link kernel/current")
	}
	return v, nil
}

// untarSystem unpacks the bos/system part of a rootfs tarball into top
// (which exists and is empty) with the upgrade's extraction: the same
// checks of names, links and entry types, and the same bounds.
func untarSystem(fsys store.FS, top, tgz string) error {
	f, err := os.Open(tgz)
	if err != nil {
		return errors.Wrap(err, "rootfs tarball")
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return errors.Wrapf(err, "stat %s", tgz)
	}
	opt := archive.Limits(fi.Size())
	opt.Strip, opt.Prefix = 1, "bos/system"
	if err := archive.Extract(f, fsys, top, opt); err != nil {
		return errors.Wrapf(err, "%s", tgz)
	}
	if ents, err := fsys.ReadDir(top); err != nil {
		return errors.Wrapf(err, "list %s", top)
	} else if len(ents) == 0 {
		return errors.Errorf("%s has no */bos/system tree", tgz)
	}
	return nil
}

// copyIn copies the host file from to name in fsys.
func copyIn(fsys store.FS, name, from string, perm fs.FileMode) error {
	f, err := os.Open(from)
	if err != nil {
		return err
	}
	defer f.Close()
	return errors.Wrapf(store.CopyIn(fsys, name, f, perm), "copy %s", from)
}
