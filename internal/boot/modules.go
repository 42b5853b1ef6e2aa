package boot

import (
	"bufio"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pkg/errors"
)

// modIndex is what bos-init needs of a /lib/modules/<kver> directory:
// modules.dep (each module with all it depends on), modules.alias (device
// modalias patterns) and modules.builtin. It is small enough to write here:
// the Go kmod libraries were not reachable through the module proxy, and
// bos-init needs neither module parameters nor compressed modules (Debian
// bookworm ships plain .ko files).
type modIndex struct {
	dir     string                // the modules directory, absolute
	paths   map[string]string     // module name -> path relative to dir
	deps    map[string][]string   // module name -> dependency names
	aliases map[string][]modAlias // by aliasKey of the pattern
	builtin map[string]bool
}

type modAlias struct {
	pattern, module string
	line            int // in modules.alias: lookups answer in file order
}

// aliasKeyLen is how much of a pattern's literal start indexes it: "pci:v"
// and the vendor, "usb:v" and the vendor and part of the product. A
// device's modalias is then matched against the patterns of its bus and
// vendor and the generic ones of its bus, not all 1200 of the initrd
// (path.Match on each took milliseconds per device under TCG).
const aliasKeyLen = 13

// aliasKey is the literal start of a pattern, up to aliasKeyLen bytes.
func aliasKey(pattern string) string {
	n := strings.IndexAny(pattern, "*?[\\")
	if n < 0 {
		n = len(pattern)
	}
	return pattern[:min(n, aliasKeyLen)]
}

// modName turns a path or a spelling with dashes into the kernel's name.
func modName(p string) string {
	base := path.Base(p)
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		base = strings.TrimSuffix(base, ext)
	}
	return strings.ReplaceAll(strings.TrimSuffix(base, ".ko"), "-", "_")
}

func newModIndex(dir string) *modIndex {
	return &modIndex{dir: dir, paths: map[string]string{}, deps: map[string][]string{}, aliases: map[string][]modAlias{}, builtin: map[string]bool{}}
}

// loadModIndex reads the index files of a modules directory.
func loadModIndex(dir string) (*modIndex, error) {
	ix := newModIndex(dir)
	f, err := os.Open(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return nil, errors.Wrap(err, "read the module index")
	}
	defer f.Close()
	if err := ix.parseDep(f); err != nil {
		return nil, errors.Wrapf(err, "%s", f.Name())
	}
	if f, err := os.Open(filepath.Join(dir, "modules.alias")); err == nil {
		ix.parseAlias(f)
		f.Close()
	}
	if f, err := os.Open(filepath.Join(dir, "modules.builtin")); err == nil {
		s := bufio.NewScanner(f)
		for s.Scan() {
			if l := strings.TrimSpace(s.Text()); l != "" {
				ix.builtin[modName(l)] = true
			}
		}
		f.Close()
	}
	return ix, nil
}

func (ix *modIndex) parseDep(r io.Reader) error {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64*1024), 1024*1024)
	for s.Scan() {
		mod, deps, ok := strings.Cut(s.Text(), ":")
		if !ok {
			continue
		}
		name := modName(mod)
		ix.paths[name] = mod
		for _, d := range strings.Fields(deps) {
			ix.deps[name] = append(ix.deps[name], modName(d))
		}
	}
	return s.Err()
}

func (ix *modIndex) parseAlias(r io.Reader) {
	s := bufio.NewScanner(r)
	for line := 0; s.Scan(); line++ {
		f := strings.Fields(s.Text())
		if len(f) == 3 && f[0] == "alias" {
			k := aliasKey(f[1])
			ix.aliases[k] = append(ix.aliases[k], modAlias{pattern: f[1], module: modName(f[2]), line: line})
		}
	}
}

// lookup returns the modules whose alias patterns match a device modalias
// (fnmatch rules; modaliases contain no '/').
func (ix *modIndex) lookup(modalias string) []string {
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

// order returns name and its dependencies in loading order: every module
// after all that it needs. Unknown modules are an error, built-in ones are
// left out.
func (ix *modIndex) order(name string) ([]string, error) {
	var out []string
	done := map[string]bool{}
	var visit func(n string, depth int) error
	visit = func(n string, depth int) error {
		if done[n] || ix.builtin[n] {
			return nil
		}
		if _, ok := ix.paths[n]; !ok {
			return errors.Errorf("module %s not found in %s", n, ix.dir)
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
	return out, visit(modName(name), 0)
}

// modLoader loads modules once each through the system seam.
type modLoader struct {
	ix      *modIndex
	sys     Sys
	loaded  map[string]bool
	matched map[string]bool // device modaliases already looked up
	log     func(format string, args ...any)
}

// load loads a module and what it depends on; it reports whether anything
// new was loaded.
func (l *modLoader) load(name string) (bool, error) { return l.loadWith(name, "") }

// loadWith is load with parameters for the named module (not for what it
// depends on).
func (l *modLoader) loadWith(name, params string) (bool, error) {
	names, err := l.ix.order(name)
	if err != nil {
		return false, err
	}
	loadedAny := false
	for _, n := range names {
		if l.loaded[n] {
			continue
		}
		l.loaded[n] = true
		p := ""
		if n == modName(name) {
			p = params
		}
		if err := l.sys.LoadModule(filepath.Join(l.ix.dir, l.ix.paths[n]), p); err != nil {
			return loadedAny, errors.Wrapf(err, "load module %s", n)
		}
		l.log("loaded module %s", n)
		loadedAny = true
	}
	return loadedAny, nil
}

// coldplug loads the drivers of the devices present now: it reads every
// /sys/bus/*/devices/*/modalias under root and loads what matches; unless
// all is set, PCI devices outside the classes that hold disks are left
// for the running system (see storagePCI). It returns whether any module
// was loaded (new buses may then show new devices, so callers repeat it).
// A modalias is looked up once: the search for the media repeats coldplug
// every round.
func (l *modLoader) coldplug(root string, all bool) bool {
	files, _ := filepath.Glob(filepath.Join(root, "sys/bus/*/devices/*/modalias"))
	var aliases []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if a := strings.TrimSpace(string(b)); a != "" {
			aliases = append(aliases, a)
		}
	}
	sort.Strings(aliases)
	var want []string
	seen := map[string]bool{}
	if l.matched == nil {
		l.matched = map[string]bool{}
	}
	for _, a := range aliases {
		if l.matched[a] || !(all || storagePCI(a)) {
			continue
		}
		l.matched[a] = true
		for _, m := range l.ix.lookup(a) {
			if !seen[m] && !l.loaded[m] {
				seen[m] = true
				want = append(want, m)
			}
		}
	}
	any := false
	for _, m := range want {
		ok, err := l.load(m)
		if err != nil {
			// A driver refusing a device it matched is normal; not fatal.
			l.log("%v", err)
		}
		any = any || ok
	}
	return any
}

// storagePCI tells whether a device may lead to the boot media: any device
// off the PCI bus (virtio, USB, MMC, SCSI, Hyper-V, Xen devices appear on
// their own buses once their host's driver is loaded), and on the PCI bus
// mass storage controllers (class 01: IDE, SATA, SCSI, RAID, SAS, NVMe,
// virtio-blk and virtio-scsi), USB hosts (0C03) and SD hosts (0805).
// Network cards, graphics, the virtio entropy source and the rest are
// bound later by bos-coldplug. Under TCG, binding virtio_pci to a
// machine's virtio NIC and RNG took 0.9 s of the initrd (ACPI interrupt
// links), for devices that never hold the media.
func storagePCI(modalias string) bool {
	if !strings.HasPrefix(modalias, "pci:") {
		return true
	}
	// ...sd00000001bc02sc00i00: base class 02, subclass 00.
	_, class, _ := strings.Cut(modalias, "bc")
	if len(class) < 6 || class[2:4] != "sc" {
		return true // not as the kernel writes it: do not guess
	}
	base, sub := class[:2], class[4:6]
	return base == "01" || (base == "0C" && sub == "03") || (base == "08" && sub == "05")
}

// loadModules loads modules and what they need, naming those that failed.
func (b *Boot) loadModules(names []string) error {
	if err := b.initModules(); err != nil {
		return err
	}
	var failed []string
	for _, m := range names {
		if _, err := b.modules.load(m); err != nil {
			b.debugf("%v", err)
			failed = append(failed, m)
		}
	}
	if len(failed) > 0 {
		return errors.Errorf("could not load %s", strings.Join(failed, ", "))
	}
	return nil
}

func (b *Boot) initModules() error {
	if b.modules != nil {
		return nil
	}
	dirs, _ := filepath.Glob(b.path("/lib/modules/*/modules.dep"))
	if len(dirs) == 0 {
		return errors.New("no modules.dep under /lib/modules")
	}
	sort.Strings(dirs)
	ix, err := loadModIndex(filepath.Dir(dirs[len(dirs)-1]))
	if err != nil {
		return err
	}
	b.modules = &modLoader{ix: ix, sys: b.Sys, loaded: map[string]bool{}, log: b.debugf}
	return nil
}

// coldplug loads the drivers of the devices present, again while that
// loads anything new (new buses may then show new devices), at most four
// times; all asks for the drivers of every device, not only storage's.
func (b *Boot) coldplug(all bool) {
	if b.modules == nil {
		return
	}
	for i := 0; i < 4 && b.modules.coldplug(b.Root, all); i++ {
	}
}
