package control

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/dcp/internal/config"
	"github.com/bhojpur/os/dcp/internal/token"
)

func testConfig(t *testing.T, edit func(*config.Input)) *config.Config {
	t.Helper()
	dir := t.TempDir()
	in := config.Input{
		DataDir: dir, ClusterCIDR: config.DefaultClusterCIDR, ServiceCIDR: config.DefaultServiceCIDR,
		ClusterDNS: config.DefaultClusterDNS, ClusterDomain: config.DefaultClusterDomain, NodeName: "node1", NodeIP: "10.0.2.15",
		HTTPSPort: config.DefaultHTTPSPort, Kubeconfig: filepath.Join(dir, "dcp.yaml"), BinDir: "/opt/dcp/bin",
	}
	if edit != nil {
		edit(&in)
	}
	c, err := config.New(in)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var now = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func TestEnsurePKIWritesTokenPinnedToTheCA(t *testing.T) {
	c := testConfig(t, nil)
	p, err := EnsurePKI(c, now)
	if err != nil {
		t.Fatal(err)
	}
	tok := p.Token
	ca, _ := os.ReadFile(c.TLS("server-ca.crt"))
	if string(p.ServerCA.PEM) != string(ca) {
		t.Errorf("EnsurePKI's server CA is not %s", c.TLS("server-ca.crt"))
	}
	if cca, _ := os.ReadFile(c.TLS("client-ca.crt")); string(p.ClientCA.PEM) != string(cca) {
		t.Errorf("EnsurePKI's client CA is not %s", c.TLS("client-ca.crt"))
	}
	if err := tok.VerifyCA(ca); err != nil || tok.User != "server" {
		t.Errorf("token %v does not pin the server CA: %v", tok, err)
	}
	b, _ := os.ReadFile(c.TokenFile())
	if got := strings.TrimSpace(string(b)); got != tok.String() {
		t.Errorf("token file %q, want %q", got, tok.String())
	}
	for _, f := range []string{c.TokenFile(), c.TLS("server-ca.key"), c.TLS("client-admin.key"), c.TLS("service.key")} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, want mode 0600", f, err)
		}
	}
	again, err := EnsurePKI(c, now.Add(time.Hour))
	if err != nil || again.Token != tok {
		t.Errorf("restart: %v, %v; want the first token (%v) reused", again, err, tok)
	}
}

func TestEnsurePKITokenGiven(t *testing.T) {
	c := testConfig(t, func(in *config.Input) { in.ClusterSecret = "my-cluster-secret" })
	p, err := EnsurePKI(c, now)
	if err != nil || p.Token.Secret != "my-cluster-secret" {
		t.Fatalf("EnsurePKI with a cluster secret = %v, %v", p, err)
	}
	other := testConfig(t, func(in *config.Input) { in.DataDir = c.DataDir; in.ClusterSecret = "another" })
	if _, err := EnsurePKI(other, now); !errors.Is(err, config.ErrBadInput) || !strings.Contains(err.Error(), "differs") {
		t.Errorf("restart with another secret: %v, want a bad-input refusal", err)
	}
	wrong := token.Token{CAHash: strings.Repeat("0", 64), User: "server", Secret: "my-cluster-secret"}
	pinned := testConfig(t, func(in *config.Input) { in.DataDir = c.DataDir; in.Token = wrong.String() })
	if _, err := EnsurePKI(pinned, now); !errors.Is(err, config.ErrBadInput) || !strings.Contains(err.Error(), "pins CA") {
		t.Errorf("a token pinning another CA: %v, want a bad-input refusal", err)
	}
}

func TestArgs(t *testing.T) {
	c := testConfig(t, func(in *config.Input) {
		in.ClusterCIDR = "10.100.0.0/16"
		in.ExtraArgs = map[string][]string{APIServer: {"--v=2", "audit-log-maxage=3"}}
	})
	api := APIServerArgs(c)
	for _, want := range []string{
		"--service-cluster-ip-range=10.43.0.0/16",
		"--authorization-mode=Node,RBAC",
		"--secure-port=6443",
		"--encryption-provider-config=" + c.EncryptionConfig(),
		"--etcd-servers=https://127.0.0.1:2379",
	} {
		if !slices.Contains(api, want) {
			t.Errorf("kube-apiserver argv lacks %s: %q", want, api)
		}
	}
	if got := api[len(api)-2:]; !slices.Equal(got, []string{"--v=2", "--audit-log-maxage=3"}) {
		t.Errorf("extra args %q, want them last, in order, with --", got)
	}
	if !slices.Contains(ControllerManagerArgs(c), "--cluster-cidr=10.100.0.0/16") {
		t.Errorf("kube-controller-manager argv lacks the cluster CIDR: %q", ControllerManagerArgs(c))
	}
	if !slices.IsSorted(SchedulerArgs(c)) {
		t.Errorf("kube-scheduler argv not in a stable order: %q", SchedulerArgs(c))
	}
}

func TestWriteConfigFilesKeepsTheKey(t *testing.T) {
	c := testConfig(t, nil)
	if err := os.MkdirAll(c.CredDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := WriteConfigFiles(c); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(c.EncryptionConfig())
	if !strings.Contains(string(first), `"aesgcm"`) {
		t.Errorf("encryption config has no aesgcm provider: %s", first)
	}
	if err := WriteConfigFiles(c); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(c.EncryptionConfig())
	if string(first) != string(second) {
		t.Error("a restart replaced the secrets encryption key")
	}
	if fi, _ := os.Stat(c.EncryptionConfig()); fi.Mode().Perm() != 0o600 {
		t.Errorf("encryption config mode %v, want 0600", fi.Mode().Perm())
	}
}
