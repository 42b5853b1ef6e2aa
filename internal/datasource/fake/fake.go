// Package fake serves the metadata APIs of the clouds the datasource
// package reads, from an Instance, for tests and benchmarks on loopback.
// Each handler follows its cloud's published protocol: paths, required
// headers, token flow, status codes, response formats.
package fake

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Instance is what a fake metadata service serves about "this" machine.
type Instance struct {
	Userdata []byte // nil: the service has no userdata (404)
	Hostname string
	SSHKeys  []string
}

func write(w http.ResponseWriter, contentType string, b []byte) {
	w.Header().Set("Content-Type", contentType)
	_, _ = w.Write(b)
}

func writeJSON(w http.ResponseWriter, v any) {
	b, _ := json.Marshal(v)
	write(w, "application/json", b)
}

func text(w http.ResponseWriter, s string) { write(w, "text/plain", []byte(s)) }

// Tokens is how the fake EC2 service treats IMDSv2 session tokens.
type Tokens int

// Token modes of the AWS fake.
const (
	TokensRequired  Tokens = iota // IMDSv2 only: GETs without a valid token get 401
	TokensOptional                // IMDSv1 and IMDSv2
	TokensAbsent405               // no token API: PUT gets 405 (an IMDSv1-only service)
	TokensAbsent404               // no token API: PUT gets 404 (EC2-compatible clouds)
)

// AWS is a fake EC2 instance metadata service.
type AWS struct {
	Instance
	Tokens Tokens
	// ExpireFirstToken makes the first token issued stop working after one
	// use, as if its TTL ran out.
	ExpireFirstToken bool

	mu     sync.Mutex
	tokens map[string]int // token -> uses left (-1: unlimited)
	issued int
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (a *AWS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/latest/api/token" {
		a.token(w, r)
		return
	}
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if tok := r.Header.Get("X-aws-ec2-metadata-token"); tok != "" || a.Tokens == TokensRequired {
		if a.Tokens == TokensRequired || a.Tokens == TokensOptional {
			if !a.useToken(tok) {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
	}
	p := r.URL.Path
	switch {
	case p == "/latest/user-data":
		if a.Userdata == nil {
			http.NotFound(w, r)
			return
		}
		write(w, "application/octet-stream", a.Userdata)
	case p == "/latest/meta-data/hostname" || p == "/latest/meta-data/local-hostname":
		if a.Hostname == "" {
			http.NotFound(w, r)
			return
		}
		text(w, a.Hostname)
	case p == "/latest/meta-data/public-keys/" || p == "/latest/meta-data/public-keys":
		if len(a.SSHKeys) == 0 {
			http.NotFound(w, r)
			return
		}
		var lines []string
		for i := range a.SSHKeys {
			lines = append(lines, strconv.Itoa(i)+"=key"+strconv.Itoa(i))
		}
		text(w, strings.Join(lines, "\n"))
	case strings.HasPrefix(p, "/latest/meta-data/public-keys/") && strings.HasSuffix(p, "/openssh-key"):
		idx := strings.TrimSuffix(strings.TrimPrefix(p, "/latest/meta-data/public-keys/"), "/openssh-key")
		i, err := strconv.Atoi(idx)
		if err != nil || i < 0 || i >= len(a.SSHKeys) {
			http.NotFound(w, r)
			return
		}
		text(w, a.SSHKeys[i]+"\n")
	case p == "/latest/meta-data/":
		text(w, "hostname\nlocal-hostname\npublic-keys/")
	default:
		http.NotFound(w, r)
	}
}

func (a *AWS) token(w http.ResponseWriter, r *http.Request) {
	switch a.Tokens {
	case TokensAbsent405:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	case TokensAbsent404:
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPut {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.Header.Get("X-Forwarded-For") != "" {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	ttl, err := strconv.Atoi(r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds"))
	if err != nil || ttl < 1 || ttl > 21600 {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	t := newToken()
	a.mu.Lock()
	if a.tokens == nil {
		a.tokens = map[string]int{}
	}
	a.issued++
	if a.ExpireFirstToken && a.issued == 1 {
		a.tokens[t] = 1
	} else {
		a.tokens[t] = -1
	}
	a.mu.Unlock()
	w.Header().Set("X-aws-ec2-metadata-token-ttl-seconds", strconv.Itoa(ttl))
	text(w, t)
}

func (a *AWS) useToken(t string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	n, ok := a.tokens[t]
	switch {
	case !ok || n == 0:
		return false
	case n > 0:
		a.tokens[t] = n - 1
	}
	return true
}

// GCP is a fake Compute Engine metadata server: it refuses requests without
// "Metadata-Flavor: Google" (403) and marks every answer with that header.
type GCP struct {
	Instance
	ProjectKeys  []string // project-wide keys, "user:key"
	BlockProject bool     // instance attribute block-project-ssh-keys=true
	Base64       bool     // serve user-data base64-encoded, user-data-encoding=base64
}

func (g *GCP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Metadata-Flavor", "Google")
	if r.Header.Get("Metadata-Flavor") != "Google" || r.Header.Get("X-Forwarded-For") != "" {
		http.Error(w, "Missing Metadata-Flavor:Google header.", http.StatusForbidden)
		return
	}
	const v1 = "/computeMetadata/v1/"
	if !strings.HasPrefix(r.URL.Path, v1) {
		http.NotFound(w, r)
		return
	}
	attr := func(s string, ok bool) {
		if !ok {
			http.NotFound(w, r)
			return
		}
		write(w, "application/text", []byte(s))
	}
	var inst []string
	for _, k := range g.SSHKeys {
		inst = append(inst, "bhojpur:"+k)
	}
	switch strings.TrimPrefix(r.URL.Path, v1) {
	case "instance/hostname":
		attr(g.Hostname, true)
	case "instance/attributes/user-data":
		ud := g.Userdata
		if g.Base64 && ud != nil {
			ud = []byte(base64.StdEncoding.EncodeToString(ud))
		}
		attr(string(ud), ud != nil)
	case "instance/attributes/user-data-encoding":
		attr("base64", g.Base64)
	case "instance/attributes/ssh-keys":
		attr(strings.Join(inst, "\n"), len(inst) > 0)
	case "instance/attributes/block-project-ssh-keys":
		attr("true", g.BlockProject)
	case "project/attributes/ssh-keys":
		attr(strings.Join(g.ProjectKeys, "\n"), len(g.ProjectKeys) > 0)
	default:
		http.NotFound(w, r)
	}
}

// DigitalOcean is a fake droplet metadata service: /metadata/v1.json and
// the /metadata/v1/ tree.
func DigitalOcean(in Instance) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/metadata/v1.json":
			m := map[string]any{
				"droplet_id":  2756294,
				"hostname":    in.Hostname,
				"public_keys": in.SSHKeys,
				"region":      "nyc3",
				"dns":         map[string]any{"nameservers": []string{"8.8.8.8"}},
			}
			if in.Userdata != nil {
				m["user_data"] = string(in.Userdata)
			}
			writeJSON(w, m)
		case "/metadata/v1":
			http.Redirect(w, r, "/metadata/v1/", http.StatusMovedPermanently)
		case "/metadata/v1/":
			text(w, "id\nhostname\nuser-data\nvendor-data\npublic-keys\nregion\ninterfaces/\ndns/\n")
		case "/metadata/v1/hostname":
			text(w, in.Hostname)
		case "/metadata/v1/public-keys":
			text(w, strings.Join(in.SSHKeys, "\n"))
		case "/metadata/v1/user-data":
			if in.Userdata == nil {
				http.NotFound(w, r)
				return
			}
			write(w, "text/plain", in.Userdata)
		default:
			http.NotFound(w, r)
		}
	})
}

// Hetzner is a fake Hetzner Cloud metadata service (/hetzner/v1/...).
func Hetzner(in Instance) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hetzner/v1/metadata":
			var b strings.Builder
			b.WriteString("hostname: " + in.Hostname + "\ninstance-id: 42\npublic-keys:\n")
			for _, k := range in.SSHKeys {
				b.WriteString("- " + k + "\n")
			}
			write(w, "text/yaml", []byte(b.String()))
		case "/hetzner/v1/metadata/hostname":
			text(w, in.Hostname)
		case "/hetzner/v1/metadata/instance-id":
			text(w, "42")
		case "/hetzner/v1/metadata/public-keys":
			keys := in.SSHKeys
			if keys == nil {
				keys = []string{}
			}
			writeJSON(w, keys)
		case "/hetzner/v1/userdata":
			// Hetzner answers 200 with an empty body when there is none.
			write(w, "text/plain", in.Userdata)
		default:
			http.NotFound(w, r)
		}
	})
}

// OpenStackMeta is an OpenStack meta_data.json for in.
func OpenStackMeta(in Instance) []byte {
	pk := map[string]string{}
	var keys []map[string]string
	for i, k := range in.SSHKeys {
		n := "key" + strconv.Itoa(i)
		pk[n] = k
		keys = append(keys, map[string]string{"name": n, "type": "ssh", "data": k})
	}
	b, _ := json.Marshal(map[string]any{
		"uuid":              "d8e02d56-2648-49a3-bf97-6be8f1204f38",
		"availability_zone": "nova",
		"hostname":          in.Hostname,
		"name":              strings.Split(in.Hostname, ".")[0],
		"launch_index":      0,
		"public_keys":       pk,
		"keys":              keys,
		"meta":              map[string]string{},
	})
	return b
}

// OpenStack is a fake nova metadata service (/openstack/<version>/...).
func OpenStack(in Instance) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/openstack", "/openstack/":
			text(w, "2012-08-10\n2018-08-27\nlatest")
		case "/openstack/latest/meta_data.json", "/openstack/2018-08-27/meta_data.json":
			write(w, "application/json", OpenStackMeta(in))
		case "/openstack/latest/user_data", "/openstack/2018-08-27/user_data":
			if in.Userdata == nil {
				http.NotFound(w, r)
				return
			}
			write(w, "application/octet-stream", in.Userdata)
		default:
			http.NotFound(w, r)
		}
	})
}

// Packet is a fake Equinix Metal metadata service (/metadata, /userdata).
func Packet(in Instance) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/metadata":
			writeJSON(w, map[string]any{
				"id":       "6f6c0d0c-6b2a-4d28-9f0b-2f1c0e5a1c11",
				"hostname": in.Hostname,
				"ssh_keys": in.SSHKeys,
				"plan":     "c3.small.x86",
			})
		case "/userdata":
			if in.Userdata == nil {
				http.NotFound(w, r)
				return
			}
			write(w, "text/plain", in.Userdata)
		default:
			http.NotFound(w, r)
		}
	})
}

// Scaleway is a fake Scaleway metadata service. Like the real one it
// serves /user_data only to requests from a source port below 1024
// (403 otherwise) unless AnyPort is set.
type Scaleway struct {
	Instance
	AnyPort bool
}

func (s *Scaleway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/conf" && r.URL.Query().Get("format") == "json":
		var keys []map[string]string
		for _, k := range s.SSHKeys {
			keys = append(keys, map[string]string{"key": k, "fingerprint": "256 MD5:00 (ED25519)"})
		}
		writeJSON(w, map[string]any{
			"id":              "5a33b4ab-57dd-4eb6-8b0a-d95eb63492ce",
			"hostname":        s.Hostname,
			"ssh_public_keys": keys,
			"state_detail":    "booted",
		})
	case strings.HasPrefix(r.URL.Path, "/user_data"):
		if !s.AnyPort && !privileged(r.RemoteAddr) {
			http.Error(w, "forbidden: source port must be below 1024", http.StatusForbidden)
			return
		}
		switch r.URL.Path {
		case "/user_data", "/user_data/":
			if s.Userdata == nil {
				writeJSON(w, map[string]any{"user_data": []string{}})
				return
			}
			writeJSON(w, map[string]any{"user_data": []string{"cloud-init"}})
		case "/user_data/cloud-init":
			if s.Userdata == nil {
				http.NotFound(w, r)
				return
			}
			write(w, "text/plain", s.Userdata)
		default:
			http.NotFound(w, r)
		}
	default:
		http.NotFound(w, r)
	}
}

func privileged(remote string) bool {
	_, port, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	p, err := strconv.Atoi(port)
	return err == nil && p > 0 && p < 1024
}

// Vultr is a fake Vultr metadata service (/v1.json, /latest/user-data).
func Vultr(in Instance) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1.json":
			keys := in.SSHKeys
			if keys == nil {
				keys = []string{}
			}
			writeJSON(w, map[string]any{
				"hostname":    in.Hostname,
				"instanceid":  "a747bfz6385e",
				"public-keys": keys,
				"region":      map[string]string{"regioncode": "EWR"},
			})
		case "/v1/hostname":
			text(w, in.Hostname)
		case "/latest/user-data":
			if in.Userdata == nil {
				http.NotFound(w, r)
				return
			}
			write(w, "text/plain", in.Userdata)
		default:
			http.NotFound(w, r)
		}
	})
}

// Hang never answers before the client gives up (or a minute passes).
var Hang = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-time.After(time.Minute):
	}
})

// Flaky answers 503 to the first n requests of each path, then passes on.
func Flaky(n int, h http.Handler) http.Handler {
	var mu sync.Mutex
	seen := map[string]int{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.Path]++
		c := seen[r.URL.Path]
		mu.Unlock()
		if c <= n {
			http.Error(w, "service unavailable", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	})
}
