package boot

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pkg/errors"
	"golang.org/x/sys/unix"

	"github.com/bhojpur/os/internal/blockdev"
	"github.com/bhojpur/os/internal/kmod"
	"github.com/bhojpur/os/internal/layout"
	"github.com/bhojpur/os/internal/takeover"
)

func TestParseCmdline(t *testing.T) {
	tests := []struct {
		in   string
		want Params
	}{
		{"", Params{}},
		{"console=tty0 console=ttyS0,115200n8 bos.mode=live", Params{Mode: "live", Consoles: []Console{{"tty0", ""}, {"ttyS0", "115200"}}}},
		{`bos.debug bos.ssh_authorized_keys="ssh-ed25519 AAAA bos.mode=shell" bos.fallback_mode=install`, Params{Debug: true, FallbackMode: "install"}},
		{"bos.debug=false bos.mode=disk", Params{Mode: "disk"}},
		{"BOOT_IMAGE=/vmlinuz quiet splash", Params{}},
	}
	for _, tt := range tests {
		got, _ := parseCmdline(tt.in)
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("parseCmdline(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
	_, warnings := parseCmdline("bos.mod=live bos.mode=disk")
	if len(warnings) != 1 || !strings.Contains(warnings[0], "did you mean bos.mode?") {
		t.Errorf("parseCmdline(bos.mod=live) warnings = %q, want the unknown key with a suggestion", warnings)
	}
}

func TestDecideMode(t *testing.T) {
	state := &Device{Path: "/dev/vda2", FSType: blockdev.Ext4, Label: layout.LabelState}
	iso := &Device{Path: "/dev/sr0", FSType: blockdev.ISO9660, Label: layout.LabelISO}
	tests := []struct {
		name    string
		p       Params
		m       Media
		want    Mode
		wantErr bool
	}{
		{"nothing", Params{}, Media{}, ModeShell, false},
		{"iso", Params{}, Media{ISO: iso}, ModeLive, false},
		{"state wins over iso", Params{}, Media{State: state, ISO: iso}, ModeDisk, false},
		{"fallback install", Params{FallbackMode: "install"}, Media{ISO: iso}, ModeInstall, false},
		{"fallback ignored with state", Params{FallbackMode: "install"}, Media{State: state, ISO: iso}, ModeDisk, false},
		{"fallback without media", Params{FallbackMode: "install"}, Media{}, ModeShell, false},
		{"forced shell", Params{Mode: "shell"}, Media{State: state}, ModeShell, false},
		{"forced live", Params{Mode: "live"}, Media{State: state, ISO: iso}, ModeLive, false},
		{"forced install", Params{Mode: "install"}, Media{ISO: iso}, ModeInstall, false},
		{"forced disk without state", Params{Mode: "disk"}, Media{ISO: iso}, "", true},
		{"forced live without iso", Params{Mode: "live"}, Media{State: state}, "", true},
		{"unknown mode", Params{Mode: "bogus"}, Media{ISO: iso}, "", true},
		{"local", Params{Mode: "local"}, Media{}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why, err := decideMode(tt.p, tt.m)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("decideMode(%+v, %+v) = %q, %q, %v; want %q (error %v)", tt.p, tt.m, got, why, err, tt.want, tt.wantErr)
			}
			if err == nil && why == "" {
				t.Errorf("decideMode gave no reason")
			}
		})
	}
}

// mkimage runs a mkfs-like tool to make a labelled image file.
func mkimage(t *testing.T, name string, args ...string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s not installed (make deps)", name)
	}
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

func blank(t *testing.T, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p
}

func TestInittab(t *testing.T) {
	head, err := os.ReadFile("../../images/overlay" + InittabHead)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(inittab(ModeInstall, nil, head)); !strings.Contains(got, "::wait:/sbin/openrc default\n") {
		t.Errorf("install mode does not wait for the default runlevel (the installer's questions):\n%s", got)
	}
	cs := []Console{{"tty0", ""}, {"ttyS0", "115200"}, {"ttyS0", ""}}
	got := string(inittab(ModeLive, cs, head))
	for _, want := range []string{
		"::sysinit:/usr/sbin/bos-config apply --phase boot\n::once:/sbin/openrc default\n",
		"tty1::respawn:/bin/busybox getty 38400 tty1 linux\n",
		"ttyS0::respawn:/bin/busybox getty -L 115200 ttyS0 vt100\n",
		"::shutdown:/sbin/openrc shutdown\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("inittab lacks %q:\n%s", want, got)
		}
	}
	for _, bad := range []string{"openrc sysinit", "openrc boot", "\n#"} {
		if strings.Contains(got, bad) {
			t.Errorf("inittab has %q:\n%s", bad, got)
		}
	}
	if strings.Count(got, "ttyS0::") != 1 {
		t.Errorf("inittab repeats ttyS0:\n%s", got)
	}
	if got := string(inittab(ModeDisk, nil, head)); !strings.Contains(got, "tty1::respawn") {
		t.Errorf("inittab(nil) has no tty1 getty:\n%s", got)
	}
	// An image without the head: OpenRC's boot runlevel holds the boot phase.
	if got := string(inittab(ModeLive, cs, nil)); !strings.Contains(got, "::sysinit:/sbin/openrc boot\n::once:/sbin/openrc default\n") || strings.Contains(got, "bos-config") {
		t.Errorf("inittab without the image's head:\n%s", got)
	}
}

func TestOpenRCStep(t *testing.T) {
	root := t.TempDir()
	image := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for name, content := range map[string]string{"deptree": "depinfo_0_service='sshd'\n", "softlevel": "boot\n"} {
		p := root + NewRoot + OpenRCCache + "/" + name
		write(t, p, content)
		if err := os.Chtimes(p, image, image); err != nil {
			t.Fatal(err)
		}
	}
	write(t, root+NewRoot+"/etc/group", "root:x:0:\nuucp:x:10:\n")
	b := &Boot{Root: root}
	if err := (openrcStep{NewRoot}).Apply(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(root + OpenRCState + "/deptree")
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(image) {
		t.Errorf("deptree time %v, want the image's %v (OpenRC would compute the tree again)", fi.ModTime(), image)
	}
	if got, _ := os.ReadFile(root + OpenRCState + "/softlevel"); string(got) != "sysinit\n" {
		t.Errorf("softlevel %q, want sysinit (done by bos-init)", got)
	}
	if fi, err := os.Stat(root + RunLock); err != nil || fi.Mode().Perm() != 0o775 || !fi.IsDir() {
		t.Errorf("/run/lock: %v %v", fi, err)
	}
	if gid, ok := groupID(root+NewRoot+"/etc/group", "uucp"); !ok || gid != 10 {
		t.Errorf("groupID(uucp) = %d %v", gid, ok)
	}
	// Without the cache the step fails (optional: OpenRC computes the tree).
	if err := (openrcStep{"/nowhere"}).Apply(context.Background(), b); err == nil {
		t.Error("no error without a cache")
	}
}

func TestEmptyPassword(t *testing.T) {
	in := "root:!:19000:0:99999:7:::\nbhojpur:*:19000:0:99999:7:::\n"
	want := "root:!:19000:0:99999:7:::\nbhojpur::19000:0:99999:7:::\n"
	if got := string(emptyPassword([]byte(in), "bhojpur")); got != want {
		t.Errorf("emptyPassword = %q, want %q", got, want)
	}
}

func TestRootStepsPlan(t *testing.T) {
	l := Layout{Media: layout.MediaDir, BosDir: layout.MediaDir + "/bos/system/bos/v1", KernelDir: layout.MediaDir + "/bos/system/kernel/k1"}
	var got []string
	for _, s := range RootSteps(ModeLive, l, []Console{{"ttyS0", "115200"}}) {
		r := "optional"
		if IsRequired(s) {
			r = "required"
		}
		got = append(got, r+" "+s.String())
	}
	want := []string{
		"required mount tmpfs on /newroot (tmpfs mode=0755)",
		"required mount /run/bos/media/bos/system/bos/v1/rootfs.squashfs on /run/bos/rootfs (squashfs, loop, ro)",
		"required mount /run/bos/media/bos/system/kernel/k1/kernel.squashfs on /run/bos/kernel (squashfs, loop, ro)",
		"required make the top level of /newroot like /run/bos/rootfs",
		"required bind /run/bos/rootfs/usr on /newroot/usr (ro)",
		"required bind /run/bos/kernel/lib/modules on /newroot/usr/lib/modules (ro)",
		"optional bind /run/bos/kernel/lib/firmware on /newroot/usr/lib/firmware (ro)",
		"required overlay /run/bos/rootfs/etc on /newroot/etc (changes in /run/bos/etc)",
		"required seed /newroot/var from /run/bos/rootfs/var",
		"required seed /newroot/home from /run/bos/rootfs/home",
		"required seed /newroot/opt from /run/bos/rootfs/opt",
		"optional mkdir /newroot/var/lib/bhojpur/os/ssh (0700)",
		"required bind /run/bos/media/bos on /newroot/bos (ro)",
		"optional write /newroot/etc/inittab (init and gettys on ttyS0)",
		"optional write /newroot/etc/shadow (console login as bhojpur without a password)",
		"optional seed /run/openrc from /newroot/usr/lib/rc/cache (OpenRC starts past its sysinit)",
		"optional config phase initrd on /newroot",
		"required switch_root /newroot /sbin/init",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("RootSteps(live) =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	disk := RootSteps(ModeDisk, Layout{Media: layout.StateDir}, nil)
	var ds []string
	for _, s := range disk {
		ds = append(ds, s.String())
	}
	joined := strings.Join(ds, "\n")
	for _, want := range []string{"bind /run/bos/state/bos/data/var on /newroot/var", "bind /run/bos/state/bos on /newroot/bos (ro)", "seed /newroot/var from /run/bos/rootfs/var"} {
		if !strings.Contains(joined, want) {
			t.Errorf("RootSteps(disk) lacks %q:\n%s", want, joined)
		}
	}
	if strings.Contains(joined, "/etc/shadow") {
		t.Errorf("RootSteps(disk) opens the console without a password:\n%s", joined)
	}
}

// fakeSys records what bos-init asks of the kernel and fakes the file
// systems by filling the mount points with files.
type fakeSys struct {
	root    string
	calls   []string
	onMount map[string]func(dir string)
	onRun   func(name string, args []string) error
	loaded  []string
	shells  int
	onShell func()
}

var errSwitched = errors.New("switched")

func (f *fakeSys) rel(p string) string {
	return "/" + strings.TrimPrefix(strings.TrimPrefix(p, f.root), "/")
}

func (f *fakeSys) Mount(source, target, fstype string, flags uintptr, data string) error {
	src := source
	if strings.HasPrefix(source, f.root) {
		src = f.rel(source)
	}
	ro := ""
	if flags&unix.MS_RDONLY != 0 {
		ro = " ro"
	}
	f.calls = append(f.calls, fmt.Sprintf("mount %s %s %s%s", src, f.rel(target), fstype, ro))
	if fn := f.onMount[f.rel(target)]; fn != nil && flags&unix.MS_REMOUNT == 0 {
		fn(target)
	}
	if fstype == FSOverlay { // the lower layer shows through: a copy stands in for it
		lower := strings.TrimPrefix(strings.Split(data, ",")[0], "lowerdir=")
		return copyTree(lower, target)
	}
	return nil
}

func (f *fakeSys) LoadModule(p, params string) error {
	f.loaded = append(f.loaded, kmod.Name(p))
	return nil
}

func (f *fakeSys) AttachLoop(file string) (string, func(), error) {
	f.calls = append(f.calls, "loop "+f.rel(file))
	return "/dev/loop0", func() { f.calls = append(f.calls, "release /dev/loop0") }, nil
}

func (f *fakeSys) Run(ctx context.Context, out io.Writer, name string, args ...string) error {
	f.calls = append(f.calls, "run "+name+" "+strings.Join(args, " "))
	if f.onRun != nil {
		return f.onRun(name, args)
	}
	return nil
}

func (f *fakeSys) Shell(ctx context.Context) error {
	f.shells++
	if f.onShell != nil {
		f.onShell()
	}
	return nil
}

func (f *fakeSys) Reboot() error {
	f.calls = append(f.calls, "reboot")
	return errors.New("rebooted")
}

func (f *fakeSys) PowerOff() error {
	f.calls = append(f.calls, "poweroff")
	return errors.New("powered off")
}

func (f *fakeSys) SwitchRoot(newRoot, init string) error {
	f.calls = append(f.calls, "switch_root "+f.rel(newRoot)+" "+init)
	return errSwitched
}

type testLog struct {
	t     *testing.T
	lines []string
}

func (l *testLog) Printf(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	l.lines = append(l.lines, s)
	l.t.Log(s)
}

func write(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fakeMachine lays out /proc, /sys and /dev of a machine with the given
// block devices (name -> image file) and a module tree.
func fakeMachine(t *testing.T, cmdline string, devs map[string]string) (string, *fakeSys) {
	root := t.TempDir()
	write(t, root+"/proc/cmdline", cmdline+"\n")
	for name, img := range devs {
		write(t, root+"/sys/class/block/"+name+"/size", "2048\n")
		data, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		write(t, root+"/dev/"+name, string(data))
	}
	write(t, root+"/sys/bus/virtio/devices/virtio0/modalias", "virtio:d00000002v00001AF4\n")
	k := root + "/lib/modules/6.1.0-test"
	write(t, k+"/modules.dep", "kernel/virtio_blk.ko: kernel/virtio.ko\nkernel/virtio.ko:\nkernel/ext4.ko: kernel/jbd2.ko\nkernel/jbd2.ko:\nkernel/squashfs.ko:\nkernel/isofs.ko:\n")
	write(t, k+"/modules.alias", "alias virtio:d00000002v* virtio_blk\n")
	fs := &fakeSys{root: root, onMount: map[string]func(string){}}
	// The rootfs squashfs: a merged-usr tree with init, etc and var.
	fs.onMount[layout.RootfsDir] = func(dir string) {
		write(t, dir+"/usr/sbin/init", "#!busybox")
		write(t, dir+"/etc/shadow", "root:!:1::::::\nbhojpur:*:1::::::\n")
		write(t, dir+"/etc/hostname", "bos\n")
		write(t, dir+"/var/lib/dpkg/status", "")
		write(t, dir+"/home/bhojpur/.profile", "")
		os.MkdirAll(dir+"/opt", 0o755)
		os.MkdirAll(dir+"/bos", 0o755)
		os.Symlink("usr/sbin", dir+"/sbin")
		os.Symlink("bos", dir+"/bhojpur")
	}
	fs.onMount[layout.KernelDir] = func(dir string) { os.MkdirAll(dir+"/lib/modules/6.1.0-test", 0o755) }
	// bind of /run/bos/rootfs/usr on /newroot/usr: make init visible.
	fs.onMount[NewRoot+"/usr"] = func(dir string) {
		write(t, dir+"/sbin/init", "#!busybox")
		write(t, dir+"/lib/bos/inittab", "# the head\n::sysinit:/usr/sbin/bos-config apply --phase boot\n")
	}
	media := func(dir string) {
		sys := dir + "/" + layout.SystemDir
		write(t, sys+"/bos/v1/rootfs.squashfs", "")
		write(t, sys+"/kernel/6.1.0-test/kernel.squashfs", "")
		os.Symlink("v1", sys+"/bos/current")
		os.Symlink("6.1.0-test", sys+"/kernel/current")
	}
	fs.onMount[layout.MediaDir] = media
	fs.onMount[layout.StateDir] = media
	return root, fs
}

func newTestBoot(t *testing.T, root string, fs *fakeSys) (*Boot, *testLog) {
	log := &testLog{t: t}
	return &Boot{Root: root, Sys: fs, Log: log, Now: time.Now, Sleep: func(time.Duration) {}, Wait: time.Second}, log
}

func isoImage(t *testing.T) string {
	src := t.TempDir()
	iso := filepath.Join(t.TempDir(), "bos.iso")
	mkimage(t, "xorriso", "-as", "mkisofs", "-quiet", "-V", layout.LabelISO, "-o", iso, src)
	return iso
}

func TestBootLive(t *testing.T) {
	root, fs := fakeMachine(t, "console=ttyS0,115200 bos.debug", map[string]string{"sr0": isoImage(t)})
	b, log := newTestBoot(t, root, fs)
	err := b.Boot(context.Background())
	if !errors.Is(err, errSwitched) {
		t.Fatalf("Boot = %v, want the switch_root", err)
	}
	if b.Mode != ModeLive {
		t.Errorf("mode %q, want live", b.Mode)
	}
	if got, _ := os.ReadFile(root + layout.ModeFile); string(got) != "live\n" {
		t.Errorf("%s = %q, want live", layout.ModeFile, got)
	}
	if !strings.Contains(strings.Join(log.lines, "\n"), "mode live") {
		t.Errorf("no 'mode live' marker in the log")
	}
	want := []string{
		"mount /dev/sr0 /run/bos/media iso9660 ro",
		"mount tmpfs /newroot tmpfs",
		"loop /run/bos/media/bos/system/bos/v1/rootfs.squashfs",
		"mount /dev/loop0 /run/bos/rootfs squashfs ro\nrelease /dev/loop0",
		"mount /run/bos/rootfs/usr /newroot/usr ",
		"mount /run/bos/kernel/lib/modules /newroot/usr/lib/modules ",
		"mount /run/bos/media/bos /newroot/bos ",
		"switch_root /newroot /sbin/init",
	}
	calls := strings.Join(fs.calls, "\n")
	for _, w := range want {
		if !strings.Contains(calls, w) {
			t.Errorf("no %q among the calls:\n%s", w, calls)
		}
	}
	// The disk driver by its modalias, then the live file systems: no ext4.
	if fmt.Sprint(fs.loaded) != "[virtio virtio_blk squashfs isofs]" {
		t.Errorf("loaded %v", fs.loaded)
	}
	nr := root + NewRoot
	if b, _ := os.ReadFile(nr + "/etc/shadow"); !strings.Contains(string(b), "bhojpur::") {
		t.Errorf("live shadow does not let bhojpur in on the console: %q", b)
	}
	if b, _ := os.ReadFile(nr + "/etc/inittab"); !strings.Contains(string(b), "ttyS0::respawn:/bin/busybox getty -L 115200 ttyS0") || !strings.Contains(string(b), "\n::sysinit:/usr/sbin/bos-config apply --phase boot\n") {
		t.Errorf("inittab: %q", b)
	}
	if l, _ := os.Readlink(nr + "/sbin"); l != "usr/sbin" {
		t.Errorf("/sbin -> %q, want usr/sbin", l)
	}
	if l, _ := os.Readlink(nr + "/bhojpur"); l != "bos" {
		t.Errorf("/bhojpur -> %q, want bos", l)
	}
	for _, p := range []string{"/var/lib/dpkg/status", "/home/bhojpur/.profile", "/etc/hostname"} {
		if _, err := os.Stat(nr + p); err != nil {
			t.Errorf("not seeded: %v", err)
		}
	}
	if fi, err := os.Stat(nr + layout.SSHKeysDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("%s: %v", layout.SSHKeysDir, err)
	}
}

func TestBootDiskKeepsData(t *testing.T) {
	ext4 := blank(t, 16<<20)
	mkimage(t, "mkfs.ext4", "-q", "-F", "-L", layout.LabelState, ext4)
	root, fs := fakeMachine(t, "", map[string]string{"sr0": isoImage(t), "vda2": ext4})
	// An existing file of the persistent /var must survive the seeding.
	write(t, root+layout.StateDir+"/"+layout.DataDir+"/var/lib/dpkg/status", "kept")
	fs.onMount[NewRoot+"/var"] = func(dir string) {
		write(t, dir+"/lib/dpkg/status", "kept")
	}
	b, _ := newTestBoot(t, root, fs)
	if err := b.Boot(context.Background()); !errors.Is(err, errSwitched) {
		t.Fatalf("Boot = %v", err)
	}
	if b.Mode != ModeDisk {
		t.Fatalf("mode %q, want disk", b.Mode)
	}
	calls := strings.Join(fs.calls, "\n")
	for _, w := range []string{"mount /dev/vda2 /run/bos/state ext4", "mount /run/bos/state/bos/data/var /newroot/var ", "mount /run/bos/state/bos /newroot/bos "} {
		if !strings.Contains(calls, w) {
			t.Errorf("no %q among:\n%s", w, calls)
		}
	}
	// ext4 after what it needs, and no CD file system (the fake tree has
	// no crc32c, loop or overlay modules: those are warnings here).
	if fmt.Sprint(fs.loaded) != "[virtio virtio_blk squashfs jbd2 ext4]" {
		t.Errorf("loaded %v", fs.loaded)
	}
	if got, _ := os.ReadFile(root + NewRoot + "/var/lib/dpkg/status"); string(got) != "kept" {
		t.Errorf("persistent /var file = %q, want kept", got)
	}
	if got, _ := os.ReadFile(root + NewRoot + "/etc/shadow"); strings.Contains(string(got), "bhojpur::") {
		t.Errorf("disk mode opened the console without a password")
	}
}

func TestBootNoMediaAndShell(t *testing.T) {
	for _, tt := range []struct {
		cmdline, want string
	}{
		{"", "no boot media found"},
		{"bos.mode=shell", "bos.mode=shell"},
		{"bos.mode=disk", "no ext4 file system labelled BOS_STATE"},
	} {
		root, fs := fakeMachine(t, tt.cmdline, nil)
		b, _ := newTestBoot(t, root, fs)
		err := b.Boot(context.Background())
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Boot(%q) = %v, want an error with %q", tt.cmdline, err, tt.want)
		}
		if strings.Contains(strings.Join(fs.calls, "\n"), "switch_root") {
			t.Errorf("Boot(%q) switched root", tt.cmdline)
		}
	}
}

// TestBootDiskFinishesTakeover: a takeover marker on BOS_STATE makes disk
// mode delete everything there that is not Bhojpur OS before the root is
// assembled, then boot on, or power off when the marker asks for it.
func TestBootDiskFinishesTakeover(t *testing.T) {
	for _, powerOff := range []bool{false, true} {
		t.Run(fmt.Sprintf("poweroff=%t", powerOff), func(t *testing.T) {
			ext4 := blank(t, 16<<20)
			mkimage(t, "mkfs.ext4", "-q", "-F", "-L", layout.LabelState, ext4)
			root, fs := fakeMachine(t, "", map[string]string{"vda1": ext4})
			state := root + layout.StateDir
			write(t, state+"/"+takeover.MarkerPath, string(takeover.New(powerOff).Marshal()))
			write(t, state+"/etc/passwd", "old system")
			write(t, state+"/usr/bin/old", "old system")
			write(t, state+"/boot/grub/grub.cfg", "kept")
			write(t, state+"/"+layout.DataDir+"/var/kept", "kept")
			b, _ := newTestBoot(t, root, fs)
			err := b.Boot(context.Background())
			calls := strings.Join(fs.calls, "\n")
			if powerOff {
				if errors.Is(err, errSwitched) || !strings.Contains(calls, "poweroff") {
					t.Fatalf("Boot = %v with calls:\n%s\nwant a power-off and no switch_root", err, calls)
				}
			} else if !errors.Is(err, errSwitched) {
				t.Fatalf("Boot = %v, want the switch_root", err)
			}
			for _, gone := range []string{takeover.MarkerPath, "etc", "usr"} {
				if _, err := os.Lstat(state + "/" + gone); !os.IsNotExist(err) {
					t.Errorf("%s survived the takeover (%v)", gone, err)
				}
			}
			for _, kept := range []string{"boot/grub/grub.cfg", layout.DataDir + "/var/kept", layout.SystemDir + "/bos/current"} {
				if _, err := os.Lstat(state + "/" + kept); err != nil {
					t.Errorf("%s: %v; want it kept", kept, err)
				}
			}
		})
	}
}

// The ISO alone ends the media search at once; with a USB host, whose
// disks show up late, the search looks once more for BOS_STATE.
func TestFindMediaSettlesOnlyForLateBuses(t *testing.T) {
	for _, usb := range []bool{false, true} {
		root, fs := fakeMachine(t, "bos.debug", map[string]string{"sr0": isoImage(t)})
		if usb {
			if err := os.MkdirAll(root+"/sys/bus/usb/devices/usb1", 0o755); err != nil {
				t.Fatal(err)
			}
		}
		b, log := newTestBoot(t, root, fs)
		b.Params.Debug = true
		if err := b.findMedia(context.Background()); err != nil {
			t.Fatal(err)
		}
		if b.Media.ISO == nil || b.Media.ISO.Path != "/dev/sr0" {
			t.Fatalf("usb %v: media %+v", usb, b.Media)
		}
		rounds := strings.Count(strings.Join(log.lines, "\n"), "media search round")
		if want := map[bool]int{false: 1, true: 2}[usb]; rounds != want {
			t.Errorf("usb %v: %d rounds, want %d", usb, rounds, want)
		}
	}
}

func TestStoragePCI(t *testing.T) {
	for alias, want := range map[string]bool{
		"pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00": true,  // virtio-blk
		"pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01": true,  // AHCI
		"pci:v00001B36d0000000Dsv00000000sd00000000bc0Csc03i30": true,  // xHCI
		"pci:v00001B36d00000007sv00000000sd00000000bc08sc05i01": true,  // SDHCI
		"pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00": false, // virtio-net
		"pci:v00001AF4d00001005sv00001AF4sd00000004bc00scFFi00": false, // virtio-rng
		"pci:v00001234d00001111sv00001AF4sd00001100bc03sc00i00": false, // VGA
		"pci:v00008086d00007020sv00001AF4sd00001100bc0Csc05i00": false, // SMBus
		"virtio:d00000004v00001AF4":                             true,  // not PCI: its host was wanted
		"usb:v0627p0001d0000dc00dsc00dp00ic03isc01ip02in00":     true,
		"pci:v00001AF4d00001000":                                true, // no class: do not guess
	} {
		if got := storagePCI(alias); got != want {
			t.Errorf("storagePCI(%s) = %v, want %v", alias, got, want)
		}
	}
}

// TestFindMediaStorageFirst: the first round binds the storage controller
// and leaves the network card; a round that finds no media binds the rest,
// in case the media hides behind a device of another class.
func TestFindMediaStorageFirst(t *testing.T) {
	for _, media := range []bool{true, false} {
		devs := map[string]string{}
		if media {
			devs["sr0"] = isoImage(t)
		}
		root, fs := fakeMachine(t, "", devs)
		write(t, root+"/sys/bus/pci/devices/0000:00:02.0/modalias", "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00\n")
		write(t, root+"/sys/bus/pci/devices/0000:00:03.0/modalias", "pci:v00008086d00007010sv00001AF4sd00001100bc01sc01i80\n")
		k := root + "/lib/modules/6.1.0-test"
		write(t, k+"/modules.dep", "kernel/ata_piix.ko:\nkernel/virtio_pci.ko:\nkernel/virtio_blk.ko:\n")
		write(t, k+"/modules.alias", "alias pci:v00008086d00007010sv*sd*bc*sc*i* ata_piix\nalias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci\nalias virtio:d00000002v* virtio_blk\n")
		b, _ := newTestBoot(t, root, fs)
		clock := time.Unix(0, 0)
		b.Now = func() time.Time { return clock }
		b.Sleep = func(d time.Duration) { clock = clock.Add(d) }
		b.Wait = 300 * time.Millisecond // rounds at 0, 250 and 500 ms
		if err := b.initModules(); err != nil {
			t.Fatal(err)
		}
		if err := b.findMedia(context.Background()); err != nil {
			t.Fatal(err)
		}
		want := "[ata_piix virtio_blk]"
		if !media {
			want = "[ata_piix virtio_blk virtio_pci]"
		}
		if got := fmt.Sprint(fs.loaded); got != want {
			t.Errorf("media %v: loaded %s, want %s", media, got, want)
		}
	}
}

// panicStep is a boot step that panics.
type panicStep struct{ value any }

func (s panicStep) String() string                     { return "panic" }
func (s panicStep) Apply(context.Context, *Boot) error { panic(s.value) }

// recordStep is a boot step that notes it ran.
type recordStep struct{ ran *bool }

func (s recordStep) String() string                     { return "record" }
func (s recordStep) Apply(context.Context, *Boot) error { *s.ran = true; return nil }

// A panic in a step, optional or not, stops the plan as a failed required
// step does: the step's error is the panic, and its stack is on the console.
func TestRunStopsAtPanickingStep(t *testing.T) {
	b, log := newTestBoot(t, t.TempDir(), &fakeSys{})
	ran := false
	err := b.run(context.Background(), []Step{panicStep{"disk on fire"}, recordStep{&ran}})
	var se *StepError
	var pe *PanicError
	if !errors.As(err, &se) || !errors.As(err, &pe) || pe.Value != "disk on fire" {
		t.Fatalf("run = %v, want a StepError with the panic", err)
	}
	if ran {
		t.Error("the step after the panic ran")
	}
	logged := strings.Join(log.lines, "\n")
	if !strings.Contains(logged, "PANIC in panic: disk on fire") || !strings.Contains(logged, "goroutine ") {
		t.Errorf("the log lacks the panic and its stack:\n%s", logged)
	}
}

// TestMainRescuesPanic: a panic in a boot step, or outside the steps,
// does not end PID 1: the rescue shell opens with the panic as the reason.
func TestMainRescuesPanic(t *testing.T) {
	for _, tt := range []struct {
		name, want string
		arm        func(b *Boot, fs *fakeSys)
	}{
		{"in a step", "rescue shell: mount /dev/sr0 on /run/bos/media (iso9660 ro): panic: bad superblock", func(b *Boot, fs *fakeSys) {
			fs.onMount[layout.MediaDir] = func(string) { panic("bad superblock") }
		}},
		{"outside the steps", "rescue shell: panic: console gone", func(b *Boot, fs *fakeSys) {
			b.OnKernelFS = func() { panic("console gone") }
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root, fs := fakeMachine(t, "", map[string]string{"sr0": isoImage(t)})
			b, log := newTestBoot(t, root, fs)
			tt.arm(b, fs)
			shell := make(chan struct{})
			fs.onShell = func() { close(shell); runtime.Goexit() } // Main never returns: end its goroutine
			go b.Main(context.Background())
			select {
			case <-shell:
			case <-time.After(30 * time.Second):
				t.Fatal("no rescue shell")
			}
			logged := strings.Join(log.lines, "\n")
			if !strings.Contains(logged, tt.want) {
				t.Errorf("the log lacks %q:\n%s", tt.want, logged)
			}
			if strings.Contains(strings.Join(fs.calls, "\n"), "switch_root") {
				t.Error("the boot switched root after the panic")
			}
		})
	}
}
