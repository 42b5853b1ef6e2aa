package install

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/diskfs/go-diskfs/partition/gpt"
	"github.com/pkg/errors"
	"golang.org/x/sys/unix"

	"github.com/bhojpur/os/internal/config"
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

// ConfigFile is the config to install as bos/system/config.yaml.
type ConfigFile struct {
	Ref  string // URL, path, or "answers" for the interactive questions
	Data []byte
}

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

func bad(format string, args ...any) error {
	return errors.Wrapf(exitcode.ErrBadInput, format, args...)
}

// Probe returns the device prober of the installer's root.
func (in *Installer) Probe() Probe { return Probe{Root: in.Root, FS: in.FS} }

// checkDevice inspects DEVICE and refuses what the mode cannot install to.
func (in *Installer) checkDevice(o Options) (Device, *Layout, error) {
	pr := in.Probe()
	dev, err := pr.Device(o.Device)
	if err != nil {
		return dev, nil, errors.Wrap(exitcode.ErrBadInput, err.Error())
	}
	switch o.mode() {
	case ModeFull:
		if dev.Kind == KindPartition {
			return dev, nil, bad("%s is a partition of /dev/%s: give the whole disk, or add --no-format to install onto this partition", o.Device, dev.DiskName)
		}
		if dev.Kind == KindDisk {
			used, err := pr.InUse()
			if err != nil {
				return dev, nil, err
			}
			if why := used[dev.Name]; why != "" {
				return dev, nil, bad("%s holds the running system (%s): choose another disk", o.Device, why)
			}
			if hs := pr.Holders(dev.Name); len(hs) > 0 {
				return dev, nil, bad("%s is in use by %s: choose another disk", o.Device, strings.Join(hs, ", "))
			}
		}
		l, err := NewLayout(in.Arch, dev.Size, dev.SectorSize)
		if err != nil {
			return dev, nil, errors.Wrapf(exitcode.ErrBadInput, "%s: %v", o.Device, err)
		}
		return dev, &l, nil
	}
	if dev.Kind == KindDisk {
		return dev, nil, bad("%s is a whole disk: --no-format takes a partition (such as %s)", o.Device, PartitionDevice(o.Device, 3))
	}
	ms, err := pr.Mounts()
	if err != nil {
		return dev, nil, err
	}
	var rootSource string
	for _, m := range ms {
		name := pr.sourceName(m)
		if m.Target == "/" {
			rootSource = m.Source
		}
		if dev.Name == "" || name != dev.Name {
			continue
		}
		if m.Target == "/" && o.Takeover {
			rootSource = ""
			break
		}
		if !o.Takeover {
			return dev, nil, bad("%s is mounted at %s: unmount it first, or use --takeover for the partition of /", o.Device, m.Target)
		}
	}
	if o.Takeover && (rootSource != "" || dev.Name == "") {
		return dev, nil, bad("--takeover: %s is not the partition of / (/ is %s)", o.Device, orNone(rootSource))
	}
	if dev.Name != "" {
		if hs := pr.Holders(dev.Name); len(hs) > 0 {
			return dev, nil, bad("%s is in use by %s", o.Device, strings.Join(hs, ", "))
		}
	}
	f, err := os.Open(dev.Path)
	if err != nil {
		return dev, nil, bad("%s: %v", o.Device, err)
	}
	_, isExt := ReadExtLabel(f)
	f.Close()
	if !isExt {
		return dev, nil, bad("%s holds no ext4 file system: --no-format and --takeover install onto an existing ext4 partition (create one with mkfs.ext4 -L %s, or install to the whole disk without --no-format)", o.Device, layout.LabelState)
	}
	if dev.Size < MinStateSize {
		return dev, nil, bad("%s: %s, %s needs at least %s", o.Device, Size(dev.Size), layout.LabelState, Size(MinStateSize))
	}
	return dev, nil, nil
}

func orNone(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// LoadConfig fetches a config and validates it; problems name file, line
// and column.
func (in *Installer) LoadConfig(ctx context.Context, ref string) (*ConfigFile, error) {
	data, err := in.Fetch.Bytes(ctx, ref)
	if err != nil {
		return nil, err
	}
	return CheckConfig(ref, data)
}

// CheckConfig validates config data named ref.
func CheckConfig(ref string, data []byte) (*ConfigFile, error) {
	l, err := config.LoadFile(ref, bytes.NewReader(data))
	if err != nil {
		return nil, classify(exitcode.ErrBadInput, err, "config %s", ref)
	}
	if err := l.Err(); err != nil {
		return nil, classify(exitcode.ErrBadInput, err, "config %s does not validate", ref)
	}
	return &ConfigFile{Ref: ref, Data: data}, nil
}

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
// Copying every module of both platforms, the fonts and the locales took
// more than half of grub-install's time under TCG, for nothing: the menu
// speaks on the serial port and the text console, in English.
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

// haveGrub reports whether GRUB's modules for a platform are installed.
func (in *Installer) haveGrub(target string) bool {
	fi, err := os.Stat(filepath.Join(in.Root, "usr/lib/grub", target))
	return err == nil && fi.IsDir()
}

func (in *Installer) efiBooted() bool {
	_, err := os.Stat(filepath.Join(in.Root, "sys/firmware/efi"))
	return err == nil
}

// buildPlan turns checked inputs into the steps.
func (in *Installer) buildPlan(o Options, dev Device, lay *Layout, src *Source, cfg *ConfigFile) (*Plan, error) {
	p := &Plan{
		Mode: o.mode(), Device: dev, Layout: lay, Source: src, Config: cfg,
		Boot:     Boot{TTY: o.TTY, Debug: o.Debug},
		PowerOff: o.PowerOff, NoReboot: o.NoReboot,
	}
	work := in.WorkDir
	if work == "" {
		work = filepath.Join(in.Root, "run/bos/install")
	}
	p.StateDir = filepath.Join(work, "state")
	efiDir := filepath.Join(work, "efi")
	add := func(s ...Step) { p.Steps = append(p.Steps, s...) }

	var disk, espDev string // for GRUB
	var hasBIOS bool
	switch p.Mode {
	case ModeFull:
		ranges := [][2]int64{{0, MiB}}
		for _, part := range lay.Parts {
			ranges = append(ranges, [2]int64{part.Start, min(part.Size, MiB)})
		}
		ranges = append(ranges, [2]int64{lay.DiskSize - MiB, MiB})
		add(zeroStep{Path: dev.Path, Ranges: ranges}, gptStep{Path: dev.Path, Layout: *lay})
		esp, _ := lay.Part(layout.LabelGrub)
		state, _ := lay.Part(layout.LabelState)
		if dev.Kind == KindImage {
			add(
				command("mkfs.vfat", "-F", "32", "-s", "1", "-n", layout.LabelGrub, fmt.Sprintf("--offset=%d", esp.Start/512), dev.Path, fmt.Sprint(esp.Size/1024)),
				command("mkfs.ext4", "-F", "-q", "-L", layout.LabelState, "-E", fmt.Sprintf("offset=%d", state.Start), dev.Path, fmt.Sprintf("%dk", state.Size/1024)),
				mountStep{Source: dev.Path, Dir: p.StateDir, FSType: "ext4", Options: fmt.Sprintf("loop,offset=%d,sizelimit=%d", state.Start, state.Size)},
			)
			p.Notes = append(p.Notes, "GRUB is not installed into a disk image file: grub-install needs a block device")
		} else {
			var parts []string
			for _, part := range lay.Parts {
				parts = append(parts, PartitionDevice(dev.Path, part.Num))
			}
			espDev = PartitionDevice(dev.Path, esp.Num)
			stateDev := PartitionDevice(dev.Path, state.Num)
			add(
				rereadStep{Disk: dev.Path, Parts: parts},
				command("mkfs.vfat", "-F", "32", "-n", layout.LabelGrub, espDev),
				command("mkfs.ext4", "-F", "-q", "-L", layout.LabelState, stateDev),
				mountStep{Source: stateDev, Dir: p.StateDir, FSType: "ext4"},
			)
			disk = dev.Path
			_, hasBIOS = lay.Part(NameBIOS)
		}
	case ModeNoFormat, ModeTakeover:
		label := layout.LabelState
		if f, err := os.Open(dev.Path); err == nil {
			label, _ = ReadExtLabel(f)
			f.Close()
		}
		if label != layout.LabelState {
			add(command("e2label", dev.Path, layout.LabelState))
		}
		if p.Mode == ModeTakeover {
			p.StateDir = in.Root
			break
		}
		opts := ""
		if dev.Kind == KindImage {
			opts = "loop"
			p.Notes = append(p.Notes, "GRUB is not installed for a file-system image: nothing to install it to")
		}
		add(mountStep{Source: dev.Path, Dir: p.StateDir, FSType: "ext4", Options: opts})
		if dev.DiskPath != "" {
			parts, err := ReadTable(dev.DiskPath, dev.SectorSize)
			if err != nil {
				p.Notes = append(p.Notes, fmt.Sprintf("GRUB is not installed: %v; the existing boot loader must load /boot/grub/grub.cfg from %s", err, layout.LabelState))
				break
			}
			disk = dev.DiskPath
			for _, part := range parts {
				switch part.Type {
				case gpt.BIOSBoot:
					hasBIOS = true
				case gpt.EFISystemPartition:
					espDev = PartitionDevice(dev.DiskPath, part.Num)
				}
			}
		}
	}

	// The system, the config, the data directory.
	sys := filepath.Join(p.StateDir, layout.SystemDir)
	add(copyStep{From: src.Dir, To: sys, Files: src.Files, Bytes: src.Bytes})
	if cfg != nil {
		add(writeStep{Path: filepath.Join(sys, "config.yaml"), Data: cfg.Data, Mode: 0o600, What: "config from " + cfg.Ref})
	}
	add(mkdirStep{Path: filepath.Join(p.StateDir, "bos/data/opt"), Mode: 0o755})

	// The boot loader.
	bootDir := filepath.Join(p.StateDir, "boot")
	biosTarget, efiTarget := grubTargets(in.Arch)
	if disk != "" {
		if biosTarget != "" && hasBIOS {
			if in.haveGrub(biosTarget) {
				add(command("grub-install", append(grubInstallArgs(biosTarget), "--boot-directory="+bootDir, disk)...))
				p.Loader = append(p.Loader, fmt.Sprintf("GRUB %s on %s (boot sector and BIOS boot partition)", biosTarget, disk))
			} else if !in.efiBooted() {
				return nil, bad("GRUB for BIOS is not available here (no /usr/lib/grub/%s) and this machine did not boot with EFI", biosTarget)
			} else {
				p.Notes = append(p.Notes, fmt.Sprintf("GRUB %s is not installed: no /usr/lib/grub/%s on this system", biosTarget, biosTarget))
			}
		}
		if efiTarget != "" && espDev != "" {
			if in.haveGrub(efiTarget) {
				add(
					mountStep{Source: espDev, Dir: efiDir, FSType: "vfat"},
					command("grub-install", append(grubInstallArgs(efiTarget), "--efi-directory="+efiDir, "--boot-directory="+bootDir, "--removable", "--no-nvram")...),
					syncStep{},
					umountStep{Dir: efiDir},
				)
				p.Loader = append(p.Loader, fmt.Sprintf("GRUB %s at the removable path EFI/BOOT/ on %s (no NVRAM entry)", efiTarget, espDev))
			} else if o.ForceEFI || in.efiBooted() {
				return nil, bad("GRUB for EFI is not available here (no /usr/lib/grub/%s)", efiTarget)
			} else {
				p.Notes = append(p.Notes, fmt.Sprintf("GRUB %s is not installed: no /usr/lib/grub/%s on this system", efiTarget, efiTarget))
			}
		}
		if len(p.Loader) == 0 && p.Mode == ModeNoFormat {
			p.Notes = append(p.Notes, fmt.Sprintf("GRUB is not installed: %s has no BIOS boot or EFI system partition; the existing boot loader must load /boot/grub/grub.cfg from %s", disk, layout.LabelState))
		}
	}

	grubCfg := filepath.Join(bootDir, "grub/grub.cfg")
	if p.Mode == ModeTakeover {
		grubCfg = in.hostGrubCfg()
		add(backupStep{From: grubCfg, To: grubCfg + ".before-bos"})
		p.Loader = append(p.Loader, "the existing GRUB, pointed at "+grubCfg)
	}
	p.GrubCfg = grubCfg
	menu, err := p.Boot.GrubConfig()
	if err != nil {
		return nil, errors.Wrap(exitcode.ErrBadInput, err.Error())
	}
	add(writeStep{Path: grubCfg, Data: menu, Mode: 0o644, What: "boot menu"})
	env, err := grubenv.New().Bytes()
	if err != nil {
		return nil, err
	}
	add(writeStep{Path: filepath.Join(p.StateDir, grubenv.Path), Data: env, Mode: 0o644, What: "GRUB environment block for trial boots"})

	switch {
	case p.Mode == ModeTakeover:
		k := takeover.New(o.PowerOff)
		add(syncStep{}, writeStep{Path: filepath.Join(in.Root, takeover.MarkerPath), Data: k.Marshal(), Mode: 0o644, What: "takeover keep-list"}, syncStep{})
		p.Then = fmt.Sprintf("reboot; at the next boot bos-init deletes everything on %s except %s", dev.Arg, strings.Join(k.Keep, ", "))
		if o.PowerOff {
			p.Then += ", then powers off"
		}
	default:
		add(syncStep{}, umountStep{Dir: p.StateDir})
		p.Then = "reboot"
		if o.PowerOff {
			p.Then = "power off"
		}
	}
	if o.NoReboot {
		p.Then = "nothing (--no-reboot)"
	}
	return p, nil
}

// hostGrubCfg is the grub.cfg the host's GRUB reads: /boot/grub2 on hosts
// that use it (Fedora, openSUSE), else /boot/grub.
func (in *Installer) hostGrubCfg() string {
	g1 := filepath.Join(in.Root, "boot/grub")
	g2 := filepath.Join(in.Root, "boot/grub2")
	if _, err := os.Stat(filepath.Join(g1, "grub.cfg")); err != nil {
		if _, err := os.Stat(g2); err == nil {
			return filepath.Join(g2, "grub.cfg")
		}
	}
	return filepath.Join(g1, "grub.cfg")
}

// checkFreeSpace refuses a takeover whose root cannot hold the system.
func (in *Installer) checkFreeSpace(src *Source) error {
	var st unix.Statfs_t
	if err := unix.Statfs(in.Root, &st); err != nil {
		return nil // cannot tell: the copy will say
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	need := src.Bytes + 64*MiB
	if free < need {
		return bad("--takeover: / has %s free, the system needs %s", Size(free), Size(need))
	}
	return nil
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
