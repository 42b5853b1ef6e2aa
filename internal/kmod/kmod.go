// Package kmod loads Linux kernel modules. It reads the index files that
// depmod writes into a modules directory (modules.dep: each module and
// everything it depends on; modules.alias: the device modalias patterns
// each driver binds; modules.builtin), orders a module after all it
// depends on, and loads each module once with finit_module(2). bos-init
// in the initrd loads its disk and file-system drivers, the drivers of the
// devices present (by modalias) and softdog through it; the config phases
// load bos.modules through it.
//
// Decisions:
//
//   - The load of one file is a seam (Loader.Insert), so that bos-init's
//     tests record the modules instead of loading them; Finit is the real
//     one.
//   - Modules load one at a time, each after what it needs, in the order
//     of modules.dep: the log says what loaded in the order it did.
//   - Compressed modules (.ko.xz, .ko.zst, .ko.gz) are handed to the kernel
//     to decompress (finit_module's MODULE_INIT_COMPRESSED_FILE, which a
//     kernel built with CONFIG_MODULE_DECOMPRESS takes); nothing is
//     decompressed here. The Debian kernel that Bhojpur OS ships has plain
//     .ko files.
//   - It is not u-root's pkg/kmodule, which bos-config used before: that
//     loads through the real system calls only (its dry run takes neither
//     the parameters nor an error), loads a module's dependencies in
//     parallel goroutines (the order of the log and of a test's record
//     changes from run to run), does not say whether a call loaded
//     anything (bos-init's coldplug repeats while it does), reads
//     /proc/modules outside its root and stops at the first module there
//     it does not know, and, in v0.16.0, reads a plain .ko into memory for
//     init_module(2) instead of finit_module(2). Its decompressors (xz,
//     zstd, pgzip) also made bos-initrd larger.
package kmod

import (
	"bufio"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pkg/errors"
	"golang.org/x/sys/unix"
)

// Name is a module's name as the kernel spells it, from a file path or a
// spelling with dashes: virtio-blk, kernel/drivers/block/virtio_blk.ko.xz
// and virtio_blk are all virtio_blk.
func Name(p string) string {
	base := path.Base(p)
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		base = strings.TrimSuffix(base, ext)
	}
	return strings.ReplaceAll(strings.TrimSuffix(base, ".ko"), "-", "_")
}

// Dir is the modules directory of kernel release kver under root:
// lib/modules/<kver>, or usr/lib/modules/<kver> when only that exists.
// kver "" is the running kernel's release (uname -r).
func Dir(root, kver string) (string, error) {
	if kver == "" {
		var u unix.Utsname
		if err := unix.Uname(&u); err != nil {
			return "", errors.Wrap(err, "kernel release (uname -r)")
		}
		kver = unix.ByteSliceToString(u.Release[:])
	}
	dir := filepath.Join(root, "lib/modules", kver)
	if _, err := os.Stat(dir); err != nil {
		if usr := filepath.Join(root, "usr/lib/modules", kver); exists(usr) {
			return usr, nil
		}
	}
	return dir, nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Finit loads a module file with finit_module(2) and its parameters. A
// module already loaded is not an error. A compressed module is for the
// kernel to decompress.
func Finit(file, params string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	flags := finitFlags(file)
	err = unix.FinitModule(int(f.Fd()), params, flags)
	switch {
	case err == nil || err == unix.EEXIST:
		return nil
	case flags != 0 && (err == unix.EOPNOTSUPP || err == unix.EINVAL):
		return errors.Wrapf(err, "%s is compressed: does the kernel decompress modules (CONFIG_MODULE_DECOMPRESS)?", file)
	}
	return err
}

// finitFlags are the flags of finit_module(2) for a module file.
func finitFlags(file string) int {
	switch path.Ext(file) {
	case ".xz", ".zst", ".gz":
		return unix.MODULE_INIT_COMPRESSED_FILE
	}
	return 0
}

// Loader loads modules and what they depend on, each once.
type Loader struct {
	Index *Index
	// Insert loads one module file with its parameters; nil is Finit.
	Insert func(file, params string) error
	// Log is told of each module loaded; nil says nothing.
	Log func(format string, args ...any)

	loaded map[string]bool
}

// Load loads a module, after what it depends on; params are for the named
// module, not for those. It reports whether it loaded anything new. A
// module is tried once: one that failed is not tried again.
func (l *Loader) Load(name, params string) (bool, error) {
	names, err := l.Index.Order(name)
	if err != nil {
		return false, err
	}
	if l.loaded == nil {
		l.loaded = map[string]bool{}
	}
	loadedAny := false
	for _, n := range names {
		if l.loaded[n] {
			continue
		}
		l.loaded[n] = true
		p := ""
		if n == Name(name) {
			p = params
		}
		if err := l.insert(l.Index.Path(n), p); err != nil {
			return loadedAny, errors.Wrapf(err, "load module %s", n)
		}
		if l.Log != nil {
			l.Log("loaded module %s", n)
		}
		loadedAny = true
	}
	return loadedAny, nil
}

// Tried tells whether Load has tried the module (loaded, or failed).
func (l *Loader) Tried(name string) bool { return l.loaded[Name(name)] }

func (l *Loader) insert(file, params string) error {
	if l.Insert == nil {
		return Finit(file, params)
	}
	return l.Insert(file, params)
}

// Index is what a modules directory says of its modules.
type Index struct {
	Dir     string                // the modules directory
	paths   map[string]string     // module name -> path relative to Dir
	deps    map[string][]string   // module name -> dependency names
	aliases map[string][]modAlias // by aliasKey of the pattern
	builtin map[string]bool
}

type modAlias struct {
	pattern, module string
	line            int // in modules.alias: lookups answer in file order
}

// NewIndex is an empty index of dir, to Parse index files into.
func NewIndex(dir string) *Index {
	return &Index{Dir: dir, paths: map[string]string{}, deps: map[string][]string{}, aliases: map[string][]modAlias{}, builtin: map[string]bool{}}
}

// Open reads the index files of a modules directory. modules.dep must be
// there; modules.alias and modules.builtin may be missing, and an error
// reading one of them keeps what was read: the index still loads what it
// knows.
func Open(dir string) (*Index, error) {
	ix := NewIndex(dir)
	f, err := os.Open(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return nil, errors.Wrap(err, "read the module index")
	}
	defer f.Close()
	if err := ix.ParseDep(f); err != nil {
		return nil, errors.Wrapf(err, "%s", f.Name())
	}
	ix.parseOptional("modules.alias", ix.ParseAlias)
	ix.parseOptional("modules.builtin", ix.ParseBuiltin)
	return ix, nil
}

func (ix *Index) parseOptional(name string, parse func(io.Reader) error) {
	if f, err := os.Open(filepath.Join(ix.Dir, name)); err == nil {
		_ = parse(f)
		f.Close()
	}
}

// ParseDep reads modules.dep: "path: dependency paths" lines.
func (ix *Index) ParseDep(r io.Reader) error {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64*1024), 1024*1024)
	for s.Scan() {
		mod, deps, ok := strings.Cut(s.Text(), ":")
		if !ok {
			continue
		}
		name := Name(mod)
		ix.paths[name] = mod
		for _, d := range strings.Fields(deps) {
			ix.deps[name] = append(ix.deps[name], Name(d))
		}
	}
	return s.Err()
}

// ParseAlias reads modules.alias: "alias pattern module" lines.
func (ix *Index) ParseAlias(r io.Reader) error {
	s := bufio.NewScanner(r)
	for line := 0; s.Scan(); line++ {
		f := strings.Fields(s.Text())
		if len(f) == 3 && f[0] == "alias" {
			k := aliasKey(f[1])
			ix.aliases[k] = append(ix.aliases[k], modAlias{pattern: f[1], module: Name(f[2]), line: line})
		}
	}
	return s.Err()
}

// ParseBuiltin reads modules.builtin: the paths of the modules built into
// the kernel, one a line.
func (ix *Index) ParseBuiltin(r io.Reader) error {
	s := bufio.NewScanner(r)
	for s.Scan() {
		if l := strings.TrimSpace(s.Text()); l != "" {
			ix.builtin[Name(l)] = true
		}
	}
	return s.Err()
}

// Path is the file of a module, under Dir.
func (ix *Index) Path(name string) string { return filepath.Join(ix.Dir, ix.paths[Name(name)]) }

// Order returns name and its dependencies in loading order: every module
// after all that it needs. Unknown modules are an error, built-in ones are
// left out.
func (ix *Index) Order(name string) ([]string, error) {
	var out []string
	done := map[string]bool{}
	var visit func(n string, depth int) error
	visit = func(n string, depth int) error {
		if done[n] || ix.builtin[n] {
			return nil
		}
		if _, ok := ix.paths[n]; !ok {
			return errors.Errorf("module %s not found in %s", n, ix.Dir)
		}
		if depth > 64 {
			return errors.Errorf("module %s: dependency loop", n)
		}
		done[n] = true
		for _, d := range ix.deps[n] {
			if err := visit(d, depth+1); err != nil {
				return err
			}
		}
		out = append(out, n)
		return nil
	}
	return out, visit(Name(name), 0)
}

// aliasKeyLen is how much of a pattern's literal start indexes it: "pci:v"
// and the vendor, "usb:v" and the vendor and part of the product. A
// device's modalias is then matched against the patterns of its bus and
// vendor and the generic ones of its bus, not against every pattern of the
// index: fnmatch on each of them costs too much per device on an emulated
// machine.
const aliasKeyLen = 13

// aliasKey is the literal start of a pattern, up to aliasKeyLen bytes.
func aliasKey(pattern string) string {
	n := strings.IndexAny(pattern, "*?[\\")
	if n < 0 {
		n = len(pattern)
	}
	return pattern[:min(n, aliasKeyLen)]
}

// Lookup returns the modules whose alias patterns match a device modalias
// (fnmatch rules; modaliases contain no '/'), in the order of
// modules.alias.
func (ix *Index) Lookup(modalias string) []string {
	var hits []modAlias
	for n := 0; n <= min(len(modalias), aliasKeyLen); n++ {
		for _, a := range ix.aliases[modalias[:n]] {
			if ok, _ := path.Match(a.pattern, modalias); ok {
				hits = append(hits, a)
			}
		}
	}
	sort.Slice(hits, func(i, j int) bool { return hits[i].line < hits[j].line })
	var out []string
	seen := map[string]bool{}
	for _, a := range hits {
		if !seen[a.module] {
			seen[a.module] = true
			out = append(out, a.module)
		}
	}
	return out
}
