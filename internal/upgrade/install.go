package upgrade

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/exitcode"
	"github.com/bhojpur/os/internal/fetch"
	"github.com/bhojpur/os/internal/layout"
	"github.com/bhojpur/os/internal/store"
	"github.com/bhojpur/os/internal/upgrade/archive"
)

// Artifact names of a release for an architecture.

// kernelFile is one of the kernel's release artifacts.
type kernelFile struct {
	artifact, name string // the release's name, the name in the version directory
	max            int64
}

// kernelFiles are the kernel's release artifacts, with their caps.
func kernelFiles(arch string, c Caps) []kernelFile {
	return []kernelFile{
		{layout.Vmlinuz(arch), "vmlinuz", c.boot()},
		{layout.Initrd(arch), "initrd", c.boot()},
		{layout.KernelSquashfs(arch), "kernel.squashfs", c.image()},
		{layout.KernelVersion(arch), "version", versionCap},
	}
}

// bounds are a download's: its cap, and room for it in dir.
func bounds(env *Env, dir string, max int64) *fetch.Bounds {
	return &fetch.Bounds{Max: max, Room: func(n int64) error {
		return store.NeedSpace(env.FS, dir, n, "the download")
	}}
}

// source is a local bos/system tree.
type source struct {
	fs  store.FS
	dir string // the system tree inside fs
}

func openSource(dir string) (*source, error) {
	sfs, err := store.NewOSFS(dir)
	if err != nil {
		return nil, err
	}
	if fi, err := sfs.Lstat("/"); err != nil || !fi.IsDir() {
		return nil, badRelease("--source %s: not a directory", dir)
	}
	s := &source{fs: sfs, dir: "/"}
	if ok, _ := store.Exists(sfs, "/"+layout.SystemDir); ok {
		s.dir = "/" + layout.SystemDir
	}
	return s, nil
}

// version picks the version directory of component in the source: want
// when it is there, else what current names, else the only one.
func (s *source) version(component, want string) (string, error) {
	st := &store.Store{FS: s.fs, Dir: s.dir}
	if want != "" {
		if ok, err := st.HasVersion(component, want); err != nil || ok {
			return want, err
		}
	}
	if cur, err := st.Link(component, store.Current); err != nil {
		return "", err
	} else if cur != "" {
		if ok, _ := st.HasVersion(component, cur); ok {
			return cur, nil
		}
	}
	vs, err := st.Versions(component)
	if err != nil {
		return "", err
	}
	if len(vs) == 1 {
		return vs[0], nil
	}
	return "", nil
}

// staged is one component version ready to commit.
type staged struct {
	component, version, dir string
}

// upgrade installs a release and reports whether anything changed.
func upgrade(ctx context.Context, opt Options, env *Env, st *store.Store) (bool, error) {
	primary := opt.Component
	var src *source
	v := opt.Release
	switch {
	case opt.Source != "":
		var err error
		if src, err = openSource(opt.Source); err != nil {
			return false, err
		}
		sv, err := src.version(primary, v)
		if err != nil {
			return false, err
		}
		if sv == "" {
			return false, badRelease("--source %s has no %s version%s", opt.Source, primary, ifSet(" "+v, v))
		}
		v = sv
	case v == "":
		var err error
		if v, err = env.Fetcher.Latest(ctx, opt.Channel); err != nil {
			return false, err
		}
		env.logf("latest release of %s: %s", opt.Channel, v)
	}

	cur, err := st.Link(primary, store.Current)
	if err != nil {
		return false, err
	}
	staging := path.Join(opt.Dest, stagingDir, v)
	if cur != v {
		if err := checkFallback(env, opt, v, cur); err != nil {
			return false, err
		}
	}
	if cur == v {
		env.say("%s %s is already current: nothing to do", primary, v)
		if !opt.DryRun {
			return false, cleanup(env, st, opt, "")
		}
		return false, nil
	}
	if opt.DryRun {
		return false, plan(opt, env, st, src, v, cur)
	}

	// Leftovers of runs for other versions go; a partial download of
	// this version stays, to be resumed.
	if err := cleanup(env, st, opt, v); err != nil {
		return false, err
	}
	if err := env.FS.MkdirAll(staging, 0o755); err != nil {
		return false, errors.Wrapf(err, "create %s", staging)
	}
	var parts []staged
	switch {
	case src != nil:
		parts, err = stageSource(env, src, opt, v, staging)
	case primary == Kernel:
		parts, err = stageKernel(ctx, env, opt, v, staging)
	default:
		parts, err = stageRootfs(ctx, env, opt, v, staging)
	}
	if err != nil {
		// A bad download, or a verified one that is no release: start
		// over next time. Anything else (the network, no room) keeps
		// what was downloaded, to resume.
		discard(env, staging, errors.Is(err, fetch.ErrChecksum) || errors.Is(err, archive.ErrUnsafe) || errors.Is(err, archive.ErrFormat))
		return false, err
	}

	// Everything is verified and synced: now commit and switch. A
	// component already on v (an earlier run switched it and then
	// stopped) is complete and stays as it is.
	var todo []staged
	for _, p := range parts {
		if c, err := st.Link(p.component, store.Current); err != nil {
			return false, err
		} else if c == p.version {
			env.logf("%s %s is already current", p.component, p.version)
			continue
		}
		todo = append(todo, p)
	}
	for _, p := range todo {
		if err := st.Commit(p.component, p.version, p.dir); err != nil {
			return false, err
		}
	}
	for _, p := range todo {
		old, err := st.Switch(p.component, p.version)
		if err != nil {
			return false, err
		}
		env.say("%s: %s -> %s (previous: %s)", p.component, orNone(old), p.version, orNone(old))
	}
	return true, cleanup(env, st, opt, "")
}

// checkFallback refuses v when the running system fell back from a trial
// boot of v: an upgrade Job rerun after that boot, or a hand-run retry,
// would only boot it to fail again. The file is in /run: a reboot clears
// it.
func checkFallback(env *Env, opt Options, v, cur string) error {
	if opt.FallbackFile == "" {
		return nil
	}
	f, err := env.FS.Open(opt.FallbackFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return classed{errors.Wrapf(err, "read %s", opt.FallbackFile), exitcode.ErrDisk}
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 256))
	if err != nil {
		return classed{errors.Wrapf(err, "read %s", opt.FallbackFile), exitcode.ErrDisk}
	}
	if failed := strings.TrimSpace(string(b)); failed == v {
		return badRelease("%s %s failed its trial boot on this system, which fell back to %s (%s): not installing it again; take a newer release, or reboot first to try %s once more", opt.Component, v, orNone(cur), opt.FallbackFile, v)
	}
	return nil
}

func ifSet(s, v string) string {
	if v == "" {
		return ""
	}
	return s
}

// cleanup prunes the components and removes the staging of every version
// but keep ("" for all).
func cleanup(env *Env, st *store.Store, opt Options, keep string) error {
	for _, c := range components(opt.Component) {
		if _, err := st.Prune(c); err != nil {
			return err
		}
	}
	dir := path.Join(opt.Dest, stagingDir)
	ents, err := env.FS.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return errors.Wrapf(err, "list %s", dir)
	}
	left := 0
	for _, e := range ents {
		if e.Name() == keep {
			left++
			continue
		}
		if err := env.FS.RemoveAll(path.Join(dir, e.Name())); err != nil {
			return errors.Wrapf(err, "remove %s", path.Join(dir, e.Name()))
		}
	}
	if left == 0 {
		if err := env.FS.RemoveAll(dir); err != nil {
			return errors.Wrapf(err, "remove %s", dir)
		}
	}
	return errors.Wrapf(env.FS.SyncDir(opt.Dest), "sync %s", opt.Dest)
}

// discard removes a failed run's staging but keeps partial downloads to
// resume, unless all is to go (a checksum mismatch: start over).
func discard(env *Env, staging string, all bool) {
	ents, err := env.FS.ReadDir(staging)
	if err != nil {
		return
	}
	kept := 0
	for _, e := range ents {
		if !all && strings.HasSuffix(e.Name(), ".part") && e.Type().IsRegular() {
			kept++
			continue
		}
		if err := env.FS.RemoveAll(path.Join(staging, e.Name())); err != nil {
			env.logf("remove %s: %v", path.Join(staging, e.Name()), err)
		}
	}
	if kept == 0 {
		if err := env.FS.RemoveAll(staging); err != nil {
			env.logf("remove %s: %v", staging, err)
		}
		parent := path.Dir(staging)
		if ents, err := env.FS.ReadDir(parent); err == nil && len(ents) == 0 {
			env.FS.RemoveAll(parent)
		}
	}
}

// sums fetches and parses the release's checksums.
func sums(ctx context.Context, env *Env, opt Options, v string) (fetch.Sums, string, error) {
	name := layout.Sums(opt.Arch)
	u := fetch.ArtifactURL(opt.URL, v, name)
	body, _, err := env.Fetcher.Get(ctx, u, 1<<20)
	if err != nil {
		return nil, "", err
	}
	s, err := fetch.ParseSums(bytes.NewReader(body))
	if err != nil {
		return nil, "", errors.Wrapf(fetch.ErrChecksum, "%s: %v", u, err)
	}
	return s, name, nil
}

func want(s fetch.Sums, sumsName, artifact string) (string, error) {
	w, ok := s[artifact]
	if !ok {
		return "", errors.Wrapf(fetch.ErrChecksum, "%s does not list %s: refusing an unverifiable artifact", sumsName, artifact)
	}
	return w, nil
}

// stageRootfs downloads the rootfs tarball to a file, verifies it, and
// only then unpacks it into staging/tree.
func stageRootfs(ctx context.Context, env *Env, opt Options, v, staging string) ([]staged, error) {
	s, sumsName, err := sums(ctx, env, opt, v)
	if err != nil {
		return nil, err
	}
	name := layout.Rootfs(opt.Arch)
	w, err := want(s, sumsName, name)
	if err != nil {
		return nil, err
	}
	tree := path.Join(staging, "tree")
	part := path.Join(staging, name+".part")
	u := fetch.ArtifactURL(opt.URL, v, name)
	env.logf("downloading %s", u)
	res, err := env.Fetcher.Download(ctx, u, env.FS, part, w, bounds(env, opt.Dest, opt.Caps.image()))
	if err != nil {
		return nil, errors.Wrapf(err, "%s", name)
	}
	env.logf("%s: sha256 verified against %s", name, sumsName)
	if err := unpack(env, part, tree, name, res.Size, opt.Dest); err != nil {
		return nil, err
	}
	if err := env.FS.RemoveAll(part); err != nil {
		return nil, errors.Wrapf(err, "remove %s", part)
	}
	sys := path.Join(tree, "bos/system")
	var parts []staged
	for _, c := range components(OS) {
		dir := path.Join(sys, c, v)
		fi, err := env.FS.Lstat(dir)
		switch {
		case err == nil && fi.IsDir():
			// Committed on its own: its links must stay in it.
			if err := archive.CheckTree(env.FS, dir); err != nil {
				return nil, errors.Wrapf(err, "%s of release %s", name, v)
			}
			parts = append(parts, staged{c, v, dir})
		case err == nil || errors.Is(err, fs.ErrNotExist):
			if c == OS {
				return nil, badRelease("%s of release %s has no bos/system/bos/%s", name, v, v)
			}
		default:
			return nil, errors.Wrapf(err, "stat %s", dir)
		}
	}
	return parts, nil
}

// unpack extracts the verified tarball part (size bytes) into tree,
// within the bounds of its size, checking before each file that it fits
// on the file system of dest. It reads the archive once: a second pass to
// measure it first would double the time of an upgrade on one slow CPU.
func unpack(env *Env, part, tree, name string, size int64, dest string) error {
	opt := archive.Limits(size)
	opt.Strip = 1
	opt.Room = func(file string, n int64) error {
		return store.NeedSpace(env.FS, dest, n, fmt.Sprintf("unpacking %s (%s)", name, file))
	}
	if err := env.FS.RemoveAll(tree); err != nil {
		return errors.Wrapf(err, "remove %s", tree)
	}
	if err := env.FS.Mkdir(tree, 0o755); err != nil {
		return errors.Wrapf(err, "create %s", tree)
	}
	in, err := env.FS.Open(part)
	if err != nil {
		return errors.Wrapf(err, "open %s", part)
	}
	defer in.Close()
	err = archive.Extract(in, env.FS, tree, opt)
	switch {
	case errors.Is(err, archive.ErrUnsafe):
		return errors.Wrapf(err, "%s (%s) is refused: a release may unpack to at most %d times its size (at least %s) in %d entries",
			name, store.MiB(size), archive.ExpansionRatio, store.MiB(archive.Limits(0).MaxBytes), archive.MaxEntries)
	case errors.Is(err, store.ErrNoSpace):
		return err
	}
	return errors.Wrapf(err, "%s", name)
}

// stageKernel downloads the kernel artifacts into staging/kernel.
func stageKernel(ctx context.Context, env *Env, opt Options, v, staging string) ([]staged, error) {
	s, sumsName, err := sums(ctx, env, opt, v)
	if err != nil {
		return nil, err
	}
	files := kernelFiles(opt.Arch, opt.Caps)
	for _, f := range files { // every sum known before any download
		if _, err := want(s, sumsName, f.artifact); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		u := fetch.ArtifactURL(opt.URL, v, f.artifact)
		env.logf("downloading %s", u)
		if _, err := env.Fetcher.Download(ctx, u, env.FS, path.Join(staging, f.artifact+".part"), s[f.artifact], bounds(env, opt.Dest, f.max)); err != nil {
			return nil, errors.Wrapf(err, "%s", f.artifact)
		}
	}
	env.logf("kernel artifacts: sha256 verified against %s", sumsName)
	dir := path.Join(staging, Kernel)
	if err := env.FS.RemoveAll(dir); err != nil {
		return nil, errors.Wrapf(err, "remove %s", dir)
	}
	if err := env.FS.Mkdir(dir, 0o755); err != nil {
		return nil, errors.Wrapf(err, "create %s", dir)
	}
	for _, f := range files {
		if err := env.FS.Rename(path.Join(staging, f.artifact+".part"), path.Join(dir, f.name)); err != nil {
			return nil, errors.Wrapf(err, "move %s into %s", f.artifact, dir)
		}
	}
	if err := env.FS.SyncDir(dir); err != nil {
		return nil, errors.Wrapf(err, "sync %s", dir)
	}
	if err := env.FS.SyncDir(staging); err != nil {
		return nil, errors.Wrapf(err, "sync %s", staging)
	}
	return []staged{{Kernel, v, dir}}, nil
}

// stageSource copies the component versions from a local tree.
func stageSource(env *Env, src *source, opt Options, v, staging string) ([]staged, error) {
	var parts []staged
	for _, c := range components(opt.Component) {
		sv := v
		if c != opt.Component {
			var err error
			if sv, err = src.version(c, v); err != nil {
				return nil, err
			}
			if sv == "" {
				continue // no DCP in the tree
			}
		}
		from := path.Join(src.dir, c, sv)
		to := path.Join(staging, c)
		if err := env.FS.RemoveAll(to); err != nil {
			return nil, errors.Wrapf(err, "remove %s", to)
		}
		if err := copyTree(src.fs, from, env.FS, to); err != nil {
			return nil, err
		}
		if err := env.FS.SyncDir(staging); err != nil {
			return nil, errors.Wrapf(err, "sync %s", staging)
		}
		parts = append(parts, staged{c, sv, to})
	}
	return parts, nil
}

// copyTree copies the directory from (in sfs) to to (in dfs, which must
// not exist): files fsynced, then each directory. Symlinks are copied when
// they stay inside the tree (archive.CheckLink, judged in sfs).
func copyTree(sfs store.FS, from string, dfs store.FS, to string) error {
	return copyDir(sfs, from, from, dfs, to, "")
}

// copyDir copies from, which is rel inside the tree at root.
func copyDir(sfs store.FS, root, from string, dfs store.FS, to, rel string) error {
	if err := dfs.Mkdir(to, 0o755); err != nil {
		return errors.Wrapf(err, "create %s", to)
	}
	ents, err := sfs.ReadDir(from)
	if err != nil {
		return badRelease("list %s: %v", from, err)
	}
	for _, e := range ents {
		sp, dp, r := path.Join(from, e.Name()), path.Join(to, e.Name()), path.Join(rel, e.Name())
		fi, err := sfs.Lstat(sp)
		if err != nil {
			return badRelease("stat %s: %v", sp, err)
		}
		switch {
		case fi.IsDir():
			if err := copyDir(sfs, root, sp, dfs, dp, r); err != nil {
				return err
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := sfs.Readlink(sp)
			if err != nil {
				return badRelease("read link %s: %v", sp, err)
			}
			if err := archive.CheckLink(sfs, root, rel, sp, target); err != nil {
				return err
			}
			if err := dfs.Symlink(target, dp); err != nil {
				return errors.Wrapf(err, "symlink %s", dp)
			}
		case fi.Mode().IsRegular():
			if err := copyFile(sfs, sp, dfs, dp, fi.Mode().Perm()); err != nil {
				return err
			}
		default:
			return errors.Wrapf(archive.ErrUnsafe, "%s: %v is not allowed in a version tree", sp, fi.Mode().Type())
		}
	}
	return errors.Wrapf(dfs.SyncDir(to), "sync %s", to)
}

func copyFile(sfs store.FS, from string, dfs store.FS, to string, perm fs.FileMode) error {
	in, err := sfs.Open(from)
	if err != nil {
		return badRelease("open %s: %v", from, err)
	}
	defer in.Close()
	return errors.Wrapf(store.CopyIn(dfs, to, in, perm), "copy %s", from)
}

// plan says what an upgrade would do.
func plan(opt Options, env *Env, st *store.Store, src *source, v, cur string) error {
	if src != nil {
		env.say("would copy %s %s from %s", opt.Component, v, opt.Source)
	} else {
		s := layout.Sums(opt.Arch)
		arts := []string{layout.Rootfs(opt.Arch)}
		if opt.Component == Kernel {
			arts = nil
			for _, f := range kernelFiles(opt.Arch, opt.Caps) {
				arts = append(arts, f.artifact)
			}
		}
		for _, a := range arts {
			env.say("would download %s", fetch.ArtifactURL(opt.URL, v, a))
		}
		env.say("would verify them against %s", fetch.ArtifactURL(opt.URL, v, s))
	}
	for _, c := range components(opt.Component) {
		if c == DCP {
			env.say("would install %s/%s when the release bundles DCP", c, v)
		} else {
			env.say("would install %s/%s", c, v)
		}
	}
	prev, err := st.Link(opt.Component, store.Previous)
	if err != nil {
		return err
	}
	env.say("would switch %s/current from %s to %s and %s/previous from %s to %s",
		opt.Component, orNone(cur), v, opt.Component, orNone(prev), orNone(cur))
	for _, c := range components(opt.Component) {
		gone, err := st.Plan(c, v)
		if err != nil {
			return err
		}
		for _, g := range gone {
			env.say("would remove %s", path.Join(opt.Dest, c, g))
		}
	}
	return nil
}
