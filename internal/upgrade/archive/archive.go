// Package archive unpacks a release's gzipped tar into a directory of a
// store.FS and refuses every entry that would land, or point, outside it:
// absolute names, ".." elements, symlinks whose target leaves the tree,
// hard links to names outside it, device nodes and fifos. Each entry's
// parent is resolved with securejoin through the links already
// extracted, and a symlink's target is judged from that real parent (see
// CheckLink), so a chain of in-tree links (x -> ., then x/x/x/esc ->
// ../secret) cannot lead out. Every file is fsynced, and every directory
// once at the end, so the tree is durable before it is renamed into
// place.
package archive

import (
	"archive/tar"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/klauspost/compress/gzip"
	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/store"
)

// Error classes; errors.Is finds them.
var (
	// ErrUnsafe: an entry would escape the target or is not allowed.
	ErrUnsafe = errors.New("unsafe archive entry")
	// ErrFormat: the stream is not a gzipped tar.
	ErrFormat = errors.New("bad archive")
)

// Options tune Extract.
type Options struct {
	// Strip drops this many leading name elements (1: the top directory).
	Strip int
	// Prefix, when set, keeps only the entries under it (after Strip),
	// with Prefix dropped: "bos/system" unpacks <top>/bos/system/... alone.
	Prefix string
	// MaxBytes bounds the bytes of the files written (0: no bound).
	MaxBytes int64
	// MaxEntries bounds the entries extracted (0: no bound).
	MaxEntries int
	// Room, when set, is asked before each regular file is created
	// whether its size bytes fit; its error stops the extraction.
	Room func(name string, size int64) error
}

// Bounds of a release tarball (see Limits).
const (
	// ExpansionRatio is how many times its own size a release tarball may
	// unpack to. A release is mostly squashfs images (compressed already,
	// about 1:1) and Go binaries (about 1:3 under gzip); a real
	// bos-rootfs tarball unpacks to 1.3 times its size. 8 leaves room for
	// that and stops a gzip bomb (zeros pack about 1000:1) early.
	ExpansionRatio = 8
	// MaxEntries is the most entries a release tarball may hold: a real
	// one holds a dozen.
	MaxEntries = 100_000
)

// Limits are the bounds for a release tarball of size bytes:
// ExpansionRatio times size (at least 8 MiB) in files, MaxEntries entries.
func Limits(size int64) Options {
	return Options{MaxBytes: ExpansionRatio * max(size, 1<<20), MaxEntries: MaxEntries}
}

// Totals are what an archive unpacks to.
type Totals struct {
	Bytes   int64 // in regular files
	Entries int
}

// Measure reads the gzipped tar r to the end and returns what Extract
// would write with opt, without writing anything: the bytes of the files
// and the number of entries, refused (ErrUnsafe) over opt's bounds. It
// checks the names as Extract does, not the links (they need the tree).
func Measure(r io.Reader, opt Options) (Totals, error) {
	src := &source{r: r}
	zr, err := gzip.NewReader(src)
	if err != nil {
		return Totals{}, src.format("gzip", err)
	}
	x := &extractor{opt: opt}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return x.totals, src.format("tar", err)
		}
		if err := x.count(hdr); err != nil {
			return x.totals, err
		}
	}
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return x.totals, src.format("gzip", err)
	}
	return x.totals, nil
}

// source is the archive's reader; it keeps the reader's own error, so
// that a failed read is not taken for a bad archive.
type source struct {
	r   io.Reader
	err error
}

func (s *source) Read(b []byte) (int, error) {
	n, err := s.r.Read(b)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// format is the error of a decoder: the reader's, or ErrFormat.
func (s *source) format(what string, err error) error {
	if s.err != nil {
		return errors.Wrap(s.err, "read the archive")
	}
	return errors.Wrapf(ErrFormat, "%s: %v", what, err)
}

// count adds an entry to the totals, refusing it over the bounds;
// entries stripped away or outside the prefix do not count.
func (x *extractor) count(hdr *tar.Header) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	rel, err := x.clean(hdr.Name)
	if err != nil || rel == "" {
		return err
	}
	x.totals.Entries++
	if x.opt.MaxEntries > 0 && x.totals.Entries > x.opt.MaxEntries {
		return errors.Wrapf(ErrUnsafe, "%s: the archive holds more than %d entries", hdr.Name, x.opt.MaxEntries)
	}
	if hdr.Typeflag == tar.TypeReg {
		if hdr.Size < 0 || x.opt.MaxBytes > 0 && x.totals.Bytes+hdr.Size > x.opt.MaxBytes {
			return errors.Wrapf(ErrUnsafe, "%s: the archive holds more than %d bytes", hdr.Name, x.opt.MaxBytes)
		}
		x.totals.Bytes += hdr.Size
	}
	return nil
}

// vfs lets securejoin walk links through a store.FS.
type vfs struct{ fs store.FS }

func (v vfs) Lstat(name string) (os.FileInfo, error) { return v.fs.Lstat(name) }
func (v vfs) Readlink(name string) (string, error)   { return v.fs.Readlink(name) }

// Extract unpacks the gzipped tar r into dir (which must exist). It reads r
// to the end of the gzip stream.
func Extract(r io.Reader, fsys store.FS, dir string, opt Options) error {
	src := &source{r: r}
	zr, err := gzip.NewReader(src)
	if err != nil {
		return src.format("gzip", err)
	}
	x := &extractor{fs: fsys, dir: path.Clean(dir), opt: opt, dirs: map[string]bool{path.Clean(dir): true}}
	tr := tar.NewReader(zr)
	buf := make([]byte, 1<<20)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return src.format("tar", err)
		}
		if err := x.entry(hdr, tr, buf, src); err != nil {
			return err
		}
	}
	// The rest of the gzip stream (tar padding), so its CRC is checked.
	if _, err := io.CopyBuffer(io.Discard, zr, buf); err != nil {
		return src.format("gzip", err)
	}
	return x.syncDirs()
}

type extractor struct {
	fs     store.FS
	dir    string
	opt    Options
	totals Totals          // what was extracted so far
	dirs   map[string]bool // directories to fsync at the end
}

// clean checks an archive name and returns it relative to the target,
// with Strip elements dropped; "" means the entry is stripped away.
func (x *extractor) clean(name string) (string, error) {
	if strings.HasPrefix(name, "/") {
		return "", errors.Wrapf(ErrUnsafe, "%s: absolute name", name)
	}
	var parts []string
	for i, p := range strings.Split(name, "/") {
		switch {
		case p == "..":
			return "", errors.Wrapf(ErrUnsafe, "%s: a \"..\" element leaves the target", name)
		case p == "" || p == "." && (i > 0 || x.opt.Strip == 0):
			continue // the top directory may be "." (tar -C dir .)
		}
		parts = append(parts, p)
	}
	if len(parts) <= x.opt.Strip {
		return "", nil
	}
	rest := parts[x.opt.Strip:]
	for _, p := range rest {
		if p == "." {
			return "", errors.Wrapf(ErrUnsafe, "%s: unexpected \".\" element", name)
		}
	}
	rel := strings.Join(rest, "/")
	if x.opt.Prefix != "" {
		prefix := strings.Trim(x.opt.Prefix, "/")
		if !strings.HasPrefix(rel, prefix+"/") {
			return "", nil // outside the prefix, or the prefix itself
		}
		rel = strings.TrimPrefix(rel, prefix+"/")
	}
	return rel, nil
}

// resolve is the FS name of rel inside the target, following the links
// already extracted but never out of the target.
func (x *extractor) resolve(rel string) (string, error) {
	dir, base := path.Split(rel)
	parent, err := securejoin.SecureJoinVFS(x.dir, dir, vfs{x.fs})
	if err != nil {
		return "", errors.Wrapf(err, "resolve %s in %s", rel, x.dir)
	}
	return path.Join(parent, base), nil
}

// inside is an FS name under the target relative to it ("" for the
// target itself).
func (x *extractor) inside(name string) string {
	if name == x.dir {
		return ""
	}
	return strings.TrimPrefix(name, x.dir+"/")
}

// CheckLink refuses (ErrUnsafe) a symlink called name, in the directory
// dir of the tree at root (dir relative to root, "" for root, a real
// directory: no link on the way), whose target would lead outside root.
//
// The target is walked as the kernel walks it: "." is nothing, ".."
// climbs one real directory and may never climb above root, a name goes
// down. A ".." may only follow a name that is a real directory of fsys
// now (not a link, a file or a name not yet there: a later entry could
// make it a link, and lexical cleaning would then lie about "x/.."). After
// the last "..", the rest only goes down, possibly through links that were
// themselves checked here; so by induction no link of the tree resolves
// outside it, however links are chained or ordered.
func CheckLink(fsys store.FS, root, dir, name, target string) error {
	switch {
	case target == "":
		return errors.Wrapf(ErrUnsafe, "%s: empty symlink", name)
	case strings.HasPrefix(target, "/"):
		return errors.Wrapf(ErrUnsafe, "%s: symlink to the absolute path %s", name, target)
	}
	elems := strings.Split(target, "/")
	last := -1 // the last ".."
	for i, e := range elems {
		if e == ".." {
			last = i
		}
	}
	var at []string // where the walk is, relative to root
	if dir != "" && dir != "." {
		at = strings.Split(dir, "/")
	}
	for _, e := range elems[:last+1] {
		switch e {
		case "", ".":
		case "..":
			if len(at) == 0 {
				return errors.Wrapf(ErrUnsafe, "%s: symlink to %s leaves the target", name, target)
			}
			at = at[:len(at)-1]
		default:
			at = append(at, e)
			p := path.Join(root, path.Join(at...))
			fi, err := fsys.Lstat(p)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return errors.Wrapf(err, "stat %s", p)
			}
			if err != nil || !fi.IsDir() {
				return errors.Wrapf(ErrUnsafe, "%s: symlink to %s could leave the target: \"..\" after %s, which is not a directory of the tree", name, target, path.Join(at...))
			}
		}
	}
	return nil
}

// CheckTree refuses (ErrUnsafe) any symlink under dir of fsys whose
// target leads outside dir (see CheckLink): for a subtree that is moved
// on its own, such as one version directory of a release.
func CheckTree(fsys store.FS, dir string) error {
	return checkTree(fsys, path.Clean(dir), "")
}

func checkTree(fsys store.FS, root, rel string) error {
	d := path.Join(root, rel)
	ents, err := fsys.ReadDir(d)
	if err != nil {
		return errors.Wrapf(err, "list %s", d)
	}
	for _, e := range ents {
		r := path.Join(rel, e.Name())
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			target, err := fsys.Readlink(path.Join(root, r))
			if err != nil {
				return errors.Wrapf(err, "read link %s", path.Join(root, r))
			}
			if err := CheckLink(fsys, root, rel, path.Join(root, r), target); err != nil {
				return err
			}
		case e.IsDir():
			if err := checkTree(fsys, root, r); err != nil {
				return err
			}
		}
	}
	return nil
}

func (x *extractor) mkdirs(name string, perm fs.FileMode) error {
	if x.dirs[name] {
		return nil
	}
	if !strings.HasPrefix(name, x.dir+"/") {
		return errors.Wrapf(ErrUnsafe, "%s: outside %s", name, x.dir)
	}
	if err := x.mkdirs(path.Dir(name), 0o755); err != nil {
		return err
	}
	fi, err := x.fs.Lstat(name)
	switch {
	case err == nil && fi.IsDir():
	case err == nil:
		return errors.Wrapf(ErrUnsafe, "%s: exists and is not a directory", name)
	case errors.Is(err, fs.ErrNotExist):
		if err := x.fs.Mkdir(name, perm); err != nil {
			return errors.Wrapf(err, "create %s", name)
		}
	default:
		return errors.Wrapf(err, "stat %s", name)
	}
	x.dirs[name] = true
	return nil
}

func (x *extractor) entry(hdr *tar.Header, r io.Reader, buf []byte, src *source) error {
	// Bounds first, from the header: nothing is written past them.
	if err := x.count(hdr); err != nil {
		return err
	}
	rel, err := x.clean(hdr.Name)
	if err != nil || rel == "" {
		return err
	}
	perm := fs.FileMode(hdr.Mode) & fs.ModePerm
	switch hdr.Typeflag {
	case tar.TypeDir:
		target, err := x.resolve(rel)
		if err != nil {
			return err
		}
		return x.mkdirs(target, perm|0o700)
	case tar.TypeReg:
		target, err := x.resolve(rel)
		if err != nil {
			return err
		}
		if err := x.mkdirs(path.Dir(target), 0o755); err != nil {
			return err
		}
		if x.opt.Room != nil {
			if err := x.opt.Room(rel, hdr.Size); err != nil {
				return err
			}
		}
		return x.file(target, perm, r, buf, src)
	case tar.TypeSymlink:
		link := hdr.Linkname
		target, err := x.resolve(rel)
		if err != nil {
			return err
		}
		// Judged from where the link really lands: its parent through
		// the links before it (the parts not there yet become real
		// directories just below).
		if err := CheckLink(x.fs, x.dir, x.inside(path.Dir(target)), hdr.Name, link); err != nil {
			return err
		}
		if err := x.mkdirs(path.Dir(target), 0o755); err != nil {
			return err
		}
		return errors.Wrapf(x.fs.Symlink(link, target), "symlink %s", target)
	case tar.TypeLink:
		old, err := x.clean(hdr.Linkname)
		if err != nil {
			return errors.Wrapf(ErrUnsafe, "%s: hard link to %s: %v", hdr.Name, hdr.Linkname, err)
		}
		if old == "" {
			return errors.Wrapf(ErrUnsafe, "%s: hard link to %s, outside the target", hdr.Name, hdr.Linkname)
		}
		oldTarget, err := x.resolve(old)
		if err != nil {
			return err
		}
		if fi, err := x.fs.Lstat(oldTarget); err != nil || !fi.Mode().IsRegular() {
			return errors.Wrapf(ErrUnsafe, "%s: hard link to %s, which is not a file extracted before", hdr.Name, hdr.Linkname)
		}
		target, err := x.resolve(rel)
		if err != nil {
			return err
		}
		if err := x.mkdirs(path.Dir(target), 0o755); err != nil {
			return err
		}
		return errors.Wrapf(x.fs.Link(oldTarget, target), "hard link %s", target)
	case tar.TypeXGlobalHeader:
		return nil
	}
	return errors.Wrapf(ErrUnsafe, "%s: entry type %q is not allowed in a release", hdr.Name, hdr.Typeflag)
}

func (x *extractor) file(name string, perm fs.FileMode, r io.Reader, buf []byte, src *source) error {
	f, err := x.fs.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return errors.Wrapf(err, "create %s", name)
	}
	if _, err := io.CopyBuffer(onlyWriter{f}, r, buf); err != nil {
		f.Close()
		if src.err != nil {
			return errors.Wrapf(src.err, "read the archive for %s", name)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return errors.Wrapf(ErrFormat, "%s: archive truncated", name)
		}
		return errors.Wrapf(err, "write %s", name)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return errors.Wrapf(err, "sync %s", name)
	}
	return errors.Wrapf(f.Close(), "close %s", name)
}

// onlyWriter hides ReadFrom, so CopyBuffer uses our buffer.
type onlyWriter struct{ io.Writer }

// syncDirs fsyncs every directory made, deepest first.
func (x *extractor) syncDirs() error {
	dirs := make([]string, 0, len(x.dirs))
	for d := range x.dirs {
		dirs = append(dirs, d)
	}
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	for _, d := range dirs {
		if err := x.fs.SyncDir(d); err != nil {
			return errors.Wrapf(err, "sync %s", d)
		}
	}
	return nil
}
