package join

import (
	"fmt"
	"net"
	"regexp"
	"time"

	"github.com/bhojpur/os/dcp/internal/token"
)

// The endpoints.
const (
	CACertsPath     = "/cacerts"
	CredentialsPath = "/v1-dcp/node-credentials"
)

// Bounds.
const (
	MaxRequestBytes  = 64 << 10  // a request: four CSRs of a few hundred bytes, a name, the IPs
	MaxResponseBytes = 256 << 10 // a response, and /cacerts
	MaxErrorBytes    = 1 << 10   // what of an error response the agent reads and reports
	MaxIPs           = 16
	MaxNameLen       = 253
	RequestTimeout   = 30 * time.Second
)

// Basic auth users of the cluster's secret: the server token's user, or
// NodeUser for a cluster secret. A join token's user is its ID.
const (
	ServerUser = token.ServerUser
	NodeUser   = "node"
)

// Identities of the certificates.
const (
	NodesGroup     = "system:nodes"
	NodeUserPrefix = "system:node:"
	KubeProxyUser  = "system:kube-proxy"
	FlannelUser    = "system:dcp-flannel" // the pod network's, bound by the server's RBAC
)

// nCreds is how many certificates a join issues: kubelet client, kubelet
// serving, kube-proxy, flannel.
const nCreds = 4

// NodeInfo is what the agent says of its node.
type NodeInfo struct {
	Name string   // the node's name: a DNS-1123 subdomain
	IPs  []net.IP // the addresses its kubelet serves on (IP SANs)
}

// Request is the body of a credentials request.
type Request struct {
	Name              string   `json:"name"`
	IPs               []string `json:"ips"`
	KubeletClientCSR  string   `json:"kubeletClientCSR"`  // PEM CERTIFICATE REQUEST
	KubeletServingCSR string   `json:"kubeletServingCSR"` // PEM CERTIFICATE REQUEST
	KubeProxyCSR      string   `json:"kubeProxyCSR"`      // PEM CERTIFICATE REQUEST
	FlannelCSR        string   `json:"flannelCSR"`        // PEM CERTIFICATE REQUEST
}

// Cluster is the cluster's networks, which an agent takes from its server
// so that the two cannot disagree: the pod and service ranges, the cluster
// DNS service's address and the cluster domain.
type Cluster struct {
	ClusterCIDR   string `json:"clusterCIDR"`
	ServiceCIDR   string `json:"serviceCIDR"`
	ClusterDNS    string `json:"clusterDNS"`
	ClusterDomain string `json:"clusterDomain"`
}

// Response is the body of a credentials response. Every certificate is PEM.
type Response struct {
	APIServer          string  `json:"apiServer"` // https URL of the apiserver
	Cluster            Cluster `json:"cluster"`
	ServerCA           string  `json:"serverCA"` // the bytes of /cacerts
	ClientCA           string  `json:"clientCA"`
	KubeletClientCert  string  `json:"kubeletClientCert"`
	KubeletServingCert string  `json:"kubeletServingCert"`
	KubeProxyCert      string  `json:"kubeProxyCert"`
	FlannelCert        string  `json:"flannelCert"`
}

// fieldError is a malformed field of a request: the server answers 400
// with it, the agent refuses to send it.
type fieldError struct {
	field, msg string
}

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

func badField(field, format string, args ...any) error {
	return &fieldError{field: field, msg: fmt.Sprintf(format, args...)}
}

// dns1123Subdomain is Kubernetes' form of a node's name.
var dns1123Subdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

func checkName(name string) error {
	switch {
	case name == "":
		return badField("name", "empty: want the node's name")
	case len(name) > MaxNameLen:
		return badField("name", "%d characters: want at most %d", len(name), MaxNameLen)
	case !dns1123Subdomain.MatchString(name):
		return badField("name", "%q: want a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', starting and ending with a letter or digit)", name)
	}
	return nil
}

// parseIPs checks a request's addresses and returns them without duplicates.
func parseIPs(ss []string) ([]net.IP, error) {
	if len(ss) == 0 || len(ss) > MaxIPs {
		return nil, badField("ips", "%d addresses: want 1 to %d", len(ss), MaxIPs)
	}
	var ips []net.IP
	for _, s := range ss {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, badField("ips", "%.64q: not an IP address", s)
		}
		if ip.IsUnspecified() || ip.IsMulticast() {
			return nil, badField("ips", "%s: an unspecified or multicast address is no node's", ip)
		}
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		if !containsIP(ips, ip) {
			ips = append(ips, ip)
		}
	}
	return ips, nil
}

func containsIP(ips []net.IP, ip net.IP) bool {
	for _, i := range ips {
		if i.Equal(ip) {
			return true
		}
	}
	return false
}

func ipStrings(ips []net.IP) []string {
	ss := make([]string, len(ips))
	for i, ip := range ips {
		ss[i] = ip.String()
	}
	return ss
}
