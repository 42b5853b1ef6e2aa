package datasource

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/datasource/fake"
	"github.com/bhojpur/os/internal/logger"

	"github.com/bhojpur/os/internal/userdata"
)

// allServers starts one fake per HTTP provider and returns their URLs.
func allServers(t *testing.T, hs map[string]http.Handler) map[string]string {
	urls := map[string]string{}
	for name, h := range hs {
		urls[name] = server(t, h).URL
	}
	return urls
}

func states(res *Result) string {
	var s []string
	for _, o := range res.Outcomes {
		s = append(s, o.Name+"="+o.State)
	}
	return strings.Join(s, " ")
}

func TestProbeWritesTheFirstUserdata(t *testing.T) {
	fsys, dir := root(t)
	other := fake.Instance{Userdata: []byte("#cloud-config\nhostname: vultr\n"), Hostname: "vultr-host"}
	urls := allServers(t, map[string]http.Handler{
		"aws":   &fake.AWS{Instance: noUserdata(inst)}, // metadata only: probing goes on
		"gcp":   &fake.GCP{Instance: inst},
		"vultr": fake.Vultr(other),
	})
	res, err := Probe(context.Background(), fsys, []string{"aws", "gcp", "vultr"}, testOpts(t, urls))
	if err != nil {
		t.Fatal(err)
	}
	if res.Source != "gcp" || res.Userdata != userdata.KindCloudConfig {
		t.Fatalf("Source, Userdata = %q, %v; want gcp, cloud-config", res.Source, res.Userdata)
	}
	if got, want := states(res), "aws=metadata only gcp=userdata vultr=not needed"; got != want {
		t.Errorf("outcomes = %q, want %q", got, want)
	}
	s, mode, ok := readRoot(t, dir, UserdataPath)
	if !ok || s != ud || mode != 0o600 {
		t.Errorf("%s = %q mode %o (exists %v), want the gcp userdata, 0600", UserdataPath, s, mode, ok)
	}
	if s, _, _ := readRoot(t, dir, AuthorizedKeysPath); s != key1+"\n"+key2+"\n" {
		t.Errorf("%s = %q, want one key per line", AuthorizedKeysPath, s)
	}
	if s, _, _ := readRoot(t, dir, HostnamePath); s != inst.Hostname+"\n" {
		t.Errorf("%s = %q, want %q", HostnamePath, s, inst.Hostname)
	}
	noTemps(t, dir)
}

func noTemps(t *testing.T, dir string) {
	t.Helper()
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.Contains(fi.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
}

func TestProbeMetadataOnlyFallsBackToTheFirst(t *testing.T) {
	fsys, dir := root(t)
	urls := allServers(t, map[string]http.Handler{
		"digitalocean": fake.DigitalOcean(fake.Instance{Hostname: "do-host", SSHKeys: []string{key2}}),
		"hetzner":      fake.Hetzner(fake.Instance{Hostname: "hz-host"}),
	})
	res, err := Probe(context.Background(), fsys, []string{"digitalocean", "hetzner"}, testOpts(t, urls))
	if err != nil {
		t.Fatal(err)
	}
	if res.Source != "digitalocean" || res.Userdata != userdata.KindNone {
		t.Fatalf("Source = %q, Userdata %v; want digitalocean, none", res.Source, res.Userdata)
	}
	if _, _, ok := readRoot(t, dir, UserdataPath); ok {
		t.Errorf("%s written, want none", UserdataPath)
	}
	if s, _, _ := readRoot(t, dir, HostnamePath); s != "do-host\n" {
		t.Errorf("%s = %q", HostnamePath, s)
	}
}

func TestProbeReplacesStaleFiles(t *testing.T) {
	fsys, dir := root(t)
	for _, p := range []string{UserdataPath, AuthorizedKeysPath, HostnamePath} {
		if err := writeFile(fsys, p, []byte("stale\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	urls := allServers(t, map[string]http.Handler{"openstack": fake.OpenStack(fake.Instance{Userdata: []byte(ud), Hostname: "os-host"})})
	res, err := Probe(context.Background(), fsys, []string{"openstack"}, testOpts(t, urls))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{AuthorizedKeysPath}, res.Removed); diff != "" {
		t.Errorf("Removed (-want +got):\n%s", diff)
	}
	if _, _, ok := readRoot(t, dir, AuthorizedKeysPath); ok {
		t.Errorf("stale %s kept", AuthorizedKeysPath)
	}
	if s, _, _ := readRoot(t, dir, UserdataPath); s != ud {
		t.Errorf("%s = %q", UserdataPath, s)
	}
}

func TestProbeNothingFoundLeavesFiles(t *testing.T) {
	fsys, dir := root(t)
	if err := writeFile(fsys, HostnamePath, []byte("kept\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	urls := allServers(t, map[string]http.Handler{"vultr": http.NotFoundHandler()})
	res, err := Probe(context.Background(), fsys, []string{"vultr", "cdrom"}, testOpts(t, urls))
	if err != nil {
		t.Fatal(err)
	}
	if res.Source != "" || states(res) != "vultr=unavailable cdrom=unavailable" {
		t.Errorf("Probe = source %q, outcomes %q", res.Source, states(res))
	}
	if s, _, _ := readRoot(t, dir, HostnamePath); s != "kept\n" {
		t.Errorf("%s = %q, want it untouched", HostnamePath, s)
	}
}

func TestProbeUnknownName(t *testing.T) {
	fsys, dir := root(t)
	_, err := Probe(context.Background(), fsys, []string{"aws", "azure"}, testOpts(t, nil))
	if !errors.Is(err, ErrUnknownSource) || !strings.Contains(err.Error(), `"azure"`) {
		t.Fatalf("Probe = %v, want ErrUnknownSource naming azure", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("Probe with an unknown name wrote %d entries", len(entries))
	}
}

func TestProbeNoNames(t *testing.T) {
	fsys, _ := root(t)
	res, err := Probe(context.Background(), fsys, nil, testOpts(t, nil))
	if err != nil || res.Source != "" {
		t.Fatalf("Probe(no names) = %+v, %v", res, err)
	}
}

func TestProbeUnknownUserdataGoesOn(t *testing.T) {
	fsys, dir := root(t)
	log := &recLog{t: t}
	secret := "s3cr3t-value"
	urls := allServers(t, map[string]http.Handler{"hetzner": fake.Hetzner(fake.Instance{Userdata: []byte("password " + secret), Hostname: "hz"})})
	o := testOpts(t, urls)
	o.Log = log
	res, err := Probe(context.Background(), fsys, []string{"hetzner"}, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Userdata != userdata.KindUnknown || len(res.Warnings) != 1 {
		t.Fatalf("Probe = %v, warnings %q; want unknown userdata and one warning", res.Userdata, res.Warnings)
	}
	if _, _, ok := readRoot(t, dir, UserdataPath); ok {
		t.Errorf("unknown userdata written")
	}
	if s, _, _ := readRoot(t, dir, HostnamePath); s != "hz\n" {
		t.Errorf("%s = %q, want the hostname still written", HostnamePath, s)
	}
	if strings.Contains(log.all(), secret) || strings.Contains(strings.Join(res.Warnings, " "), secret) {
		t.Errorf("the userdata leaked into the log or warnings")
	}
}

func TestProbeNeverLogsUserdata(t *testing.T) {
	fsys, _ := root(t)
	log := &recLog{}
	secret := "K10abcdef::node:topsecret"
	in := fake.Instance{Userdata: []byte("#cloud-config\nbos:\n  token: " + secret + "\n"), Hostname: "h"}
	urls := allServers(t, map[string]http.Handler{"aws": &fake.AWS{Instance: in}})
	o := testOpts(t, urls)
	o.Log = log
	if _, err := Probe(context.Background(), fsys, []string{"aws"}, o); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(log.all(), secret) {
		t.Errorf("log quotes the userdata:\n%s", log.all())
	}
}

func TestProbeGzipUserdata(t *testing.T) {
	fsys, dir := root(t)
	urls := allServers(t, map[string]http.Handler{"packet": fake.Packet(fake.Instance{Userdata: gz(t, []byte(ud)), Hostname: "p"})})
	res, err := Probe(context.Background(), fsys, []string{"packet"}, testOpts(t, urls))
	if err != nil {
		t.Fatal(err)
	}
	if s, _, _ := readRoot(t, dir, UserdataPath); s != ud || res.Userdata != userdata.KindCloudConfig {
		t.Errorf("%s = %q (%v), want the decompressed cloud-config", UserdataPath, s, res.Userdata)
	}
}

func TestProbeBadHostnameIgnored(t *testing.T) {
	fsys, dir := root(t)
	urls := allServers(t, map[string]http.Handler{"vultr": fake.Vultr(fake.Instance{Userdata: []byte(ud), Hostname: "bad host;rm -rf"})})
	res, err := Probe(context.Background(), fsys, []string{"vultr"}, testOpts(t, urls))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := readRoot(t, dir, HostnamePath); ok || len(res.Warnings) != 1 {
		t.Errorf("bad hostname written (%v) or not warned (%q)", ok, res.Warnings)
	}
}

// TestProbeBoundHoldsWhenEverythingHangs: every provider's server accepts
// and never answers; the probe returns within its bound all the same.
func TestProbeBoundHoldsWhenEverythingHangs(t *testing.T) {
	fsys, _ := root(t)
	hs := map[string]http.Handler{}
	for _, n := range Names() {
		if n != "cdrom" {
			hs[n] = fake.Hang
		}
	}
	o := testOpts(t, allServers(t, hs))
	o.Timeout = 700 * time.Millisecond
	o.AttemptTimeout = 5 * time.Second // longer than the bound on purpose
	o.Devices = hangingDevices{}
	start := time.Now()
	res, err := Probe(context.Background(), fsys, Names(), o)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if took > o.Timeout+500*time.Millisecond {
		t.Errorf("Probe took %v, want within the bound %v (+0.5s)", took, o.Timeout)
	}
	for _, oc := range res.Outcomes {
		if oc.State != "timeout" {
			t.Errorf("%s: state %q, want timeout", oc.Name, oc.State)
		}
	}
	if res.Source != "" {
		t.Errorf("Source = %q, want none", res.Source)
	}
}

// hangingDevices lists one device whose List blocks until the probe ends.
type hangingDevices struct{}

func (hangingDevices) List() ([]string, error) {
	time.Sleep(300 * time.Millisecond)
	return []string{"x"}, nil
}
func (hangingDevices) Open(string) (Device, int64, error) {
	time.Sleep(2 * time.Second)
	return nil, 0, os.ErrNotExist
}

// TestProbeHangingFirstDoesNotDelayTheRest: the first provider hangs; the
// second's userdata is used once the bound ends, not lost.
func TestProbeHangingFirstProviderCostsOnlyTheBound(t *testing.T) {
	fsys, _ := root(t)
	urls := allServers(t, map[string]http.Handler{"aws": fake.Hang, "gcp": &fake.GCP{Instance: inst}})
	o := testOpts(t, urls)
	o.Timeout = 600 * time.Millisecond
	o.AttemptTimeout = 5 * time.Second
	start := time.Now()
	res, err := Probe(context.Background(), fsys, []string{"aws", "gcp"}, o)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > o.Timeout+500*time.Millisecond {
		t.Errorf("Probe took %v", took)
	}
	if res.Source != "gcp" || states(res) != "aws=timeout gcp=userdata" {
		t.Errorf("Probe = %q, %q; want gcp after an aws timeout", res.Source, states(res))
	}
}

func TestProbeAllProvidersTogether(t *testing.T) {
	// Every provider present; the list order decides.
	fsys, _ := root(t)
	hs := map[string]http.Handler{
		"aws":          &fake.AWS{Instance: inst},
		"gcp":          &fake.GCP{Instance: inst},
		"digitalocean": fake.DigitalOcean(inst),
		"hetzner":      fake.Hetzner(inst),
		"openstack":    fake.OpenStack(inst),
		"packet":       fake.Packet(inst),
		"scaleway":     &fake.Scaleway{Instance: inst, AnyPort: os.Geteuid() != 0},
		"vultr":        fake.Vultr(inst),
	}
	urls := allServers(t, hs)
	for _, first := range Names() {
		if first == "cdrom" {
			continue
		}
		names := []string{first}
		for _, n := range Names() {
			if n != first {
				names = append(names, n)
			}
		}
		res, err := Probe(context.Background(), fsys, names, testOpts(t, urls))
		if err != nil {
			t.Fatal(err)
		}
		if res.Source != first || res.SSHKeys != 2 || res.Hostname != inst.Hostname {
			t.Errorf("Probe(%v) = %q, %d keys, %q; want %s", names, res.Source, res.SSHKeys, res.Hostname, first)
		}
	}
}

func TestValidHostname(t *testing.T) {
	for h, want := range map[string]bool{
		"node-1": true, "a.b.c": true, "ip-10-0-0-1.ec2.internal": true,
		"": false, "-a": false, "a-": false, "a..b": false, "a b": false, "a_b": false,
		strings.Repeat("a", 64): false, strings.Repeat("a.", 127) + "a": false,
	} {
		if got := validHostname(h); got != want {
			t.Errorf("validHostname(%q) = %v, want %v", h, got, want)
		}
	}
}

func TestCleanKeys(t *testing.T) {
	got := cleanKeys([]string{" " + key1 + " ", "", "# comment", key1, key2 + "\n" + key1, "bad\x00key"})
	if diff := cmp.Diff([]string{key1, key2}, got); diff != "" {
		t.Errorf("cleanKeys (-want +got):\n%s", diff)
	}
}

type panicking struct{}

func (panicking) Name() string                         { return "panicking" }
func (panicking) Fetch(context.Context) (*Data, error) { panic("index out of range [3] with length 3") }

type giving struct{}

func (giving) Name() string { return "giving" }
func (giving) Fetch(context.Context) (*Data, error) {
	return &Data{UserData: []byte("#cloud-config\nhostname: x\n")}, nil
}

// TestAProviderThatPanicsIsAnError: the probe runs in bos-init (PID 1),
// where a panic in its goroutine would end the boot; it is that
// provider's error, and the next provider's data is used.
func TestAProviderThatPanicsIsAnError(t *testing.T) {
	var res Result
	name, d := choose(context.Background(), []Provider{panicking{}, giving{}}, Options{Timeout: 5 * time.Second, Log: logger.Discard}, &res)
	if name != "giving" || d == nil {
		t.Errorf("chose %q, %v; want giving's data", name, d)
	}
	if len(res.Outcomes) == 0 || res.Outcomes[0].State != "error" || !strings.Contains(fmt.Sprint(res.Outcomes[0].Err), "panic: index out of range") {
		t.Errorf("outcomes %+v; want panicking's an error naming the panic", res.Outcomes)
	}
}
