package datasource

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/datasource/fake"
)

const (
	key1 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOz4mPVd0Sx1 alice@example"
	key2 = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 bob@example"
	ud   = "#cloud-config\nhostname: from-userdata\n"
)

var inst = fake.Instance{Userdata: []byte(ud), Hostname: "node-1.example.internal", SSHKeys: []string{key1, key2}}

func noUserdata(in fake.Instance) fake.Instance { in.Userdata = nil; return in }

// requests records the method and path of every request, then passes on.
type requests struct {
	mu   sync.Mutex
	seen []string
	h    http.Handler
}

func (r *requests) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.seen = append(r.seen, req.Method+" "+req.URL.RequestURI())
	r.mu.Unlock()
	r.h.ServeHTTP(w, req)
}

func (r *requests) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

func wantData(t *testing.T, got *Data, err error, want *Data) {
	t.Helper()
	if err != nil {
		t.Fatalf("Fetch: %+v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Fetch data (-want +got):\n%s", diff)
	}
}

func full() *Data {
	return &Data{UserData: []byte(ud), Hostname: inst.Hostname, SSHKeys: []string{key1, key2}}
}

func TestAWS(t *testing.T) {
	tests := []struct {
		name   string
		srv    *fake.AWS
		wrap   func(http.Handler) http.Handler
		want   *Data
		wantRq []string // a prefix of the requests made
	}{
		{name: "IMDSv2 token required", srv: &fake.AWS{Instance: inst, Tokens: fake.TokensRequired}, want: full(),
			wantRq: []string{"PUT /latest/api/token", "GET /latest/user-data", "GET /latest/meta-data/hostname", "GET /latest/meta-data/public-keys/",
				"GET /latest/meta-data/public-keys/0/openssh-key", "GET /latest/meta-data/public-keys/1/openssh-key"}},
		{name: "token PUT refused with 405: IMDSv1", srv: &fake.AWS{Instance: inst, Tokens: fake.TokensAbsent405}, want: full(),
			wantRq: []string{"PUT /latest/api/token", "GET /latest/user-data"}},
		{name: "token PUT 404: IMDSv1", srv: &fake.AWS{Instance: inst, Tokens: fake.TokensAbsent404}, want: full()},
		{name: "expired token renewed once", srv: &fake.AWS{Instance: inst, Tokens: fake.TokensRequired, ExpireFirstToken: true}, want: full()},
		{name: "no userdata is 404, not an error", srv: &fake.AWS{Instance: noUserdata(inst), Tokens: fake.TokensRequired},
			want: &Data{Hostname: inst.Hostname, SSHKeys: []string{key1, key2}}},
		{name: "5xx twice then success", srv: &fake.AWS{Instance: inst, Tokens: fake.TokensOptional},
			wrap: func(h http.Handler) http.Handler { return fake.Flaky(2, h) }, want: full()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h http.Handler = tc.srv
			if tc.wrap != nil {
				h = tc.wrap(h)
			}
			rec := &requests{h: h}
			s := server(t, rec)
			got, err := fetchData(t, "aws", testOpts(t, map[string]string{"aws": s.URL}))
			wantData(t, got, err, tc.want)
			if tc.wantRq != nil {
				seen := rec.list()
				if len(seen) < len(tc.wantRq) {
					t.Fatalf("requests = %q, want a prefix %q", seen, tc.wantRq)
				}
				if diff := cmp.Diff(tc.wantRq, seen[:len(tc.wantRq)]); diff != "" {
					t.Errorf("requests (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestAWSTokenHeaderSent(t *testing.T) {
	// The fake refuses a PUT without a valid TTL header (400) and GETs
	// without a token (401): success proves both headers are sent.
	var puts atomic.Int32
	srv := &fake.AWS{Instance: inst, Tokens: fake.TokensRequired}
	s := server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			puts.Add(1)
			if ttl := r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds"); ttl == "" {
				t.Errorf("token PUT without X-aws-ec2-metadata-token-ttl-seconds")
			}
		} else if r.Header.Get("X-aws-ec2-metadata-token") == "" {
			t.Errorf("%s %s without X-aws-ec2-metadata-token", r.Method, r.URL.Path)
		}
		srv.ServeHTTP(w, r)
	}))
	got, err := fetchData(t, "aws", testOpts(t, map[string]string{"aws": s.URL}))
	wantData(t, got, err, full())
	if puts.Load() != 1 {
		t.Errorf("token PUTs = %d, want 1", puts.Load())
	}
}

func TestAWSBadTokenRequestIsError(t *testing.T) {
	// A 400 on the token PUT is not "tokens unsupported": it is an error.
	s := server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad request", http.StatusBadRequest)
	}))
	_, err := fetchData(t, "aws", testOpts(t, map[string]string{"aws": s.URL}))
	if statusOf(err) != http.StatusBadRequest || errors.Is(err, ErrUnavailable) {
		t.Fatalf("Fetch error = %v, want HTTP 400 and not ErrUnavailable", err)
	}
}

func TestGCP(t *testing.T) {
	proj := "ops:" + "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABB ops@example"
	expired := `ops:ssh-ed25519 AAAAexpired google-ssh {"userName":"ops","expireOn":"2001-01-01T00:00:00+0000"}`
	expiredRFC := `ops:ssh-ed25519 AAAAexpired2 google-ssh {"userName":"ops","expireOn":"2001-01-01T00:00:00Z"}`
	future := `ops:ssh-ed25519 AAAAfuture google-ssh {"userName":"ops","expireOn":"2999-01-01T00:00:00Z"}`
	tests := []struct {
		name string
		srv  http.Handler
		want *Data
	}{
		{name: "instance and project keys", srv: &fake.GCP{Instance: inst, ProjectKeys: []string{proj, expiredRFC, future}},
			want: &Data{UserData: []byte(ud), Hostname: inst.Hostname, SSHKeys: []string{key1, key2,
				strings.TrimPrefix(proj, "ops:"), strings.TrimPrefix(future, "ops:")}}},
		{name: "block-project-ssh-keys", srv: &fake.GCP{Instance: inst, ProjectKeys: []string{proj}, BlockProject: true}, want: full()},
		{name: "base64 user-data-encoding", srv: &fake.GCP{Instance: inst, Base64: true}, want: full()},
		{name: "no userdata", srv: &fake.GCP{Instance: noUserdata(inst)}, want: &Data{Hostname: inst.Hostname, SSHKeys: []string{key1, key2}}},
		{name: "5xx then success", srv: fake.Flaky(1, &fake.GCP{Instance: inst}), want: full()},
		{name: "unparsable expiry kept", srv: &fake.GCP{Instance: noUserdata(inst), ProjectKeys: []string{expired}},
			want: &Data{Hostname: inst.Hostname, SSHKeys: []string{key1, key2, strings.TrimPrefix(expired, "ops:")}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := server(t, tc.srv)
			got, err := fetchData(t, "gcp", testOpts(t, map[string]string{"gcp": s.URL}))
			wantData(t, got, err, tc.want)
		})
	}
}

func TestGCPWithoutFlavorHeaderIsRefused(t *testing.T) {
	// The fake server refuses a request without the header, as GCE does.
	s := server(t, &fake.GCP{Instance: inst})
	resp, err := http.Get(s.URL + "/computeMetadata/v1/instance/hostname")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("GET without Metadata-Flavor = %d, want 403", resp.StatusCode)
	}
	// A server that refuses even with the header (a proxy stripping it):
	// an error, not "unavailable", not a crash.
	strip := server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del("Metadata-Flavor")
		(&fake.GCP{Instance: inst}).ServeHTTP(w, r)
	}))
	_, err = fetchData(t, "gcp", testOpts(t, map[string]string{"gcp": strip.URL}))
	if statusOf(err) != http.StatusForbidden {
		t.Fatalf("Fetch through a header-stripping proxy: %v, want HTTP 403", err)
	}
}

func TestGCPNeedsGoogleAnswers(t *testing.T) {
	// Another cloud's metadata server at the same address answers without
	// Metadata-Flavor: Google: that is no GCE server.
	s := server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("x")) }))
	_, err := fetchData(t, "gcp", testOpts(t, map[string]string{"gcp": s.URL}))
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Fetch = %v, want ErrUnavailable", err)
	}
}

// TestSimpleProviders covers the token-less providers with the same cases.
func TestSimpleProviders(t *testing.T) {
	type mk func(fake.Instance) http.Handler
	provs := map[string]mk{
		"digitalocean": fake.DigitalOcean,
		"hetzner":      fake.Hetzner,
		"openstack":    fake.OpenStack,
		"packet":       fake.Packet,
		"vultr":        fake.Vultr,
		"scaleway":     func(in fake.Instance) http.Handler { return &fake.Scaleway{Instance: in, AnyPort: os.Geteuid() != 0} },
	}
	for name, h := range provs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			t.Run("full", func(t *testing.T) {
				s := server(t, h(inst))
				got, err := fetchData(t, name, testOpts(t, map[string]string{name: s.URL}))
				wantData(t, got, err, full())
			})
			t.Run("no userdata", func(t *testing.T) {
				s := server(t, h(noUserdata(inst)))
				got, err := fetchData(t, name, testOpts(t, map[string]string{name: s.URL}))
				if err != nil {
					t.Fatal(err)
				}
				if got.UserData != nil && len(got.UserData) != 0 {
					t.Errorf("UserData = %d bytes, want none", len(got.UserData))
				}
				if got.Hostname != inst.Hostname || len(got.SSHKeys) != 2 {
					t.Errorf("Fetch = %+v, want hostname and 2 keys", got)
				}
			})
			t.Run("5xx twice then success", func(t *testing.T) {
				s := server(t, fake.Flaky(2, h(inst)))
				got, err := fetchData(t, name, testOpts(t, map[string]string{name: s.URL}))
				wantData(t, got, err, full())
			})
			t.Run("5xx always", func(t *testing.T) {
				s := server(t, fake.Flaky(1000, h(inst)))
				_, err := fetchData(t, name, testOpts(t, map[string]string{name: s.URL}))
				if statusOf(err) != http.StatusServiceUnavailable {
					t.Errorf("Fetch error = %v, want HTTP 503", err)
				}
			})
			t.Run("another service answers 404", func(t *testing.T) {
				s := server(t, http.NotFoundHandler())
				_, err := fetchData(t, name, testOpts(t, map[string]string{name: s.URL}))
				if !errors.Is(err, ErrUnavailable) {
					t.Errorf("Fetch error = %v, want ErrUnavailable", err)
				}
			})
			t.Run("hangs", func(t *testing.T) {
				s := server(t, fake.Hang)
				o := testOpts(t, map[string]string{name: s.URL})
				start := time.Now()
				_, err := fetchData(t, name, o)
				took := time.Since(start)
				if !errors.Is(err, ErrUnavailable) {
					t.Errorf("Fetch error = %v, want ErrUnavailable", err)
				}
				// 3 attempts of 300ms and backoffs of 10ms and 20ms.
				if max := time.Duration(o.Attempts)*o.AttemptTimeout + time.Second; took > max {
					t.Errorf("Fetch took %v, want under %v", took, max)
				}
			})
			t.Run("nothing listening", func(t *testing.T) {
				s := httptest.NewServer(http.NotFoundHandler())
				url := s.URL
				s.Close()
				_, err := fetchData(t, name, testOpts(t, map[string]string{name: url}))
				if !errors.Is(err, ErrUnavailable) {
					t.Errorf("Fetch error = %v, want ErrUnavailable", err)
				}
			})
		})
	}
}

func TestTimeoutThenSuccess(t *testing.T) {
	// The first attempt at each path hangs past the attempt timeout; the
	// retry answers.
	var mu sync.Mutex
	seen := map[string]bool{}
	h := fake.DigitalOcean(inst)
	s := server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		first := !seen[r.URL.Path]
		seen[r.URL.Path] = true
		mu.Unlock()
		if first {
			fake.Hang(w, r)
			return
		}
		h.ServeHTTP(w, r)
	}))
	got, err := fetchData(t, "digitalocean", testOpts(t, map[string]string{"digitalocean": s.URL}))
	wantData(t, got, err, full())
}

func TestPacketTLSIsVerified(t *testing.T) {
	s := httptest.NewTLSServer(fake.Packet(inst))
	t.Cleanup(s.Close)
	o := testOpts(t, map[string]string{"packet": s.URL})
	_, err := fetchData(t, "packet", o)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Fetch from a server with an untrusted certificate = %v, want a certificate error", err)
	}
	o.Transport = s.Client().Transport // trusts the test server's CA
	got, err := fetchData(t, "packet", o)
	wantData(t, got, err, full())
}

func TestScalewayUserdataFromPrivilegedPort(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("binding a source port below 1024 needs root")
	}
	s := server(t, &fake.Scaleway{Instance: inst}) // refuses ports >= 1024
	got, err := fetchData(t, "scaleway", testOpts(t, map[string]string{"scaleway": s.URL}))
	wantData(t, got, err, full())
}

func TestScalewayRefusedUserdataIsExplained(t *testing.T) {
	s := server(t, &fake.Scaleway{Instance: inst})
	o := testOpts(t, map[string]string{"scaleway": s.URL})
	o.Transport = http.DefaultTransport // ordinary source ports
	_, err := fetchData(t, "scaleway", o)
	if err == nil || !strings.Contains(err.Error(), "below 1024") {
		t.Fatalf("Fetch = %v, want an error naming the port rule", err)
	}
}

func TestUserdataSizeBound(t *testing.T) {
	big := fake.Instance{Userdata: []byte("#cloud-config\n" + strings.Repeat("#", 2<<20)), Hostname: "h"}
	s := server(t, fake.Vultr(big))
	_, err := fetchData(t, "vultr", testOpts(t, map[string]string{"vultr": s.URL}))
	if !errors.Is(err, errTooLarge) {
		t.Fatalf("Fetch of 2 MiB userdata = %v, want errTooLarge", err)
	}
}

func TestNewUnknown(t *testing.T) {
	_, err := New("azure", Options{})
	if !errors.Is(err, ErrUnknownSource) || !strings.Contains(err.Error(), "aws, cdrom, digitalocean") {
		t.Fatalf("New(azure) = %v, want ErrUnknownSource listing the known names", err)
	}
	if _, err := New(" AWS ", Options{}); err != nil {
		t.Fatalf("New(AWS) = %v, want the aws provider", err)
	}
}

func TestURLsFromEnv(t *testing.T) {
	got := URLsFromEnv([]string{"PATH=/bin", "BOS_DATASOURCE_URL_AWS=http://127.0.0.1:1", "BOS_DATASOURCE_URL_DIGITALOCEAN=http://x", "BOS_DATASOURCE_URL_GCP="})
	want := map[string]string{"aws": "http://127.0.0.1:1", "digitalocean": "http://x"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("URLsFromEnv (-want +got):\n%s", diff)
	}
}
