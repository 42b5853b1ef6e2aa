package boot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/blockdev"
	"github.com/bhojpur/os/internal/layout"
)

func TestDecideModeNetboot(t *testing.T) {
	state := &Device{Path: "/dev/vda2", FSType: blockdev.Ext4, Label: layout.LabelState}
	iso := &Device{Path: "/dev/sr0", FSType: blockdev.ISO9660, Label: layout.LabelISO}
	const u = "http://10.0.2.2/bos-amd64.iso"
	tests := []struct {
		name     string
		p        Params
		m        Media
		want     Mode
		download bool
		wantErr  string
	}{
		{"install, no media, iso_url", Params{Mode: "install", ISOURL: u}, Media{}, ModeInstall, true, ""},
		{"live, no media, iso_url", Params{Mode: "live", ISOURL: u}, Media{}, ModeLive, true, ""},
		{"install, the CD wins over iso_url", Params{Mode: "install", ISOURL: u}, Media{ISO: iso}, ModeInstall, false, ""},
		{"install, no media, no iso_url", Params{Mode: "install"}, Media{}, "", false, "bos.install.iso_url names an ISO"},
		{"fallback install, no state, iso_url", Params{FallbackMode: "install", ISOURL: u}, Media{}, ModeInstall, true, ""},
		{"fallback install, state found", Params{FallbackMode: "install", ISOURL: u}, Media{State: state}, ModeDisk, false, ""},
		{"iso_url alone is no mode", Params{ISOURL: u}, Media{}, ModeShell, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why, err := decideMode(tt.p, tt.m)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("decideMode(%+v) = %q, %v; want an error with %q", tt.p, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("decideMode(%+v, %+v) = %q, %q, %v; want %q", tt.p, tt.m, got, why, err, tt.want)
			}
			if d := needsNetboot(got, tt.m); d != tt.download {
				t.Errorf("needsNetboot(%q, %+v) = %v, want %v", got, tt.m, d, tt.download)
			}
			if got == ModeShell && !strings.Contains(why, "bos.mode=install") {
				t.Errorf("the reason %q does not say how iso_url is used", why)
			}
		})
	}
}

func TestParseLease(t *testing.T) {
	good := `{"interface":"eth0","ip":"10.0.2.15","subnet":"255.255.255.0","router":"10.0.2.2 10.0.2.1","dns":"10.0.2.3 1.1.1.1 8.8.8.8 9.9.9.9 nonsense","domain":"lab.example"}`
	l, err := parseLease([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	want := Lease{Interface: "eth0", IP: "10.0.2.15", Prefix: 24, Subnet: "255.255.255.0", Router: "10.0.2.2",
		DNS: []string{"10.0.2.3", "1.1.1.1", "8.8.8.8"}, DNSList: "10.0.2.3 1.1.1.1 8.8.8.8 9.9.9.9 nonsense", Domain: "lab.example"}
	if diff := cmp.Diff(want, l); diff != "" {
		t.Errorf("parseLease (-want +got):\n%s", diff)
	}
	if l.CIDR() != "10.0.2.15/24" {
		t.Errorf("CIDR = %q", l.CIDR())
	}
	if l, err := parseLease([]byte(`{"interface":"eth0","ip":"10.0.2.15","subnet":"255.255.255.0","domain":"x;rm -rf /","router":"  "}`)); err != nil || l.Domain != "" || l.Router != "" {
		t.Errorf("a strange domain and an empty router: %+v, %v; want both left out", l, err)
	}
	for _, bad := range []string{
		`{"interface":"../x","ip":"10.0.2.15","subnet":"255.255.255.0"}`,
		`{"interface":"eth0 up","ip":"10.0.2.15","subnet":"255.255.255.0"}`,
		`{"interface":"eth0","ip":"10.0.2.300","subnet":"255.255.255.0"}`,
		`{"interface":"eth0","ip":"0.0.0.0","subnet":"255.255.255.0"}`,
		`{"interface":"eth0","ip":"10.0.2.15","subnet":"255.0.255.0"}`,
		`{"interface":"eth0","ip":"10.0.2.15","subnet":"24"}`,
		`{"interface":"eth0","ip":"10.0.2.15","subnet":"255.255.255.0","router":"gw"}`,
		`not json`,
	} {
		if l, err := parseLease([]byte(bad)); err == nil {
			t.Errorf("parseLease(%s) = %+v, want an error", bad, l)
		}
	}
}

func TestDHCPEvent(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"interface": "eth1", "ip": "192.168.7.20", "subnet": "255.255.254.0", "router": "192.168.7.1", "dns": "192.168.7.1"}
	if err := DHCPEvent([]string{DHCPScript, "deconfig"}, func(k string) string { return env[k] }, dir); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("deconfig wrote %v", entries)
	}
	if err := DHCPEvent([]string{DHCPScript, "bound"}, func(k string) string { return env[k] }, dir); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "eth1.json"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := parseLease(data)
	if err != nil || l.CIDR() != "192.168.7.20/23" || l.Router != "192.168.7.1" {
		t.Errorf("the lease written reads back as %+v, %v", l, err)
	}
	env["interface"] = "../../etc"
	if err := DHCPEvent([]string{DHCPScript, "bound"}, func(k string) string { return env[k] }, dir); err == nil {
		t.Errorf("DHCPEvent wrote a lease for interface %q", env["interface"])
	}
	if DHCPEvent([]string{DHCPScript}, func(string) string { return "" }, dir) == nil {
		t.Errorf("DHCPEvent without an event = nil")
	}
}

func TestISOBudget(t *testing.T) {
	avail, err := memAvailable(strings.NewReader("MemTotal:        2014464 kB\nMemFree:         1900000 kB\nMemAvailable:    1900000 kB\n"))
	if err != nil || avail != 1900000<<10 {
		t.Fatalf("memAvailable = %d, %v", avail, err)
	}
	if _, err := memAvailable(strings.NewReader("MemTotal: 1 kB\n")); err == nil {
		t.Errorf("memAvailable without the line = nil error")
	}
	for _, tt := range []struct{ avail, budget, reserve int64 }{
		{2048 * mib, 1536 * mib, 512 * mib}, // a quarter
		{1024 * mib, 640 * mib, 384 * mib},  // the floor
		{300 * mib, 0, 384 * mib},
	} {
		b, r := isoBudget(tt.avail)
		if b != tt.budget || r != tt.reserve {
			t.Errorf("isoBudget(%d MiB) = %d, %d MiB; want %d, %d", tt.avail/mib, b/mib, r/mib, tt.budget/mib, tt.reserve/mib)
		}
	}
}

// netMachine is a fake machine with no media, one NIC (eth0) and the
// loopback, memAvail bytes of MemAvailable, a DHCP server that answers
// (udhcpc runs the real script code) unless lease is false, and an HTTP
// server with the files given (path -> content).
func netMachine(t *testing.T, cmdline string, memAvail int64, lease bool, files map[string][]byte) (string, *fakeSys, string) {
	root, fs, srv := netMachineWith(t, httptest.NewServer, cmdline, memAvail, lease, files)
	return root, fs, srv.URL
}

func netMachineWith(t *testing.T, newServer func(http.Handler) *httptest.Server, cmdline string, memAvail int64, lease bool, files map[string][]byte) (string, *fakeSys, *httptest.Server) {
	t.Helper()
	srv := newServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "", time.Time{}, strings.NewReader(string(body)))
	}))
	t.Cleanup(srv.Close)
	root, fs := fakeMachine(t, strings.ReplaceAll(cmdline, "SERVER", srv.URL), nil)
	write(t, root+"/sys/class/net/eth0/type", "1\n")
	write(t, root+"/sys/class/net/lo/type", "772\n")
	write(t, root+"/proc/meminfo", fmt.Sprintf("MemTotal: %d kB\nMemAvailable: %d kB\n", memAvail>>10+50000, memAvail>>10))
	env := map[string]string{"interface": "eth0", "ip": "10.0.2.15", "subnet": "255.255.255.0", "router": "10.0.2.2", "dns": "10.0.2.3"}
	fs.onRun = func(name string, args []string) error {
		if len(args) > 0 && args[0] == "udhcpc" {
			if !lease {
				return errors.New("exit status 1")
			}
			return DHCPEvent([]string{DHCPScript, "bound"}, func(k string) string { return env[k] }, root+layout.DHCPDir)
		}
		return nil
	}
	return root, fs, srv
}

func hexSum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func TestBootNetbootInstall(t *testing.T) {
	iso, err := os.ReadFile(isoImage(t))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"/rel/bos-amd64.iso":       iso,
		"/rel/sha256sum-amd64.txt": []byte(hexSum(iso) + "  bos-amd64.iso\n" + strings.Repeat("0", 64) + "  bos-initrd-amd64\n"),
	}
	root, fs, _ := netMachine(t, "console=ttyS0 bos.debug bos.mode=install bos.install.iso_url=SERVER/rel/bos-amd64.iso", 2048*mib, true, files)
	b, log := newTestBoot(t, root, fs)
	if err := b.Boot(context.Background()); !errors.Is(err, errSwitched) {
		t.Fatalf("Boot = %v, want the switch_root", err)
	}
	if b.Mode != ModeInstall {
		t.Errorf("mode %q, want install", b.Mode)
	}
	calls := strings.Join(fs.calls, "\n")
	// In this order: a tmpfs sized from MemAvailable, DHCP on eth0 (not
	// lo), the address, the network released after the download, the ISO
	// file loop-mounted as the media, then the root as from a CD.
	want := []string{
		"mount tmpfs /run/bos/netboot tmpfs",
		"run /bin/busybox ip link set dev eth0 up",
		"run /bin/busybox udhcpc -f -q -n -t 3 -T 2 -i eth0 -s /bin/bos-dhcp-event",
		"run /bin/busybox ip addr add 10.0.2.15/24 dev eth0",
		"run /bin/busybox ip route add default via 10.0.2.2 dev eth0",
		"run /bin/busybox ip addr flush dev eth0",
		"run /bin/busybox ip link set dev eth0 down",
		"loop /run/bos/netboot/media.iso",
		"mount /dev/loop0 /run/bos/media iso9660 ro",
		"mount /run/bos/media/bos /newroot/bos ",
		"switch_root /newroot /sbin/init",
	}
	at := 0
	for _, w := range want {
		i := strings.Index(calls[at:], w)
		if i < 0 {
			t.Fatalf("no %q after the earlier steps among the calls:\n%s", w, calls)
		}
		at += i + len(w)
	}
	if strings.Contains(calls, "dev lo") {
		t.Errorf("DHCP on the loopback:\n%s", calls)
	}
	got, err := os.ReadFile(root + layout.NetbootISO)
	if err != nil || string(got) != string(iso) {
		t.Errorf("%s: %d bytes, %v; want the ISO (%d bytes)", layout.NetbootISO, len(got), err, len(iso))
	}
	if _, err := os.Stat(root + layout.NetbootISO + ".part"); !os.IsNotExist(err) {
		t.Errorf("the part file stayed: %v", err)
	}
	if u, _ := os.ReadFile(root + layout.MediaURLFile); !strings.HasSuffix(string(u), "/rel/bos-amd64.iso\n") {
		t.Errorf("%s = %q", layout.MediaURLFile, u)
	}
	if rc, _ := os.ReadFile(root + "/etc/resolv.conf"); string(rc) != "nameserver 10.0.2.3\n" {
		t.Errorf("resolv.conf = %q", rc)
	}
	logs := strings.Join(log.lines, "\n")
	for _, w := range []string{"network: eth0 10.0.2.15/24, gateway 10.0.2.2, dns 10.0.2.3", "warning: http://", "sha256 verified against http://", "mode install (bos.mode=install, no media labelled BOS"} {
		if !strings.Contains(logs, w) {
			t.Errorf("no %q in the log", w)
		}
	}
}

// TestBootNetbootHTTPS: an https URL is fetched over verified TLS (the
// test server's certificate is the client's only root), with no warning.
func TestBootNetbootHTTPS(t *testing.T) {
	iso, err := os.ReadFile(isoImage(t))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"/bos-amd64.iso": iso, "/sha256sum-amd64.txt": []byte(hexSum(iso) + "  bos-amd64.iso\n")}
	root, fs, srv := netMachineWith(t, httptest.NewTLSServer, "bos.mode=live bos.install.iso_url=SERVER/bos-amd64.iso", 2048*mib, true, files)
	b, log := newTestBoot(t, root, fs)
	b.HTTP = &http.Client{}
	if err := b.Boot(context.Background()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Boot with a client that does not trust the server = %v, want a certificate error", err)
	}
	root, fs, srv = netMachineWith(t, httptest.NewTLSServer, "bos.mode=live bos.install.iso_url=SERVER/bos-amd64.iso", 2048*mib, true, files)
	b, log = newTestBoot(t, root, fs)
	b.HTTP = srv.Client()
	if err := b.Boot(context.Background()); !errors.Is(err, errSwitched) {
		t.Fatalf("Boot = %v, want the switch_root", err)
	}
	if b.Mode != ModeLive {
		t.Errorf("mode %q, want live", b.Mode)
	}
	if logs := strings.Join(log.lines, "\n"); strings.Contains(logs, "plain http") || !strings.Contains(logs, "sha256 verified against https://") {
		t.Errorf("log:\n%s", logs)
	}
}

// TestBootNetbootRefused: what stops a netboot stops it in the initrd,
// before any disk is mounted, with a message that says what and how to fix.
func TestBootNetbootRefused(t *testing.T) {
	iso, err := os.ReadFile(isoImage(t))
	if err != nil {
		t.Fatal(err)
	}
	notISO := []byte(strings.Repeat("not an ISO\n", 1000))
	big := make([]byte, 20*mib)
	sums := func(name string, b []byte) []byte { return []byte(hexSum(b) + "  " + name + "\n") }
	for _, tt := range []struct {
		name     string
		url      string
		files    map[string][]byte
		memAvail int64
		lease    bool
		want     []string
		keepsISO bool
	}{
		{"wrong checksum", "SERVER/r/bos-amd64.iso",
			map[string][]byte{"/r/bos-amd64.iso": iso, "/r/sha256sum-amd64.txt": []byte(strings.Repeat("ab", 32) + "  bos-amd64.iso\n")},
			2048 * mib, true, []string{"checksum mismatch", "the download was deleted", "no disk was touched"}, false},
		{"no checksum list", "SERVER/r/bos-amd64.iso",
			map[string][]byte{"/r/bos-amd64.iso": iso},
			2048 * mib, true, []string{"no sha256sum-amd64.txt beside", "boots only an ISO it can verify"}, false},
		{"not listed", "SERVER/r/bos-amd64.iso",
			map[string][]byte{"/r/bos-amd64.iso": iso, "/r/sha256sum-amd64.txt": sums("other.iso", iso)},
			2048 * mib, true, []string{"does not list bos-amd64.iso"}, false},
		{"larger than the RAM may hold", "SERVER/r/bos-amd64.iso",
			map[string][]byte{"/r/bos-amd64.iso": big, "/r/sha256sum-amd64.txt": sums("bos-amd64.iso", big)},
			400 * mib, true, []string{"20971520 bytes, more than the 16777216", "does not fit in RAM (MemAvailable 400 MiB less 384 MiB kept for the system)", "give the machine more memory"}, false},
		{"too little RAM at all", "SERVER/r/bos-amd64.iso",
			map[string][]byte{"/r/bos-amd64.iso": iso, "/r/sha256sum-amd64.txt": sums("bos-amd64.iso", iso)},
			300 * mib, true, []string{"300 MiB of RAM available: too little"}, false},
		{"not a Bhojpur OS ISO", "SERVER/r/bos-amd64.iso",
			map[string][]byte{"/r/bos-amd64.iso": notISO, "/r/sha256sum-amd64.txt": sums("bos-amd64.iso", notISO)},
			2048 * mib, true, []string{"is not a Bhojpur OS ISO"}, true},
		{"a path is no URL here", "/media/bos-amd64.iso", nil, 2048 * mib, true, []string{"can only download an http:// or https:// URL"}, false},
		{"no file in the URL", "SERVER/", nil, 2048 * mib, true, []string{"can only download an http:// or https:// URL"}, false},
		{"no DHCP lease", "SERVER/r/bos-amd64.iso", nil, 2048 * mib, false, []string{"no DHCP lease on eth0 within 1m30s"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root, fs, _ := netMachine(t, "bos.mode=install bos.install.iso_url="+tt.url, tt.memAvail, tt.lease, tt.files)
			b, _ := newTestBoot(t, root, fs)
			now := time.Unix(1e9, 0)
			b.Now = func() time.Time { return now }
			b.Sleep = func(d time.Duration) { now = now.Add(d) }
			err := b.Boot(context.Background())
			if err == nil || errors.Is(err, errSwitched) {
				t.Fatalf("Boot = %v, want it stopped", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Boot = %q; want %q in it", err, w)
				}
			}
			calls := strings.Join(fs.calls, "\n")
			if strings.Contains(calls, layout.MediaDir) || strings.Contains(calls, layout.StateDir) {
				t.Errorf("media mounted after a refused netboot:\n%s", calls)
			}
			// Bad input is refused before the network is touched.
			if tt.files == nil && tt.lease && strings.Contains(calls, "udhcpc") {
				t.Errorf("DHCP ran for a URL the initrd cannot download:\n%s", calls)
			}
			if _, err := os.Stat(root + layout.NetbootISO); (err == nil) != tt.keepsISO {
				t.Errorf("%s: %v", layout.NetbootISO, err)
			}
			if _, err := os.Stat(root + layout.NetbootISO + ".part"); err == nil {
				t.Errorf("the part file stayed")
			}
		})
	}
}

// FuzzParseLease: whatever a DHCP server sends, a lease that parses has
// only checked values: an interface name and addresses that print as
// addresses.
func FuzzParseLease(f *testing.F) {
	f.Add([]byte(`{"interface":"eth0","ip":"10.0.2.15","subnet":"255.255.255.0","router":"10.0.2.2","dns":"10.0.2.3","domain":"lab"}`))
	f.Add([]byte(`{"interface":"eth0","ip":"10.0.2.15","subnet":"255.255.255.0","router":"  "}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := parseLease(data)
		if err != nil {
			return
		}
		for _, s := range append([]string{l.Interface, l.IP, l.Router, l.Domain, l.CIDR()}, l.DNS...) {
			if strings.ContainsAny(s, " \t\n/\\;") && s != l.CIDR() {
				t.Fatalf("parseLease(%q) let %q through", data, s)
			}
		}
	})
}
