package install

import (
	"strings"
	"testing"

	"github.com/diskfs/go-diskfs/partition/gpt"
	"github.com/google/go-cmp/cmp"
	"github.com/pkg/errors"
)

// These tests plan from Facts made by hand: no device, no file is read.

// vda3 is partition 3 of /dev/vda: ext4, labelled old, on a disk with a
// BIOS boot partition and an ESP; this system has GRUB for both.
func vda3() Facts {
	return Facts{
		Device: Device{Arg: "/dev/vda3", Path: "/dev/vda3", Name: "vda3", Kind: KindPartition, Size: 3 * GiB, SectorSize: 512,
			DiskName: "vda", DiskPath: "/dev/vda", Num: 3},
		Mounts: []MountedFS{{Mount: Mount{Source: "/dev/sr0", Target: "/run/bos/media"}, Name: "sr0"}},
		IsExt:  true, ExtLabel: "old",
		Table: []Partition{{Num: 1, Type: gpt.BIOSBoot}, {Num: 2, Type: gpt.EFISystemPartition}, {Num: 3, Type: gpt.LinuxFilesystem}},
		Grub:  map[string]bool{"i386-pc": true, "x86_64-efi": true},
	}
}

func planFrom(t *testing.T, o Options, f Facts) (*Plan, error) {
	t.Helper()
	in := &Installer{Root: "/", Arch: "amd64"}
	lay, err := checkDevice(o, in.Arch, f)
	if err != nil {
		t.Fatalf("checkDevice = %v", err)
	}
	return in.buildPlan(o, f, lay, &Source{Dir: "/media/bos/system", Files: 3, Bytes: 300}, nil)
}

// stepWords are the first two words of each step.
func stepWords(p *Plan) []string {
	var out []string
	for _, s := range p.Steps {
		w := strings.Fields(s.String())
		out = append(out, strings.Join(w[:min(2, len(w))], " "))
	}
	return out
}

func TestPlanNoFormatFromFacts(t *testing.T) {
	p, err := planFrom(t, Options{Device: "/dev/vda3", NoFormat: true}, vda3())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"e2label /dev/vda3", "mount -t", "copy /media/bos/system", "mkdir -p",
		"grub-install --target=i386-pc",
		"mount -t", "grub-install --target=x86_64-efi", "sync", "umount /run/bos/install/efi",
		"write /run/bos/install/state/boot/grub/grub.cfg", "write /run/bos/install/state/boot/grub/grubenv",
		"sync", "umount /run/bos/install/state",
	}
	if diff := cmp.Diff(want, stepWords(p)); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if s := p.Steps[4].String(); !strings.HasSuffix(s, " --boot-directory=/run/bos/install/state/boot /dev/vda") {
		t.Errorf("BIOS grub-install = %s, want it on /dev/vda", s)
	}
	if s := p.Steps[5].String(); s != "mount -t vfat /dev/vda2 /run/bos/install/efi" {
		t.Errorf("ESP mount = %s", s)
	}
	if len(p.Loader) != 2 || len(p.Notes) != 0 || p.Then != "reboot" {
		t.Errorf("loader %q, notes %q, then %q", p.Loader, p.Notes, p.Then)
	}
}

func TestPlanWithAnUnreadableTableLeavesGrubAlone(t *testing.T) {
	f := vda3()
	f.ExtLabel = "BOS_STATE"
	f.Table, f.TableErr = nil, errors.New("read GPT of /dev/vda: no GPT")
	p, err := planFrom(t, Options{Device: "/dev/vda3", NoFormat: true}, f)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range stepWords(p) {
		if strings.HasPrefix(w, "grub-install") || w == "e2label /dev/vda3" {
			t.Errorf("planned %q", w)
		}
	}
	if len(p.Notes) != 1 || !strings.HasPrefix(p.Notes[0], "GRUB is not installed: read GPT of /dev/vda: no GPT;") || len(p.Loader) != 0 {
		t.Errorf("notes %q, loader %q", p.Notes, p.Loader)
	}
}

func TestPlanWithoutGrubModules(t *testing.T) {
	for _, tc := range []struct {
		name          string
		bios, efi     bool
		efiBooted     bool
		forceEFI      bool
		err, note     string
		loaderEntries int
	}{
		{"no BIOS GRUB on a BIOS machine", false, true, false, false, "GRUB for BIOS is not available here (no /usr/lib/grub/i386-pc) and this machine did not boot with EFI", "", 0},
		{"no BIOS GRUB on an EFI machine", false, true, true, false, "", "GRUB i386-pc is not installed: no /usr/lib/grub/i386-pc on this system", 1},
		{"no EFI GRUB on an EFI machine", true, false, true, false, "GRUB for EFI is not available here (no /usr/lib/grub/x86_64-efi)", "", 0},
		{"no EFI GRUB with --force-efi", true, false, false, true, "GRUB for EFI is not available here (no /usr/lib/grub/x86_64-efi)", "", 0},
		{"no EFI GRUB on a BIOS machine", true, false, false, false, "", "GRUB x86_64-efi is not installed: no /usr/lib/grub/x86_64-efi on this system", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := vda3()
			f.Grub = map[string]bool{"i386-pc": tc.bios, "x86_64-efi": tc.efi}
			f.EFIBooted = tc.efiBooted
			p, err := planFrom(t, Options{Device: "/dev/vda3", NoFormat: true, ForceEFI: tc.forceEFI}, f)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("plan = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Notes) != 1 || p.Notes[0] != tc.note || len(p.Loader) != tc.loaderEntries {
				t.Errorf("notes %q, loader %q", p.Notes, p.Loader)
			}
		})
	}
}

// TestCheckDeviceKeepsTheOrderOfChecks: what the probe could not read is
// reported where the check that needs it comes, not before.
func TestCheckDeviceKeepsTheOrderOfChecks(t *testing.T) {
	probeErr := errors.New("read /proc/mounts: gone")
	disk := Facts{Device: Device{Arg: "/dev/vda", Path: "/dev/vda", Name: "vda", Kind: KindDisk, Size: 8 * GiB, SectorSize: 512}}
	for _, tc := range []struct {
		name string
		o    Options
		f    func() Facts
		want string
	}{
		{"a partition before the unreadable mounts", Options{Device: "/dev/vda3"}, func() Facts {
			f := vda3()
			f.InUseErr = probeErr
			return f
		}, "/dev/vda3 is a partition of /dev/vda"},
		{"the unreadable mounts before the holders", Options{Device: "/dev/vda"}, func() Facts {
			f := disk
			f.InUseErr, f.Holders = probeErr, []string{"dm-0 (on vda)"}
			return f
		}, "read /proc/mounts: gone"},
		{"in use before held", Options{Device: "/dev/vda"}, func() Facts {
			f := disk
			f.InUse, f.Holders = map[string]string{"vda": "/dev/vda1 is mounted at /"}, []string{"dm-0 (on vda)"}
			return f
		}, "/dev/vda holds the running system (/dev/vda1 is mounted at /)"},
		{"a whole disk with --no-format before anything else", Options{Device: "/dev/vda", NoFormat: true}, func() Facts {
			f := disk
			f.MountsErr = probeErr
			return f
		}, "/dev/vda is a whole disk"},
		{"the unreadable mounts before the file system", Options{Device: "/dev/vda3", NoFormat: true}, func() Facts {
			f := vda3()
			f.MountsErr, f.IsExt = probeErr, false
			return f
		}, "read /proc/mounts: gone"},
		{"mounted before held", Options{Device: "/dev/vda3", NoFormat: true}, func() Facts {
			f := vda3()
			f.Mounts = append(f.Mounts, MountedFS{Mount: Mount{Source: "/dev/vda3", Target: "/mnt"}, Name: "vda3"})
			f.Holders = []string{"md0 (on vda3)"}
			return f
		}, "/dev/vda3 is mounted at /mnt"},
		{"held before unreadable", Options{Device: "/dev/vda3", NoFormat: true}, func() Facts {
			f := vda3()
			f.Holders, f.ExtErr = []string{"md0 (on vda3)"}, errors.New("permission denied")
			return f
		}, "/dev/vda3 is in use by md0 (on vda3)"},
		{"unreadable before not ext4", Options{Device: "/dev/vda3", NoFormat: true}, func() Facts {
			f := vda3()
			f.ExtErr, f.IsExt = errors.New("permission denied"), false
			return f
		}, "/dev/vda3: permission denied"},
		{"not ext4 before too small", Options{Device: "/dev/vda3", NoFormat: true}, func() Facts {
			f := vda3()
			f.IsExt, f.Device.Size = false, GiB
			return f
		}, "/dev/vda3 holds no ext4 file system"},
		{"a takeover of a partition that is not /", Options{Device: "/dev/vda3", NoFormat: true, Takeover: true}, func() Facts {
			f := vda3()
			f.Mounts = append(f.Mounts, MountedFS{Mount: Mount{Source: "/dev/vda2", Target: "/"}, Name: "vda2"})
			return f
		}, "--takeover: /dev/vda3 is not the partition of / (/ is /dev/vda2)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := checkDevice(tc.o, "amd64", tc.f())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("checkDevice = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestTakeoverOfTheRootPartitionPasses(t *testing.T) {
	f := vda3()
	f.Mounts = append(f.Mounts, MountedFS{Mount: Mount{Source: "/dev/root", Target: "/"}, Name: "vda3"})
	f.HostGrubCfg = "/boot/grub2/grub.cfg"
	p, err := planFrom(t, Options{Device: "/dev/vda3", NoFormat: true, Takeover: true, PowerOff: true}, f)
	if err != nil {
		t.Fatal(err)
	}
	if p.StateDir != "/" || p.GrubCfg != "/boot/grub2/grub.cfg" || !strings.HasSuffix(p.Then, ", then powers off") {
		t.Errorf("state %s, grub.cfg %s, then %q", p.StateDir, p.GrubCfg, p.Then)
	}
	for _, w := range stepWords(p) {
		if strings.HasPrefix(w, "mount") || strings.HasPrefix(w, "grub-install") {
			t.Errorf("a takeover planned %q", w)
		}
	}
}
