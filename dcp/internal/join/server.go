package join

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/pkg/errors"
	"golang.org/x/time/rate"

	"github.com/bhojpur/os/dcp/internal/pki"
	"github.com/bhojpur/os/dcp/internal/token"
)

// Rates of the server: credentials issued, refused secrets logged.
const (
	IssueRate     = 5 // a second
	IssueBurst    = 20
	refusedLogged = 1 // a second, burst refusedBurst
	refusedBurst  = 10
)

// Logger is where the server logs each issue and refusal and where Join
// logs an unpinned CA.
type Logger interface {
	Printf(format string, args ...any)
}

// ServerConfig is what a Server issues from.
type ServerConfig struct {
	// ServerCA is served as /cacerts (its PEM, the bytes the node token
	// hashes) and signs the kubelets' serving certificates.
	ServerCA *pki.Authority
	// ClientCA signs the kubelets' and kube-proxies' client certificates.
	ClientCA *pki.Authority
	// APIServer is the https URL agents are told to use for the apiserver.
	APIServer string
	// Cluster is the cluster's networks, told to every agent.
	Cluster Cluster
	// Secret is the token's secret that a credentials request must carry.
	Secret string
	// Tokens, if not nil, has the join tokens of `dcp token create`: a
	// request whose user is a token's ID must carry that token's secret.
	Tokens Tokens
	Log    Logger
	// Now is the clock of the certificates (nil: time.Now).
	Now func() time.Time
}

// Tokens looks up a join token by its ID: its secret, or "" when there is
// no such token or it expired. An error is a failed lookup.
type Tokens interface {
	Secret(ctx context.Context, id string) (string, error)
}

// Server is the server half of the join protocol, an http.Handler safe
// for concurrent use.
type Server struct {
	cfg     ServerConfig
	mux     *http.ServeMux
	secret  atomic.Pointer[[sha256.Size]byte]
	issue   *rate.Limiter
	lookups *rate.Limiter // join token lookups: each is a request to the apiserver
	refused *rate.Limiter
	quiet   atomic.Int64 // refusals not logged since the last logged one
}

// NewServer checks c and returns its handler.
func NewServer(c ServerConfig) (*Server, error) {
	if c.ServerCA == nil || c.ClientCA == nil || len(c.ServerCA.PEM) == 0 || len(c.ClientCA.PEM) == 0 {
		return nil, errors.New("join server: want the server CA and the client CA")
	}
	if u, err := url.Parse(c.APIServer); err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, errors.Errorf("join server: apiserver URL %q: want https://host:port", c.APIServer)
	}
	if c.Log == nil {
		return nil, errors.New("join server: want a logger")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	s := &Server{
		cfg:     c,
		mux:     http.NewServeMux(),
		issue:   rate.NewLimiter(IssueRate, IssueBurst),
		lookups: rate.NewLimiter(IssueRate, IssueBurst),
		refused: rate.NewLimiter(refusedLogged, refusedBurst),
	}
	if err := s.SetSecret(c.Secret); err != nil {
		return nil, err
	}
	s.mux.HandleFunc("GET "+CACertsPath, s.caCerts)
	s.mux.HandleFunc("POST "+CredentialsPath, s.credentials)
	return s, nil
}

// SetSecret makes secret the one a credentials request must carry, from
// the next request on: the old one is refused.
func (s *Server) SetSecret(secret string) error {
	if secret == "" {
		return errors.New("join server: empty secret")
	}
	sum := sha256.Sum256([]byte(secret))
	s.secret.Store(&sum)
	return nil
}

// ServeHTTP serves the endpoints; anything else is 404, another method 405.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) caCerts(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(s.cfg.ServerCA.PEM)
}

func (s *Server) credentials(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil {
		http.Error(w, "TLS required", http.StatusForbidden)
		return
	}
	user, ok, err := s.authorized(r)
	if errors.Is(err, errLookupLimit) {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many requests", http.StatusTooManyRequests)
		return
	}
	if err != nil {
		s.cfg.Log.Printf("join: look up join token %.32q for %s: %v", user, r.RemoteAddr, err)
		w.Header().Set("Retry-After", "5")
		http.Error(w, "the join tokens could not be read; try again", http.StatusServiceUnavailable)
		return
	}
	if !ok {
		s.logRefused(r, user)
		w.Header().Set("WWW-Authenticate", `Basic realm="dcp"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if !s.issue.Allow() {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many requests", http.StatusTooManyRequests)
		return
	}
	req, err := readRequest(w, r)
	if err != nil {
		status := http.StatusBadRequest
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			status = http.StatusRequestEntityTooLarge
		}
		http.Error(w, err.Error(), status)
		return
	}
	resp, err := s.sign(req)
	var fe *fieldError
	switch {
	case errors.As(err, &fe):
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	case err != nil:
		s.cfg.Log.Printf("join: node %q (user %s from %s): %v", req.Name, user, r.RemoteAddr, err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	s.cfg.Log.Printf("join: issued node credentials to %q (user %s from %s, IPs %v)", req.Name, user, r.RemoteAddr, req.IPs)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(resp)
}

// authorized checks the basic auth in constant time and returns its user:
// the cluster's secret for ServerUser and NodeUser, a join token's for its
// ID. An error is a failed lookup of a join token.
func (s *Server) authorized(r *http.Request) (string, bool, error) {
	user, secret, ok := r.BasicAuth()
	got := sha256.Sum256([]byte(secret))
	if !ok {
		return user, false, nil
	}
	want := s.secret.Load()
	if user != ServerUser && user != NodeUser {
		if s.cfg.Tokens == nil || !token.IsJoinTokenID(user) {
			return user, false, nil
		}
		if !s.lookups.Allow() {
			return user, false, errLookupLimit
		}
		ctx, cancel := context.WithTimeout(r.Context(), tokenLookupTimeout)
		defer cancel()
		ts, err := s.cfg.Tokens.Secret(ctx, user)
		if err != nil || ts == "" {
			return user, false, err
		}
		sum := sha256.Sum256([]byte(ts))
		want = &sum
	}
	return user, subtle.ConstantTimeCompare(got[:], want[:]) == 1, nil
}

// tokenLookupTimeout bounds a join token's lookup.
const tokenLookupTimeout = 10 * time.Second

// errLookupLimit: more join token lookups than the server makes for now
// (a guess at IDs costs the apiserver a request each).
var errLookupLimit = errors.New("too many join token lookups")

// logRefused logs a refused secret, at most refusedLogged a second with a
// burst; what it skips it counts into the next line.
func (s *Server) logRefused(r *http.Request, user string) {
	if !s.refused.Allow() {
		s.quiet.Add(1)
		return
	}
	more := ""
	if n := s.quiet.Swap(0); n > 0 {
		more = " (and " + strconv.FormatInt(n, 10) + " refusals not logged before it)"
	}
	s.cfg.Log.Printf("join: refused credentials to %s: user %.32q, wrong or no secret%s", r.RemoteAddr, user, more)
}

// readRequest reads one JSON Request of at most MaxRequestBytes.
func readRequest(w http.ResponseWriter, r *http.Request) (*Request, error) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	var req Request
	if err := dec.Decode(&req); err != nil {
		return nil, errors.Wrap(err, "the body is not a JSON credentials request")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("the body has more than one JSON value")
	}
	return &req, nil
}

// sign checks req and issues its certificates: the names are the server's,
// the CSRs only give the keys.
func (s *Server) sign(req *Request) (*Response, error) {
	if err := checkName(req.Name); err != nil {
		return nil, err
	}
	ips, err := parseIPs(req.IPs)
	if err != nil {
		return nil, err
	}
	leaves := leavesFor(NodeInfo{Name: req.Name, IPs: ips})
	now := s.cfg.Now()
	var out [nCreds]string
	for i, csr := range []struct{ field, pem string }{
		{"kubeletClientCSR", req.KubeletClientCSR},
		{"kubeletServingCSR", req.KubeletServingCSR},
		{"kubeProxyCSR", req.KubeProxyCSR},
		{"flannelCSR", req.FlannelCSR},
	} {
		pub, err := csrKey(csr.field, csr.pem)
		if err != nil {
			return nil, err
		}
		ca := s.cfg.ClientCA
		if leaves[i].Usage&pki.Server != 0 {
			ca = s.cfg.ServerCA
		}
		crt, err := ca.Sign(pub, leaves[i], now)
		if err != nil {
			return nil, err
		}
		out[i] = string(crt)
	}
	return &Response{
		APIServer:          s.cfg.APIServer,
		Cluster:            s.cfg.Cluster,
		ServerCA:           string(s.cfg.ServerCA.PEM),
		ClientCA:           string(s.cfg.ClientCA.PEM),
		KubeletClientCert:  out[0],
		KubeletServingCert: out[1],
		KubeProxyCert:      out[2],
		FlannelCert:        out[3],
	}, nil
}

// leavesFor is what the server issues to node, in the order of the
// request's CSRs: kubelet client, kubelet serving, kube-proxy, flannel.
func leavesFor(node NodeInfo) [nCreds]pki.Leaf {
	return [nCreds]pki.Leaf{
		{CN: NodeUserPrefix + node.Name, Orgs: []string{NodesGroup}, Usage: pki.Client},
		{CN: node.Name, DNS: []string{node.Name}, IPs: node.IPs, Usage: pki.Server},
		{CN: KubeProxyUser, Usage: pki.Client},
		{CN: FlannelUser, Usage: pki.Client},
	}
}

// csrKey parses one PEM CSR, checks that its signer holds its key and that
// the key is one the cluster's TLS takes, and returns the key.
func csrKey(field, s string) (any, error) {
	blk, rest := pem.Decode([]byte(s))
	if blk == nil || blk.Type != "CERTIFICATE REQUEST" || len(bytes.TrimSpace(rest)) > 0 {
		return nil, badField(field, "want one PEM CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		return nil, badField(field, "%v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, badField(field, "signature: %v", err)
	}
	switch k := csr.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() || k.Curve == elliptic.P384() {
			return k, nil
		}
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n >= 2048 && n <= 4096 {
			return k, nil
		}
	}
	return nil, badField(field, "a %T key: want ECDSA P-256 or P-384, or RSA of 2048 to 4096 bits", csr.PublicKey)
}
