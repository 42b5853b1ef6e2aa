package config

import (
	"bufio"
	"io"
	"net"
	"os"
	"strings"

	"github.com/pkg/errors"
)

// DetectNodeIP returns the IPv4 address of the interface that carries the
// default route (/proc/net/route), else of the first interface that is up
// and has a global address.
func DetectNodeIP() (net.IP, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, errors.Wrap(err, "list network interfaces")
	}
	want := ""
	if f, err := os.Open("/proc/net/route"); err == nil {
		want = defaultRouteInterface(f)
		f.Close()
	}
	var first net.IP
	for _, i := range ifaces {
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := i.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if !ok || n.IP.To4() == nil || !n.IP.IsGlobalUnicast() {
				continue
			}
			if i.Name == want {
				return n.IP.To4(), nil
			}
			if first == nil {
				first = n.IP.To4()
			}
		}
	}
	if first == nil {
		return nil, errors.Wrap(ErrBadInput, "no network interface has an IPv4 address: give --node-ip")
	}
	return first, nil
}

// defaultRouteInterface reads /proc/net/route's format and returns the
// interface of the default route, or "".
func defaultRouteInterface(r io.Reader) string {
	s := bufio.NewScanner(io.LimitReader(r, 1<<20))
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) > 2 && f[1] == "00000000" && f[0] != "Iface" {
			return f[0]
		}
	}
	return ""
}
