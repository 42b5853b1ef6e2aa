package join

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/dcp/internal/pki"
	"github.com/bhojpur/os/dcp/internal/token"
)

// Files that Join writes, as the server names its own node's.
const (
	ServerCAFile       = "server-ca.crt"
	ClientCAFile       = "client-ca.crt"
	KubeletClientName  = "client-kubelet"    // .crt and .key
	KubeletServingName = "serving-kubelet"   // .crt and .key
	KubeProxyName      = "client-kube-proxy" // .crt and .key
	FlannelName        = "client-flannel"    // .crt and .key
)

// Pair is the paths of a certificate and its key.
type Pair struct{ Cert, Key string }

// Credentials is what Join wrote, by path, and what the server said.
type Credentials struct {
	APIServer string  // the apiserver URL the server named
	Cluster   Cluster // the cluster's networks, as the server said them
	Pinned    bool    // the server CA was checked against the token's hash
	ServerCA  string  // trust for the apiserver (and kubelets' serving certificates)
	ClientCA  string  // the kubelet's clientCAFile
	// The kubelet's client identity (system:node:<name>), its serving
	// certificate, kube-proxy's and flannel's client identities.
	KubeletClient, KubeletServing, KubeProxy, Flannel Pair
}

// Join gets node's credentials from the DCP server at server (https://host
// or https://host:port, the supervisor's address) with tok, and writes them
// under dir. A node token pins the server's CA; a cluster secret does not,
// which Join logs. Its errors are of the kinds of this package's Err values,
// or a local one writing dir. It does not retry.
func Join(ctx context.Context, server string, tok token.Token, node NodeInfo, dir string, log Logger) (*Credentials, error) {
	if log == nil {
		return nil, errors.New("join: no logger")
	}
	base, err := BaseURL(server)
	if err != nil {
		return nil, err
	}
	if err := checkNode(node, tok); err != nil {
		return nil, err
	}
	caPEM, err := fetchCA(ctx, base)
	if err != nil {
		return nil, err
	}
	if err := pin(base, tok, caPEM, log); err != nil {
		return nil, err
	}
	keys, req, err := newRequest(node)
	if err != nil {
		return nil, err
	}
	resp, err := postCredentials(ctx, base, caPEM, tok, req)
	if err != nil {
		return nil, err
	}
	if err := verify(resp, caPEM, keys, node, time.Now()); err != nil {
		return nil, err
	}
	creds, err := write(dir, resp, keys)
	if err != nil {
		return nil, err
	}
	creds.Pinned = tok.IsNodeToken()
	return creds, nil
}

// BaseURL checks a server URL (https://host or https://host:port, no path)
// and returns its scheme and host.
func BaseURL(server string) (string, error) {
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fail(ErrBadRequest, nil, "server URL %q: want https://host or https://host:port", server)
	}
	return "https://" + u.Host, nil
}

// checkNode checks what the server would refuse, before anything is sent.
func checkNode(node NodeInfo, tok token.Token) error {
	if tok.Secret == "" {
		return fail(ErrBadRequest, nil, "no token: want a node token (K10...) or the cluster secret")
	}
	if err := checkName(node.Name); err != nil {
		return fail(ErrBadRequest, err, "node")
	}
	if _, err := parseIPs(ipStrings(node.IPs)); err != nil {
		return fail(ErrBadRequest, err, "node")
	}
	return nil
}

// fetchCA gets /cacerts without verifying the server: nothing to verify
// against exists yet. What it returns is pinned, or logged as unpinned,
// before anything else is sent.
func fetchCA(ctx context.Context, base string) ([]byte, error) {
	c := newClient(&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}) //nolint:gosec // the body is checked against the token's hash
	defer c.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+CACertsPath, nil)
	if err != nil {
		return nil, fail(ErrBadRequest, err, "GET %s", base+CACertsPath)
	}
	status, body, err := do(c, req)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, statusError(req, status, body)
	}
	if _, err := pki.CertPool(body); err != nil {
		return nil, fail(ErrBadResponse, err, "GET %s", req.URL)
	}
	return body, nil
}

// pin checks caPEM against a node token's hash, or logs that a cluster
// secret left it unpinned.
func pin(base string, tok token.Token, caPEM []byte, log Logger) error {
	if !tok.IsNodeToken() {
		log.Printf("join: the CA of %s (sha256 %s) is not pinned: the token is a cluster secret; a node token (K10<hash>::<user>:<secret>) would pin it", base, token.CAHash(caPEM))
		return nil
	}
	if err := tok.VerifyCA(caPEM); err != nil {
		return fail(ErrWrongCA, nil, "%s: %v; the token's secret was not sent", base, err)
	}
	return nil
}

// newRequest makes a key and a CSR for each certificate, asking for what
// the server will issue (it decides anyway).
func newRequest(node NodeInfo) ([nCreds]crypto.Signer, *Request, error) {
	var keys [nCreds]crypto.Signer
	var csrs [nCreds]string
	for i, l := range leavesFor(node) {
		key, err := pki.NewKey()
		if err != nil {
			return keys, nil, err
		}
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
			Subject:     pkix.Name{CommonName: l.CN, Organization: l.Orgs},
			DNSNames:    l.DNS,
			IPAddresses: l.IPs,
		}, key)
		if err != nil {
			return keys, nil, errors.Wrap(err, "join: create a CSR")
		}
		keys[i] = key
		csrs[i] = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	}
	return keys, &Request{
		Name:              node.Name,
		IPs:               ipStrings(node.IPs),
		KubeletClientCSR:  csrs[0],
		KubeletServingCSR: csrs[1],
		KubeProxyCSR:      csrs[2],
		FlannelCSR:        csrs[3],
	}, nil
}

// postCredentials sends req with the token's secret to a server that must
// verify against caPEM.
func postCredentials(ctx context.Context, base string, caPEM []byte, tok token.Token, r *Request) (*Response, error) {
	pool, err := pki.CertPool(caPEM)
	if err != nil {
		return nil, fail(ErrBadResponse, err, "GET %s", base+CACertsPath)
	}
	c := newClient(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	defer c.CloseIdleConnections()
	body, err := json.Marshal(r)
	if err != nil {
		return nil, errors.Wrap(err, "join: encode the request")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+CredentialsPath, bytes.NewReader(body))
	if err != nil {
		return nil, fail(ErrBadRequest, err, "POST %s", base+CredentialsPath)
	}
	req.Header.Set("Content-Type", "application/json")
	user := tok.User
	if user == "" {
		user = NodeUser
	}
	req.SetBasicAuth(user, tok.Secret)
	status, respBody, err := do(c, req)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, statusError(req, status, respBody)
	}
	var resp Response
	if err := json.Unmarshal(respBody, &resp); err != nil {
		return nil, fail(ErrBadResponse, err, "POST %s: the body is not a credentials response", req.URL)
	}
	return &resp, nil
}

func newClient(cfg *tls.Config) *http.Client {
	return &http.Client{
		Timeout: RequestTimeout,
		Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			TLSClientConfig:     cfg,
			TLSHandshakeTimeout: RequestTimeout / 3,
		},
		// A redirect is answered as it is: statusError refuses it.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// do sends req and reads at most MaxResponseBytes of the body.
func do(c *http.Client, req *http.Request) (int, []byte, error) {
	resp, err := c.Do(req)
	if err != nil {
		if errors.As(err, new(*tls.CertificateVerificationError)) {
			return 0, nil, fail(ErrServerCert, err, "%s %s", req.Method, req.URL)
		}
		return 0, nil, fail(ErrUnreachable, err, "%s %s", req.Method, req.URL)
	}
	defer resp.Body.Close()
	limit := int64(MaxResponseBytes)
	if resp.StatusCode != http.StatusOK {
		limit = MaxErrorBytes
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return 0, nil, fail(ErrUnreachable, err, "%s %s: reading the response", req.Method, req.URL)
	}
	if int64(len(body)) > limit {
		if resp.StatusCode == http.StatusOK {
			return 0, nil, fail(ErrBadResponse, nil, "%s %s: the response is over %d bytes", req.Method, req.URL, limit)
		}
		body = body[:limit]
	}
	return resp.StatusCode, body, nil
}

// statusError is the error of a response other than 200, by its status.
func statusError(req *http.Request, status int, body []byte) error {
	what := req.Method + " " + req.URL.String()
	text := strings.TrimSpace(string(body))
	switch {
	case status == http.StatusUnauthorized:
		return fail(ErrUnauthorized, nil, "%s: the server refused the token's secret (401): the token is wrong, expired or deleted, or its secret was changed", what)
	case status == http.StatusBadRequest || status == http.StatusRequestEntityTooLarge || status == http.StatusForbidden:
		return fail(ErrBadRequest, nil, "%s: the server refused the request (%d): %q", what, status, text)
	case status == http.StatusTooManyRequests:
		return fail(ErrRateLimited, nil, "%s: the server issues no more credentials for now (429): retry later", what)
	case status == http.StatusServiceUnavailable:
		return fail(ErrRateLimited, nil, "%s: the server cannot check join tokens now (503): retry later", what)
	case status == http.StatusNotFound || status == http.StatusMethodNotAllowed:
		return fail(ErrBadResponse, nil, "%s: no such endpoint (%d): not a DCP server or not its port, or its apiserver is still starting", what, status)
	case status >= 300 && status < 400:
		return fail(ErrBadResponse, nil, "%s: the server redirects (%d): refused", what, status)
	}
	return fail(ErrBadResponse, nil, "%s: status %d: %q", what, status, text)
}

// verify checks that each certificate of resp chains to the CA it belongs
// to, for its usage, with the names and the key it must have.
func verify(resp *Response, caPEM []byte, keys [nCreds]crypto.Signer, node NodeInfo, now time.Time) error {
	bad := func(err error, format string, args ...any) error {
		return fail(ErrBadResponse, err, "the server's credentials: "+format, args...)
	}
	if resp.ServerCA != string(caPEM) {
		return bad(nil, "the server CA differs from the one of %s", CACertsPath)
	}
	if u, err := url.Parse(resp.APIServer); err != nil || u.Scheme != "https" || u.Host == "" {
		return bad(nil, "apiserver URL %q: want https://host:port", resp.APIServer)
	}
	serverCA, _ := pki.CertPool(caPEM)
	clientCA, err := pki.CertPool([]byte(resp.ClientCA))
	if err != nil {
		return bad(err, "client CA")
	}
	leaves := leavesFor(node)
	for i, c := range []struct {
		name  string
		pem   string
		roots *x509.CertPool
		usage x509.ExtKeyUsage
		hosts []string // verified for each; "" checks no name
	}{
		{KubeletClientName, resp.KubeletClientCert, clientCA, x509.ExtKeyUsageClientAuth, []string{""}},
		{KubeletServingName, resp.KubeletServingCert, serverCA, x509.ExtKeyUsageServerAuth, append([]string{node.Name}, ipStrings(node.IPs)...)},
		{KubeProxyName, resp.KubeProxyCert, clientCA, x509.ExtKeyUsageClientAuth, []string{""}},
		{FlannelName, resp.FlannelCert, clientCA, x509.ExtKeyUsageClientAuth, []string{""}},
	} {
		crt, err := pki.ParseCertPEM([]byte(c.pem))
		if err != nil {
			return bad(err, "%s", c.name)
		}
		if pub, ok := keys[i].Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(crt.PublicKey) {
			return bad(nil, "%s: not a certificate of this node's key", c.name)
		}
		if crt.Subject.CommonName != leaves[i].CN || !slices.Equal(crt.Subject.Organization, leaves[i].Orgs) {
			return bad(nil, "%s: subject %q, want CN=%s O=%v", c.name, crt.Subject, leaves[i].CN, leaves[i].Orgs)
		}
		for _, h := range c.hosts {
			opts := x509.VerifyOptions{Roots: c.roots, DNSName: h, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{c.usage}}
			if _, err := crt.Verify(opts); err != nil {
				return bad(err, "%s", c.name)
			}
		}
	}
	return nil
}

// write writes the CAs, keys and certificates under dir.
func write(dir string, resp *Response, keys [nCreds]crypto.Signer) (*Credentials, error) {
	pair := func(name string) Pair {
		return Pair{Cert: filepath.Join(dir, name+".crt"), Key: filepath.Join(dir, name+".key")}
	}
	creds := &Credentials{
		APIServer:      resp.APIServer,
		Cluster:        resp.Cluster,
		ServerCA:       filepath.Join(dir, ServerCAFile),
		ClientCA:       filepath.Join(dir, ClientCAFile),
		KubeletClient:  pair(KubeletClientName),
		KubeletServing: pair(KubeletServingName),
		KubeProxy:      pair(KubeProxyName),
		Flannel:        pair(FlannelName),
	}
	crts := [nCreds]string{resp.KubeletClientCert, resp.KubeletServingCert, resp.KubeProxyCert, resp.FlannelCert}
	files := []file{{creds.ServerCA, resp.ServerCA, 0o644}, {creds.ClientCA, resp.ClientCA, 0o644}}
	for i, p := range []Pair{creds.KubeletClient, creds.KubeletServing, creds.KubeProxy, creds.Flannel} {
		key, err := pki.KeyPEM(keys[i])
		if err != nil {
			return nil, err
		}
		files = append(files, file{p.Key, string(key), 0o600}, file{p.Cert, crts[i], 0o644})
	}
	for _, f := range files {
		if err := pki.WriteFile(f.path, []byte(f.data), f.perm); err != nil {
			return nil, err
		}
	}
	return creds, nil
}

type file struct {
	path, data string
	perm       os.FileMode
}
