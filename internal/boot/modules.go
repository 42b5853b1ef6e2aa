package boot

import (
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/kmod"
)

// The modules of the initrd load through internal/kmod, each file through
// Sys.LoadModule. What is bos-init's own is on top of it: which modules
// each stage wants, and coldplug, the drivers of the devices present by
// their modalias, storage first.

// loadModules loads modules and what they need, naming those that failed.
func (b *Boot) loadModules(names []string) error {
	if err := b.initModules(); err != nil {
		return err
	}
	var failed []string
	for _, m := range names {
		if _, err := b.modules.Load(m, ""); err != nil {
			b.debugf("%v", err)
			failed = append(failed, m)
		}
	}
	if len(failed) > 0 {
		return errors.Errorf("could not load %s", strings.Join(failed, ", "))
	}
	return nil
}

// initModules reads the module index of the initrd: the last modules
// directory under /lib/modules (the initrd has one).
func (b *Boot) initModules() error {
	if b.modules != nil {
		return nil
	}
	dirs, _ := filepath.Glob(b.path("/lib/modules/*/modules.dep"))
	if len(dirs) == 0 {
		return errors.New("no modules.dep under /lib/modules")
	}
	sort.Strings(dirs)
	ix, err := kmod.Open(filepath.Dir(dirs[len(dirs)-1]))
	if err != nil {
		return err
	}
	b.modules = &kmod.Loader{Index: ix, Insert: b.Sys.LoadModule, Log: b.debugf}
	return nil
}

// coldplug loads the drivers of the devices present, again while that
// loads anything new (new buses may then show new devices), at most four
// times; all asks for the drivers of every device, not only storage's.
func (b *Boot) coldplug(all bool) {
	if b.modules == nil {
		return
	}
	for i := 0; i < 4 && b.coldplugRound(all); i++ {
	}
}

// coldplugRound loads the drivers of the devices present now: the modules
// whose aliases match a /sys/bus/*/devices/*/modalias under the root;
// unless all is set, PCI devices outside the classes that hold disks are
// left for the running system (see storagePCI). It returns whether any
// module was loaded. A modalias is looked up once: the search for the
// media repeats coldplug every round.
func (b *Boot) coldplugRound(all bool) bool {
	loadedAny := false
	for _, m := range b.driversFor(modaliases(b.Root), all) {
		ok, err := b.modules.Load(m, "")
		if err != nil {
			// A driver refusing a device it matched is normal; not fatal.
			b.debugf("%v", err)
		}
		loadedAny = loadedAny || ok
	}
	return loadedAny
}

// driversFor are the modules not tried yet that match the modaliases not
// looked up yet, in order.
func (b *Boot) driversFor(aliases []string, all bool) []string {
	if b.matched == nil {
		b.matched = map[string]bool{}
	}
	var want []string
	seen := map[string]bool{}
	for _, a := range aliases {
		if b.matched[a] || !(all || storagePCI(a)) {
			continue
		}
		b.matched[a] = true
		for _, m := range b.modules.Index.Lookup(a) {
			if !seen[m] && !b.modules.Tried(m) {
				seen[m] = true
				want = append(want, m)
			}
		}
	}
	return want
}

// modaliases are the modaliases of the devices under root's /sys/bus,
// sorted.
func modaliases(root string) []string {
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
	return aliases
}

// storagePCI tells whether a device may lead to the boot media: any device
// off the PCI bus (virtio, USB, MMC, SCSI, Hyper-V, Xen devices appear on
// their own buses once their host's driver is loaded), and on the PCI bus
// mass storage controllers (class 01: IDE, SATA, SCSI, RAID, SAS, NVMe,
// virtio-blk and virtio-scsi), USB hosts (0C03) and SD hosts (0805).
// Network cards, graphics, the virtio entropy source and the rest are
// bound later by bos-coldplug: binding virtio_pci to a machine's virtio
// NIC and RNG costs the initrd time (ACPI interrupt links) on an emulated
// machine, for devices that never hold the media.
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
