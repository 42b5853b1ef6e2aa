package install

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/diskfs/go-diskfs/partition/gpt"
	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/exitcode"
	"github.com/bhojpur/os/internal/grubenv"
	"github.com/bhojpur/os/internal/layout"
	"github.com/bhojpur/os/internal/takeover"
)

// Mode is the kind of install.
type Mode string

// Modes.
const (
	ModeFull     Mode = "full"      // partition and format the disk
	ModeNoFormat Mode = "no-format" // an existing partition becomes BOS_STATE
	ModeTakeover Mode = "takeover"  // the running root file system becomes BOS_STATE
)

// Plan is everything an install will do, computed and checked before
// anything is written.
type Plan struct {
	Mode     Mode
	Device   Device
	Layout   *Layout // ModeFull only
	Source   *Source
	Config   *ConfigFile // nil: none is installed
	Boot     Boot
	StateDir string // where BOS_STATE is while installing
	GrubCfg  string // the grub.cfg written
	Loader   []string
	Then     string
	Notes    []string
	Steps    []Step

	PowerOff, NoReboot bool
}

// Probe returns the device prober of the installer's root.
func (in *Installer) Probe() Probe { return Probe{Root: in.Root, FS: in.FS} }

// grubTargets are GRUB's BIOS and EFI platforms for an architecture.
func grubTargets(arch string) (bios, efi string) {
	switch arch {
	case "amd64":
		return "i386-pc", "x86_64-efi"
	case "386":
		return "i386-pc", "i386-efi"
	case "arm64":
		return "", "arm64-efi"
	}
	return "", ""
}

// GrubModules are the GRUB modules grub-install copies to
// /boot/grub/<platform> (it adds their dependencies): those the generated
// grub.cfg loads or whose commands it runs, and a few more for a trial boot
// (loadenv) or a person at the GRUB prompt (ls, cat, echo, reboot).
// Copying every module of both platforms, the fonts and the locales would
// make grub-install slow for nothing: the menu speaks on the serial port
// and the text console, in English.
// TestGrubModulesCoverGrubCfg fails when grub.cfg needs a module missing here.
var GrubModules = []string{
	"normal", "configfile", "echo", "test", "true", "sleep", "reboot", "halt", "ls", "cat", "regexp", "probe",
	"serial", "terminal", "all_video", "loadenv",
	"part_gpt", "part_msdos", "ext2", "fat", "search", "search_label", "search_fs_uuid", "search_fs_file",
	"linux", "gzio",
}

// grubInstallArgs are grub-install's first arguments for a platform: the
// modules above, no locales, fonts or themes.
func grubInstallArgs(target string) []string {
	return []string{"--target=" + target, "--install-modules=" + strings.Join(GrubModules, " "), "--locales=", "--fonts=", "--themes="}
}

// buildPlan turns checked inputs into the steps. It reads nothing: the
// facts are probed before, so it is a function of its arguments and of
// the installer's Root, WorkDir and Arch.
func (in *Installer) buildPlan(o Options, f Facts, lay *Layout, src *Source, cfg *ConfigFile) (*Plan, error) {
	p := &Plan{
		Mode: o.mode(), Device: f.Device, Layout: lay, Source: src, Config: cfg,
		Boot:     Boot{TTY: o.TTY, Debug: o.Debug},
		PowerOff: o.PowerOff, NoReboot: o.NoReboot,
	}
	work := in.WorkDir
	if work == "" {
		work = filepath.Join(in.Root, "run/bos/install")
	}
	p.StateDir = filepath.Join(work, "state")
	var bd bootDisk
	if p.Mode == ModeFull {
		bd = p.partition(f.Device, *lay)
	} else {
		bd = p.useExisting(f, in.Root)
	}
	p.copySystem()
	if err := p.installGrub(o, f, in.Arch, bd, filepath.Join(work, "efi")); err != nil {
		return nil, err
	}
	if err := p.bootConfig(f.HostGrubCfg); err != nil {
		return nil, err
	}
	p.end(o, in.Root)
	return p, nil
}

func (p *Plan) add(s ...Step) { p.Steps = append(p.Steps, s...) }

func (p *Plan) note(format string, args ...any) {
	p.Notes = append(p.Notes, fmt.Sprintf(format, args...))
}

// bootDir is the /boot of BOS_STATE while installing.
func (p *Plan) bootDir() string { return filepath.Join(p.StateDir, "boot") }

// bootDisk is where grub-install installs to: the disk ("" for nowhere),
// its EFI system partition ("" for none) and whether it has a BIOS boot
// partition.
type bootDisk struct {
	disk, esp string
	bios      bool
}

// partition plans a full install's partitioning and formatting: the old
// signatures zeroed, the GPT written, the file systems made, BOS_STATE
// mounted.
func (p *Plan) partition(dev Device, lay Layout) bootDisk {
	p.add(zeroStep{Path: dev.Path, Ranges: wipeRanges(lay)}, gptStep{Path: dev.Path, Layout: lay})
	if dev.Kind == KindImage {
		p.formatImage(dev, lay)
		return bootDisk{}
	}
	return p.formatDisk(dev, lay)
}

// wipeRanges are what zeroStep zeroes: the first MiB of the disk and of
// each partition, and the last MiB (the backup GPT).
func wipeRanges(lay Layout) [][2]int64 {
	ranges := [][2]int64{{0, MiB}}
	for _, part := range lay.Parts {
		ranges = append(ranges, [2]int64{part.Start, min(part.Size, MiB)})
	}
	return append(ranges, [2]int64{lay.DiskSize - MiB, MiB})
}

// formatImage makes the file systems inside a disk image file at their
// offsets and loop-mounts BOS_STATE; GRUB cannot be installed into it.
func (p *Plan) formatImage(dev Device, lay Layout) {
	esp, _ := lay.Part(layout.LabelGrub)
	state, _ := lay.Part(layout.LabelState)
	p.add(
		command("mkfs.vfat", "-F", "32", "-s", "1", "-n", layout.LabelGrub, fmt.Sprintf("--offset=%d", esp.Start/512), dev.Path, fmt.Sprint(esp.Size/1024)),
		command("mkfs.ext4", "-F", "-q", "-L", layout.LabelState, "-E", fmt.Sprintf("offset=%d", state.Start), dev.Path, fmt.Sprintf("%dk", state.Size/1024)),
		mountStep{Source: dev.Path, Dir: p.StateDir, FSType: "ext4", Options: fmt.Sprintf("loop,offset=%d,sizelimit=%d", state.Start, state.Size)},
	)
	p.note("GRUB is not installed into a disk image file: grub-install needs a block device")
}

// formatDisk makes the kernel see the new partitions, makes their file
// systems and mounts BOS_STATE.
func (p *Plan) formatDisk(dev Device, lay Layout) bootDisk {
	esp, _ := lay.Part(layout.LabelGrub)
	state, _ := lay.Part(layout.LabelState)
	var parts []string
	for _, part := range lay.Parts {
		parts = append(parts, PartitionDevice(dev.Path, part.Num))
	}
	espDev := PartitionDevice(dev.Path, esp.Num)
	stateDev := PartitionDevice(dev.Path, state.Num)
	p.add(
		rereadStep{Disk: dev.Path, Parts: parts},
		command("mkfs.vfat", "-F", "32", "-n", layout.LabelGrub, espDev),
		command("mkfs.ext4", "-F", "-q", "-L", layout.LabelState, stateDev),
		mountStep{Source: stateDev, Dir: p.StateDir, FSType: "ext4"},
	)
	_, bios := lay.Part(NameBIOS)
	return bootDisk{disk: dev.Path, esp: espDev, bios: bios}
}

// useExisting plans an install onto an existing ext4 partition: labelled
// BOS_STATE and mounted (a takeover's is the running /, where it stays),
// GRUB for the boot partitions its disk has.
func (p *Plan) useExisting(f Facts, root string) bootDisk {
	dev := f.Device
	if f.ExtLabel != layout.LabelState {
		p.add(command("e2label", dev.Path, layout.LabelState))
	}
	if p.Mode == ModeTakeover {
		p.StateDir = root
		return bootDisk{}
	}
	opts := ""
	if dev.Kind == KindImage {
		opts = "loop"
		p.note("GRUB is not installed for a file-system image: nothing to install it to")
	}
	p.add(mountStep{Source: dev.Path, Dir: p.StateDir, FSType: "ext4", Options: opts})
	if dev.DiskPath == "" {
		return bootDisk{}
	}
	if f.TableErr != nil {
		p.note("GRUB is not installed: %v; the existing boot loader must load /boot/grub/grub.cfg from %s", f.TableErr, layout.LabelState)
		return bootDisk{}
	}
	return bootPartitions(dev.DiskPath, f.Table)
}

// bootPartitions finds GRUB's partitions in a disk's partition table.
func bootPartitions(disk string, table []Partition) bootDisk {
	bd := bootDisk{disk: disk}
	for _, part := range table {
		switch part.Type {
		case gpt.BIOSBoot:
			bd.bios = true
		case gpt.EFISystemPartition:
			bd.esp = PartitionDevice(disk, part.Num)
		}
	}
	return bd
}

// copySystem plans the copy of the system, the config and the data
// directory onto BOS_STATE.
func (p *Plan) copySystem() {
	sys := filepath.Join(p.StateDir, layout.SystemDir)
	src := p.Source
	p.add(copyStep{From: src.Dir, To: sys, Files: src.Files, Bytes: src.Bytes})
	if cfg := p.Config; cfg != nil {
		p.add(writeStep{Path: filepath.Join(sys, "config.yaml"), Data: cfg.Data, Mode: 0o600, What: "config from " + cfg.Ref})
	}
	p.add(mkdirStep{Path: filepath.Join(p.StateDir, "bos/data/opt"), Mode: 0o755})
}

// installGrub plans grub-install for each platform the boot disk has a
// partition for: BIOS (the boot sector and the BIOS boot partition), EFI
// (the ESP).
func (p *Plan) installGrub(o Options, f Facts, arch string, bd bootDisk, efiDir string) error {
	if bd.disk == "" {
		return nil
	}
	biosTarget, efiTarget := grubTargets(arch)
	if biosTarget != "" && bd.bios {
		if err := p.grubBIOS(f, biosTarget, bd.disk); err != nil {
			return err
		}
	}
	if efiTarget != "" && bd.esp != "" {
		if err := p.grubEFI(o, f, efiTarget, bd.esp, efiDir); err != nil {
			return err
		}
	}
	if len(p.Loader) == 0 && p.Mode == ModeNoFormat {
		p.note("GRUB is not installed: %s has no BIOS boot or EFI system partition; the existing boot loader must load /boot/grub/grub.cfg from %s", bd.disk, layout.LabelState)
	}
	return nil
}

// grubBIOS installs GRUB for BIOS when this system has it; without it, a
// machine that did not boot with EFI cannot boot the disk.
func (p *Plan) grubBIOS(f Facts, target, disk string) error {
	switch {
	case f.Grub[target]:
		p.add(command("grub-install", append(grubInstallArgs(target), "--boot-directory="+p.bootDir(), disk)...))
		p.Loader = append(p.Loader, fmt.Sprintf("GRUB %s on %s (boot sector and BIOS boot partition)", target, disk))
	case !f.EFIBooted:
		return bad("GRUB for BIOS is not available here (no /usr/lib/grub/%s) and this machine did not boot with EFI", target)
	default:
		p.note("GRUB %s is not installed: no /usr/lib/grub/%s on this system", target, target)
	}
	return nil
}

// grubEFI installs GRUB at the ESP's removable path when this system has
// it; without it, an EFI machine (or --force-efi) cannot boot the disk.
func (p *Plan) grubEFI(o Options, f Facts, target, esp, efiDir string) error {
	switch {
	case f.Grub[target]:
		p.add(
			mountStep{Source: esp, Dir: efiDir, FSType: "vfat"},
			command("grub-install", append(grubInstallArgs(target), "--efi-directory="+efiDir, "--boot-directory="+p.bootDir(), "--removable", "--no-nvram")...),
			syncStep{},
			umountStep{Dir: efiDir},
		)
		p.Loader = append(p.Loader, fmt.Sprintf("GRUB %s at the removable path EFI/BOOT/ on %s (no NVRAM entry)", target, esp))
	case o.ForceEFI || f.EFIBooted:
		return bad("GRUB for EFI is not available here (no /usr/lib/grub/%s)", target)
	default:
		p.note("GRUB %s is not installed: no /usr/lib/grub/%s on this system", target, target)
	}
	return nil
}

// bootConfig plans the boot menu and the GRUB environment block of trial
// boots. A takeover writes the menu over the host GRUB's grub.cfg, backed
// up first.
func (p *Plan) bootConfig(hostGrubCfg string) error {
	grubCfg := filepath.Join(p.bootDir(), "grub/grub.cfg")
	if p.Mode == ModeTakeover {
		grubCfg = hostGrubCfg
		p.add(backupStep{From: grubCfg, To: grubCfg + ".before-bos"})
		p.Loader = append(p.Loader, "the existing GRUB, pointed at "+grubCfg)
	}
	p.GrubCfg = grubCfg
	menu, err := p.Boot.GrubConfig()
	if err != nil {
		return errors.Wrap(exitcode.ErrBadInput, err.Error())
	}
	p.add(writeStep{Path: grubCfg, Data: menu, Mode: 0o644, What: "boot menu"})
	env, err := grubenv.New().Bytes()
	if err != nil {
		return err
	}
	p.add(writeStep{Path: filepath.Join(p.StateDir, grubenv.Path), Data: env, Mode: 0o644, What: "GRUB environment block for trial boots"})
	return nil
}

// end plans the last steps and says what comes after them: a takeover
// leaves bos-init its keep-list for the next boot, the others unmount
// BOS_STATE; then the machine reboots or powers off.
func (p *Plan) end(o Options, root string) {
	if p.Mode == ModeTakeover {
		k := takeover.New(o.PowerOff)
		p.add(syncStep{}, writeStep{Path: filepath.Join(root, takeover.MarkerPath), Data: k.Marshal(), Mode: 0o644, What: "takeover keep-list"}, syncStep{})
		p.Then = fmt.Sprintf("reboot; at the next boot bos-init deletes everything on %s except %s", p.Device.Arg, strings.Join(k.Keep, ", "))
		if o.PowerOff {
			p.Then += ", then powers off"
		}
	} else {
		p.add(syncStep{}, umountStep{Dir: p.StateDir})
		p.Then = "reboot"
		if o.PowerOff {
			p.Then = "power off"
		}
	}
	if o.NoReboot {
		p.Then = "nothing (--no-reboot)"
	}
}

// WriteTo prints the plan for people (--dry-run, and before the
// confirmation question).
func (p *Plan) WriteTo(w io.Writer) (int64, error) {
	var b bytes.Buffer
	d := p.Device
	title := map[Mode]string{
		ModeFull:     "erase the disk and install",
		ModeNoFormat: "install onto an existing partition (--no-format)",
		ModeTakeover: "take over the running root file system (--takeover)",
	}[p.Mode]
	fmt.Fprintf(&b, "Bhojpur OS install plan: %s\n", title)
	dev := fmt.Sprintf("%s: %s, %s", d.Arg, d.Kind, Size(d.Size))
	if d.Model != "" {
		dev += ", " + d.Model
	}
	if d.Kind == KindPartition && d.DiskName != "" {
		dev += fmt.Sprintf(", partition %d of /dev/%s", d.Num, d.DiskName)
	}
	fmt.Fprintf(&b, "  device:    %s, %d-byte sectors\n", dev, d.SectorSize)
	if p.Layout != nil {
		fmt.Fprintf(&b, "  partitions (GPT):\n")
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "    #\tname\ttype\tstart\tsize\tfile system\n")
		for _, part := range p.Layout.Parts {
			fs := "-"
			if part.FS != "" {
				fs = part.FS + " " + part.Label
			}
			fmt.Fprintf(tw, "    %d\t%s\t%s %s\t%s\t%s\t%s\n", part.Num, part.Name, part.Code, typeName(part.Type), Size(part.Start), Size(part.Size), fs)
		}
		tw.Flush()
	} else {
		fmt.Fprintf(&b, "  partition: kept, labelled %s (ext4); nothing is formatted\n", layout.LabelState)
	}
	src := p.Source
	fmt.Fprintf(&b, "  source:    %s\n", src.Desc)
	if src.Verify != "" {
		fmt.Fprintf(&b, "  checksum:  %s\n", src.Verify)
	}
	fmt.Fprintf(&b, "  copies:    /%s: %s (%d files, %s)\n", layout.SystemDir, src.Summary(), src.Files, Size(src.Bytes))
	if p.Config != nil {
		fmt.Fprintf(&b, "  config:    %s (%d bytes) -> /%s/config.yaml, mode 0600\n", p.Config.Ref, len(p.Config.Data), layout.SystemDir)
	} else {
		fmt.Fprintf(&b, "  config:    none (no SSH key, no password: log in on the console only)\n")
	}
	for i, l := range p.Loader {
		label := "  boot:      "
		if i > 0 {
			label = "             "
		}
		fmt.Fprintf(&b, "%s%s\n", label, l)
	}
	fmt.Fprintf(&b, "  grub.cfg:  %s (root found by label %s)\n", p.GrubCfg, layout.LabelState)
	for _, e := range p.Boot.Entries() {
		fmt.Fprintf(&b, "    %-24s linux %s %s\n", e.Title, e.Kernel, strings.Join(e.Args, " "))
	}
	fmt.Fprintf(&b, "  then:      %s\n", p.Then)
	for _, n := range p.Notes {
		fmt.Fprintf(&b, "  note:      %s\n", n)
	}
	fmt.Fprintf(&b, "steps:\n")
	for i, s := range p.Steps {
		fmt.Fprintf(&b, "  %2d. %s\n", i+1, s)
	}
	n, err := w.Write(b.Bytes())
	return int64(n), err
}

func typeName(t gpt.Type) string {
	switch t {
	case gpt.BIOSBoot:
		return "BIOS boot"
	case gpt.EFISystemPartition:
		return "EFI system"
	case gpt.LinuxFilesystem:
		return "Linux"
	}
	return string(t)
}
