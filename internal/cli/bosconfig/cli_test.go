package bosconfig

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bhojpur/os/internal/config"
	"github.com/bhojpur/os/internal/exitcode"
)

// run runs one command in-process and returns exit code, stdout, stderr.
func TestUsageErrorsExit2(t *testing.T) {
	code, _, errs := run(t, "bos-config", "show", "-o", "xml")
	if code != exitcode.Usage || !strings.Contains(errs, "xml") {
		t.Errorf("show -o xml = %d, %q; want %d", code, errs, exitcode.Usage)
	}
	code, _, errs = run(t, "bos-config", "--root", "/nonexistent/root", "show")
	if code != exitcode.BadInput || !strings.Contains(errs, "not a directory") {
		t.Errorf("--root /nonexistent = %d, %q", code, errs)
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, good, "hostname: h1\n")
	writeFile(t, bad, "hostname: h1\nbos:\n  dns_nameserver: [1.1.1.1]\n  labls: {a: b}\n")
	if code, out, errs := run(t, "bos-config", "validate", good); code != 0 || out != "valid\n" {
		t.Errorf("validate good = %d %q %q", code, out, errs)
	}
	code, _, errs := run(t, "bos-config", "validate", good, bad)
	want := bad + `:4:3: bos.labls: unknown key "labls" (did you mean "labels"?)`
	if code != 1 || !strings.Contains(errs, want) {
		t.Errorf("validate bad = %d %q; want 1 and %q", code, errs, want)
	}
	if code, _, errs := run(t, "bos-config", "validate", filepath.Join(dir, "missing.yaml")); code != exitcode.BadInput || !strings.Contains(errs, "no such file") {
		t.Errorf("validate missing = %d %q", code, errs)
	}
}

func TestShowMergedWithSources(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, config.SystemConfig), "hostname: sys\nbos:\n  modules: [kvm]\n")
	writeFile(t, filepath.Join(root, config.Cmdline), "quiet bos.modules=nvme bos.nope=1\n")
	code, out, errs := run(t, "bos-config", "--root", root, "show", "--sources")
	if code != 0 {
		t.Fatalf("show = %d %q", code, errs)
	}
	for _, want := range []string{
		"hostname: sys # from " + filepath.Join(root, config.SystemConfig) + ":1:11",
		"- nvme # from " + filepath.Join(root, config.Cmdline) + ":1:7",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("show --sources output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errs, "warning: "+filepath.Join(root, config.Cmdline)+":1:24: bos.nope: unknown key") {
		t.Errorf("stderr = %q; want the cmdline warning", errs)
	}
	code, out, _ = run(t, "bos-config", "--root", root, "show", "-o", "json")
	var cfg config.Config
	if err := json.Unmarshal([]byte(out), &cfg); err != nil || code != 0 {
		t.Fatalf("show -o json = %d, %v\n%s", code, err, out)
	}
	if diff := cmp.Diff([]string{"kvm", "nvme"}, cfg.Bos.Modules); diff != "" {
		t.Errorf("modules (-want +got):\n%s", diff)
	}
}

func TestShowDCP(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, config.SystemConfig), `bos:
  server_url: https://s:6443
  token: "K1074ec55daebdf54ef48294b0ddf0ce1c3cb64ee7e3d0b9ec79fbc7baf1f7ddac6::node:77689533d0140c7019416603a05275d4"
  labels: {zone: a}
  taints: ["k=v:NoExecute"]
  environment: {HTTPS_PROXY: "http://p:3128"}
`)
	writeFile(t, filepath.Join(root, "run/bos/mode"), "disk\n")
	writeFile(t, filepath.Join(root, "run/bos/version"), "v2\n")  // what bos-init mounted
	writeFile(t, filepath.Join(root, "run/bos/fallback"), "v3\n") // a failed trial boot
	code, out, errs := run(t, "bos-config", "--root", root, "show", "--dcp", "-o", "json")
	if code != 0 {
		t.Fatalf("show --dcp = %d %q", code, errs)
	}
	var got struct {
		Argv []string          `json:"argv"`
		Env  map[string]string `json:"env"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	wantArgv := []string{"dcp", "agent", "--node-label", "zone=a", "--node-label", "bhojpur.net/mode=disk",
		"--node-label", "bhojpur.net/version=v2", "--node-label", "bhojpur.net/fallback=v3", "--node-taint", "k=v:NoExecute"}
	if diff := cmp.Diff(wantArgv, got.Argv); diff != "" {
		t.Errorf("argv (-want +got):\n%s", diff)
	}
	wantEnv := map[string]string{"DCP_URL": "https://s:6443", "HTTPS_PROXY": "http://p:3128",
		"DCP_TOKEN": "K1074ec55daebdf54ef48294b0ddf0ce1c3cb64ee7e3d0b9ec79fbc7baf1f7ddac6::node:77689533d0140c7019416603a05275d4"}
	if diff := cmp.Diff(wantEnv, got.Env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
}

func TestShowReportsProblemsAndFails(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, config.RuntimeConfig), "hostname: ok\nbos:\n  taints: [bad]\n")
	code, out, errs := run(t, "bos-config", "--root", root, "show")
	if code != 1 || !strings.Contains(errs, config.RuntimeConfig+":3:12: bos.taints[0]") || !strings.Contains(out, "hostname: ok") {
		t.Errorf("show with a bad taint = %d, out %q, err %q", code, out, errs)
	}
}

func TestSchemaIsJSON(t *testing.T) {
	code, out, _ := run(t, "bos-config", "schema")
	var v map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v["additionalProperties"] != false {
		t.Errorf("schema = %d, not a strict JSON Schema: %.200s", code, out)
	}
}
