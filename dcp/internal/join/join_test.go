package join

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/dcp/internal/pki"
	"github.com/bhojpur/os/dcp/internal/token"
)

const secret = "0123456789abcdef0123456789abcdef"

// logBuf is a Logger that keeps its lines.
type logBuf struct {
	mu    sync.Mutex
	lines []string
}

func (l *logBuf) Printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logBuf) grep(s string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return out
}

// fixture is a join server on an httptest TLS server whose certificate is
// of the server CA, as the apiserver's is.
type fixture struct {
	serverCA, clientCA *pki.Authority
	srv                *Server
	log                *logBuf
	url                string
	credCalls          atomic.Int32 // credentials requests that reached the handler
	nodeToken          token.Token
}

func newFixture(t *testing.T, hosts ...string) *fixture {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	f := &fixture{log: &logBuf{}}
	var err error
	if f.serverCA, err = pki.LoadOrCreateCA(dir, "server-ca", "dcp-server-ca", now); err != nil {
		t.Fatal(err)
	}
	if f.clientCA, err = pki.LoadOrCreateCA(dir, "client-ca", "dcp-client-ca", now); err != nil {
		t.Fatal(err)
	}
	leaf := pki.Leaf{CN: "kube-apiserver", DNS: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Usage: pki.Server}
	if len(hosts) > 0 {
		leaf.DNS, leaf.IPs = hosts, nil
	}
	if _, err := f.serverCA.Ensure(dir, "serving", leaf, now); err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "serving.crt"), filepath.Join(dir, "serving.key"))
	if err != nil {
		t.Fatal(err)
	}
	f.srv, err = NewServer(ServerConfig{ServerCA: f.serverCA, ClientCA: f.clientCA, APIServer: "https://10.0.0.1:6443", Cluster: testCluster, Secret: secret, Log: f.log})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == CredentialsPath {
			f.credCalls.Add(1)
		}
		f.srv.ServeHTTP(w, r)
	}))
	hs.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	hs.Config.ErrorLog = log.New(io.Discard, "", 0) // handshakes the tests make fail
	hs.StartTLS()
	t.Cleanup(hs.Close)
	f.url = hs.URL
	f.nodeToken = token.Token{CAHash: token.CAHash(f.serverCA.PEM), User: ServerUser, Secret: secret}
	return f
}

var testCluster = Cluster{ClusterCIDR: "10.52.0.0/16", ServiceCIDR: "10.53.0.0/16", ClusterDNS: "10.53.0.10", ClusterDomain: "e2e.local"}

var node = NodeInfo{Name: "node-1", IPs: []net.IP{net.IPv4(192, 168, 1, 21), net.ParseIP("fd00::21")}}

func TestJoinWithANodeToken(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	agentLog := &logBuf{}
	creds, err := Join(context.Background(), f.url, f.nodeToken, node, dir, agentLog)
	if err != nil {
		t.Fatal(err)
	}
	if !creds.Pinned || creds.APIServer != "https://10.0.0.1:6443" || creds.Cluster != testCluster {
		t.Errorf("Pinned %v, APIServer %q, Cluster %+v; want true, the server's URL and networks", creds.Pinned, creds.APIServer, creds.Cluster)
	}
	if l := agentLog.grep("not pinned"); len(l) > 0 {
		t.Errorf("a node token logged %q", l)
	}
	if l := f.log.grep(`issued node credentials to "node-1" (user server`); len(l) != 1 {
		t.Errorf("server log %q, want one issue to node-1", f.log.lines)
	}
	if b, _ := os.ReadFile(creds.ServerCA); string(b) != string(f.serverCA.PEM) {
		t.Error("server-ca.crt is not the server's CA")
	}
	for _, p := range []Pair{creds.KubeletClient, creds.KubeletServing, creds.KubeProxy, creds.Flannel} {
		if _, err := tls.LoadX509KeyPair(p.Cert, p.Key); err != nil {
			t.Errorf("%s: %v", p.Cert, err)
		}
		if fi, err := os.Stat(p.Key); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v; want 0600", p.Key, err, fi.Mode().Perm())
		}
		if filepath.Dir(p.Cert) != dir {
			t.Errorf("%s: not under %s", p.Cert, dir)
		}
	}
	checkIssued(t, creds)
}

// checkIssued verifies the files of creds as the apiserver and the
// kubelet's clients would.
func checkIssued(t *testing.T, creds *Credentials) {
	t.Helper()
	pool := func(path string) *x509.CertPool {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		p, err := pki.CertPool(b)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	clientCA, serverCA := pool(creds.ClientCA), pool(creds.ServerCA)
	kubelet := readCert(t, creds.KubeletClient.Cert)
	if err := verifyFor(kubelet, clientCA, clientAuth, ""); err != nil {
		t.Errorf("the kubelet's client certificate, against the client CA for client auth: %v", err)
	}
	if err := verifyFor(kubelet, clientCA, serverAuth, ""); err == nil {
		t.Error("the kubelet's client certificate verifies for server auth")
	}
	if kubelet.Subject.CommonName != "system:node:node-1" || strings.Join(kubelet.Subject.Organization, ",") != "system:nodes" {
		t.Errorf("the kubelet's client subject is %q", kubelet.Subject)
	}
	serving := readCert(t, creds.KubeletServing.Cert)
	for _, h := range []string{"node-1", "192.168.1.21", "fd00::21"} {
		if err := verifyFor(serving, serverCA, serverAuth, h); err != nil {
			t.Errorf("the kubelet's serving certificate for %s, against the server CA for server auth: %v", h, err)
		}
	}
	for _, h := range []string{"kubernetes", "localhost", "192.168.1.22"} {
		if err := verifyFor(serving, serverCA, serverAuth, h); err == nil {
			t.Errorf("the kubelet's serving certificate verifies for %s", h)
		}
	}
	if err := verifyFor(serving, clientCA, serverAuth, "node-1"); err == nil {
		t.Error("the kubelet's serving certificate verifies against the client CA")
	}
	proxy := readCert(t, creds.KubeProxy.Cert)
	if err := verifyFor(proxy, clientCA, clientAuth, ""); err != nil || proxy.Subject.CommonName != "system:kube-proxy" {
		t.Errorf("kube-proxy's certificate %q: %v", proxy.Subject, err)
	}
	flannel := readCert(t, creds.Flannel.Cert)
	if err := verifyFor(flannel, clientCA, clientAuth, ""); err != nil || flannel.Subject.CommonName != "system:dcp-flannel" || len(flannel.Subject.Organization) != 0 {
		t.Errorf("flannel's certificate %q: %v", flannel.Subject, err)
	}
}

func TestJoinWithAClusterSecret(t *testing.T) {
	f := newFixture(t)
	agentLog := &logBuf{}
	creds, err := Join(context.Background(), f.url, token.Token{Secret: secret}, node, t.TempDir(), agentLog)
	if err != nil {
		t.Fatal(err)
	}
	if creds.Pinned {
		t.Error("a cluster secret pinned the CA")
	}
	want := "is not pinned: the token is a cluster secret"
	if l := agentLog.grep(want); len(l) != 1 || !strings.Contains(l[0], token.CAHash(f.serverCA.PEM)) {
		t.Errorf("agent log %q, want one line %q with the CA's hash", agentLog.lines, want)
	}
	if l := f.log.grep("(user node "); len(l) != 1 {
		t.Errorf("server log %q: want the issue to user node", f.log.lines)
	}
	checkIssued(t, creds)
}

func TestJoinWithAWrongSecret(t *testing.T) {
	f := newFixture(t)
	tok := f.nodeToken
	tok.Secret = "not-the-secret"
	dir := t.TempDir()
	_, err := Join(context.Background(), f.url, tok, node, dir, &logBuf{})
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "refused the token's secret (401)") {
		t.Errorf("Join with a wrong secret: %v, want ErrUnauthorized saying the secret was refused", err)
	}
	if l := f.log.grep("refused credentials"); len(l) != 1 {
		t.Errorf("server log %q, want one refusal", f.log.lines)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Errorf("a refused join wrote %d files", len(entries))
	}
}

func TestJoinWithAWrongCAHashSendsNoSecret(t *testing.T) {
	f := newFixture(t)
	tok := f.nodeToken
	tok.CAHash = token.CAHash([]byte("another CA"))
	_, err := Join(context.Background(), f.url, tok, node, t.TempDir(), &logBuf{})
	if !errors.Is(err, ErrWrongCA) {
		t.Fatalf("Join with a token of another CA: %v, want ErrWrongCA", err)
	}
	for _, h := range []string{tok.CAHash, token.CAHash(f.serverCA.PEM), "secret was not sent"} {
		if !strings.Contains(err.Error(), h) {
			t.Errorf("error %q does not say %q", err, h)
		}
	}
	if n := f.credCalls.Load(); n != 0 {
		t.Errorf("the server saw %d credentials requests, want none", n)
	}
}

func TestRotatedSecretIsRefused(t *testing.T) {
	f := newFixture(t)
	if err := f.srv.SetSecret("the-new-secret"); err != nil {
		t.Fatal(err)
	}
	if _, err := Join(context.Background(), f.url, f.nodeToken, node, t.TempDir(), &logBuf{}); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("the old secret after rotation: %v, want ErrUnauthorized", err)
	}
	tok := f.nodeToken
	tok.Secret = "the-new-secret"
	if _, err := Join(context.Background(), f.url, tok, node, t.TempDir(), &logBuf{}); err != nil {
		t.Errorf("the new secret: %v", err)
	}
	if err := f.srv.SetSecret(""); err == nil {
		t.Error("SetSecret(\"\") = nil error")
	}
}

func TestJoinRefusesABadNodeBeforeSending(t *testing.T) {
	f := newFixture(t)
	for _, n := range []NodeInfo{
		{Name: "Node_1", IPs: node.IPs},
		{Name: "node-1"},
		{Name: "node-1", IPs: []net.IP{net.IPv4zero}},
	} {
		_, err := Join(context.Background(), f.url, f.nodeToken, n, t.TempDir(), &logBuf{})
		if !errors.Is(err, ErrBadRequest) {
			t.Errorf("Join(%+v): %v, want ErrBadRequest", n, err)
		}
	}
	if n := f.credCalls.Load(); n != 0 {
		t.Errorf("the server saw %d credentials requests, want none", n)
	}
}

func TestJoinServerURL(t *testing.T) {
	for _, s := range []string{"http://10.0.0.1:6443", "https://10.0.0.1:6443/v1", "https://u:p@10.0.0.1", "10.0.0.1:6443", "https://", "https://h?x=1"} {
		if _, err := BaseURL(s); !errors.Is(err, ErrBadRequest) {
			t.Errorf("BaseURL(%q): %v, want ErrBadRequest", s, err)
		}
	}
	for _, s := range []string{"https://10.0.0.1:6443", "https://server.example/", "https://[fd00::1]:6443"} {
		if _, err := BaseURL(s); err != nil {
			t.Errorf("BaseURL(%q): %v", s, err)
		}
	}
}

func TestJoinUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = Join(context.Background(), "https://"+addr, token.Token{Secret: secret}, node, t.TempDir(), &logBuf{})
	if !errors.Is(err, ErrUnreachable) {
		t.Errorf("Join to a closed port: %v, want ErrUnreachable", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f := newFixture(t)
	_, err = Join(ctx, f.url, f.nodeToken, node, t.TempDir(), &logBuf{})
	if !errors.Is(err, ErrUnreachable) || !errors.Is(err, context.Canceled) {
		t.Errorf("Join with a canceled context: %v, want ErrUnreachable and context.Canceled", err)
	}
}

func TestJoinRefusesAServerCertOfAnotherName(t *testing.T) {
	f := newFixture(t, "elsewhere.example")
	_, err := Join(context.Background(), f.url, f.nodeToken, node, t.TempDir(), &logBuf{})
	if !errors.Is(err, ErrServerCert) {
		t.Errorf("Join to a server whose certificate names another host: %v, want ErrServerCert", err)
	}
	if n := f.credCalls.Load(); n != 0 {
		t.Errorf("the server saw %d credentials requests, want none", n)
	}
}

func TestJoinRefusesRedirectsAndOversizeAnswers(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{
		"redirect": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://elsewhere.example/cacerts", http.StatusFound)
		},
		"oversize": func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write(make([]byte, MaxResponseBytes+1))
		},
		"not a CA": func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hello") },
		"404":      http.NotFound,
	} {
		hs := httptest.NewTLSServer(h)
		_, err := Join(context.Background(), hs.URL, token.Token{Secret: secret}, node, t.TempDir(), &logBuf{})
		hs.Close()
		if !errors.Is(err, ErrBadResponse) {
			t.Errorf("%s: %v, want ErrBadResponse", name, err)
		}
	}
}

func TestStatusErrorKinds(t *testing.T) {
	req := httptest.NewRequest(http.MethodPost, "https://s"+CredentialsPath, nil)
	for status, kind := range map[int]error{
		401: ErrUnauthorized, 400: ErrBadRequest, 413: ErrBadRequest, 429: ErrRateLimited,
		404: ErrBadResponse, 302: ErrBadResponse, 500: ErrBadResponse,
	} {
		if err := statusError(req, status, []byte("x")); !errors.Is(err, kind) {
			t.Errorf("status %d: %v, want %v", status, err, kind)
		}
	}
}
