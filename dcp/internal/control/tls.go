package control

import (
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"time"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/dcp/internal/config"
	"github.com/bhojpur/os/dcp/internal/kubeconfig"
	"github.com/bhojpur/os/dcp/internal/pki"
	"github.com/bhojpur/os/dcp/internal/token"
)

// The client identities of the control plane and of the node's agent, each
// a certificate of the client CA.
var clients = map[string]pki.Leaf{
	"client-admin":          {CN: "system:admin", Orgs: []string{"system:masters"}},
	"client-controller":     {CN: "system:kube-controller-manager"},
	"client-scheduler":      {CN: "system:kube-scheduler"},
	"client-kube-apiserver": {CN: "system:kube-apiserver", Orgs: []string{"system:masters"}},
	"client-kube-proxy":     {CN: "system:kube-proxy"},
	"client-flannel":        {CN: "system:dcp-flannel"}, // RBAC: manifests.Flannel
	"client-supervisor":     {CN: "system:dcp-supervisor", Orgs: []string{"system:masters"}},
	"etcd/client":           {CN: "etcd-client"},
}

// PKI is what a server issues agents' credentials from: its node token
// and the CAs of the agents' certificates.
type PKI struct {
	Token              token.Token
	ServerCA, ClientCA *pki.Authority
}

// EnsurePKI creates on first start, and reuses afterwards, everything the
// cluster's TLS needs under the TLS directory: the server, client and etcd
// CAs, the serving and client certificates, the service-account key, and
// the node token.
func EnsurePKI(c *config.Config, now time.Time) (*PKI, error) {
	dir := c.TLSDir()
	serverCA, err := pki.LoadOrCreateCA(dir, "server-ca", "dcp-server-ca", now)
	if err != nil {
		return nil, err
	}
	clientCA, err := pki.LoadOrCreateCA(dir, "client-ca", "dcp-client-ca", now)
	if err != nil {
		return nil, err
	}
	proxyCA, err := pki.LoadOrCreateCA(dir, "request-header-ca", "dcp-request-header-ca", now)
	if err != nil {
		return nil, err
	}
	etcdCA, err := pki.LoadOrCreateCA(dir, "etcd/server-ca", "dcp-etcd-ca", now)
	if err != nil {
		return nil, err
	}
	hosts := []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc." + c.ClusterDomain, c.NodeName}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), c.APIServiceIP(), c.AdvertiseIP()}
	issue := []struct {
		ca   *pki.Authority
		name string
		leaf pki.Leaf
	}{
		{serverCA, "serving-kube-apiserver", pki.Leaf{CN: "kube-apiserver", DNS: hosts, IPs: ips, Usage: pki.Server}},
		{serverCA, "serving-kubelet", pki.Leaf{CN: c.NodeName, DNS: []string{c.NodeName, "localhost"}, IPs: ips, Usage: pki.Server}},
		{etcdCA, "etcd/server", pki.Leaf{CN: "etcd", DNS: []string{"localhost", c.NodeName}, IPs: []net.IP{net.IPv4(127, 0, 0, 1), c.AdvertiseIP()}, Usage: pki.Server | pki.Client}},
		{proxyCA, "client-auth-proxy", pki.Leaf{CN: "system:auth-proxy", Usage: pki.Client}},
		{clientCA, "client-kubelet", pki.Leaf{CN: "system:node:" + c.NodeName, Orgs: []string{"system:nodes"}, Usage: pki.Client}},
	}
	for name, l := range clients {
		ca := clientCA
		if name == "etcd/client" {
			ca = etcdCA
		}
		l.Usage = pki.Client
		issue = append(issue, struct {
			ca   *pki.Authority
			name string
			leaf pki.Leaf
		}{ca, name, l})
	}
	for _, i := range issue {
		if _, err := i.ca.Ensure(dir, i.name, i.leaf, now); err != nil {
			return nil, err
		}
	}
	if err := pki.EnsureKey(c.TLS("service.key")); err != nil {
		return nil, err
	}
	t, err := ensureToken(c, serverCA.PEM)
	if err != nil {
		return nil, err
	}
	return &PKI{Token: t, ServerCA: serverCA, ClientCA: clientCA}, nil
}

// ensureToken keeps the node token file: the secret of the first start (or
// the one given with --token / DCP_CLUSTER_SECRET then), pinned to the
// server CA. A given node token must pin this cluster's CA.
func ensureToken(c *config.Config, caPEM []byte) (token.Token, error) {
	hash := token.CAHash(caPEM)
	if c.Token.IsNodeToken() && c.Token.CAHash != hash {
		return token.Token{}, errors.Wrapf(config.ErrBadInput, "DCP_TOKEN pins CA %s, this server's CA (%s) is %s: give this cluster's token", c.Token.CAHash, c.TLS("server-ca.crt"), hash)
	}
	if b, err := os.ReadFile(c.TokenFile()); err == nil {
		old, err := token.ParseNode(string(trimNL(b)))
		if err != nil {
			return token.Token{}, errors.Wrapf(err, "%s", c.TokenFile())
		}
		if c.Token.Secret != "" && c.Token.Secret != old.Secret {
			return token.Token{}, errors.Wrapf(config.ErrBadInput, "the token given differs from the one this server was set up with (%s): give that one, or none", c.TokenFile())
		}
		old.CAHash = hash
		return old, pki.WriteFile(c.TokenFile(), []byte(old.String()+"\n"), 0o600)
	} else if !os.IsNotExist(err) {
		return token.Token{}, errors.WithStack(err)
	}
	secret := c.Token.Secret
	if secret == "" {
		var err error
		if secret, err = token.NewSecret(); err != nil {
			return token.Token{}, err
		}
	}
	t := token.Token{CAHash: hash, User: token.ServerUser, Secret: secret}
	return t, pki.WriteFile(c.TokenFile(), []byte(t.String()+"\n"), 0o600)
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// WriteKubeconfigs writes the components' kubeconfigs (to the loopback
// apiserver) and the admin one at c.Kubeconfig, all 0600.
func WriteKubeconfigs(c *config.Config) error {
	url := fmt.Sprintf("https://127.0.0.1:%d", c.HTTPSPort)
	ca := c.TLS("server-ca.crt")
	for _, k := range []struct{ name, client string }{
		{"admin", "client-admin"},
		{"controller", "client-controller"},
		{"scheduler", "client-scheduler"},
		{"supervisor", "client-supervisor"},
		{"kubelet", "client-kubelet"},
		{"kube-proxy", "client-kube-proxy"},
		{"flannel", "client-flannel"},
	} {
		if err := kubeconfig.Write(c.Cred(k.name), url, ca, c.TLS(k.client+".crt"), c.TLS(k.client+".key"), 0o600, -1, -1); err != nil {
			return err
		}
	}
	if err := kubeconfig.Write(c.Kubeconfig, url, ca, c.TLS("client-admin.crt"), c.TLS("client-admin.key"), 0o600, -1, -1); err != nil {
		return err
	}
	if c.KubeconfigUser == "" {
		return nil
	}
	// The login user's own copy: kubectl as that user just works, and the
	// admin file stays root's.
	u, err := user.Lookup(c.KubeconfigUser)
	if err != nil {
		return errors.Wrapf(config.ErrBadInput, "--write-kubeconfig-user %q: %v", c.KubeconfigUser, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir := filepath.Join(u.HomeDir, ".kube")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return errors.WithStack(err)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		return errors.WithStack(err)
	}
	return kubeconfig.Write(filepath.Join(dir, "config"), url, ca, c.TLS("client-admin.crt"), c.TLS("client-admin.key"), 0o600, uid, gid)
}
