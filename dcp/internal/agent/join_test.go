package agent

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pkg/errors"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/bhojpur/os/dcp/internal/config"
	"github.com/bhojpur/os/dcp/internal/join"
	"github.com/bhojpur/os/dcp/internal/pki"
	"github.com/bhojpur/os/dcp/internal/token"
)

// lines is a Logger that hands each line to a channel too.
type lines struct {
	mu  sync.Mutex
	all []string
	ch  chan string
}

func (l *lines) Printf(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	l.mu.Lock()
	l.all = append(l.all, s)
	l.mu.Unlock()
	select {
	case l.ch <- s:
	default:
	}
}

// joinServer is a join server on TLS loopback with the cluster networks
// of a server started with non-default flags; it returns its URL and node
// token.
func joinServer(t *testing.T) (string, token.Token) {
	t.Helper()
	dir, now := t.TempDir(), time.Now()
	serverCA, err := pki.LoadOrCreateCA(dir, "server-ca", "dcp-server-ca", now)
	if err != nil {
		t.Fatal(err)
	}
	clientCA, err := pki.LoadOrCreateCA(dir, "client-ca", "dcp-client-ca", now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := serverCA.Ensure(dir, "serving", pki.Leaf{CN: "kube-apiserver", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Usage: pki.Server}, now); err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "serving.crt"), filepath.Join(dir, "serving.key"))
	if err != nil {
		t.Fatal(err)
	}
	const secret = "0123456789abcdef0123456789abcdef"
	js, err := join.NewServer(join.ServerConfig{
		ServerCA: serverCA, ClientCA: clientCA, APIServer: "https://127.0.0.1:6443", Secret: secret, Log: &lines{},
		Cluster: join.Cluster{ClusterCIDR: "10.62.0.0/16", ServiceCIDR: "10.63.0.0/16", ClusterDNS: "10.63.0.10", ClusterDomain: "edge.local"},
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(js)
	hs.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	hs.StartTLS()
	t.Cleanup(hs.Close)
	return hs.URL, token.Token{CAHash: token.CAHash(serverCA.PEM), User: join.ServerUser, Secret: secret}
}

func agentConfig(t *testing.T, url string, tok token.Token) *config.Config {
	t.Helper()
	c, err := config.New(config.Input{
		DataDir: t.TempDir(), ServerURL: url, Token: tok.String(),
		ClusterCIDR: config.DefaultClusterCIDR, ServiceCIDR: config.DefaultServiceCIDR,
		ClusterDNS: config.DefaultClusterDNS, ClusterDomain: config.DefaultClusterDomain,
		NodeName: "edge-1", NodeIP: "127.0.0.1", HTTPSPort: 6443, Kubeconfig: config.DefaultKubeconfig,
		BinDir: "/bos/system/dcp/v1/bin",
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestJoinTakesTheServersNetworksAndWritesKubeconfigs(t *testing.T) {
	url, tok := joinServer(t)
	c := agentConfig(t, url, tok)
	log := &lines{ch: make(chan string, 1)}
	if err := Join(context.Background(), c, log); err != nil {
		t.Fatal(err)
	}
	if c.ClusterCIDR.String() != "10.62.0.0/16" || c.ServiceCIDR.String() != "10.63.0.0/16" || c.ClusterDNS.String() != "10.63.0.10" || c.ClusterDomain != "edge.local" {
		t.Errorf("cluster networks %s %s %s %s, want the server's", c.ClusterCIDR, c.ServiceCIDR, c.ClusterDNS, c.ClusterDomain)
	}
	for _, name := range []string{Kubelet, KubeProxy, Flannel} {
		path := c.NodeCred(name)
		if !strings.HasPrefix(path, c.AgentDir()) {
			t.Errorf("%s's kubeconfig %s is not under the agent's directory", name, path)
		}
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, want mode 0600", path, err)
		}
		kc, err := clientcmd.LoadFromFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := kc.Clusters[kc.Contexts[kc.CurrentContext].Cluster].Server; got != url {
			t.Errorf("%s's server %q, want the URL joined through (%s)", name, got, url)
		}
	}
	for _, f := range []string{"client-ca.crt", "serving-kubelet.crt", "serving-kubelet.key"} {
		if _, err := os.Stat(c.NodeTLS(f)); err != nil {
			t.Errorf("the kubelet's %s: %v", f, err)
		}
	}
	if !strings.Contains(strings.Join(log.all, "\n"), "pinned by the node token") {
		t.Errorf("log %q does not say the CA was pinned", log.all)
	}
}

func TestJoinRetriesAndSaysWhy(t *testing.T) {
	url, tok := joinServer(t)
	for _, tc := range []struct {
		name string
		tok  token.Token
		url  string
		says string
	}{
		{"another cluster's token", token.Token{CAHash: strings.Repeat("ab", 32), User: tok.User, Secret: tok.Secret}, url, "the node token is of another cluster"},
		{"a wrong secret", token.Token{CAHash: tok.CAHash, User: tok.User, Secret: "wrong"}, url, "the token's secret is wrong"},
		{"no server", tok, "https://127.0.0.1:1", "check DCP_URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := agentConfig(t, tc.url, tc.tok)
			log := &lines{ch: make(chan string, 1)}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- Join(ctx, c, log) }()
			var first string
			select {
			case first = <-log.ch:
			case <-time.After(30 * time.Second):
				t.Fatal("no line logged after 30s")
			}
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("Join after cancel: %v, want context.Canceled", err)
			}
			if !strings.Contains(first, tc.says) || !strings.Contains(first, "attempt 1") || !strings.Contains(first, "retrying in 5s") {
				t.Errorf("logged %q, want %q, the attempt and the wait", first, tc.says)
			}
			if _, err := os.Stat(c.NodeCred(Kubelet)); !os.IsNotExist(err) {
				t.Errorf("a failed join wrote the kubelet's kubeconfig (%v)", err)
			}
		})
	}
}
