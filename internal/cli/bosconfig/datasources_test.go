package bosconfig

import (
	"bytes"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bhojpur/os/internal/cli"
	"github.com/bhojpur/os/internal/config"
	"github.com/bhojpur/os/internal/datasource/fake"
	"github.com/bhojpur/os/internal/exitcode"
)

// dsCLI embeds the command the way bos-config does.
type dsCLI struct {
	cli.Globals
	Datasources DatasourcesCmd `cmd:"" help:"Probe the cloud data sources."`
}

func runDS(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Run("bos-config", "test", &dsCLI{}, args, cli.IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb})
	t.Logf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	return code, out.String(), errb.String()
}

func writeConfig(t *testing.T, root, yaml string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(config.RuntimeConfig))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
}

const dsUserdata = "#cloud-config\nhostname: from-userdata\n"

var dsInstance = fake.Instance{Userdata: []byte(dsUserdata), Hostname: "node-7", SSHKeys: []string{testKey + " ops@example"}}

func TestDatasourcesFromFlag(t *testing.T) {
	s := httptest.NewServer(&fake.GCP{Instance: dsInstance})
	defer s.Close()
	t.Setenv("BOS_DATASOURCE_URL_GCP", s.URL)
	root := t.TempDir()
	code, out, _ := runDS(t, "--root", root, "datasources", "--source", "cdrom", "--source", "gcp", "--timeout", "5s", "--attempt-timeout", "500ms")
	if code != exitcode.OK || !strings.Contains(out, "source: gcp") || !strings.Contains(out, "cdrom:") {
		t.Fatalf("datasources = %d, %q; want 0 and gcp chosen after cdrom", code, out)
	}
	b, err := os.ReadFile(filepath.Join(root, "run/config/userdata"))
	if err != nil || string(b) != dsUserdata {
		t.Errorf("run/config/userdata = %q, %v", b, err)
	}
	fi, err := os.Stat(filepath.Join(root, "run/config/userdata"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("run/config/userdata mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	// The config loader picks the cloud data up.
	l, err := config.Load(config.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if l.Config.Hostname == "" || len(l.Config.SSHAuthorizedKeys) != 1 {
		t.Errorf("loaded config: hostname %q, keys %q", l.Config.Hostname, l.Config.SSHAuthorizedKeys)
	}
}

func TestDatasourcesFromConfig(t *testing.T) {
	s := httptest.NewServer(fake.DigitalOcean(dsInstance))
	defer s.Close()
	t.Setenv("BOS_DATASOURCE_URL_DIGITALOCEAN", s.URL)
	root := t.TempDir()
	writeConfig(t, root, "bos:\n  data_sources: [digitalocean]\n")
	code, out, _ := runDS(t, "--root", root, "datasources")
	if code != exitcode.OK || !strings.Contains(out, "source: digitalocean") {
		t.Fatalf("datasources = %d, %q", code, out)
	}
	b, _ := os.ReadFile(filepath.Join(root, "run/config/local_hostname"))
	if string(b) != "node-7\n" {
		t.Errorf("run/config/local_hostname = %q", b)
	}
}

func TestDatasourcesUnknownName(t *testing.T) {
	root := t.TempDir()
	if code, _, errs := runDS(t, "--root", root, "datasources", "--source", "azure"); code != exitcode.Usage || !strings.Contains(errs, `"azure"`) {
		t.Errorf("--source azure = %d, %q; want %d naming azure", code, errs, exitcode.Usage)
	}
	writeConfig(t, root, "bos:\n  data_sources: [azure]\n")
	if code, _, errs := runDS(t, "--root", root, "datasources"); code != exitcode.BadInput || !strings.Contains(errs, "bos.data_sources") {
		t.Errorf("data_sources [azure] = %d, %q; want %d", code, errs, exitcode.BadInput)
	}
}

func TestDatasourcesNothingConfigured(t *testing.T) {
	code, out, _ := runDS(t, "--root", t.TempDir(), "datasources")
	if code != exitcode.OK || !strings.Contains(out, "no data sources") {
		t.Errorf("datasources = %d, %q", code, out)
	}
}

func TestDatasourcesAbsentIsNotAFailure(t *testing.T) {
	s := httptest.NewServer(nil)
	url := s.URL
	s.Close() // nothing listens there now
	t.Setenv("BOS_DATASOURCE_URL_AWS", url)
	code, out, _ := runDS(t, "--root", t.TempDir(), "datasources", "-s", "aws", "-s", "cdrom")
	if code != exitcode.OK || !strings.Contains(out, "aws:") || !strings.Contains(out, "unavailable") || !strings.Contains(out, "nothing written") {
		t.Errorf("datasources = %d, %q", code, out)
	}
}
