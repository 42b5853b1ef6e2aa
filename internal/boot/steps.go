package boot

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pkg/errors"
	"golang.org/x/sys/unix"

	"github.com/bhojpur/os/internal/layout"
	"github.com/bhojpur/os/internal/takeover"
)

// mountStep mounts a file system, making the mount point first.
type mountStep struct {
	source, target, fstype string
	flags                  uintptr
	data                   string
}

func (s mountStep) String() string {
	var opts []string
	if s.flags&unix.MS_RDONLY != 0 {
		opts = append(opts, "ro")
	}
	if s.data != "" {
		opts = append(opts, s.data)
	}
	o := ""
	if len(opts) > 0 {
		o = " " + strings.Join(opts, ",")
	}
	return fmt.Sprintf("mount %s on %s (%s%s)", s.source, s.target, s.fstype, o)
}

func (s mountStep) Apply(_ context.Context, b *Boot) error {
	if err := os.MkdirAll(b.path(s.target), 0o755); err != nil {
		return err
	}
	src := s.source
	if strings.HasPrefix(src, "/") {
		src = b.path(src)
	}
	return errors.Wrapf(b.Sys.Mount(src, b.path(s.target), s.fstype, s.flags, s.data), "mount %s on %s (%s)", s.source, s.target, s.fstype)
}

// loopMountStep mounts an image file (squashfs, an ISO) read-only through a
// loop device.
type loopMountStep struct{ file, target, fstype string }

func (s loopMountStep) String() string {
	return fmt.Sprintf("mount %s on %s (%s, loop, ro)", s.file, s.target, s.fstype)
}

func (s loopMountStep) Apply(_ context.Context, b *Boot) error {
	if _, err := os.Stat(b.path(s.file)); err != nil {
		return err
	}
	if err := os.MkdirAll(b.path(s.target), 0o755); err != nil {
		return err
	}
	dev, release, err := b.Sys.AttachLoop(b.path(s.file))
	if err != nil {
		return errors.Wrapf(err, "loop device for %s", s.file)
	}
	defer release()
	return errors.Wrapf(b.Sys.Mount(dev, b.path(s.target), s.fstype, unix.MS_RDONLY, ""), "mount %s (%s) on %s", s.file, dev, s.target)
}

// bindStep binds a directory onto another, read-only if asked.
type bindStep struct {
	from, to string
	ro       bool
}

func (s bindStep) String() string {
	if s.ro {
		return fmt.Sprintf("bind %s on %s (ro)", s.from, s.to)
	}
	return fmt.Sprintf("bind %s on %s", s.from, s.to)
}

func (s bindStep) Apply(_ context.Context, b *Boot) error {
	if err := os.MkdirAll(b.path(s.to), 0o755); err != nil {
		return err
	}
	if err := b.Sys.Mount(b.path(s.from), b.path(s.to), "", unix.MS_BIND, ""); err != nil {
		return errors.Wrapf(err, "bind %s on %s", s.from, s.to)
	}
	if !s.ro {
		return nil
	}
	return errors.Wrapf(b.Sys.Mount("", b.path(s.to), "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""), "remount %s read-only", s.to)
}

// mkdirStep makes a directory and its parents.
type mkdirStep struct {
	dir  string
	mode os.FileMode
}

func (s mkdirStep) String() string { return fmt.Sprintf("mkdir %s (%04o)", s.dir, s.mode) }

func (s mkdirStep) Apply(_ context.Context, b *Boot) error {
	if err := os.MkdirAll(b.path(s.dir), 0o755); err != nil {
		return err
	}
	return os.Chmod(b.path(s.dir), s.mode)
}

// skeletonStep makes the top level of the new root like the image's:
// the same directories (empty, same modes) and the same symlinks (the
// merged-usr bin, sbin, lib and /bhojpur -> bos).
type skeletonStep struct{ from, to string }

func (s skeletonStep) String() string {
	return fmt.Sprintf("make the top level of %s like %s", s.to, s.from)
}

func (s skeletonStep) Apply(_ context.Context, b *Boot) error {
	entries, err := os.ReadDir(b.path(s.from))
	if err != nil {
		return err
	}
	for _, e := range entries {
		src, dst := filepath.Join(b.path(s.from), e.Name()), filepath.Join(b.path(s.to), e.Name())
		fi, err := os.Lstat(src)
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(src)
			if err != nil {
				return err
			}
			if err := os.Symlink(target, dst); err != nil && !os.IsExist(err) {
				return err
			}
		case fi.IsDir():
			if err := os.Mkdir(dst, 0o755); err != nil && !os.IsExist(err) {
				return err
			}
			if err := os.Chmod(dst, fi.Mode().Perm()|fi.Mode()&(os.ModeSticky|os.ModeSetgid)); err != nil {
				return err
			}
		}
	}
	return nil
}

// overlayStep makes a read-only directory writable: an overlay whose
// lower layer is the directory and whose changes go to a tmpfs (upper and
// work directories under rw). Unlike a copy it costs nothing at boot and
// keeps the image's time stamps (OpenRC's dependency cache relies on them).
type overlayStep struct{ lower, rw, target string }

// FSOverlay is overlayfs.
const FSOverlay = "overlay"

func (s overlayStep) String() string {
	return fmt.Sprintf("overlay %s on %s (changes in %s)", s.lower, s.target, s.rw)
}

func (s overlayStep) Apply(_ context.Context, b *Boot) error {
	upper, work := s.rw+"/upper", s.rw+"/work"
	for _, d := range []string{upper, work, s.target} {
		if err := os.MkdirAll(b.path(d), 0o755); err != nil {
			return err
		}
	}
	data := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", b.path(s.lower), b.path(upper), b.path(work))
	return errors.Wrapf(b.Sys.Mount("overlay", b.path(s.target), FSOverlay, 0, data), "overlay %s on %s", s.lower, s.target)
}

// seedStep copies what the destination lacks from a tree: the image's
// /var, /home and /opt into a fresh tmpfs, or into the persistent ones of
// BOS_STATE without touching the files they keep.
type seedStep struct{ from, to string }

func (s seedStep) String() string { return fmt.Sprintf("seed %s from %s", s.to, s.from) }

func (s seedStep) Apply(_ context.Context, b *Boot) error {
	if _, err := os.Lstat(b.path(s.from)); os.IsNotExist(err) {
		return nil
	}
	return copyTree(b.path(s.from), b.path(s.to))
}

// writeStep writes a file, rewriting what is there with edit (gokrazy-style
// func([]byte) []byte), or creating it with edit(nil).
type writeStep struct {
	file string
	what string
	mode os.FileMode
	edit func([]byte) []byte
}

func (s writeStep) String() string { return fmt.Sprintf("write %s (%s)", s.file, s.what) }

func (s writeStep) Apply(_ context.Context, b *Boot) error {
	p := b.path(s.file)
	old, err := os.ReadFile(p)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	mode := s.mode
	if fi, err := os.Stat(p); err == nil {
		mode = fi.Mode().Perm()
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return writeFileAtomic(p, s.edit(old), mode)
}

// funcStep is a step whose work is a method of Boot.
type funcStep struct {
	name string
	fn   func(b *Boot, ctx context.Context) error
}

func (s funcStep) String() string                           { return s.name }
func (s funcStep) Apply(ctx context.Context, b *Boot) error { return s.fn(b, ctx) }

// initrdPhaseStep runs the initrd config phase on the new root.
type initrdPhaseStep struct{ root string }

func (s initrdPhaseStep) String() string { return "config phase initrd on " + s.root }

func (s initrdPhaseStep) Apply(ctx context.Context, b *Boot) error {
	if b.Initrd == nil {
		b.debugf("config phase initrd: no apply entry point wired; skipped")
		return nil
	}
	return b.Initrd(ctx, b.path(s.root))
}

// switchRootStep hands over to the real init; it returns only on failure.
type switchRootStep struct{ root, init string }

func (s switchRootStep) String() string { return fmt.Sprintf("switch_root %s %s", s.root, s.init) }

func (s switchRootStep) Apply(_ context.Context, b *Boot) error {
	if _, err := os.Lstat(filepath.Join(b.path(s.root), s.init)); err != nil {
		return errors.Wrapf(err, "no %s in the new root", s.init)
	}
	b.logf("switch_root %s %s (mode %s)", s.root, s.init, b.Mode)
	return b.Sys.SwitchRoot(b.path(s.root), s.init)
}

// KernelFSSteps mount the kernel's file systems.
func KernelFSSteps() []Step {
	const nsx = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	return []Step{
		Required{mountStep{"proc", "/proc", "proc", nsx, ""}},
		Required{mountStep{"sysfs", "/sys", "sysfs", nsx, ""}},
		Required{mountStep{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755"}},
		mountStep{"devpts", "/dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "gid=5,mode=0620,ptmxmode=0666"},
		mountStep{"tmpfs", "/dev/shm", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
		Required{mountStep{"tmpfs", "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755"}},
		mountStep{"cgroup2", CgroupDir, "cgroup2", nsx, "nsdelegate"},
		funcStep{"enable the cgroup controllers for the children of " + CgroupDir, (*Boot).enableControllers},
	}
}

// DetectSteps read the cmdline, load modules, find the media and decide
// the mode.
func DetectSteps() []Step {
	return []Step{
		Required{funcStep{"read the kernel cmdline", func(b *Boot, _ context.Context) error { return b.readCmdline() }}},
		funcStep{"load the disk and CD-ROM drivers", func(b *Boot, _ context.Context) error { return b.loadModules(diskModules) }},
		Required{funcStep{"find the boot media", (*Boot).findMedia}},
		Required{funcStep{"decide the mode", (*Boot).decide}},
	}
}

// MediaSteps mount the media of a mode and resolve its layout.
func MediaSteps(mode Mode, m Media) []Step {
	load := funcStep{"load the file-system modules of mode " + string(mode) + " (" + strings.Join(fsModules[mode], ", ") + ")",
		func(b *Boot, _ context.Context) error { return b.loadModules(fsModules[mode]) }}
	switch mode {
	case ModeDisk:
		return []Step{
			load,
			Required{mountStep{m.State.Path, layout.StateDir, FSExt4, 0, ""}},
			Required{funcStep{"finish a pending takeover on " + layout.StateDir, (*Boot).finishTakeover}},
			funcStep{"check for a trial boot of an upgrade (roll back after a failed one)", (*Boot).checkTrial},
			Required{funcStep{"find the current versions under " + layout.StateDir, func(b *Boot, _ context.Context) error { return b.resolve(layout.StateDir) }}},
		}
	case ModeLive, ModeInstall:
		var mount Step = mountStep{m.ISO.Path, layout.MediaDir, FSISO9660, unix.MS_RDONLY, ""}
		if m.ISO.File {
			mount = loopMountStep{m.ISO.Path, layout.MediaDir, FSISO9660}
		}
		return []Step{
			load,
			Required{mount},
			Required{funcStep{"find the current versions under " + layout.MediaDir, func(b *Boot, _ context.Context) error { return b.resolve(layout.MediaDir) }}},
		}
	}
	return nil
}

// RootSteps assemble the new root for a mode and switch into it. It is
// pure: the same inputs give the same plan.
func RootSteps(mode Mode, l Layout, consoles []Console) []Step {
	steps := []Step{
		Required{mountStep{"tmpfs", NewRoot, "tmpfs", 0, "mode=0755"}},
		Required{loopMountStep{l.BosDir + "/rootfs.squashfs", layout.RootfsDir, FSSquashfs}},
		Required{loopMountStep{l.KernelDir + "/kernel.squashfs", layout.KernelDir, FSSquashfs}},
		Required{skeletonStep{layout.RootfsDir, NewRoot}},
		Required{bindStep{layout.RootfsDir + "/usr", NewRoot + "/usr", true}},
		Required{bindStep{layout.KernelDir + "/lib/modules", NewRoot + "/usr/lib/modules", true}},
		bindStep{layout.KernelDir + "/lib/firmware", NewRoot + "/usr/lib/firmware", true},
		Required{overlayStep{layout.RootfsDir + "/etc", layout.EtcChanges, NewRoot + "/etc"}},
	}
	for _, d := range []string{"var", "home", "opt"} {
		if mode == ModeDisk {
			data := layout.StateDir + "/" + layout.DataDir + "/" + d
			steps = append(steps,
				Required{mkdirStep{data, 0o755}},
				Required{bindStep{data, NewRoot + "/" + d, false}})
		}
		steps = append(steps, Required{seedStep{layout.RootfsDir + "/" + d, NewRoot + "/" + d}})
	}
	steps = append(steps,
		mkdirStep{NewRoot + layout.SSHKeysDir, 0o700},
		Required{bindStep{l.Media + "/bos", NewRoot + "/bos", true}},
		inittabStep{mode, consoles},
	)
	for i := range steps {
		if w, ok := steps[i].(writeStep); ok {
			w.file = NewRoot + w.file
			steps[i] = w
		}
	}
	if mode == ModeLive || mode == ModeInstall {
		steps = append(steps, writeStep{NewRoot + "/etc/shadow", "console login as bhojpur without a password", 0o640,
			func(b []byte) []byte { return emptyPassword(b, "bhojpur") }})
	}
	return append(steps,
		openrcStep{NewRoot},
		initrdPhaseStep{NewRoot},
		Required{switchRootStep{NewRoot, InitPath}},
	)
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
	settle, last, all := 0, "", false
	for round := 1; ; round++ {
		start := b.Now()
		if b.modules != nil {
			for i := 0; i < 4 && b.modules.coldplug(b.Root, all); i++ {
			}
		}
		plugged := b.Now()
		devs := scanBlock(b.Root)
		b.debugf("media search round %d: drivers %v, labels %v", round,
			plugged.Sub(start).Round(time.Millisecond), b.Now().Sub(plugged).Round(time.Millisecond))
		b.Media = pick(devs)
		if seen := fmt.Sprint(devs); seen != last {
			last = seen
			for _, d := range devs {
				b.debugf("block device %s", &d)
			}
		}
		if b.Media.State != nil || (b.Media.ISO != nil && (settle >= 1 || !lateBuses(b.Root))) {
			break
		}
		if b.Media.ISO != nil {
			settle++
		}
		all = b.Media.ISO == nil
		if !b.Now().Before(deadline) {
			break
		}
		b.Sleep(250 * time.Millisecond)
	}
	b.debugf("media: %s %s, %s %s", layout.LabelState, b.Media.State, layout.LabelISO, b.Media.ISO)
	return nil
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

// finishTakeover completes a takeover install (internal/takeover)
// when BOS_STATE holds its marker: everything that is not Bhojpur OS is
// deleted there. A failure is fatal (the rescue shell says why); when the
// marker asks for it, the machine powers off once the partition is clean.
func (b *Boot) finishTakeover(_ context.Context) error {
	dir := b.path(layout.StateDir)
	if !takeover.Pending(dir) {
		return nil
	}
	off, err := takeover.Finish(dir, b.logf)
	if err != nil {
		return errors.Wrap(err, "takeover clean-up")
	}
	b.logf("takeover: done")
	if off {
		b.logf("takeover: powering off as asked (--poweroff)")
		return errors.Wrap(b.Sys.PowerOff(), "takeover done, but")
	}
	return nil
}

// resolve finds the current bos and kernel versions on mounted media.
func (b *Boot) resolve(media string) error {
	sys := media + "/" + layout.SystemDir
	pick := func(component string) (string, error) {
		dir := b.path(sys + "/" + component)
		if b.bootPrevious {
			if _, err := os.Lstat(filepath.Join(dir, "previous")); err == nil {
				return linkedVersion(dir, "previous")
			}
			b.logf("%s has no previous version: booting its current one", component)
		}
		return linkedVersion(dir, "current")
	}
	ver, err := pick("bos")
	if err != nil {
		return err
	}
	kver, err := pick("kernel")
	if err != nil {
		return err
	}
	b.Layout = Layout{Media: media, Version: ver, Kernel: kver,
		BosDir: sys + "/bos/" + ver, KernelDir: sys + "/kernel/" + kver}
	b.debugf("versions: bos %s, kernel %s", ver, kver)
	return b.recordVersions()
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

func consoleNames(cs []Console) string {
	var n []string
	for _, c := range gettyConsoles(cs) {
		n = append(n, c.Name)
	}
	return strings.Join(n, " ")
}

// gettyConsoles maps console= words to terminals with a login: tty0 (the
// current virtual terminal) means tty1; no console= at all means tty1.
func gettyConsoles(cs []Console) []Console {
	var out []Console
	seen := map[string]bool{}
	for _, c := range cs {
		if c.Name == "tty0" || c.Name == "tty" {
			c.Name = "tty1"
		}
		if strings.HasPrefix(c.Name, "/dev/") {
			c.Name = strings.TrimPrefix(c.Name, "/dev/")
		}
		if c.Name == "" || seen[c.Name] {
			continue
		}
		seen[c.Name] = true
		out = append(out, c)
	}
	if len(out) == 0 {
		out = []Console{{Name: "tty1"}}
	}
	return out
}

// Getty is the getty of the inittab.
const Getty = "/bin/busybox getty"

// InittabHead is the image's start of busybox init's table: what runs
// before OpenRC (the boot config phase). Images without it leave the boot
// phase to OpenRC's boot runlevel.
const InittabHead = "/usr/lib/bos/inittab"

// inittabStep writes /etc/inittab of the new root from the image's head,
// the mode and the consoles of the cmdline.
type inittabStep struct {
	mode     Mode
	consoles []Console
}

func (s inittabStep) String() string {
	return "write " + NewRoot + "/etc/inittab (init and gettys on " + consoleNames(s.consoles) + ")"
}

func (s inittabStep) Apply(_ context.Context, b *Boot) error {
	head, err := os.ReadFile(b.path(NewRoot + InittabHead))
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	return writeFileAtomic(b.path(NewRoot+"/etc/inittab"), inittab(s.mode, s.consoles, head), 0o644)
}

// inittab is busybox init's table. bos-init did what OpenRC's sysinit
// would; then come the image's head (the boot config phase, run by init
// itself: through `openrc boot` and the phase's OpenRC service the login
// prompt came 1.8 s later under TCG) and OpenRC's default runlevel, which
// starts the boot runlevel's services too ("once": not waited for), beside
// a getty on each console of the cmdline, so that the login prompt does
// not wait for the network and the services. Without a head (an older
// image) OpenRC's boot runlevel runs first and holds the boot phase. In
// install mode the default runlevel is waited for: the installer's
// questions own the console until it is done, and a getty beside it would
// read the answers.
func inittab(mode Mode, cs []Console, head []byte) []byte {
	var w bytes.Buffer
	w.WriteString("# Written by bos-init at each boot from " + InittabHead + " and the console= words of the kernel cmdline.\n")
	action := "once"
	if mode == ModeInstall {
		action = "wait"
	}
	if len(head) > 0 {
		for _, l := range strings.SplitAfter(string(head), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				w.WriteString(l + "\n")
			}
		}
	} else {
		w.WriteString("::sysinit:/sbin/openrc boot\n")
	}
	fmt.Fprintf(&w, "::%s:/sbin/openrc default\n", action)
	// busybox's getty: its login prompt came 1 s sooner than agetty's
	// after OpenRC's boot runlevel under TCG (same /etc/issue, same login).
	for _, c := range gettyConsoles(cs) {
		if strings.HasPrefix(c.Name, "tty") && len(c.Name) > 3 && c.Name[3] >= '0' && c.Name[3] <= '9' {
			fmt.Fprintf(&w, "%s::respawn:%s 38400 %s linux\n", c.Name, Getty, c.Name)
			continue
		}
		baud := c.Baud
		if baud == "" {
			baud = "115200"
		}
		fmt.Fprintf(&w, "%s::respawn:%s -L %s %s vt100\n", c.Name, Getty, baud, c.Name)
	}
	w.WriteString("::ctrlaltdel:/sbin/reboot\n::shutdown:/sbin/openrc shutdown\n")
	return w.Bytes()
}

// emptyPassword clears the password field of user in a shadow file, so
// that the console of a live system lets bhojpur in (sshd still asks for
// a key: it refuses passwords).
func emptyPassword(shadow []byte, user string) []byte {
	lines := strings.SplitAfter(string(shadow), "\n")
	for i, l := range lines {
		f := strings.SplitN(l, ":", 3)
		if len(f) == 3 && f[0] == user {
			lines[i] = f[0] + "::" + f[2]
		}
	}
	return []byte(strings.Join(lines, ""))
}
