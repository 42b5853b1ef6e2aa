package config

import (
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRefusedValuesAreLeftOut: a value with a problem is reported and left
// out of the config (and of what show prints), by the unit it belongs to;
// the rest loads.
func TestRefusedValuesAreLeftOut(t *testing.T) {
	l, err := LoadFile("c.yaml", strings.NewReader(`hostname: "bad_host"
ssh_authorized_keys: [github:ok, "github:"]
write_files:
- {path: /etc/ok}
- {path: /etc/../x}
- {path: /etc/, content: x}
- {path: /etc/mode, permissions: "0999"}
- {path: /etc/typo, permision: "0600"}
bos:
  modules: [kvm, "loop max_loop=8\tx"]
  labels: {ok: v, "bad key!": v, bad: "v v"}
  sysctls: {"../x": "1", vm.swappiness: "1"}
  wifi: [{name: a, passphrase: short}, {name: b}]
  dcp_args: [server, "--x\ny"]
  environment: {OK: "1", BAD: "a\rb"}
  token: "t\n"
  server_url: https://s:6443
`))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		SSHAuthorizedKeys: []string{"github:ok"},
		WriteFiles:        []File{{Path: "/etc/ok"}},
		Bos: Bos{
			Modules:     []string{"kvm"},
			Labels:      map[string]string{"ok": "v"},
			Sysctls:     map[string]string{"vm.swappiness": "1"},
			Wifi:        []Wifi{{Name: "b"}},
			Environment: map[string]string{"OK": "1"},
			ServerURL:   "https://s:6443",
		},
	}
	if diff := cmp.Diff(want, l.Config); diff != "" {
		t.Errorf("config (-want +got):\n%s\nproblems:\n%v", diff, l.Problems)
	}
	wantRefused := []string{"bos.dcp_args[1]", "bos.environment[BAD]", "bos.labels[bad key!]", "bos.labels[bad]", "bos.modules[1]",
		"bos.sysctls[../x]", "bos.token", "bos.wifi[0].passphrase", "hostname", "ssh_authorized_keys[1]", "write_files[1].path",
		"write_files[2].path", "write_files[3].permissions", "write_files[4].permision"}
	got := l.Refused()
	sort.Strings(got)
	if diff := cmp.Diff(wantRefused, got); diff != "" {
		t.Errorf("Refused() (-want +got):\n%s", diff)
	}
	out, err := l.YAML(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, refused := range []string{"bad_host", "max_loop", "bad key", "short", "--x", "BAD", "0999", "/etc/typo", "/etc/..", "token"} {
		if strings.Contains(string(out), refused) {
			t.Errorf("show --sources prints the refused %q:\n%s", refused, out)
		}
	}
}

// TestValidateRefusesWhatApplyRefuses: each of these passed validation and
// then failed in apply (taking the rest of its step with it).
func TestValidateRefusesWhatApplyRefuses(t *testing.T) {
	for _, tc := range []struct{ yaml, key string }{
		{`bos: {environment: {A: "x\ny"}}`, "bos.environment[A]"},
		{`bos: {environment: {A: "x\u0000y"}}`, "bos.environment[A]"},
		{`bos: {dcp_args: [server, "--a\nb"]}`, "bos.dcp_args[1]"},
		{`bos: {token: "K10ab::node:x\ny"}`, "bos.token"},
		{`bos: {modules: ["kvm x=\ny"]}`, "bos.modules[0]"},
		{`write_files: [{path: /}]`, "write_files[0].path"},
		{`write_files: [{path: "/etc/x/"}]`, "write_files[0].path"},
		{`write_files: [{path: /etc/x, encoding: gz, content: "not gzip at all"}]`, "write_files[0].content"},
		{`ssh_authorized_keys: ["github:` + strings.Repeat("a", 256) + `"]`, "ssh_authorized_keys[0]"},
	} {
		l, err := LoadFile("c.yaml", strings.NewReader(tc.yaml))
		if err != nil {
			t.Fatal(err)
		}
		if got := l.Refused(); len(got) != 1 || got[0] != tc.key {
			t.Errorf("LoadFile(%q): refused %q, want [%s]; problems:\n%v", tc.yaml, got, tc.key, l.Problems)
		}
	}
	// What validation accepts, apply takes as written.
	l, err := LoadFile("c.yaml", strings.NewReader(`write_files: [{path: /a, permissions: "0o600"}, {path: /b, permissions: "4755"}]`))
	if err != nil || l.Err() != nil {
		t.Fatal(err, l.Err())
	}
	for i, want := range []uint32{0o600, 0o4755} {
		if m, err := l.Config.WriteFiles[i].Mode(); m != want || err != nil {
			t.Errorf("Mode(%q) = %o, %v, want %o", l.Config.WriteFiles[i].Permissions, m, err, want)
		}
	}
}
