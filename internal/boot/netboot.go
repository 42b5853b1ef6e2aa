package boot

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pkg/errors"
	"golang.org/x/sys/unix"

	"github.com/bhojpur/os/internal/blockdev"
	"github.com/bhojpur/os/internal/fetch"
	"github.com/bhojpur/os/internal/layout"
	"github.com/bhojpur/os/internal/store"
)

// Netboot: booted from the kernel and initrd alone (PXE, qemu -kernel) with
// no media labelled BOS, live and install modes download the ISO named by
// bos.install.iso_url into RAM, verify it against the checksum list beside
// it, and boot from it as from the CD.
const (
	// layout.MediaURLFile names the URL the booted media was downloaded from; the
	// installer then installs from the booted media instead of downloading
	// the same ISO again.
	// layout.DHCPDir holds the leases that udhcpc's script (DHCPScript) writes.
	// DHCPScript is udhcpc's script in the initrd: a link to /init
	// (cmd/bos-initrd runs DHCPEventMain under this name).
	DHCPScript = "/bin/bos-dhcp-event"
	// NetWait bounds the search for a DHCP lease over all interfaces.
	NetWait = 90 * time.Second
	// DownloadTimeout bounds the whole download of the ISO, retries and
	// resumes included (fetch cuts an attempt with no data for a minute).
	DownloadTimeout = 30 * time.Minute
	// MemReserve is the least RAM left to the booted system beside the
	// ISO; a quarter of MemAvailable when that is more.
	MemReserve = 384 << 20
	busybox    = "/bin/busybox"
)

// NetbootSteps bring up the network, download the ISO from u into RAM and
// verify it; MediaSteps then mount it as the media.
func NetbootSteps(u string) []Step {
	return []Step{
		Required{funcStep{"check bos.install.iso_url", func(*Boot, context.Context) error { _, err := checkISOURL(u); return err }}},
		Required{funcStep{"mount a tmpfs for the ISO on " + layout.NetbootDir + " (sized from MemAvailable)", (*Boot).mountNetbootDir}},
		funcStep{"load the network drivers", func(b *Boot, _ context.Context) error { return b.loadNetDrivers() }},
		Required{funcStep{"bring up the network (DHCP on the first interface that gets a lease)", (*Boot).netUp}},
		Required{downloadStep{u}},
		funcStep{"release the network for the system's own", (*Boot).netDown},
	}
}

// needsNetboot tells whether the mode boots from media that are not there,
// so that they must come from bos.install.iso_url.
func needsNetboot(mode Mode, m Media) bool {
	return (mode == ModeLive || mode == ModeInstall) && m.ISO == nil
}

func (b *Boot) loadNetDrivers() error {
	if err := b.initModules(); err != nil {
		return err
	}
	b.coldplug(true)
	return nil
}

// netInterfaces lists the Ethernet interfaces (ARPHRD_ETHER, type 1) in
// name order; loopback, tunnels and the like are left out.
func netInterfaces(root string) []string {
	dirs, _ := filepath.Glob(filepath.Join(root, "sys/class/net/*"))
	var out []string
	for _, d := range dirs {
		t, err := os.ReadFile(filepath.Join(d, "type"))
		if err == nil && strings.TrimSpace(string(t)) == "1" {
			out = append(out, filepath.Base(d))
		}
	}
	sort.Strings(out)
	return out
}

// netUp asks for a DHCP lease on each Ethernet interface in turn until one
// gets one, for up to NetWait (a driver's interface may show up late), and
// configures that one: address, default route, resolv.conf.
func (b *Boot) netUp(ctx context.Context) error {
	deadline := b.Now().Add(NetWait)
	if err := os.MkdirAll(b.path(layout.DHCPDir), 0o755); err != nil {
		return err
	}
	var seen []string
	for {
		ifaces := netInterfaces(b.Root)
		for _, ifc := range ifaces {
			if !contains(seen, ifc) {
				seen = append(seen, ifc)
			}
			l, err := b.dhcp(ctx, ifc)
			if err != nil {
				b.logf("network: %s: %v", ifc, err)
				continue
			}
			if err := b.configure(ctx, l); err != nil {
				return err
			}
			b.netIface = ifc
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !b.Now().Before(deadline) {
			if len(seen) == 0 {
				return errors.Errorf("no network interface appeared within %v: the initrd has drivers for virtio-net, e1000, e1000e, igb, igc, r8169, vmxnet3, Hyper-V and Xen network cards; boot the ISO from a CD or USB stick instead", NetWait)
			}
			return errors.Errorf("no DHCP lease on %s within %v: is a DHCP server on that network?", strings.Join(seen, ", "), NetWait)
		}
		b.Sleep(time.Second)
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// dhcp runs busybox udhcpc on one interface until it has a lease or gives
// up (3 discovers, 2 s apart) and reads the lease its script wrote.
func (b *Boot) dhcp(ctx context.Context, ifc string) (Lease, error) {
	var out bytes.Buffer
	if err := b.Sys.Run(ctx, &out, busybox, "ip", "link", "set", "dev", ifc, "up"); err != nil {
		return Lease{}, errors.Wrapf(err, "ip link set dev %s up: %s", ifc, strings.TrimSpace(out.String()))
	}
	lf := b.path(filepath.Join(layout.DHCPDir, ifc+".json"))
	_ = os.Remove(lf)
	try, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out.Reset()
	err := b.Sys.Run(try, &out, busybox, "udhcpc", "-f", "-q", "-n", "-t", "3", "-T", "2", "-i", ifc, "-s", DHCPScript)
	b.debugf("udhcpc on %s: %s", ifc, strings.TrimSpace(out.String()))
	if err != nil {
		return Lease{}, errors.Wrapf(err, "no DHCP lease (udhcpc)")
	}
	data, err := readBounded(lf, 64<<10)
	if err != nil {
		return Lease{}, errors.Wrap(err, "udhcpc said it had a lease, but its script wrote none")
	}
	return parseLease(data)
}

// configure applies a lease with busybox ip (argv, no shell) and writes
// the initrd's /etc/resolv.conf for the download's name lookups.
func (b *Boot) configure(ctx context.Context, l Lease) error {
	cmds := [][]string{{"ip", "addr", "add", l.CIDR(), "dev", l.Interface}}
	if l.Router != "" {
		cmds = append(cmds, []string{"ip", "route", "add", "default", "via", l.Router, "dev", l.Interface})
	}
	for _, c := range cmds {
		var out bytes.Buffer
		if err := b.Sys.Run(ctx, &out, busybox, c...); err != nil {
			return errors.Wrapf(err, "%s: %s", strings.Join(c, " "), strings.TrimSpace(out.String()))
		}
	}
	var rc strings.Builder
	if l.Domain != "" {
		rc.WriteString("search " + l.Domain + "\n")
	}
	for _, d := range l.DNS {
		rc.WriteString("nameserver " + d + "\n")
	}
	if err := os.MkdirAll(b.path("/etc"), 0o755); err != nil {
		return err
	}
	if err := writeFileAtomic(b.path("/etc/resolv.conf"), []byte(rc.String()), 0o644); err != nil {
		return err
	}
	b.logf("network: %s %s, gateway %s, dns %s", l.Interface, l.CIDR(), orNone(l.Router), orNone(strings.Join(l.DNS, " ")))
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// netDown leaves the interface as the kernel made it, for the system's
// network manager: no address, link down.
func (b *Boot) netDown(ctx context.Context) error {
	if b.netIface == "" {
		return nil
	}
	for _, c := range [][]string{{"ip", "addr", "flush", "dev", b.netIface}, {"ip", "link", "set", "dev", b.netIface, "down"}} {
		var out bytes.Buffer
		if err := b.Sys.Run(ctx, &out, busybox, c...); err != nil {
			return errors.Wrapf(err, "%s: %s", strings.Join(c, " "), strings.TrimSpace(out.String()))
		}
	}
	return nil
}

// memAvailable reads MemAvailable from a meminfo file, in bytes.
func memAvailable(r io.Reader) (int64, error) {
	s := bufio.NewScanner(r)
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) >= 2 && f[0] == "MemAvailable:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil || kb < 0 {
				return 0, errors.Errorf("MemAvailable %q is not a number of kB", f[1])
			}
			return kb << 10, nil
		}
	}
	if err := s.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no MemAvailable line")
}

// isoBudget is how much of avail (MemAvailable) the downloaded ISO may
// take: all but MemReserve, or a quarter of avail when that is more.
func isoBudget(avail int64) (budget, reserve int64) {
	reserve = max(int64(MemReserve), avail/4)
	return max(avail-reserve, 0), reserve
}

const mib = 1 << 20

// mountNetbootDir mounts a tmpfs for the ISO, as large as the RAM may give
// it, so that the kernel bounds it as well as the download.
func (b *Boot) mountNetbootDir(_ context.Context) error {
	f, err := os.Open(b.path("/proc/meminfo"))
	if err != nil {
		return errors.Wrap(err, "read the memory size")
	}
	avail, err := memAvailable(io.LimitReader(f, 1<<20))
	f.Close()
	if err != nil {
		return errors.Wrap(err, "/proc/meminfo")
	}
	budget, reserve := isoBudget(avail)
	b.isoBudget = fmt.Sprintf("MemAvailable %d MiB less %d MiB kept for the system", avail/mib, reserve/mib)
	if budget < 16*mib {
		return errors.Errorf("this machine has %d MiB of RAM available: too little to hold an ISO in RAM beside the %d MiB the system needs; give it more memory, or boot the ISO from a CD or USB stick", avail/mib, reserve/mib)
	}
	if err := os.MkdirAll(b.path(layout.NetbootDir), 0o700); err != nil {
		return err
	}
	data := fmt.Sprintf("mode=0700,size=%d", budget)
	if err := b.Sys.Mount("tmpfs", b.path(layout.NetbootDir), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, data); err != nil {
		return errors.Wrapf(err, "mount tmpfs on %s (%s)", layout.NetbootDir, data)
	}
	b.isoMax = budget
	return nil
}

// downloadStep downloads and verifies the ISO, then makes it the media.
type downloadStep struct{ url string }

func (s downloadStep) String() string {
	return fmt.Sprintf("download %s into %s (sha256 from %s beside it)", fetch.RedactURL(s.url), layout.NetbootDir, layout.Sums(runtime.GOARCH))
}

// checkISOURL accepts the URLs the initrd can download.
func checkISOURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") == "" {
		return nil, errors.Errorf("bos.install.iso_url=%s: the initrd can only download an http:// or https:// URL of an ISO file (no media labelled %s was found to boot from)", fetch.RedactURL(s), layout.LabelISO)
	}
	return u, nil
}

func (s downloadStep) Apply(ctx context.Context, b *Boot) error {
	u, err := checkISOURL(s.url)
	if err != nil {
		return err
	}
	if u.Scheme == "http" {
		b.logf("warning: %s is plain http: its checksum list comes from the same server, so the check catches a broken download, not someone on the path; prefer https", fetch.RedactURL(s.url))
	}
	ctx, cancel := context.WithTimeoutCause(ctx, DownloadTimeout, errors.Errorf("the download took more than %v", DownloadTimeout))
	defer cancel()
	limit, err := b.isoRoom()
	if err != nil {
		return err
	}
	f := &fetch.Fetcher{Client: b.HTTP, Log: b.logf, Progress: consoleProgress(b.logf)}
	sum, list, err := s.publishedSum(ctx, f)
	if err != nil {
		return err
	}
	start := b.Now()
	res, err := s.download(ctx, b, f, sum, list, limit)
	if err != nil {
		return err
	}
	if err := s.checkISO(b.path(layout.NetbootISO)); err != nil {
		return err
	}
	b.Media.ISO = &Device{Name: filepath.Base(layout.NetbootISO), Path: layout.NetbootISO, FSType: blockdev.ISO9660, Label: layout.LabelISO, File: true}
	b.logf("downloaded %s: %d MiB in %v, sha256 verified against %s", fetch.RedactURL(s.url), res.Size/mib, b.Now().Sub(start).Round(time.Second), fetch.RedactURL(list))
	return writeFileAtomic(b.path(layout.MediaURLFile), []byte(s.url+"\n"), 0o600)
}

// isoRoom is how large the ISO may be: what the netboot's RAM budget
// allows, and no more than the tmpfs's own free space, in case something
// else took some of it.
func (b *Boot) isoRoom() (int64, error) {
	limit := b.isoMax
	var st unix.Statfs_t
	if unix.Statfs(b.path(layout.NetbootDir), &st) == nil {
		limit = min(limit, int64(st.Bavail)*st.Bsize)
	}
	if limit <= 0 {
		return 0, errors.Errorf("no room for the ISO in %s (%s)", layout.NetbootDir, b.isoBudget)
	}
	return limit, nil
}

// publishedSum is the ISO's sha256 from the checksum list beside it, and
// the list's URL; without a list the ISO is not booted.
func (s downloadStep) publishedSum(ctx context.Context, f *fetch.Fetcher) (sum, list string, err error) {
	arch := runtime.GOARCH
	sum, list, err = f.PublishedSum(ctx, s.url, arch)
	switch {
	case errors.Is(err, fetch.ErrNotFound):
		return "", "", errors.Errorf("no %s beside %s (%s): the initrd boots only an ISO it can verify; publish the release's checksum list beside the ISO", layout.Sums(arch), fetch.RedactURL(s.url), fetch.RedactURL(list))
	case err != nil:
		return "", "", errors.Wrap(err, "the checksum list of the ISO")
	}
	return sum, list, nil
}

// download downloads the ISO into layout.NetbootISO, through a .part file
// renamed once it is whole and matches sum, at most limit bytes.
func (s downloadStep) download(ctx context.Context, b *Boot, f *fetch.Fetcher, sum, list string, limit int64) (fetch.Result, error) {
	fsys, err := store.NewOSFS(b.path(layout.NetbootDir))
	if err != nil {
		return fetch.Result{}, err
	}
	part := filepath.Base(layout.NetbootISO) + ".part"
	b.logf("downloading %s (at most %d MiB: %s)", fetch.RedactURL(s.url), limit/mib, b.isoBudget)
	res, err := f.Download(ctx, s.url, fsys, part, sum, &fetch.Bounds{Max: limit})
	switch {
	case errors.Is(err, fetch.ErrChecksum):
		return fetch.Result{}, errors.Wrapf(err, "the ISO does not match %s, no disk was touched", fetch.RedactURL(list))
	case errors.Is(err, fetch.ErrTooLarge):
		return fetch.Result{}, errors.Wrapf(err, "the ISO does not fit in RAM (%s): give the machine more memory, or boot the ISO from a CD or USB stick; no disk was touched", b.isoBudget)
	case err != nil:
		if c := context.Cause(ctx); c != nil && ctx.Err() != nil {
			return fetch.Result{}, errors.Wrapf(c, "download %s", fetch.RedactURL(s.url))
		}
		return fetch.Result{}, err
	}
	return res, fsys.Rename(part, filepath.Base(layout.NetbootISO))
}

// checkISO checks that the downloaded file is a Bhojpur OS ISO: ISO 9660
// labelled as the media are.
func (s downloadStep) checkISO(file string) error {
	fstype, label, err := fileLabel(file)
	if err != nil {
		return err
	}
	if fstype != blockdev.ISO9660 || label != layout.LabelISO {
		found := "no file system bos-init knows"
		if fstype != "" {
			found = fmt.Sprintf("%s labelled %q", fstype, label)
		}
		return errors.Errorf("%s is not a Bhojpur OS ISO: want %s labelled %q, found %s", fetch.RedactURL(s.url), blockdev.ISO9660, layout.LabelISO, found)
	}
	return nil
}

func fileLabel(p string) (string, string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	fstype, label := blockdev.Identify(f)
	return fstype, label, nil
}

// consoleProgress logs a download's progress at each quarter: a serial
// console is no place for a bar.
func consoleProgress(logf func(string, ...any)) func(name string, size, done int64) io.WriteCloser {
	return func(name string, size, done int64) io.WriteCloser {
		return &quarterLog{logf: logf, name: name, size: size, done: done, next: (done*4/max(size, 1) + 1)}
	}
}

type quarterLog struct {
	logf             func(string, ...any)
	name             string
	size, done, next int64
}

func (q *quarterLog) Write(p []byte) (int, error) {
	q.done += int64(len(p))
	if q.size > 0 && q.next < 4 && q.done*4 >= q.next*q.size {
		q.logf("%s: %d%% (%d of %d MiB)", q.name, q.next*25, q.done/mib, q.size/mib)
		q.next = q.done*4/q.size + 1
	}
	return len(p), nil
}

func (q *quarterLog) Close() error { return nil }

// readBounded reads a small file whole, refusing one larger than limit.
func readBounded(p string, limit int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, errors.Errorf("%s: more than %d bytes", p, limit)
	}
	return data, nil
}
