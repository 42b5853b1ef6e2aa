package packer

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bhojpur/os/internal/config"
	"github.com/bhojpur/os/internal/vmtest"
)

// Templates are the template directories and the builder each uses.
var Templates = map[string]string{
	"aws":           "amazon-ebs",
	"gcp":           "googlecompute",
	"hetzner":       "hcloud",
	"openstack":     "openstack",
	"digitalocean":  "digitalocean",
	"qemu":          "qemu",
	"qemu-takeover": "qemu",
}

// cloudDataSource is the data source each cloud template's config names.
var cloudDataSource = map[string]string{
	"aws": "aws", "gcp": "gcp", "hetzner": "hetzner", "openstack": "openstack", "digitalocean": "digitalocean",
}

// takeoverTemplates run packer/scripts/takeover.sh.
var takeoverTemplates = []string{"aws", "gcp", "hetzner", "openstack", "digitalocean", "qemu-takeover"}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := vmtest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func readTemplate(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "packer", dir, dir+".pkr.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestLayout: every directory under packer/ with a template is listed in
// Templates, and each has its README section.
func TestLayout(t *testing.T) {
	root := repoRoot(t)
	found, err := filepath.Glob(filepath.Join(root, "packer", "*", "*.pkr.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, f := range found {
		got = append(got, filepath.Base(filepath.Dir(f)))
	}
	for d := range Templates {
		want = append(want, d)
	}
	sort.Strings(got)
	sort.Strings(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("template directories (-want +got):\n%s", diff)
	}
	readme, err := os.ReadFile(filepath.Join(root, "packer", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for d := range Templates {
		if !strings.Contains(string(readme), "\n## "+d+"\n") {
			t.Errorf("packer/README.md has no section \"## %s\"", d)
		}
	}
}

// variables parses the template's variable blocks: name -> whether it has
// a default (required when not).
var variableRe = regexp.MustCompile(`(?m)^variable "([a-z0-9_]+)" \{\n((?:  .*\n|\n)*?)\}`)

func variables(t *testing.T, hcl string) map[string]bool {
	t.Helper()
	vars := map[string]bool{}
	for _, m := range variableRe.FindAllStringSubmatch(hcl, -1) {
		vars[m[1]] = regexp.MustCompile(`(?m)^  default\s*=`).MatchString(m[2])
		if !regexp.MustCompile(`(?m)^  description\s*=\s*"\S`).MatchString(m[2]) {
			t.Errorf("variable %q has no description", m[1])
		}
	}
	if len(vars) == 0 {
		t.Fatalf("no variable blocks found")
	}
	return vars
}

// TestTemplateConventions: HCL2 variables with descriptions, secrets
// sensitive and defaulting to the environment, no required_plugins in a
// template directory, every takeover template running the one shared
// script.
func TestTemplateConventions(t *testing.T) {
	for dir := range Templates {
		t.Run(dir, func(t *testing.T) {
			hcl := readTemplate(t, dir)
			vars := variables(t, hcl)
			for _, secret := range []string{"hcloud_token", "api_token", "password"} {
				if _, ok := vars[secret]; !ok {
					continue
				}
				block := regexp.MustCompile(`(?s)variable "` + secret + `" \{.*?\n\}`).FindString(hcl)
				if !strings.Contains(block, "sensitive   = true") || !strings.Contains(block, `default     = env("`) {
					t.Errorf("variable %q: want sensitive = true and a default from env():\n%s", secret, block)
				}
			}
			if strings.Contains(hcl, "required_plugins") {
				t.Errorf("%s has required_plugins: they belong in packer/plugins.pkr.hcl (Packer 1.6.6 rejects them)", dir)
			}
		})
	}
	for _, dir := range takeoverTemplates {
		hcl := readTemplate(t, dir)
		for _, want := range []string{`"${path.root}/../scripts/takeover.sh"`, `"${path.root}/../../install.sh"`, `destination = "/tmp/bos-config.yaml"`} {
			if !strings.Contains(hcl, want) {
				t.Errorf("%s does not use %s", dir, want)
			}
		}
	}
}

// TestPluginsPinned: packer/plugins.pkr.hcl lists the plugin of every
// builder the templates use, each at one exact version.
func TestPluginsPinned(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "packer", "plugins.pkr.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	plugins := map[string]string{}
	re := regexp.MustCompile(`(?m)^    ([a-z]+) = \{\n      source  = "github\.com/[a-z]+/([a-z]+)"\n      version = "= ([0-9]+\.[0-9]+\.[0-9]+)"\n    \}`)
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		if m[1] != m[2] {
			t.Errorf("plugin %s has source .../%s", m[1], m[2])
		}
		plugins[m[1]] = m[3]
	}
	pluginOf := map[string]string{"amazon-ebs": "amazon", "googlecompute": "googlecompute", "hcloud": "hcloud",
		"openstack": "openstack", "digitalocean": "digitalocean", "qemu": "qemu"}
	for dir, builder := range Templates {
		if !strings.Contains(readTemplate(t, dir), `source "`+builder+`" "bos"`) {
			t.Errorf("%s: no source %q", dir, builder)
		}
		if _, ok := plugins[pluginOf[builder]]; !ok {
			t.Errorf("%s: builder %s needs plugin %q pinned in plugins.pkr.hcl (have %v)", dir, builder, pluginOf[builder], plugins)
		}
	}
}

// TestShippedConfigs: each cloud template's config.yaml is a valid config
// naming its cloud's data source, and so is the qemu example.
func TestShippedConfigs(t *testing.T) {
	load := func(p string) *config.Loaded {
		t.Helper()
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		l, err := config.LoadFile(p, f)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Err(); err != nil {
			t.Errorf("%s: %v", p, err)
		}
		return l
	}
	root := repoRoot(t)
	for dir, ds := range cloudDataSource {
		l := load(filepath.Join(root, "packer", dir, "config.yaml"))
		if diff := cmp.Diff([]string{ds}, l.Config.Bos.DataSources); diff != "" {
			t.Errorf("%s/config.yaml data_sources (-want +got):\n%s", dir, diff)
		}
	}
	if l := load(filepath.Join(root, "packer", "qemu", "example", "config.yaml")); l.Config.Hostname == "" {
		t.Errorf("qemu/example/config.yaml sets no hostname")
	}
}

// TestTakeoverScriptShellcheck: the provisioning scripts are
// shellcheck-clean.
func TestTakeoverScriptShellcheck(t *testing.T) {
	if _, err := exec.LookPath("shellcheck"); err != nil {
		if os.Getenv("BOS_REQUIRE_VM") == "1" {
			t.Fatalf("shellcheck missing and BOS_REQUIRE_VM=1: make deps")
		}
		t.Skip("shellcheck missing: make deps")
	}
	scripts, _ := filepath.Glob(filepath.Join(repoRoot(t), "packer", "scripts", "*.sh"))
	if len(scripts) == 0 {
		t.Fatal("no scripts under packer/scripts")
	}
	out, err := exec.Command("shellcheck", append([]string{"-s", "sh"}, scripts...)...).CombinedOutput()
	if err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}

// TestTakeoverScriptRefuses runs takeover.sh on this host with input it
// must refuse before it looks at any disk. The installer it is given never
// exists, so no case can install anything here.
func TestTakeoverScriptRefuses(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("takeover.sh refuses to run as anyone but root first")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("hostname: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.yaml")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	noInstaller := filepath.Join(dir, "no-such-install.sh")
	const iso = "https://example.net/bos-amd64.iso"
	tests := []struct {
		name string
		env  []string
		code int
		want string
	}{
		{"no-iso-url", []string{"BOS_CONFIG=" + cfg}, 2, "BOS_ISO_URL is not set"},
		{"ftp-url", []string{"BOS_ISO_URL=ftp://example.net/bos.iso", "BOS_CONFIG=" + cfg}, 2, "want an http:// or https:// URL"},
		{"bad-poweroff", []string{"BOS_ISO_URL=" + iso, "BOS_CONFIG=" + cfg, "BOS_POWEROFF=yes"}, 2, "BOS_POWEROFF=yes: want 0 or 1"},
		{"bad-tty", []string{"BOS_ISO_URL=" + iso, "BOS_CONFIG=" + cfg, "BOS_TTY=ttyS0 console=x"}, 2, "want a console name"},
		{"no-config", []string{"BOS_ISO_URL=" + iso, "BOS_CONFIG=" + filepath.Join(dir, "none.yaml")}, 3, "none.yaml: no such file"},
		{"empty-config", []string{"BOS_ISO_URL=" + iso, "BOS_CONFIG=" + empty}, 3, "is empty"},
		{"no-installer", []string{"BOS_ISO_URL=" + iso, "BOS_CONFIG=" + cfg}, 3, "no-such-install.sh: no such file"},
	}
	script := filepath.Join(repoRoot(t), "packer", "scripts", "takeover.sh")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command("sh", script)
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "BOS_INSTALL_SH=" + noInstaller}, tt.env...)
			out, err := cmd.CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code || !strings.Contains(string(out), tt.want) {
				t.Errorf("takeover.sh with %v: exit %d, %q; want exit %d and %q", tt.env, code, out, tt.code, tt.want)
			}
		})
	}
	if b, _ := os.ReadFile(cfg); string(b) != "hostname: x\n" {
		t.Errorf("a refused run changed the config: %q", b)
	}
}

// fakeKeystone answers OpenStack's password authentication on loopback:
// Debian's Packer 1.6.6 logs in to Keystone when it validates an
// openstack template.
func fakeKeystone(t *testing.T) string {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v3/auth/tokens" {
			http.NotFound(w, r)
			return
		}
		endpoint := func(typ string) map[string]any {
			return map[string]any{"type": typ, "id": typ, "name": typ, "endpoints": []any{map[string]any{
				"id": typ, "interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": srv.URL + "/" + typ}}}
		}
		w.Header().Set("X-Subject-Token", "fake-token")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{"token": map[string]any{
			"expires_at": time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05.000000Z"),
			"methods":    []string{"password"},
			"user":       map[string]any{"id": "u", "name": "example-user", "domain": map[string]any{"id": "default", "name": "Default"}},
			"project":    map[string]any{"id": "p", "name": "example-project", "domain": map[string]any{"id": "default", "name": "Default"}},
			"catalog":    []any{endpoint("compute"), endpoint("image")},
		}})
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/v3"
}

// ensureExampleKey makes build/packer/id_ed25519, the key pair that
// qemu-takeover's example variables name (Packer checks that the private
// key exists when it validates), as `make packer-validate` does.
func ensureExampleKey(t *testing.T) {
	t.Helper()
	p := filepath.Join(repoRoot(t), "build", "packer", "id_ed25519")
	if _, err := os.Stat(p); err == nil {
		return
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bos-packer-example", "-f", p).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
}

// validate runs packer validate on a template directory from the top of
// the repository, with a var file and -var overrides.
func validate(t *testing.T, dir, varFile string, vars ...string) (string, error) {
	t.Helper()
	args := []string{"validate"}
	if varFile != "" {
		args = append(args, "-var-file="+varFile)
	}
	for _, v := range vars {
		args = append(args, "-var", v)
	}
	args = append(args, filepath.Join("packer", dir))
	return vmtest.RunPacker(t, repoRoot(t), 2*time.Minute, args...)
}

// overrides are the -var values a template's validation needs beyond its
// example file on this machine.
func overrides(t *testing.T, dir string, keystone string) []string {
	switch dir {
	case "openstack":
		return []string{"identity_endpoint=" + keystone}
	case "qemu-takeover":
		ensureExampleKey(t)
	}
	return nil
}

// TestValidate: every template is formatted as packer fmt has it and
// validates with Packer and its example variables; without any one of its required variables it fails, naming
// the variable; a value its validation refuses fails with its message.
func TestValidate(t *testing.T) {
	vmtest.NeedPacker(t)
	keystone := fakeKeystone(t)
	root := repoRoot(t)
	for dir := range Templates {
		t.Run(dir, func(t *testing.T) {
			if out, err := vmtest.RunPacker(t, root, time.Minute, "fmt", "-check", "-diff", filepath.Join("packer", dir)); err != nil {
				t.Errorf("packer fmt: %v\n%s", err, out)
			}
			example := filepath.Join(root, "packer", dir, "example.pkrvars.hcl")
			over := overrides(t, dir, keystone)
			if out, err := validate(t, dir, example, over...); err != nil {
				t.Fatalf("packer validate with %s: %v\n%s", example, err, out)
			}
			b, err := os.ReadFile(example)
			if err != nil {
				t.Fatal(err)
			}
			required := 0
			for name, hasDefault := range variables(t, readTemplate(t, dir)) {
				if hasDefault {
					continue
				}
				required++
				lineRe := regexp.MustCompile(`(?m)^` + name + `\s*=.*\n`)
				if !lineRe.Match(b) {
					t.Errorf("%s does not set the required variable %s", example, name)
					continue
				}
				without := filepath.Join(t.TempDir(), "without-"+name+".pkrvars.hcl")
				if err := os.WriteFile(without, lineRe.ReplaceAll(b, nil), 0o644); err != nil {
					t.Fatal(err)
				}
				out, err := validate(t, dir, without, over...)
				if want := fmt.Sprintf("Unset variable %q", name); err == nil || !strings.Contains(out, want) {
					t.Errorf("packer validate without %s: %v; want a failure saying %s:\n%s", name, err, want, out)
				}
			}
			if required == 0 {
				t.Errorf("%s has no required variable: nothing proves a missing one is refused", dir)
			}
		})
	}
	bad := []struct{ dir, value, want string }{
		{"qemu", "format=vmdk", "The format must be qcow2 or raw."},
		{"qemu", "iso_checksum=md5:00", "the ISO is always verified"},
		{"qemu-takeover", "accelerator=xen", "The accelerator must be kvm, tcg"},
		{"aws", "bos_iso_url=http://example.net/bos-amd64.iso", "must be an https:// URL"},
		{"hetzner", "bos_iso_url=ftp://example.net/bos-amd64.iso", "must be an https:// URL"},
	}
	for _, b := range bad {
		t.Run("refuses-"+b.dir+"-"+strings.SplitN(b.value, "=", 2)[0], func(t *testing.T) {
			example := filepath.Join(root, "packer", b.dir, "example.pkrvars.hcl")
			out, err := validate(t, b.dir, example, append(overrides(t, b.dir, keystone), b.value)...)
			// Packer wraps long messages: compare with the spaces squashed.
			if err == nil || !strings.Contains(strings.Join(strings.Fields(out), " "), b.want) {
				t.Errorf("packer validate -var %s: %v; want a failure saying %q:\n%s", b.value, err, b.want, out)
			}
		})
	}
}
