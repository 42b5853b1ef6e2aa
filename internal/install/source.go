package install

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/atomicfile"
	"github.com/bhojpur/os/internal/exitcode"
	"github.com/bhojpur/os/internal/layout"
)

// Source is where bos/system is copied from.
type Source struct {
	Ref  string // what was asked for: "" (the running system), an ISO URL or path, a directory
	Desc string // for the plan
	Dir  string // the bos/system directory to copy
	ISO  string // the local ISO file, "" when none
	// Verify says how the ISO was checked (or why not).
	Verify string
	// Versions maps bos, kernel and dcp to the version "current" points at
	// ("" when the component is absent: an image built without DCP).
	Versions map[string]string
	Files    int
	Bytes    int64

	cleanup []func() error
}

// Close unmounts or deletes what opening the source made.
func (s *Source) Close() error {
	var first error
	for i := len(s.cleanup) - 1; i >= 0; i-- {
		if err := s.cleanup[i](); err != nil && first == nil {
			first = err
		}
	}
	s.cleanup = nil
	return first
}

// Components of bos/system, each a directory of versions with a current
// link; bos and kernel are required.
var Components = []string{"bos", "kernel", "dcp"}

// requiredFiles must exist in the current version of a component.
var requiredFiles = map[string][]string{
	"bos":    {"rootfs.squashfs"},
	"kernel": {"vmlinuz", "initrd"},
}

// openSource finds, downloads, verifies and opens the install source.
func (in *Installer) openSource(ctx context.Context, ref, arch string) (*Source, error) {
	s := &Source{Ref: ref}
	switch {
	case ref == "":
		s.Dir = filepath.Join(in.Root, layout.SystemDir)
		s.Desc = "the running system's /" + layout.SystemDir
	case IsRemote(ref):
		sum, note, err := in.Fetch.Checksum(ctx, ref, arch)
		if err != nil {
			return nil, err
		}
		dir, err := in.tempDir(s)
		if err != nil {
			return nil, err
		}
		s.ISO = filepath.Join(dir, isoName(ref))
		in.Log.Printf("downloading %s", ref)
		if _, err := in.Fetch.Download(ctx, ref, s.ISO, sum); err != nil {
			s.Close()
			return nil, err
		}
		s.Verify, s.Desc = note, "ISO "+ref
	default:
		p := localPath(ref)
		fi, err := os.Stat(p)
		if err != nil {
			return nil, errors.Wrapf(exitcode.ErrBadInput, "ISO %s: %v", ref, err)
		}
		if fi.IsDir() {
			s.Dir, s.Desc = p, "directory "+p
			if _, err := os.Stat(filepath.Join(p, layout.SystemDir)); err == nil {
				s.Dir = filepath.Join(p, layout.SystemDir)
			}
			break
		}
		sum, note, err := in.Fetch.Checksum(ctx, ref, arch)
		if err != nil {
			return nil, err
		}
		if sum != "" {
			got, err := HashFile(p)
			if err != nil {
				return nil, errors.Wrapf(exitcode.ErrBadInput, "ISO %s: %v", ref, err)
			}
			if err := checkSum(ref, sum, got); err != nil {
				return nil, err
			}
		}
		s.ISO, s.Verify, s.Desc = p, note, "ISO "+p
	}
	if s.ISO != "" {
		if err := in.openISO(ctx, s); err != nil {
			s.Close()
			return nil, err
		}
	}
	if err := s.inspect(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// bootedFrom tells whether ref is the URL of the ISO this system booted
// from (a netboot: no CD, bos.install.iso_url), which bos-init writes to
// layout.MediaURLFile: its bos/system is the booted media, downloaded into
// RAM and verified against the checksum list at boot, so it is not
// downloaded a second time.
func (in *Installer) bootedFrom(ref string) bool {
	if !IsRemote(ref) {
		return false
	}
	data, err := os.ReadFile(filepath.Join(in.Root, layout.MediaURLFile))
	return err == nil && len(data) <= 64<<10 && strings.TrimSpace(string(data)) == ref
}

func checkSum(ref, want, got string) error {
	if want == "" || strings.EqualFold(want, got) {
		return nil
	}
	return errors.Wrapf(exitcode.ErrDownload, "ISO %s: sha256 %s does not match the published %s", ref, got, want)
}

func (in *Installer) tempDir(s *Source) (string, error) {
	dir, err := os.MkdirTemp(in.TempDir, "bos-install-")
	if err != nil {
		return "", errors.Wrapf(exitcode.ErrDisk, "temporary directory: %v", err)
	}
	s.cleanup = append(s.cleanup, func() error { return removeAllWritable(dir) })
	return dir, nil
}

// openISO loop-mounts the ISO read-only, or extracts it with xorriso where
// the kernel cannot mount ISO9660.
func (in *Installer) openISO(ctx context.Context, s *Source) error {
	dir, err := in.tempDir(s)
	if err != nil {
		return err
	}
	mnt := filepath.Join(dir, "iso")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		return errors.Wrapf(exitcode.ErrDisk, "mkdir %s: %v", mnt, err)
	}
	if err := in.run(ctx, "mount", "-o", "loop,ro", "-t", "iso9660", s.ISO, mnt); err == nil {
		s.cleanup = append(s.cleanup, func() error { return in.run(context.Background(), "umount", mnt) })
	} else {
		in.Debugf("mount %s: %v; extracting it with xorriso", s.ISO, err)
		if xerr := in.run(ctx, "xorriso", "-osirrox", "on", "-indev", s.ISO, "-extract", "/", mnt); xerr != nil {
			return errors.Wrapf(exitcode.ErrBadInput, "ISO %s: cannot mount it (%v) nor extract it (%v)", s.ISO, err, xerr)
		}
	}
	s.Dir = filepath.Join(mnt, layout.SystemDir)
	return nil
}

// removeAllWritable deletes a tree that xorriso may have extracted
// read-only.
func removeAllWritable(dir string) error {
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o755)
		}
		return nil
	})
	return os.RemoveAll(dir)
}

// inspect checks that Dir is a complete bos/system and counts what will be
// copied.
func (s *Source) inspect() error {
	bad := func(format string, args ...any) error {
		return errors.Wrapf(exitcode.ErrBadInput, "install source %s: "+format, append([]any{s.Desc}, args...)...)
	}
	if fi, err := os.Stat(s.Dir); err != nil || !fi.IsDir() {
		return bad("no %s directory (boot from the ISO, or name an ISO_URL)", layout.SystemDir)
	}
	s.Versions = map[string]string{}
	for _, c := range Components {
		link := filepath.Join(s.Dir, c, "current")
		target, err := os.Readlink(link)
		if err != nil {
			if _, ok := requiredFiles[c]; ok {
				return bad("%s/current is missing or not a link", c)
			}
			continue
		}
		s.Versions[c] = filepath.Base(target)
		for _, f := range requiredFiles[c] {
			if fi, err := os.Stat(filepath.Join(link, f)); err != nil || !fi.Mode().IsRegular() {
				return bad("%s/current/%s is missing", c, f)
			}
		}
	}
	return filepath.WalkDir(s.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return bad("%v", err)
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return bad("%v", err)
			}
			s.Files++
			s.Bytes += fi.Size()
		}
		return nil
	})
}

// Summary is the plan's "copies" line.
func (s *Source) Summary() string {
	var parts []string
	for _, c := range Components {
		v := s.Versions[c]
		if v == "" {
			v = "none"
		}
		parts = append(parts, c+" "+v)
	}
	return strings.Join(parts, ", ")
}

// copyTree copies the bos/system tree src into dst: directories and files
// first, each file written to a temporary name and renamed, then symbolic
// links, so that no current link points at a version that is not complete.
// A config.yaml at the top of src is skipped (the install writes its own).
func copyTree(src, dst string) error {
	type link struct{ path, target string }
	var links []link
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel == "config.yaml" {
			return nil
		}
		out := filepath.Join(dst, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			return os.Chmod(out, fi.Mode().Perm()|0o700)
		case d.Type()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			links = append(links, link{out, t})
			return nil
		case d.Type().IsRegular():
			return copyFile(p, out, fi.Mode().Perm())
		}
		return nil // sockets, devices: not part of a system tree
	})
	if err != nil {
		return err
	}
	sort.Slice(links, func(i, j int) bool { return links[i].path < links[j].path })
	for _, l := range links {
		tmp := l.path + ".bos-new"
		_ = os.Remove(tmp)
		if err := os.Symlink(l.target, tmp); err != nil {
			return err
		}
		if err := os.Rename(tmp, l.path); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".bos-new"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := out.ReadFrom(in); err != nil {
		out.Close()
		return errors.Wrapf(err, "copy %s", src)
	}
	if err := out.Close(); err != nil {
		return errors.Wrapf(err, "copy %s", src)
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

// writeFile writes the file at the host path name whole, with atomicfile.
func writeFile(name string, data []byte, mode fs.FileMode) error {
	return errors.Wrapf(atomicfile.Write(osfs.New(filepath.Dir(name)), filepath.Base(name), data, mode), "write %s", name)
}
