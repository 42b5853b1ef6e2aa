package boot

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/blockdev"
	"github.com/bhojpur/os/internal/layout"
)

// findMedia loads drivers for the devices present and reads the labels of
// all block devices until the media appear or b.Wait passes. Loading a
// driver waits for it to probe its devices (init_module waits for the
// kernel's asynchronous probes), so what a loaded driver finds is there
// when the round reads the labels. USB and MMC are the exception: their
// devices show up later, from work queues. When such a bus is present and
// the ISO shows up without BOS_STATE, the search looks once more, 250 ms
// later, so that a slower BOS_STATE disk still wins over the ISO. The first
// round loads the drivers of storage, USB and SD controllers only; when it
// finds no media, the next rounds load every driver the initrd has.
func (b *Boot) findMedia(_ context.Context) error {
	deadline := b.Now().Add(b.Wait)
	var s mediaSearch
	for round := 1; ; round++ {
		b.mediaRound(round, &s)
		if s.over(b.Media, b.Root) || !b.Now().Before(deadline) {
			break
		}
		b.Sleep(250 * time.Millisecond)
	}
	b.debugf("media: %s %s, %s %s", layout.LabelState, b.Media.State, layout.LabelISO, b.Media.ISO)
	return nil
}

// mediaSearch is what findMedia carries from one round to the next.
type mediaSearch struct {
	settle int    // rounds that found the ISO and no BOS_STATE
	all    bool   // load the drivers of every device, not only storage's
	last   string // the block devices the debug log listed last
}

// mediaRound loads the drivers of the devices present, reads the labels
// of the block devices and picks the media among them.
func (b *Boot) mediaRound(round int, s *mediaSearch) {
	start := b.Now()
	b.coldplug(s.all)
	plugged := b.Now()
	devs := scanBlock(b.Root)
	b.debugf("media search round %d: drivers %v, labels %v", round,
		plugged.Sub(start).Round(time.Millisecond), b.Now().Sub(plugged).Round(time.Millisecond))
	b.Media = pick(devs)
	if seen := fmt.Sprint(devs); seen != s.last {
		s.last = seen
		for _, d := range devs {
			b.debugf("block device %s", &d)
		}
	}
}

// over tells whether the search ends with media m: BOS_STATE, or the ISO
// once no late bus may still show BOS_STATE. If not, it sets the next
// round up: a round without any media loads every driver.
func (s *mediaSearch) over(m Media, root string) bool {
	if m.State != nil || (m.ISO != nil && (s.settle >= 1 || !lateBuses(root))) {
		return true
	}
	if m.ISO != nil {
		s.settle++
	}
	s.all = m.ISO == nil
	return false
}

// lateBuses tells whether the machine has a USB or MMC host, whose disks
// appear after their driver has loaded.
func lateBuses(root string) bool {
	for _, pattern := range []string{"sys/bus/usb/devices/usb*", "sys/class/mmc_host/*"} {
		if m, _ := filepath.Glob(filepath.Join(root, pattern)); len(m) > 0 {
			return true
		}
	}
	return false
}

// scanBlock lists the block devices under root's /sys/class/block with
// what their superblocks say, sorted by name. Loop and RAM disks and
// devices of size zero (an empty CD drive) are left out, and so are those
// whose node cannot be opened.
func scanBlock(root string) []Device {
	list, _ := blockdev.List(os.DirFS(root), blockdev.Filter{Prefixes: []string{"loop", "ram"}, Empty: true})
	var devs []Device
	for _, e := range list {
		d := Device{Name: e.Name, Path: "/dev/" + e.Name}
		f, err := os.Open(filepath.Join(root, d.Path))
		if err != nil {
			continue
		}
		d.FSType, d.Label = blockdev.Identify(f)
		f.Close()
		devs = append(devs, d)
	}
	return devs
}

// decide decides the mode from the cmdline and the media, and records it.
func (b *Boot) decide(_ context.Context) error {
	mode, why, err := decideMode(b.Params, b.Media)
	if err != nil {
		return err
	}
	b.Mode, b.modeReason = mode, why
	if err := os.MkdirAll(b.path(layout.RunDir), 0o755); err != nil {
		return err
	}
	return writeFileAtomic(b.path(layout.ModeFile), []byte(string(mode)+"\n"), 0o644)
}

// resolve finds the bos and kernel versions to boot on mounted media.
func (b *Boot) resolve(media string) error {
	sys := media + "/" + layout.SystemDir
	ver, err := b.bootVersion(sys, "bos")
	if err != nil {
		return err
	}
	kver, err := b.bootVersion(sys, "kernel")
	if err != nil {
		return err
	}
	b.Layout = Layout{Media: media, Version: ver, Kernel: kver,
		BosDir: sys + "/bos/" + ver, KernelDir: sys + "/kernel/" + kver}
	b.debugf("versions: bos %s, kernel %s", ver, kver)
	return b.recordVersions()
}

// bootVersion is the version of a component (bos, kernel) under the
// system directory sys to boot: its current one, or its previous one when
// the boot menu's previous entry started this boot and there is one.
func (b *Boot) bootVersion(sys, component string) (string, error) {
	dir := b.path(sys + "/" + component)
	if b.bootPrevious {
		if _, err := os.Lstat(filepath.Join(dir, "previous")); err == nil {
			return linkedVersion(dir, "previous")
		}
		b.logf("%s has no previous version: booting its current one", component)
	}
	return linkedVersion(dir, "current")
}

// linkedVersion reads a component's current or previous symlink: a
// version directory name next to it.
func linkedVersion(dir, link string) (string, error) {
	target, err := os.Readlink(filepath.Join(dir, link))
	if err != nil {
		return "", errors.Wrapf(err, "read %s/%s", dir, link)
	}
	v := filepath.Base(filepath.Clean(target))
	if fi, err := os.Stat(filepath.Join(dir, v)); err != nil || !fi.IsDir() {
		return "", errors.Errorf("%s/%s points at %s, which is not a version directory", dir, link, target)
	}
	return v, nil
}
