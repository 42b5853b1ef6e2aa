package join

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/bhojpur/os/dcp/internal/pki"
)

const (
	clientAuth = x509.ExtKeyUsageClientAuth
	serverAuth = x509.ExtKeyUsageServerAuth
)

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	crt, err := pki.ParseCertPEM(b)
	if err != nil {
		t.Fatal(err)
	}
	return crt
}

func verifyFor(crt *x509.Certificate, roots *x509.CertPool, usage x509.ExtKeyUsage, host string) error {
	_, err := crt.Verify(x509.VerifyOptions{Roots: roots, DNSName: host, KeyUsages: []x509.ExtKeyUsage{usage}})
	return err
}

func csrPEM(t *testing.T, key crypto.Signer, tmpl *x509.CertificateRequest) string {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func ecKey(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// validRequest is a request of the agent's form, with its keys.
func validRequest(t *testing.T) (*Request, [nCreds]crypto.Signer) {
	t.Helper()
	keys, req, err := newRequest(node)
	if err != nil {
		t.Fatal(err)
	}
	return req, keys
}

// post sends body to the handler directly, as over TLS with basic auth.
func post(s *Server, user, pass string, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, CredentialsPath, bytes.NewReader(body))
	r.TLS = &tls.ConnectionState{}
	if user != "" || pass != "" {
		r.SetBasicAuth(user, pass)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestServerSetsTheNamesNotTheCSR(t *testing.T) {
	f := newFixture(t)
	req, keys := validRequest(t)
	// The kubelet's client CSR asks to be the cluster's admin, the serving
	// CSR for the apiserver's names.
	req.KubeletClientCSR = csrPEM(t, keys[0], &x509.CertificateRequest{Subject: pkix.Name{CommonName: "system:admin", Organization: []string{"system:masters"}}})
	req.KubeletServingCSR = csrPEM(t, keys[1], &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "kube-apiserver"}, DNSNames: []string{"kubernetes", "node-1"}, IPAddresses: []net.IP{net.IPv4(10, 43, 0, 1)},
	})
	w := post(f.srv, NodeUser, secret, mustJSON(t, req))
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var resp Response
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	kubelet, _ := pki.ParseCertPEM([]byte(resp.KubeletClientCert))
	if kubelet.Subject.CommonName != "system:node:node-1" || !slices.Equal(kubelet.Subject.Organization, []string{"system:nodes"}) {
		t.Errorf("a CSR for system:admin got subject %q, want CN=system:node:node-1,O=system:nodes", kubelet.Subject)
	}
	serving, _ := pki.ParseCertPEM([]byte(resp.KubeletServingCert))
	if serving.Subject.CommonName != "node-1" || !slices.Equal(serving.DNSNames, []string{"node-1"}) || len(serving.IPAddresses) != 2 || !serving.IPAddresses[0].Equal(node.IPs[0]) || !serving.IPAddresses[1].Equal(node.IPs[1]) {
		t.Errorf("serving certificate CN %q DNS %v IPs %v, want node-1, [node-1], the request's IPs", serving.Subject.CommonName, serving.DNSNames, serving.IPAddresses)
	}
	// The names are the server's, the keys the agent's: the agent's check
	// of the answer passes.
	if err := verify(&resp, f.serverCA.PEM, keys, node, time.Now()); err != nil {
		t.Errorf("verify: %v", err)
	}
}

func TestServerRefusesBadRequests(t *testing.T) {
	f := newFixture(t)
	good, _ := validRequest(t)
	rsaSmall, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	tampered := []byte(good.KubeletClientCSR)
	blk, _ := pem.Decode(tampered)
	blk.Bytes[len(blk.Bytes)-3] ^= 0xff // in the signature, at the end
	// More requests than IssueBurst: the rate limit has its own test.
	f.srv.issue.SetLimit(rate.Inf)
	for _, tc := range []struct {
		name  string
		edit  func(r *Request)
		field string
	}{
		{"upper case and _", func(r *Request) { r.Name = "Node_1" }, "name:"},
		{"empty name", func(r *Request) { r.Name = "" }, "name:"},
		{"too long", func(r *Request) { r.Name = strings.Repeat("a", MaxNameLen+1) }, "name:"},
		{"a leading dash", func(r *Request) { r.Name = "-node" }, "name:"},
		{"no IP", func(r *Request) { r.IPs = nil }, "ips:"},
		{"too many IPs", func(r *Request) {
			r.IPs = nil
			for i := range MaxIPs + 1 {
				r.IPs = append(r.IPs, net.IPv4(10, 0, 0, byte(i+1)).String())
			}
		}, "ips:"},
		{"not an IP", func(r *Request) { r.IPs = []string{"node-1"} }, "ips:"},
		{"unspecified", func(r *Request) { r.IPs = []string{"0.0.0.0"} }, "ips:"},
		{"multicast", func(r *Request) { r.IPs = []string{"224.0.0.1"} }, "ips:"},
		{"no CSR", func(r *Request) { r.KubeProxyCSR = "" }, "kubeProxyCSR:"},
		{"a certificate for a CSR", func(r *Request) { r.KubeProxyCSR = string(f.serverCA.PEM) }, "kubeProxyCSR:"},
		{"two CSRs in one", func(r *Request) { r.KubeProxyCSR += good.KubeletClientCSR }, "kubeProxyCSR:"},
		{"no flannel CSR", func(r *Request) { r.FlannelCSR = "" }, "flannelCSR:"},
		{"a bad signature", func(r *Request) {
			r.KubeletClientCSR = string(pem.EncodeToMemory(blk))
		}, "kubeletClientCSR:"},
		{"RSA 1024", func(r *Request) { r.KubeletServingCSR = csrPEM(t, rsaSmall, &x509.CertificateRequest{}) }, "kubeletServingCSR:"},
		{"Ed25519", func(r *Request) { r.KubeletServingCSR = csrPEM(t, edKey, &x509.CertificateRequest{}) }, "kubeletServingCSR:"},
		{"P-224", func(r *Request) { r.KubeletServingCSR = csrPEM(t, p224, &x509.CertificateRequest{}) }, "kubeletServingCSR:"},
	} {
		r := *good
		tc.edit(&r)
		w := post(f.srv, ServerUser, secret, mustJSON(t, &r))
		if w.Code != http.StatusBadRequest || !strings.HasPrefix(w.Body.String(), tc.field) {
			t.Errorf("%s: %d %q, want 400 %s...", tc.name, w.Code, w.Body, tc.field)
		}
	}
	for name, body := range map[string][]byte{
		"not JSON":    []byte("name=node-1"),
		"two values":  append(mustJSON(t, good), mustJSON(t, good)...),
		"a JSON list": []byte("[]"),
	} {
		if w := post(f.srv, ServerUser, secret, body); w.Code != http.StatusBadRequest {
			t.Errorf("%s: %d %q, want 400", name, w.Code, w.Body)
		}
	}
	if w := post(f.srv, ServerUser, secret, mustJSON(t, good)); w.Code != http.StatusOK {
		t.Errorf("the unedited request: %d %q", w.Code, w.Body)
	}
}

func TestServerRefusesAnOversizeBody(t *testing.T) {
	f := newFixture(t)
	req, _ := validRequest(t)
	req.Name = strings.Repeat("a", MaxRequestBytes) // over the bound before any field is checked
	w := post(f.srv, ServerUser, secret, mustJSON(t, req))
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("a body over %d bytes: %d %q, want 413", MaxRequestBytes, w.Code, w.Body)
	}
}

func TestServerAuth(t *testing.T) {
	f := newFixture(t)
	req, _ := validRequest(t)
	body := mustJSON(t, req)
	for _, tc := range []struct{ name, user, pass string }{
		{"no auth", "", ""},
		{"a wrong secret", ServerUser, "wrong"},
		{"a prefix of the secret", ServerUser, secret[:8]},
		{"another user", "admin", secret},
	} {
		w := post(f.srv, tc.user, tc.pass, body)
		if w.Code != http.StatusUnauthorized || w.Body.String() != "unauthorized\n" {
			t.Errorf("%s: %d %q, want 401 and no detail", tc.name, w.Code, w.Body)
		}
	}
	r := httptest.NewRequest(http.MethodPost, CredentialsPath, bytes.NewReader(body))
	r.SetBasicAuth(ServerUser, secret)
	w := httptest.NewRecorder()
	f.srv.ServeHTTP(w, r)
	if w.Code != http.StatusForbidden {
		t.Errorf("without TLS: %d, want 403", w.Code)
	}
	w = httptest.NewRecorder()
	f.srv.ServeHTTP(w, httptest.NewRequest(http.MethodGet, CredentialsPath, nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET %s: %d, want 405", CredentialsPath, w.Code)
	}
	w = httptest.NewRecorder()
	f.srv.ServeHTTP(w, httptest.NewRequest(http.MethodGet, CACertsPath, nil))
	if w.Code != http.StatusOK || w.Body.String() != string(f.serverCA.PEM) {
		t.Errorf("GET %s: %d, want 200 and the server CA's file", CACertsPath, w.Code)
	}
}

// tokens is a join token store: id to secret; err fails every lookup.
type tokens struct {
	m     map[string]string
	err   error
	calls *atomic.Int64 // if not nil, counts the lookups
}

func (ts tokens) Secret(_ context.Context, id string) (string, error) {
	if ts.calls != nil {
		ts.calls.Add(1)
	}
	return ts.m[id], ts.err
}

func TestServerJoinTokens(t *testing.T) {
	f := newFixture(t)
	req, _ := validRequest(t)
	body := mustJSON(t, req)
	const id, tokSecret = "abc123", "0123456789abcdef"
	if w := post(f.srv, id, tokSecret, body); w.Code != http.StatusUnauthorized {
		t.Errorf("a join token without a token store: %d, want 401", w.Code)
	}
	f.srv.cfg.Tokens = tokens{m: map[string]string{id: tokSecret, "server": tokSecret}}
	for _, tc := range []struct {
		name, user, pass string
		code             int
	}{
		{"the join token", id, tokSecret, http.StatusOK},
		{"its ID with the cluster's secret", id, secret, http.StatusUnauthorized},
		{"its ID with another's secret", id, "fedcba9876543210", http.StatusUnauthorized},
		{"an unknown (deleted or expired) ID", "zzz999", tokSecret, http.StatusUnauthorized},
		{"a token store entry named server", ServerUser, tokSecret, http.StatusUnauthorized},
		{"the server's token still", ServerUser, secret, http.StatusOK},
	} {
		if w := post(f.srv, tc.user, tc.pass, body); w.Code != tc.code {
			t.Errorf("%s: %d %q, want %d", tc.name, w.Code, w.Body, tc.code)
		}
	}
	if l := f.log.grep("(user " + id + " from"); len(l) != 1 {
		t.Errorf("server log %q, want one issue to the join token's user", f.log.lines)
	}
	f.srv.cfg.Tokens = tokens{err: errors.New("apiserver down")}
	w := post(f.srv, id, tokSecret, body)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Errorf("a failed token lookup: %d %q, want 503 with Retry-After", w.Code, w.Body)
	}
	if l := f.log.grep("apiserver down"); len(l) != 1 {
		t.Errorf("server log %q, want the failed lookup once", f.log.lines)
	}
	if w := post(f.srv, ServerUser, secret, body); w.Code != http.StatusOK {
		t.Errorf("the server's token while the store fails: %d, want 200", w.Code)
	}
	// Guessing IDs costs the apiserver a request each: the lookups are
	// rate limited (429, no lookup), the server's token is not.
	var calls atomic.Int64
	f.srv.cfg.Tokens = tokens{m: map[string]string{id: tokSecret}, calls: &calls}
	f.srv.lookups = rate.NewLimiter(rate.Every(time.Hour), 2)
	var codes []int
	for _, guess := range []string{"aaa111", "aaa112", "aaa113", "aaa114"} {
		codes = append(codes, post(f.srv, guess, tokSecret, body).Code)
	}
	if !slices.Equal(codes, []int{401, 401, 429, 429}) || calls.Load() != 2 {
		t.Errorf("four guessed IDs: %v with %d lookups, want 401 401 429 429 with 2", codes, calls.Load())
	}
	if w := post(f.srv, ServerUser, secret, body); w.Code != http.StatusOK {
		t.Errorf("the server's token while the lookups are limited: %d, want 200", w.Code)
	}
}

func TestServerLimitsItsLogOfRefusals(t *testing.T) {
	f := newFixture(t)
	for range 3 * refusedBurst {
		post(f.srv, ServerUser, "wrong", nil)
	}
	if n := len(f.log.grep("refused credentials")); n < 1 || n > refusedBurst+1 {
		t.Errorf("%d refusals logged of %d, want 1 to %d", n, 3*refusedBurst, refusedBurst+1)
	}
}

func TestServerLimitsItsIssueRate(t *testing.T) {
	f := newFixture(t)
	limited := 0
	for range IssueBurst + 5 {
		// An empty body costs a token of the limiter and no signature.
		w := post(f.srv, ServerUser, secret, nil)
		if w.Code == http.StatusTooManyRequests {
			limited++
			if w.Header().Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		}
	}
	if limited == 0 {
		t.Errorf("%d requests at once: none limited, want 429 beyond %d", IssueBurst+5, IssueBurst)
	}
}

func TestVerifyRefusesCertificatesItDidNotAskFor(t *testing.T) {
	f := newFixture(t)
	req, keys := validRequest(t)
	resp, err := f.srv.sign(req)
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.LoadOrCreateCA(t.TempDir(), "other", "other", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	otherKeys := keys
	otherKeys[2] = ecKey(t)
	for _, tc := range []struct {
		name string
		edit func(r *Response)
		keys [nCreds]crypto.Signer
	}{
		{"another key", func(*Response) {}, otherKeys},
		{"another client CA", func(r *Response) { r.ClientCA = string(other.PEM) }, keys},
		{"another server CA", func(r *Response) { r.ServerCA = string(other.PEM) }, keys},
		{"client and serving swapped", func(r *Response) {
			r.KubeletClientCert, r.KubeletServingCert = r.KubeletServingCert, r.KubeletClientCert
		}, [nCreds]crypto.Signer{keys[1], keys[0], keys[2], keys[3]}},
		{"an http apiserver", func(r *Response) { r.APIServer = "http://10.0.0.1:6443" }, keys},
		{"flannel's certificate for kube-proxy's key", func(r *Response) { r.FlannelCert = r.KubeProxyCert }, keys},
	} {
		r := *resp
		tc.edit(&r)
		if err := verify(&r, f.serverCA.PEM, tc.keys, node, time.Now()); err == nil {
			t.Errorf("%s: verify passed", tc.name)
		}
	}
	if err := verify(resp, f.serverCA.PEM, keys, node, time.Now()); err != nil {
		t.Errorf("the unedited response: %v", err)
	}
	// A serving certificate for other addresses than the node's.
	n := node
	n.IPs = []net.IP{net.IPv4(192, 168, 1, 99)}
	if err := verify(resp, f.serverCA.PEM, keys, n, time.Now()); err == nil {
		t.Error("a serving certificate without the node's address passed")
	}
}
