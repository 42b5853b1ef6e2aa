package datasource

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-billy/v5/memfs"
	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/datasource/fake"
)

// need skips the test when a tool is missing, unless BOS_REQUIRE_VM says
// every test must run.
func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("BOS_REQUIRE_VM") != "" {
				t.Fatalf("%s is needed (BOS_REQUIRE_VM is set): %v", tool, err)
			}
			t.Skipf("%s not installed", tool)
		}
	}
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// tree writes files (slash paths) under a new temp dir.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// iso builds an ISO9660 image of files with xorriso; rr and joliet choose
// the name extensions.
func iso(t *testing.T, volid string, rr, joliet bool, files map[string]string) string {
	t.Helper()
	need(t, "xorriso")
	src := tree(t, files)
	img := filepath.Join(t.TempDir(), "seed.iso")
	onoff := map[bool]string{true: "on", false: "off"}
	run(t, "xorriso", "-abort_on", "FAILURE", "-outdev", img, "-volid", volid,
		"-rockridge", onoff[rr], "-joliet", onoff[joliet], "-map", src, "/")
	return img
}

// fat builds a FAT image with mkfs.vfat (fatBits 12, 16 or 32) and copies
// the files in with mtools.
func fat(t *testing.T, label string, fatBits int, files map[string]string) string {
	t.Helper()
	need(t, "mkfs.vfat", "mcopy", "mmd")
	img := filepath.Join(t.TempDir(), "seed.img")
	kib := map[int]string{12: "1440", 16: "16384", 32: "40960"}[fatBits]
	args := []string{"-C", "-n", label, "-F", map[int]string{12: "12", 16: "16", 32: "32"}[fatBits]}
	if fatBits == 32 {
		args = append(args, "-s", "1", "-S", "512")
	}
	run(t, "mkfs.vfat", append(args, img, kib)...)
	src := tree(t, files)
	made := map[string]bool{}
	for name := range files {
		dir := filepath.ToSlash(filepath.Dir(filepath.FromSlash(name)))
		if dir != "." {
			parts := strings.Split(dir, "/")
			for i := range parts {
				d := strings.Join(parts[:i+1], "/")
				if !made[d] {
					run(t, "mmd", "-i", img, "::"+d)
					made[d] = true
				}
			}
		}
		run(t, "mcopy", "-i", img, filepath.Join(src, filepath.FromSlash(name)), "::"+name)
	}
	return img
}

// images is a Devices seam over image files, named by index.
type images []string

func (im images) List() ([]string, error) {
	var names []string
	for i := range im {
		names = append(names, "img"+string(rune('0'+i)))
	}
	return names, nil
}

func (im images) Open(name string) (Device, int64, error) {
	i := int(name[len(name)-1] - '0')
	f, err := os.Open(im[i])
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

const nocloudMeta = "instance-id: iid-local01\nlocal-hostname: seed-host\npublic-keys:\n  - " + key1 + "\n  - " + key2 + "\n"

func nocloudFiles() map[string]string {
	return map[string]string{"user-data": ud, "meta-data": nocloudMeta}
}

func configDriveFiles() map[string]string {
	return map[string]string{
		"openstack/latest/meta_data.json": string(fake.OpenStackMeta(fake.Instance{Hostname: "drive-host.novalocal", SSHKeys: []string{key1, key2}})),
		"openstack/latest/user_data":      ud,
	}
}

func fetchCDROM(t *testing.T, devs Devices) (*Data, error) {
	t.Helper()
	o := testOpts(t, nil)
	o.Devices = devs
	return fetchData(t, "cdrom", o)
}

func TestCDROMImages(t *testing.T) {
	nocloud := &Data{UserData: []byte(ud), Hostname: "seed-host", SSHKeys: []string{key1, key2}}
	drive := &Data{UserData: []byte(ud), Hostname: "drive-host.novalocal", SSHKeys: []string{key1, key2}}
	tests := []struct {
		name string
		img  func(t *testing.T) string
		want *Data
	}{
		{"ISO9660 cidata, Rock Ridge and Joliet", func(t *testing.T) string { return iso(t, "cidata", true, true, nocloudFiles()) }, nocloud},
		{"ISO9660 CIDATA, Joliet only", func(t *testing.T) string { return iso(t, "CIDATA", false, true, nocloudFiles()) }, nocloud},
		{"ISO9660 cidata, plain ISO names", func(t *testing.T) string { return iso(t, "cidata", false, false, nocloudFiles()) }, nocloud},
		{"ISO9660 config-2", func(t *testing.T) string { return iso(t, "config-2", true, true, configDriveFiles()) }, drive},
		{"FAT12 CIDATA", func(t *testing.T) string { return fat(t, "CIDATA", 12, nocloudFiles()) }, nocloud},
		{"FAT16 CIDATA", func(t *testing.T) string { return fat(t, "CIDATA", 16, nocloudFiles()) }, nocloud},
		{"FAT32 CIDATA", func(t *testing.T) string { return fat(t, "CIDATA", 32, nocloudFiles()) }, nocloud},
		{"FAT CONFIG-2", func(t *testing.T) string { return fat(t, "CONFIG-2", 12, configDriveFiles()) }, drive},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := tc.img(t)
			got, err := fetchCDROM(t, images{img})
			wantData(t, got, err, tc.want)
		})
	}
}

func TestCDROMPicksTheLabelledVolume(t *testing.T) {
	other := iso(t, "BOS", true, true, map[string]string{"user-data": "#cloud-config\nhostname: wrong\n"})
	blank := filepath.Join(t.TempDir(), "blank.img")
	if err := os.WriteFile(blank, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	seed := fat(t, "cidata", 12, nocloudFiles())
	got, err := fetchCDROM(t, images{other, blank, seed})
	wantData(t, got, err, &Data{UserData: []byte(ud), Hostname: "seed-host", SSHKeys: []string{key1, key2}})
}

func TestCDROMNoVolume(t *testing.T) {
	other := iso(t, "BOS", true, true, map[string]string{"x": "y"})
	_, err := fetchCDROM(t, images{other})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Fetch = %v, want ErrUnavailable", err)
	}
}

func TestCDROMMetaDataOnly(t *testing.T) {
	img := iso(t, "cidata", true, true, map[string]string{"meta-data": "local-hostname: only-meta\npublic-keys: " + key1 + "\n"})
	got, err := fetchCDROM(t, images{img})
	wantData(t, got, err, &Data{Hostname: "only-meta", SSHKeys: []string{key1}})
}

func TestCDROMMetaDataKeyMap(t *testing.T) {
	meta := "local-hostname: m\npublic-keys:\n  a: " + key1 + "\n  b:\n    - " + key2 + "\n"
	img := fat(t, "CIDATA", 12, map[string]string{"meta-data": meta, "user-data": ud})
	got, err := fetchCDROM(t, images{img})
	wantData(t, got, err, &Data{UserData: []byte(ud), Hostname: "m", SSHKeys: []string{key1, key2}})
}

func TestBlockDevicesUnderRoot(t *testing.T) {
	// sys/class/block and dev/ under a root: the production seam reads
	// labels from the device nodes named there (here: image files).
	seed, err := os.ReadFile(iso(t, "cidata", true, true, nocloudFiles()))
	if err != nil {
		t.Fatal(err)
	}
	fsys := memfs.New()
	for _, n := range []string{"vda", "sr0", "loop0"} {
		if err := fsys.MkdirAll("sys/class/block/"+n, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// vda and loop0 have no node: opening them fails, which is skipped.
	f, err := fsys.Create("dev/sr0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(seed); err != nil {
		t.Fatal(err)
	}
	f.Close()
	names, err := BlockDevices{FS: fsys}.List()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != "sr0,loop0,vda" {
		t.Errorf("List = %q, want sr0 first", names)
	}
	got, err := fetchCDROM(t, BlockDevices{FS: fsys})
	wantData(t, got, err, &Data{UserData: []byte(ud), Hostname: "seed-host", SSHKeys: []string{key1, key2}})
}

func TestSniffLabel(t *testing.T) {
	tests := []struct {
		name, img, fstype, label string
	}{
		{"iso", iso(t, "config-2", true, false, map[string]string{"a": "b"}), "iso9660", "config-2"},
		{"fat12", fat(t, "CIDATA", 12, map[string]string{"a": "b"}), "vfat", "CIDATA"},
		{"fat32", fat(t, "CONFIG-2", 32, map[string]string{"a": "b"}), "vfat", "CONFIG-2"},
	}
	for _, tc := range tests {
		f, err := os.Open(tc.img)
		if err != nil {
			t.Fatal(err)
		}
		fstype, label, err := sniffLabel(f)
		f.Close()
		if err != nil || fstype != tc.fstype || label != tc.label {
			t.Errorf("%s: sniffLabel = %q, %q, %v; want %q, %q", tc.name, fstype, label, err, tc.fstype, tc.label)
		}
	}
}

func FuzzSniffLabel(f *testing.F) {
	f.Add(make([]byte, 512))
	b := make([]byte, 40000)
	copy(b[32768:], "\x01CD001")
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _, _ = sniffLabel(readerAt(data))
	})
}

type readerAt []byte

func (r readerAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(r)) {
		return 0, errors.New("EOF")
	}
	n := copy(p, r[off:])
	if n < len(p) {
		return n, errors.New("EOF")
	}
	return n, nil
}

func TestCDROMThroughProbe(t *testing.T) {
	fsys, dir := root(t)
	o := testOpts(t, nil)
	o.Devices = images{iso(t, "cidata", true, true, nocloudFiles())}
	res, err := Probe(context.Background(), fsys, []string{"cdrom"}, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Source != "cdrom" {
		t.Fatalf("Source = %q, want cdrom", res.Source)
	}
	if s, _, _ := readRoot(t, dir, HostnamePath); s != "seed-host\n" {
		t.Errorf("%s = %q", HostnamePath, s)
	}
}

// FuzzReadVolume feeds corrupt images, starting from real ones, to the
// readers: they may fail, never panic or over-read.
func FuzzReadVolume(f *testing.F) {
	for _, mk := range []func() (string, error){
		func() (string, error) { return buildISO(f, "cidata", nocloudFiles()) },
		func() (string, error) { return buildFAT(f, "CIDATA", nocloudFiles()) },
	} {
		img, err := mk()
		if err != nil {
			f.Logf("seed skipped: %v", err)
			continue
		}
		b, err := os.ReadFile(img)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fstype, label, err := sniffLabel(readerAt(data))
		if err != nil {
			return
		}
		kind := strings.ToLower(label)
		if kind != labelConfigDrive && kind != labelNoCloud {
			kind = labelNoCloud
		}
		d, err := readVolume(readerAt(data), int64(len(data)), fstype, kind, 4096)
		if err == nil && d != nil && len(d.UserData) > 4096 {
			t.Fatalf("userdata of %d bytes, over the bound", len(d.UserData))
		}
	})
}

// buildISO and buildFAT are the seed builders for fuzzing (no *testing.T).
func buildISO(f *testing.F, volid string, files map[string]string) (string, error) {
	if _, err := exec.LookPath("xorriso"); err != nil {
		return "", err
	}
	src := f.TempDir()
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(src, n), []byte(c), 0o644); err != nil {
			return "", err
		}
	}
	img := filepath.Join(f.TempDir(), "seed.iso")
	out, err := exec.Command("xorriso", "-abort_on", "FAILURE", "-outdev", img, "-volid", volid, "-map", src, "/").CombinedOutput()
	if err != nil {
		return "", errors.Errorf("xorriso: %v: %s", err, out)
	}
	return img, nil
}

func buildFAT(f *testing.F, label string, files map[string]string) (string, error) {
	for _, tool := range []string{"mkfs.vfat", "mcopy"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "", err
		}
	}
	img := filepath.Join(f.TempDir(), "seed.img")
	if out, err := exec.Command("mkfs.vfat", "-C", "-n", label, img, "256").CombinedOutput(); err != nil {
		return "", errors.Errorf("mkfs.vfat: %v: %s", err, out)
	}
	src := f.TempDir()
	for n, c := range files {
		p := filepath.Join(src, n)
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			return "", err
		}
		if out, err := exec.Command("mcopy", "-i", img, p, "::"+n).CombinedOutput(); err != nil {
			return "", errors.Errorf("mcopy: %v: %s", err, out)
		}
	}
	return img, nil
}
