package boot

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/layout"
)

// Lease is what a DHCP server gave one interface, as udhcpc hands it to
// its script (environment variables ip, subnet, router, dns, domain).
type Lease struct {
	Interface string   `json:"interface"`
	IP        string   `json:"ip"`
	Prefix    int      `json:"-"`
	Subnet    string   `json:"subnet"`
	Router    string   `json:"router,omitempty"`
	DNS       []string `json:"-"`
	DNSList   string   `json:"dns,omitempty"`
	Domain    string   `json:"domain,omitempty"`
}

// CIDR is the address with its prefix length.
func (l Lease) CIDR() string { return fmt.Sprintf("%s/%d", l.IP, l.Prefix) }

var (
	ifaceName  = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,15}$`)
	domainName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$`)
)

// maxDNS is how many name servers resolv.conf takes (glibc and Go's
// resolver both read three).
const maxDNS = 3

// parseLease reads and checks a lease file that the script wrote: every
// value came from the network, so each is parsed, never passed on as is.
func parseLease(data []byte) (Lease, error) {
	var l Lease
	if err := json.Unmarshal(data, &l); err != nil {
		return Lease{}, errors.Wrap(err, "lease file")
	}
	if !ifaceName.MatchString(l.Interface) || strings.Contains(l.Interface, "..") {
		return Lease{}, errors.Errorf("lease: interface %q is not an interface name", l.Interface)
	}
	ip := net.ParseIP(l.IP).To4()
	if ip == nil || ip.IsUnspecified() || ip.IsLoopback() || ip.IsMulticast() {
		return Lease{}, errors.Errorf("lease on %s: address %q is not a usable IPv4 address", l.Interface, l.IP)
	}
	l.IP = ip.String()
	mask := net.ParseIP(l.Subnet).To4()
	if mask == nil {
		return Lease{}, errors.Errorf("lease on %s: subnet mask %q is not an IPv4 mask", l.Interface, l.Subnet)
	}
	ones, bits := net.IPMask(mask).Size()
	if bits == 0 || ones == 0 {
		return Lease{}, errors.Errorf("lease on %s: subnet mask %q is not a contiguous mask", l.Interface, l.Subnet)
	}
	l.Prefix = ones
	if routers := strings.Fields(l.Router); len(routers) == 0 {
		l.Router = ""
	} else {
		// udhcpc lists the routers the server gave, space separated: the
		// first is the default gateway.
		r := net.ParseIP(routers[0]).To4()
		if r == nil {
			return Lease{}, errors.Errorf("lease on %s: router %q is not an IPv4 address", l.Interface, l.Router)
		}
		l.Router = r.String()
	}
	for _, d := range strings.Fields(l.DNSList) {
		if len(l.DNS) == maxDNS {
			break
		}
		if a := net.ParseIP(d); a != nil {
			l.DNS = append(l.DNS, a.String())
		}
	}
	if l.Domain != "" && !domainName.MatchString(l.Domain) {
		l.Domain = "" // a search domain is a convenience: a strange one is left out
	}
	return l, nil
}

// DHCPEvent is udhcpc's script: udhcpc runs it with the event as its first
// argument and the lease in its environment. On bound and renew it writes
// the lease to dir/<interface>.json for bos-init to check and apply; the
// other events (deconfig, leasefail, nak) change nothing.
func DHCPEvent(args []string, getenv func(string) string, dir string) error {
	if len(args) < 2 {
		return errors.New("usage: bos-dhcp-event EVENT (run by udhcpc)")
	}
	if args[1] != "bound" && args[1] != "renew" {
		return nil
	}
	l := Lease{Interface: getenv("interface"), IP: getenv("ip"), Subnet: getenv("subnet"),
		Router: getenv("router"), DNSList: getenv("dns"), Domain: getenv("domain")}
	if !ifaceName.MatchString(l.Interface) || strings.Contains(l.Interface, "..") {
		return errors.Errorf("interface %q is not an interface name", l.Interface)
	}
	data, err := json.Marshal(l)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, l.Interface+".json"), data, 0o644)
}

// DHCPEventMain is DHCPEvent as a program (the initrd's DHCPScript).
func DHCPEventMain(args []string) int {
	if err := DHCPEvent(args, os.Getenv, layout.DHCPDir); err != nil {
		fmt.Fprintf(os.Stderr, "bos-dhcp-event: %v\n", err)
		return 1
	}
	return 0
}
