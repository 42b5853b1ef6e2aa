package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bhojpur/os/internal/vmtest"
)

// Install figure (issue 6): seconds of an in-guest bos-install to a blank
// disk next to a floor measured in the same guest run: the two mkfs calls
// of the layout plus writing the same payload (the files of /bos/system)
// with dd onto the fresh ext4, synced. The payload is read once before
// both, so neither pays for the cold ISO.
func init() {
	register("install: bos-install in QEMU", benchInstall)
}

// installFloorScript prints the floor's seconds: mkfs.vfat of an ESP-sized
// disk, mkfs.ext4 of a disk as large as the install's, mount, dd of every
// payload file, sync, umount.
const installFloorScript = `set -e
t0=$(cut -d' ' -f1 /proc/uptime)
mkfs.vfat -F 32 -n BOS_GRUB /dev/vdc >/dev/null
mkfs.ext4 -F -q -L BOS_STATE /dev/vdb
mkdir -p /run/bos-floor
mount -t ext4 /dev/vdb /run/bos-floor
cd /bos/system
find . -type f | while read -r f; do
	mkdir -p "/run/bos-floor/$(dirname "$f")"
	dd if="$f" of="/run/bos-floor/$f" bs=4M 2>/dev/null
done
sync
umount /run/bos-floor
t1=$(cut -d' ' -f1 /proc/uptime)
echo "FLOOR $t0 $t1"
`

func benchInstall() error {
	root, err := vmtest.RepoRoot()
	if err != nil {
		return err
	}
	art := filepath.Join(root, "dist", "artifacts")
	for _, n := range []string{"bos-amd64.iso", "bos-vmlinuz-amd64", "bos-initrd-amd64"} {
		if _, err := os.Stat(filepath.Join(art, n)); err != nil {
			return fmt.Errorf("%s: run make iso first", filepath.Join(art, n))
		}
	}
	var floor, install time.Duration
	var steps map[string]time.Duration
	_, err = withTB("install", func(t *benchTB) time.Duration {
		dir := t.TempDir()
		disk := func(name string, size int64) vmtest.Disk {
			p := filepath.Join(dir, name)
			f, err := os.Create(p)
			if err == nil {
				err = f.Truncate(size)
				f.Close()
			}
			if err != nil {
				t.Fatal(err)
			}
			return vmtest.Disk{Path: p}
		}
		key := vmtest.NewKey(t)
		vm := vmtest.Start(t, vmtest.Options{
			ISO:    filepath.Join(art, "bos-amd64.iso"),
			Kernel: filepath.Join(art, "bos-vmlinuz-amd64"),
			Initrd: filepath.Join(art, "bos-initrd-amd64"),
			Append: fmt.Sprintf(`console=ttyS0,115200 panic=-1 bos.ssh_authorized_keys="%s"`, key.Authorized),
			Disks: []vmtest.Disk{disk("install.raw", 4<<30), disk("floor.raw", 4<<30-130<<20),
				disk("esp.raw", 128<<20)},
			SSH: true, MemoryMB: 1536, Timeout: 15 * time.Minute,
		})
		if err := vm.WaitSSH(key, "bhojpur", 6*time.Minute); err != nil {
			t.Fatal(err)
		}
		run := func(cmd string) string {
			out, err := vm.SSH(key, "bhojpur", cmd)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			return out
		}
		run(`sudo sh -c 'find -L /bos/system -type f -exec cat {} + >/dev/null'`)
		run(`printf '#cloud-config\nhostname: bench\n' > /tmp/config.yaml`)
		out := run("sudo sh -c " + shellQuote(installFloorScript))
		floor = uptimeSpan(t, out, "FLOOR")
		// Each line of the installer's log gets the uptime it was
		// printed at: the steps' durations are the gaps.
		out = run(`set -o pipefail 2>/dev/null; t0=$(cut -d' ' -f1 /proc/uptime); ` +
			`sudo bos-install --silent --no-reboot --config /tmp/config.yaml /dev/vda 2>&1 | ` +
			`while IFS= read -r l; do read -r up _ </proc/uptime; echo "$up $l"; done; ` +
			`echo "INSTALL $t0 $(cut -d' ' -f1 /proc/uptime)"`)
		install = uptimeSpan(t, out, "INSTALL")
		if !strings.Contains(out, "bos-install: done") {
			t.Fatalf("bos-install did not finish:\n%s", out)
		}
		steps = stepTimes(out)
		return 0
	})
	if err != nil {
		return err
	}
	ratio("in-guest bos-install (GPT, mkfs, copy, GRUB BIOS+EFI) vs mkfs + dd floor", install, floor, "at most 1.5x")
	for _, k := range []string{"copy", "grub-install", "other steps"} {
		figure("  of which "+k, steps[k].Round(10*time.Millisecond).String(), "information")
	}
	figure("  of which checks and plan (before step 1)", steps["plan"].Round(10*time.Millisecond).String(), "information")
	return nil
}

// stepTimes sums the installer's step durations by kind from its log
// lines "UPTIME bos-install: [i/n] STEP": a step lasts until the next line.
func stepTimes(out string) map[string]time.Duration {
	type line struct {
		at   float64
		text string
	}
	var lines []line
	var start float64
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 3 && f[0] == "INSTALL" {
			start, _ = strconv.ParseFloat(f[1], 64)
			continue
		}
		at, text, ok := strings.Cut(l, " ")
		if v, err := strconv.ParseFloat(at, 64); ok && err == nil {
			lines = append(lines, line{v, text})
		}
	}
	d := map[string]time.Duration{}
	sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	for i, l := range lines {
		if i == 0 && start > 0 {
			d["plan"] = sec(l.at - start)
		}
		if i+1 == len(lines) || !strings.HasPrefix(l.text, "bos-install: [") {
			continue
		}
		kind := "other steps"
		_, step, _ := strings.Cut(l.text, "] ")
		switch {
		case strings.HasPrefix(step, "copy "):
			kind = "copy"
		case strings.HasPrefix(step, "grub-install "):
			kind = "grub-install"
		}
		d[kind] += sec(lines[i+1].at - l.at)
	}
	return d
}

// uptimeSpan reads "TAG start end" (seconds of /proc/uptime) from out.
func uptimeSpan(t *benchTB, out, tag string) time.Duration {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == tag {
			a, err1 := strconv.ParseFloat(f[1], 64)
			b, err2 := strconv.ParseFloat(f[2], 64)
			if err1 == nil && err2 == nil {
				return time.Duration((b - a) * float64(time.Second))
			}
		}
	}
	t.Fatalf("no %q line in %q", tag, out)
	return 0
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
