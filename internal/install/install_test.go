package install

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/diskfs/go-diskfs/partition/gpt"
	"github.com/google/go-cmp/cmp"

	"github.com/bhojpur/os/internal/execrun"
	"github.com/bhojpur/os/internal/exitcode"
	"github.com/bhojpur/os/internal/fetch"
	"github.com/bhojpur/os/internal/grubenv"
	"github.com/bhojpur/os/internal/layout"
	"github.com/bhojpur/os/internal/takeover"
)

const goodConfig = `hostname: node1
ssh_authorized_keys:
  - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test@example
bos:
  password: secret
`

func TestPartitionDevice(t *testing.T) {
	for _, tc := range []struct {
		disk string
		n    int
		want string
	}{
		{"/dev/vda", 1, "/dev/vda1"},
		{"/dev/sda", 3, "/dev/sda3"},
		{"/dev/xvda", 2, "/dev/xvda2"},
		{"/dev/nvme0n1", 1, "/dev/nvme0n1p1"},
		{"/dev/nvme1n12", 3, "/dev/nvme1n12p3"},
		{"/dev/mmcblk0", 2, "/dev/mmcblk0p2"},
		{"/dev/loop7", 1, "/dev/loop7p1"},
		{"/dev/md0", 1, "/dev/md0p1"},
		{"vdb", 10, "vdb10"},
	} {
		if got := PartitionDevice(tc.disk, tc.n); got != tc.want {
			t.Errorf("PartitionDevice(%q, %d) = %q, want %q", tc.disk, tc.n, got, tc.want)
		}
	}
}

func TestNewLayout(t *testing.T) {
	l, err := NewLayout("amd64", 20*GiB, 512)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Num         int
		Name, Code  string
		Start, Size int64
	}
	var got []row
	for _, p := range l.Parts {
		got = append(got, row{p.Num, p.Name, p.Code, p.Start, p.Size})
	}
	want := []row{
		{1, "BIOS_BOOT", "EF02", MiB, MiB},
		{2, "BOS_GRUB", "EF00", 2 * MiB, 128 * MiB},
		{3, "BOS_STATE", "8300", 130 * MiB, 20*GiB - 131*MiB},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NewLayout(amd64, 20 GiB) (-want +got):\n%s", diff)
	}
	if l, err := NewLayout("arm64", 4*GiB, 4096); err != nil || len(l.Parts) != 2 || l.Parts[0].Name != layout.LabelGrub || l.Parts[0].Size != 260*MiB {
		t.Errorf("NewLayout(arm64) = %+v, %v; want ESP and BOS_STATE only", l.Parts, err)
	}
	smallest := 130*MiB + MinStateSize + MiB
	if _, err := NewLayout("amd64", smallest, 512); err != nil {
		t.Errorf("NewLayout(%d) = %v, want it to fit", smallest, err)
	}
	if _, err := NewLayout("amd64", smallest-MiB, 512); err == nil {
		t.Errorf("NewLayout(%d) = nil, want too small", smallest-MiB)
	}
}

func TestGPTOnAnImageReadsBack(t *testing.T) {
	img := filepath.Join(t.TempDir(), "disk.img")
	size := 3 * GiB
	sparse(t, img, size)
	l, err := NewLayout("amd64", size, 512)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.WriteTable(f); err != nil {
		t.Fatal(err)
	}
	f.Close()

	parts, err := ReadTable(img, 512)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Num         int
		Name        string
		Type        gpt.Type
		Start, Size int64
	}
	var got, want []row
	for _, p := range parts {
		got = append(got, row{p.Num, p.Name, p.Type, p.Start, p.Size})
	}
	for _, p := range l.Parts {
		want = append(want, row{p.Num, p.Name, p.Type, p.Start, p.Size})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GPT read back (-want +got):\n%s", diff)
	}

	// An independent reader: sgdisk.
	sgdisk, err := lookPath("sgdisk")
	if err != nil {
		t.Skip("sgdisk not installed")
	}
	out, err := runOutput(sgdisk, "-v", img)
	if err != nil || !strings.Contains(out, "No problems found") {
		t.Errorf("sgdisk -v: %v\n%s", err, out)
	}
	out, err = runOutput(sgdisk, "-p", img)
	if err != nil {
		t.Fatalf("sgdisk -p: %v\n%s", err, out)
	}
	last := size/512 - 34
	for _, line := range []string{
		fmt.Sprintf("1 %d %d 1024.0 KiB EF02 BIOS_BOOT", 2048, 4095),
		fmt.Sprintf("2 %d %d 128.0 MiB EF00 BOS_GRUB", 4096, 266239),
		fmt.Sprintf("3 %d %d", 266240, 266240+(l.Parts[2].Size/512)-1),
	} {
		if !strings.Contains(squeeze(out), line) {
			t.Errorf("sgdisk -p lacks %q:\n%s", line, out)
		}
	}
	if !strings.Contains(squeeze(out), "8300 BOS_STATE") {
		t.Errorf("sgdisk -p lacks BOS_STATE 8300:\n%s", out)
	}
	if l.Parts[2].Start/512+l.Parts[2].Size/512-1 > last {
		t.Errorf("BOS_STATE ends after the last usable sector %d", last)
	}
}

func squeeze(s string) string { return strings.Join(strings.Fields(s), " ") }

// badCase is one input that must be refused before the disk is touched.
type badCase struct {
	name  string
	setup func(m *machine, o *Options)
	code  int
	want  string
}

func TestBadInputLeavesTheDiskUntouched(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL + "/config.yaml"
	closed.Close()

	cases := []badCase{
		{"too small", func(m *machine, o *Options) {
			m.disk("vdb", 2*GiB, "small")
			o.Device = "/dev/vdb"
		}, exitcode.BadInput, "Bhojpur OS needs at least 2.1 GiB"},
		{"missing device", func(m *machine, o *Options) { o.Device = "/dev/vdz" }, exitcode.BadInput, "/dev/vdz does not exist"},
		{"partition without --no-format", func(m *machine, o *Options) {
			o.Device = m.partition("vda", 1, 3*GiB, true, "")
		}, exitcode.BadInput, "is a partition of /dev/vda"},
		{"whole disk with --no-format", func(m *machine, o *Options) { o.NoFormat = true }, exitcode.BadInput, "is a whole disk"},
		{"running system's disk", func(m *machine, o *Options) {
			m.partition("vda", 1, 3*GiB, true, "")
			m.mounts("/dev/vda1 / ext4 rw 0 0", "proc /proc proc rw 0 0")
		}, exitcode.BadInput, "holds the running system (/dev/vda1 is mounted at /)"},
		{"running system's disk under device mapper", func(m *machine, o *Options) {
			m.partition("vda", 2, 3*GiB, true, "")
			m.write("sys/class/block/dm-0/slaves/vda2/partition", "2")
			m.write("sys/class/block/dm-0/size", "100")
			if err := os.Symlink("../dm-0", m.path("dev/mapper-root")); err != nil {
				m.t.Fatal(err)
			}
			m.mounts("/dev/dm-0 /var ext4 rw 0 0")
		}, exitcode.BadInput, "holds the running system (/dev/dm-0 is mounted at /var)"},
		{"no /proc/mounts", func(m *machine, o *Options) {
			if err := os.Remove(m.path("proc/mounts")); err != nil {
				m.t.Fatal(err)
			}
		}, exitcode.BadInput, "read /proc/mounts"},
		{"an empty /proc/mounts", func(m *machine, o *Options) { m.write("proc/mounts", "") }, exitcode.BadInput, "/proc/mounts lists no mount"},
		{"--no-format without /proc/mounts", func(m *machine, o *Options) {
			o.Device, o.NoFormat = m.partition("vda", 3, 3*GiB, true, "BOS_STATE"), true
			m.write("proc/mounts", "\n")
		}, exitcode.BadInput, "/proc/mounts lists no mount"},
		{"a regular file under /dev", func(m *machine, o *Options) {
			sparse(m.t, m.path("dev/sdb"), 4*GiB) // what dd of=/dev/sdb leaves when there is no sdb
			o.Device = "/dev/sdb"
		}, exitcode.BadInput, "device /dev/sdb is a regular file under /dev (/dev/sdb), not a device"},
		{"a regular file under /dev through a link", func(m *machine, o *Options) {
			sparse(m.t, m.path("dev/disk/by-id/gone"), 4*GiB)
			if err := os.Symlink("../dev/disk/by-id/gone", m.path("images/disk.img")); err != nil {
				if err = os.MkdirAll(m.path("images"), 0o755); err == nil {
					err = os.Symlink("../dev/disk/by-id/gone", m.path("images/disk.img"))
				}
				if err != nil {
					m.t.Fatal(err)
				}
			}
			o.Device = "/images/disk.img"
		}, exitcode.BadInput, "is a regular file under /dev (/dev/disk/by-id/gone)"},
		{"a regular file under /dev through ..", func(m *machine, o *Options) {
			sparse(m.t, m.path("dev/sdc"), 4*GiB)
			m.mkdir("images")
			o.Device = "/images/../dev/sdc"
		}, exitcode.BadInput, "is a regular file under /dev (/dev/sdc)"},
		{"disk used as swap", func(m *machine, o *Options) {
			m.partition("vda", 1, 3*GiB, false, "")
			m.write("proc/swaps", "Filename Type Size Used Priority\n/dev/vda1 partition 1 0 -2\n")
		}, exitcode.BadInput, "used as swap"},
		{"--no-format on a mounted partition", func(m *machine, o *Options) {
			o.Device, o.NoFormat = m.partition("vda", 3, 3*GiB, true, "BOS_STATE"), true
			m.mounts("/dev/vda3 /mnt ext4 rw 0 0")
		}, exitcode.BadInput, "is mounted at /mnt"},
		{"--no-format on a partition that is not ext4", func(m *machine, o *Options) {
			o.Device, o.NoFormat = m.partition("vda", 3, 3*GiB, false, ""), true
		}, exitcode.BadInput, "holds no ext4 file system"},
		{"--no-format on a small partition", func(m *machine, o *Options) {
			o.Device, o.NoFormat = m.partition("vda", 3, GiB, true, ""), true
		}, exitcode.BadInput, "BOS_STATE needs at least 2 GiB"},
		{"--takeover of a partition that is not /", func(m *machine, o *Options) {
			o.Device, o.NoFormat, o.Takeover = m.partition("vda", 1, 3*GiB, true, ""), true, true
			m.partition("vda", 2, 3*GiB, true, "")
			m.mounts("/dev/vda2 / ext4 rw 0 0")
		}, exitcode.BadInput, "is not the partition of / (/ is /dev/vda2)"},
		{"--takeover without --no-format", func(m *machine, o *Options) {
			o.Device, o.Takeover = m.partition("vda", 1, 3*GiB, true, ""), true
		}, exitcode.Usage, "--takeover needs --no-format"},
		{"--takeover without an ISO", func(m *machine, o *Options) {
			o.Device, o.NoFormat, o.Takeover, o.ISO = m.partition("vda", 1, 3*GiB, true, ""), true, true, ""
			m.mounts("/dev/vda1 / ext4 rw 0 0")
		}, exitcode.BadInput, "--takeover needs ISO_URL"},
		{"invalid config", func(m *machine, o *Options) {
			o.Config = m.path("config.yaml")
			m.write("config.yaml", "hostname: node1\nbos:\n  pasword: x\n")
		}, exitcode.BadInput, "config.yaml:3:3: bos.pasword: unknown key"},
		{"tty with a kernel argument", func(m *machine, o *Options) { o.TTY = "ttyS0,115200 init=/bin/sh" }, exitcode.BadInput, "is not a console TTY"},
		{"tty with a GRUB command", func(m *machine, o *Options) { o.TTY = "ttyS1\nset root=evil" }, exitcode.BadInput, "is not a console TTY"},
		{"config that is not there", func(m *machine, o *Options) { o.Config = m.path("nope.yaml") }, exitcode.BadInput, "nope.yaml"},
		{"unreachable config URL", func(m *machine, o *Options) { o.Config = closedURL }, exitcode.Download, "download " + closedURL},
		{"wrong ISO checksum", func(m *machine, o *Options) {
			iso := m.path("release/bos-amd64.iso")
			m.write("release/bos-amd64.iso", "not the ISO that was published")
			m.write("release/sha256sum-amd64.txt", strings.Repeat("ab", 32)+"  bos-amd64.iso\n")
			o.ISO = iso
		}, exitcode.Download, "does not match the published " + strings.Repeat("ab", 32)},
		{"wrong ISO checksum over HTTP", func(m *machine, o *Options) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/v1/bos-amd64.iso":
					fmt.Fprint(w, "an ISO")
				case "/v1/sha256sum-amd64.txt":
					fmt.Fprintf(w, "%s  bos-amd64.iso\n", strings.Repeat("0", 64))
				default:
					http.NotFound(w, r)
				}
			}))
			m.t.Cleanup(srv.Close)
			o.ISO = srv.URL + "/v1/bos-amd64.iso"
		}, exitcode.Download, "does not match the published"},
		{"no bos/system to copy", func(m *machine, o *Options) {
			o.ISO = ""
			if err := os.RemoveAll(m.path("bos")); err != nil {
				m.t.Fatal(err)
			}
		}, exitcode.BadInput, "no bos/system directory"},
		{"install source without a kernel", func(m *machine, o *Options) {
			o.ISO = m.path("broken")
			systemTree(m.t, o.ISO)
			os.Remove(filepath.Join(o.ISO, layout.SystemDir, "kernel/6.1.0/initrd"))
		}, exitcode.BadInput, "kernel/current/initrd is missing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t)
			m.disk("vda", 4*GiB, "QEMU HARDDISK")
			systemTree(t, m.root) // the running system's /bos/system
			o := Options{Device: "/dev/vda", Silent: true, NoReboot: false}
			tc.setup(m, &o)
			var images []string
			filepath.Walk(m.path("dev"), func(p string, fi os.FileInfo, err error) error {
				if err == nil && fi.Mode().IsRegular() {
					images = append(images, p)
				}
				return nil
			})
			before := map[string]string{}
			for _, img := range images {
				before[img] = sha(t, img)
			}

			err := m.installer().Install(context.Background(), o)
			if code := exitcode.Of(err); code != tc.code || err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Install = exit %d, %v; want exit %d and %q", code, err, tc.code, tc.want)
			}
			for _, img := range images {
				if got := sha(t, img); got != before[img] {
					t.Errorf("%s changed", img)
				}
			}
			for _, c := range m.run.cmds {
				if !strings.HasPrefix(c, "mount -o loop,ro") && !strings.HasPrefix(c, "xorriso") && !strings.HasPrefix(c, "umount") {
					t.Errorf("ran %q before the checks passed", c)
				}
			}
			if len(m.sys.calls) > 0 {
				t.Errorf("system calls %v before the checks passed", m.sys.calls)
			}
		})
	}
}

// golden compares got with testdata/NAME, or rewrites it with UPDATE=1.
func golden(t *testing.T, name, got string) {
	t.Helper()
	file := filepath.Join("testdata", name)
	if os.Getenv("UPDATE") != "" {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with UPDATE=1 to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", file, diff)
	}
}

func TestDryRunGolden(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(m *machine, o *Options)
	}{
		{"full", func(m *machine, o *Options) {}},
		{"full-tty-debug-poweroff", func(m *machine, o *Options) {
			o.TTY, o.Debug, o.PowerOff = "ttyS1", true, true
		}},
		{"no-format", func(m *machine, o *Options) {
			m.partition("vda", 1, MiB, false, "")
			m.partition("vda", 2, 128*MiB, false, "")
			o.Device, o.NoFormat = m.partition("vda", 3, 3*GiB, true, "OLD"), true
			writeVdaTable(m)
		}},
		{"takeover", func(m *machine, o *Options) {
			o.Device, o.NoFormat, o.Takeover, o.PowerOff = m.partition("vda", 1, 3*GiB, true, "cloudimg-rootfs"), true, true, true
			m.mounts("/dev/vda1 / ext4 rw 0 0")
			m.write("boot/grub2/grub.cfg", "host menu")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t)
			m.disk("vda", 20*GiB, "QEMU HARDDISK")
			iso := filepath.Join(t.TempDir(), "iso")
			systemTree(t, iso)
			m.write("config.yaml", goodConfig)
			o := Options{Device: "/dev/vda", ISO: iso, Config: m.path("config.yaml"), Silent: true, DryRun: true}
			tc.setup(m, &o)
			disk := sha(t, m.path("dev/vda"))
			if err := m.installer().Install(context.Background(), o); err != nil {
				t.Fatal(err)
			}
			got := strings.ReplaceAll(m.out.String(), m.root, "$ROOT")
			got = strings.ReplaceAll(got, iso, "$ISO")
			golden(t, "dryrun-"+tc.name+".txt", got)
			if sha(t, m.path("dev/vda")) != disk || len(m.run.cmds) > 0 || len(m.sys.calls) > 0 {
				t.Errorf("--dry-run changed something: disk same %v, commands %v, calls %v", sha(t, m.path("dev/vda")) == disk, m.run.cmds, m.sys.calls)
			}
		})
	}
}

// writeVdaTable gives the fake vda the layout bos-install makes.
func writeVdaTable(m *machine) {
	m.t.Helper()
	fi, err := os.Stat(m.path("dev/vda"))
	if err != nil {
		m.t.Fatal(err)
	}
	l, err := NewLayout("amd64", fi.Size(), 512)
	if err != nil {
		m.t.Fatal(err)
	}
	f, err := os.OpenFile(m.path("dev/vda"), os.O_RDWR, 0)
	if err != nil {
		m.t.Fatal(err)
	}
	defer f.Close()
	if err := l.WriteTable(f); err != nil {
		m.t.Fatal(err)
	}
}

func TestFullInstallStepsOnAFakeDisk(t *testing.T) {
	m := newMachine(t)
	m.disk("vda", 4*GiB, "QEMU HARDDISK")
	iso := filepath.Join(t.TempDir(), "iso")
	systemTree(t, iso)
	m.write("config.yaml", goodConfig)
	o := Options{Device: "/dev/vda", ISO: iso, Config: m.path("config.yaml"), Silent: true, PowerOff: true}
	if err := m.installer().Install(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	r := m.root
	want := []string{
		"mkfs.vfat -F 32 -n BOS_GRUB " + r + "/dev/vda2",
		"mkfs.ext4 -F -q -L BOS_STATE " + r + "/dev/vda3",
		"mount -t ext4 " + r + "/dev/vda3 " + r + "/run/bos/install/state",
		"grub-install --target=i386-pc " + grubOnly + " --boot-directory=" + r + "/run/bos/install/state/boot " + r + "/dev/vda",
		"mount -t vfat " + r + "/dev/vda2 " + r + "/run/bos/install/efi",
		"grub-install --target=x86_64-efi " + grubOnly + " --efi-directory=" + r + "/run/bos/install/efi --boot-directory=" + r + "/run/bos/install/state/boot --removable --no-nvram",
		"umount " + r + "/run/bos/install/efi",
		"umount " + r + "/run/bos/install/state",
	}
	if diff := cmp.Diff(want, m.run.cmds); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
	wantCalls := []string{"reread " + r + "/dev/vda " + r + "/dev/vda1 " + r + "/dev/vda2 " + r + "/dev/vda3", "sync", "sync", "poweroff"}
	if diff := cmp.Diff(wantCalls, m.sys.calls); diff != "" {
		t.Errorf("system calls (-want +got):\n%s", diff)
	}
	parts, err := ReadTable(m.path("dev/vda"), 512)
	if err != nil || len(parts) != 3 || parts[2].Name != layout.LabelState {
		t.Errorf("GPT on the disk = %+v, %v", parts, err)
	}
	// The old data at the start of the disk is gone (zeroed), except the GPT.
	b := make([]byte, 16)
	f, _ := os.Open(m.path("dev/vda"))
	f.ReadAt(b, 34*512)
	f.Close()
	if !bytes.Equal(b, make([]byte, 16)) {
		t.Errorf("old data after the GPT survived: %q", b)
	}

	// With the mounts faked, the state file system is the mount point.
	state := m.path("run/bos/install/state")
	checkState(t, state, goodConfig)
	cfg, err := os.ReadFile(filepath.Join(state, "boot/grub/grub.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"search --no-floppy --label BOS_STATE --set=root",
		"serial --unit=0 --speed=115200",
		"terminal_input serial console",
		"terminal_output serial console",
		"load_env -f /boot/grub/grubenv",
		`linux /bos/system/kernel/"${bos_kernel}"/vmlinuz panic=10 console=tty0 console=ttyS0,115200` + "\n",
		`initrd /bos/system/kernel/"${bos_kernel}"/initrd`,
		"menuentry 'Bhojpur OS' {",
		"linux /bos/system/kernel/previous/vmlinuz",
		"bos.mode=shell",
	} {
		if !strings.Contains(string(cfg), s) {
			t.Errorf("grub.cfg lacks %q:\n%s", s, cfg)
		}
	}
}

// checkState checks the installed BOS_STATE tree.
func checkState(t *testing.T, state, config string) {
	t.Helper()
	for link, want := range map[string]string{"bos/current": "v1.0.0", "kernel/current": "6.1.0", "dcp/current": "v1.29.0"} {
		if got, err := os.Readlink(filepath.Join(state, layout.SystemDir, link)); err != nil || got != want {
			t.Errorf("%s = %q, %v; want a link to %s", link, got, err, want)
		}
	}
	for _, f := range []string{"bos/current/rootfs.squashfs", "kernel/current/vmlinuz", "kernel/current/initrd", "kernel/current/kernel.squashfs", "dcp/current/dcp"} {
		if _, err := os.Stat(filepath.Join(state, layout.SystemDir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(state, layout.SystemDir, "bos/current/bos-install")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("bos-install mode = %v, %v; want 0755", fi, err)
	}
	if fi, err := os.Stat(filepath.Join(state, "bos/data/opt")); err != nil || !fi.IsDir() {
		t.Errorf("bos/data/opt: %v", err)
	}
	if config != "" {
		name := filepath.Join(state, layout.SystemDir, "config.yaml")
		fi, err := os.Stat(name)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("config.yaml = %v, %v; want mode 0600", fi, err)
		}
		if b, _ := os.ReadFile(name); string(b) != config {
			t.Errorf("config.yaml = %q, want %q", b, config)
		}
	}
	matches, _ := filepath.Glob(filepath.Join(state, layout.SystemDir, "*", "*.bos-new"))
	if len(matches) > 0 {
		t.Errorf("temporary files left: %v", matches)
	}
}

func TestNoFormatInstallsGrubOnTheExistingLayout(t *testing.T) {
	m := newMachine(t)
	m.disk("vda", 4*GiB, "QEMU HARDDISK")
	writeVdaTable(m)
	part := m.partition("vda", 3, 3*GiB, true, "OLD")
	iso := filepath.Join(t.TempDir(), "iso")
	systemTree(t, iso)
	disk := sha(t, m.path("dev/vda"))
	o := Options{Device: part, NoFormat: true, ISO: iso, Silent: true, NoReboot: true}
	if err := m.installer().Install(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	r := m.root
	want := []string{
		"e2label " + r + "/dev/vda3 BOS_STATE",
		"mount -t ext4 " + r + "/dev/vda3 " + r + "/run/bos/install/state",
		"grub-install --target=i386-pc " + grubOnly + " --boot-directory=" + r + "/run/bos/install/state/boot " + r + "/dev/vda",
		"mount -t vfat " + r + "/dev/vda2 " + r + "/run/bos/install/efi",
		"grub-install --target=x86_64-efi " + grubOnly + " --efi-directory=" + r + "/run/bos/install/efi --boot-directory=" + r + "/run/bos/install/state/boot --removable --no-nvram",
		"umount " + r + "/run/bos/install/efi",
		"umount " + r + "/run/bos/install/state",
	}
	if diff := cmp.Diff(want, m.run.cmds); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
	if sha(t, m.path("dev/vda")) != disk {
		t.Error("--no-format wrote to the disk itself")
	}
	if diff := cmp.Diff([]string{"sync", "sync"}, m.sys.calls); diff != "" {
		t.Errorf("system calls with --no-reboot (-want +got):\n%s", diff)
	}
}

func TestTakeoverCopiesMarksAndPointsTheHostGrub(t *testing.T) {
	for _, grubDir := range []string{"boot/grub", "boot/grub2"} {
		t.Run(grubDir, func(t *testing.T) {
			m := newMachine(t)
			m.disk("vda", 4*GiB, "QEMU HARDDISK")
			part := m.partition("vda", 1, 3*GiB, true, "cloudimg-rootfs")
			m.mounts("/dev/vda1 / ext4 rw,relatime 0 0", "proc /proc proc rw 0 0")
			m.write(grubDir+"/grub.cfg", "the host's menu")
			m.write("etc/os-release", "ID=debian")
			iso := filepath.Join(t.TempDir(), "iso")
			systemTree(t, iso)
			m.write("config.yaml", goodConfig)
			o := Options{Device: part, NoFormat: true, Takeover: true, PowerOff: true, ISO: iso, Config: m.path("config.yaml"), Silent: true, TTY: "ttyS0"}
			if err := m.installer().Install(context.Background(), o); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"e2label " + m.root + "/dev/vda1 BOS_STATE"}, m.run.cmds); diff != "" {
				t.Errorf("commands (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"sync", "sync", "reboot"}, m.sys.calls); diff != "" {
				t.Errorf("system calls (-want +got): the takeover reboots to clean up first\n%s", diff)
			}
			checkState(t, m.root, goodConfig)
			cfg, _ := os.ReadFile(m.path(grubDir + "/grub.cfg"))
			if !strings.Contains(string(cfg), "--label BOS_STATE") || !strings.Contains(string(cfg), "console=ttyS0,115200\n") {
				t.Errorf("%s/grub.cfg = %q; want the Bhojpur OS menu", grubDir, cfg)
			}
			if b, _ := os.ReadFile(m.path(grubDir + "/grub.cfg.before-bos")); string(b) != "the host's menu" {
				t.Errorf("backup of the host's grub.cfg = %q", b)
			}
			f, err := os.Open(m.path(takeover.MarkerPath))
			if err != nil {
				t.Fatal(err)
			}
			k, err := takeover.Parse(f)
			f.Close()
			if err != nil || !k.PowerOff || !cmp.Equal(k.Keep, takeover.DefaultKeep) {
				t.Errorf("marker = %+v, %v", k, err)
			}
			// What bos-init does at the next boot.
			if _, err := takeover.Finish(m.root, t.Logf); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(m.path("etc/os-release")); !os.IsNotExist(err) {
				t.Errorf("the host's /etc survived the clean-up: %v", err)
			}
			checkState(t, m.root, goodConfig)
		})
	}
}

func TestDownloadsTheISOAndVerifiesIt(t *testing.T) {
	// The ISO is "extracted" by the fake runner into the mount point.
	iso := []byte("pretend ISO9660 bytes")
	var hits []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits = append(hits, r.URL.Path)
		switch r.URL.Path {
		case "/v1/bos-amd64.iso":
			w.Write(iso)
		case "/v1/sha256sum-amd64.txt":
			fmt.Fprintf(w, "%x  bos-amd64.iso\n%s  bos-arm64.iso\n", sha256sum(iso), strings.Repeat("1", 64))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	m := newMachine(t)
	m.disk("vda", 4*GiB, "QEMU HARDDISK")
	in := m.installer()
	in.Run = extractRunner{m.run, t}
	o := Options{Device: "/dev/vda", ISO: srv.URL + "/v1/bos-amd64.iso", Silent: true, DryRun: true}
	if err := in.Install(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.out.String(), "checksum:  sha256 verified against "+srv.URL+"/v1/sha256sum-amd64.txt") {
		t.Errorf("plan lacks the verification:\n%s", m.out.String())
	}
	if len(m.run.cmds) != 2 || !strings.HasPrefix(m.run.cmds[0], "mount -o loop,ro -t iso9660 ") || !strings.HasPrefix(m.run.cmds[1], "xorriso -osirrox on -indev ") {
		t.Errorf("commands = %q; want a mount, then xorriso when it fails", m.run.cmds)
	}
	if diff := cmp.Diff([]string{"/v1/sha256sum-amd64.txt", "/v1/bos-amd64.iso"}, hits); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

// extractRunner fails mount (as on a host without ISO9660) and makes
// xorriso "extract" a system tree.
type extractRunner struct {
	*fakeRunner
	t *testing.T
}

func (r extractRunner) Run(ctx context.Context, c execrun.Cmd) ([]byte, error) {
	r.fakeRunner.Run(ctx, c)
	switch c.Name {
	case "mount":
		return nil, fmt.Errorf("mount: unknown filesystem type 'iso9660'")
	case "xorriso":
		systemTree(r.t, c.Args[len(c.Args)-1])
	}
	return nil, nil
}

// quickFetcher retries fast and cuts a small download after 200ms.
func quickFetcher(t *testing.T) *Fetcher {
	return &Fetcher{HTTP: &fetch.Fetcher{Retry: fetch.Retry{Attempts: 3, Base: time.Millisecond, Timeout: 200 * time.Millisecond}, Log: testLog{t}.Printf}}
}

func TestFetcherRetries(t *testing.T) {
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		if n < 3 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, goodConfig)
	}))
	defer srv.Close()
	f := quickFetcher(t)
	b, err := f.Bytes(context.Background(), srv.URL+"/c.yaml")
	if err != nil || string(b) != goodConfig || n != 3 {
		t.Errorf("Bytes = %q, %v after %d tries; want the config after 3", b, err, n)
	}
	n = -10
	if _, err := f.Bytes(context.Background(), srv.URL+"/c.yaml"); exitcode.Of(err) != exitcode.Download {
		t.Errorf("Bytes after 3 failures = %v, want a download error", err)
	}
}

func TestFetcherErrorClasses(t *testing.T) {
	hits := map[string]int{}
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.URL.Path]++
		mu.Unlock()
		switch r.URL.Path {
		case "/big.yaml":
			w.Write(make([]byte, MaxConfigSize+1))
		case "/hang.yaml":
			<-r.Context().Done() // accepts, never answers
		case "/v1/bos-amd64.iso":
			fmt.Fprint(w, "an ISO")
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		do    func(f *Fetcher) error
		code  int
		text  string
		tries map[string]int
	}{
		{"404 is not retried", func(f *Fetcher) error { _, err := f.Bytes(context.Background(), srv.URL+"/nope.yaml"); return err },
			exitcode.Download, "404", map[string]int{"/nope.yaml": 1}},
		{"oversized config", func(f *Fetcher) error { _, err := f.Bytes(context.Background(), srv.URL+"/big.yaml"); return err },
			exitcode.Download, fmt.Sprintf("more than %d bytes", MaxConfigSize), map[string]int{"/big.yaml": 1}},
		{"a config server that never answers", func(f *Fetcher) error { _, err := f.Bytes(context.Background(), srv.URL+"/hang.yaml"); return err },
			exitcode.Download, "no answer in 200ms", map[string]int{"/hang.yaml": 3}},
		{"missing local config", func(f *Fetcher) error {
			_, err := f.Bytes(context.Background(), "file://"+dir+"/nope.yaml")
			return err
		},
			exitcode.BadInput, dir + "/nope.yaml", map[string]int{}},
		{"ISO checksum mismatch", func(f *Fetcher) error {
			_, err := f.Download(context.Background(), srv.URL+"/v1/bos-amd64.iso", filepath.Join(dir, "a.iso"), strings.Repeat("0", 64))
			return err
		}, exitcode.Download, "does not match the published", map[string]int{"/v1/bos-amd64.iso": 1}},
		{"an ISO larger than allowed", func(f *Fetcher) error {
			f.MaxISO = 3
			_, err := f.Download(context.Background(), srv.URL+"/v1/bos-amd64.iso", filepath.Join(dir, "big.iso"), "")
			if _, serr := os.Stat(filepath.Join(dir, "big.iso")); !os.IsNotExist(serr) {
				t.Errorf("the oversized ISO was left on disk (%v)", serr)
			}
			return err
		}, exitcode.Download, "larger than allowed", map[string]int{"/v1/bos-amd64.iso": 1}},
		{"ISO into a directory that is not there", func(f *Fetcher) error {
			_, err := f.Download(context.Background(), srv.URL+"/v1/bos-amd64.iso", filepath.Join(dir, "missing", "a.iso"), "")
			return err
		}, exitcode.Disk, dir + "/missing", map[string]int{"/v1/bos-amd64.iso": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clear(hits)
			err := tc.do(quickFetcher(t))
			if exitcode.Of(err) != tc.code || err == nil || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error = %v (exit %d), want exit %d and %q", err, exitcode.Of(err), tc.code, tc.text)
			}
			mu.Lock()
			defer mu.Unlock()
			if diff := cmp.Diff(tc.tries, hits); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDownloadWithoutPublishedSum(t *testing.T) {
	iso := []byte("pretend ISO9660 bytes")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/bos-amd64.iso" {
			http.NotFound(w, r)
			return
		}
		w.Write(iso)
	}))
	defer srv.Close()
	want, note, err := quickFetcher(t).Checksum(context.Background(), srv.URL+"/bos-amd64.iso", "amd64")
	if want != "" || !strings.Contains(note, "published beside the ISO: not verified") || err != nil {
		t.Errorf("Checksum without a list = %q, %q, %v; want no sum, a note, no error", want, note, err)
	}
	dst := filepath.Join(t.TempDir(), "bos-amd64.iso")
	sum, err := quickFetcher(t).Download(context.Background(), srv.URL+"/bos-amd64.iso", dst, "")
	if want := fmt.Sprintf("%x", sha256sum(iso)); err != nil || sum != want {
		t.Errorf("Download = %q, %v; want %s", sum, err, want)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, iso) {
		t.Errorf("%s holds %q, want %q", dst, got, iso)
	}
}

func TestChecksumListMustParse(t *testing.T) {
	dir := t.TempDir()
	iso := filepath.Join(dir, "bos-amd64.iso")
	sums := filepath.Join(dir, layout.Sums("amd64"))
	for _, tc := range []struct {
		list, want string
		code       int
	}{
		{strings.Repeat("a", 64) + "  bos-amd64.iso\n", strings.Repeat("a", 64), 0},
		{strings.Repeat("B", 64) + " *bos-amd64.iso\n", strings.Repeat("b", 64), 0},
		{strings.Repeat("a", 64) + "  other.iso\n", "", 0},
		{"bad line\n", "", exitcode.Download},
	} {
		if err := os.WriteFile(sums, []byte(tc.list), 0o644); err != nil {
			t.Fatal(err)
		}
		f := &Fetcher{}
		sum, _, err := f.Checksum(context.Background(), iso, "amd64")
		if sum != tc.want || exitcode.Of(err) != tc.code {
			t.Errorf("Checksum with list %q = %q, %v; want %q and exit %d", tc.list, sum, err, tc.want, tc.code)
		}
	}
}

func TestConsolesAndGrubSerial(t *testing.T) {
	for _, tc := range []struct {
		tty    string
		args   string
		serial string
	}{
		{"", "panic=10 console=tty0 console=ttyS0,115200", "serial --unit=0 --speed=115200"},
		{"ttyS1", "panic=10 console=ttyS1,115200", "serial --unit=1 --speed=115200"},
		{"/dev/ttyS0,9600n8", "panic=10 console=ttyS0,9600n8", "serial --unit=0 --speed=9600"},
		{"tty1", "panic=10 console=tty1", "serial --unit=0 --speed=115200"},
		{"ttyAMA0", "panic=10 console=ttyAMA0,115200", "serial --unit=0 --speed=115200"},
	} {
		b := Boot{TTY: tc.tty}
		if got := strings.Join(b.Args(), " "); got != tc.args {
			t.Errorf("Boot{TTY: %q}.Args() = %q, want %q", tc.tty, got, tc.args)
		}
		if cfg := string(grubConfig(t, b)); !strings.Contains(cfg, tc.serial+"\n") {
			t.Errorf("Boot{TTY: %q}.GrubConfig() lacks %q:\n%s", tc.tty, tc.serial, cfg)
		}
	}
	if got := strings.Join(Boot{Debug: true}.Args(), " "); !strings.HasSuffix(got, " bos.debug") {
		t.Errorf("Boot{Debug}.Args() = %q, want bos.debug", got)
	}
}

// TestGrubConfigParses checks the whole generated grub.cfg with GRUB's own
// parser.
func TestGrubConfigParses(t *testing.T) {
	check, err := exec.LookPath("grub-script-check")
	if err != nil {
		t.Skip("grub-script-check (grub-common) is not installed")
	}
	p := filepath.Join(t.TempDir(), "grub.cfg")
	if err := os.WriteFile(p, grubConfig(t, Boot{Debug: true}), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(check, p).CombinedOutput(); err != nil {
		t.Errorf("grub-script-check: %v: %s", err, out)
	}
}

// TestDiskModel: the disk list names a disk in words, never by the vendor
// id sysfs gives for virtio disks.
func TestDiskModel(t *testing.T) {
	tests := []struct{ name, vendor, model, want string }{
		{"vda", "0x1af4", "", "virtio disk"},
		{"vdb", "", "", "virtio disk"},
		{"sda", "ATA     ", "QEMU HARDDISK   ", "ATA QEMU HARDDISK"},
		{"sdb", "", "", "SCSI/SATA disk"},
		{"nvme0n1", "", "Samsung SSD 980 PRO 1TB", "Samsung SSD 980 PRO 1TB"},
		{"xvda", "", "", "Xen disk"},
		{"sdc", "0x15ad", "", "VMware disk"},
		{"vdc", "0x1234", "", "virtio disk"},
		{"mmcblk0", "", "", "SD/MMC card"},
		{"weird0", "0xabcd", "", ""},
	}
	for _, tt := range tests {
		if got := diskModel(tt.name, tt.vendor, tt.model); got != tt.want {
			t.Errorf("diskModel(%q, %q, %q) = %q, want %q", tt.name, tt.vendor, tt.model, got, tt.want)
		}
	}
}

// grubOnly are the arguments that make grub-install copy only the modules
// GRUB needs here: no fonts, locales or themes.
const grubOnly = "'--install-modules=normal configfile echo test true sleep reboot halt ls cat regexp probe serial terminal all_video loadenv part_gpt part_msdos ext2 fat search search_label search_fs_uuid search_fs_file linux gzio' --locales= --fonts= --themes="

// TestGrubModulesCoverGrubCfg: grub-install copies only GrubModules, so
// every module grub.cfg loads and every command it runs (the installed
// menu and the trial-boot fragment of bos-upgrade) must come from one of
// them. A command this table does not know fails the test: add its module
// to GrubModules and here.
func TestGrubModulesCoverGrubCfg(t *testing.T) {
	builtin := map[string]bool{"set": true, "unset": true, "export": true, "if": true, "elif": true, "else": true,
		"then": true, "fi": true, "menuentry": true, "submenu": true, "insmod": true, "}": true, "for": true,
		"while": true, "do": true, "done": true, "function": true, "return": true, "break": true, "continue": true}
	module := map[string]string{"serial": "serial", "terminal_input": "terminal", "terminal_output": "terminal",
		"search": "search", "linux": "linux", "initrd": "linux", "[": "test", "test": "test", "echo": "echo",
		"load_env": "loadenv", "save_env": "loadenv", "list_env": "loadenv", "configfile": "configfile",
		"source": "configfile", "sleep": "sleep", "reboot": "reboot", "halt": "halt", "regexp": "regexp",
		"probe": "probe", "ls": "ls", "cat": "cat", "true": "true", "false": "true"}
	have := map[string]bool{}
	for _, m := range GrubModules {
		have[m] = true
	}
	for name, cfg := range map[string]string{
		"grub.cfg":               string(grubConfig(t, Boot{})),
		"grub.cfg --tty --debug": string(grubConfig(t, Boot{TTY: "ttyS1", Debug: true})),
		"trial-boot fragment":    grubenv.GrubScript,
	} {
		for i, line := range strings.Split(cfg, "\n") {
			f := strings.Fields(strings.TrimSpace(line))
			if len(f) == 0 || strings.HasPrefix(f[0], "#") {
				continue
			}
			words := []string{f[0]}
			if (f[0] == "if" || f[0] == "elif" || f[0] == "while") && len(f) > 1 {
				words = append(words, f[1])
			}
			if f[0] == "insmod" && len(f) > 1 && !have[f[1]] {
				t.Errorf("%s:%d: insmod %s, but GrubModules lacks %s", name, i+1, f[1], f[1])
			}
			for _, w := range words {
				if builtin[w] {
					continue
				}
				m, ok := module[w]
				if !ok {
					t.Errorf("%s:%d: command %q: which module provides it? (add it to GrubModules and to this table)", name, i+1, w)
					continue
				}
				if !have[m] {
					t.Errorf("%s:%d: command %q needs module %s, which GrubModules lacks", name, i+1, w, m)
				}
			}
		}
	}
}

// TestInstallsFromTheNetbootedMedia: when the ISO URL is the one bos-init
// downloaded at boot (a netboot), the installer copies the booted media and
// does not download the ISO again; another URL is downloaded as usual.
func TestInstallsFromTheNetbootedMedia(t *testing.T) {
	var hits []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits = append(hits, r.URL.Path)
		http.NotFound(w, r)
	}))
	defer srv.Close()
	booted := srv.URL + "/v1/bos-amd64.iso"
	m := newMachine(t)
	m.disk("vda", 4*GiB, "QEMU HARDDISK")
	systemTree(t, m.root)
	m.write(layout.MediaURLFile, booted+"\n")
	o := Options{Device: "/dev/vda", ISO: booted, Silent: true, DryRun: true}
	if err := m.installer().Install(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if len(hits) != 0 {
		t.Errorf("the booted ISO was fetched again: %q", hits)
	}
	if !strings.Contains(m.out.String(), "the running system's /bos/system") {
		t.Errorf("the plan does not copy the booted media:\n%s", m.out.String())
	}
	o.ISO = srv.URL + "/v2/bos-amd64.iso"
	if err := m.installer().Install(context.Background(), o); err == nil || len(hits) == 0 {
		t.Errorf("another ISO URL: Install = %v with requests %q; want it fetched (and not found)", err, hits)
	}
}
