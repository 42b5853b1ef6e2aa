package config

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const fullExample = "testdata/valid/full-example.yaml"

const rsaKey = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC2TBZGjE+J8ag11dzkFT58J3XPONrDVmalCNrKxsfADfyy0eqdZrG8hcAxAR/5zuj90Gin2uBR4Sw6Cn4VHsPZcFpXyQCjK1QDADj+WcuhpXOIOY3AB0LZBly9NI0ll+8lo3QtEaoyRLtrMBhQ6Mooy2M3MTG4JNwU9o3yInuqZWf9PvtW6KxMl+ygg1xZkljhemGZ9k0wSrjqif+8usNbzVlCOVQmZwZA+BZxbdcLNwkg7zWJSXzDIXyqM6iWPGXQDEbWLq3+HR1qKucTCSxjbqoe0FD5xcW7NHIME5XKX84yH92n6yn+rxSsyUfhJWYqJd+i0fKf5UbN6qLrtd/D"

const edKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGm4vFQ2J1O7xq9mWz7Jb5Wb6o3TqXcPq1kR2C8uR8Zp test@bos"

// fullExampleConfig is every value of the product document's full example.
var fullExampleConfig = Config{
	SSHAuthorizedKeys: []string{rsaKey, "github:bhojpur"},
	WriteFiles: []File{{
		Encoding:    "",
		Content:     "#!/bin/bash\necho hello, local service start",
		Owner:       "root",
		Path:        "/etc/local.d/example.start",
		Permissions: "0755",
	}},
	Hostname: "myhost",
	InitCmd:  []string{"echo hello, init command"},
	BootCmd:  []string{"echo hello, boot command"},
	RunCmd:   []string{"echo hello, run command"},
	Bos: Bos{
		DataSources:    []string{"aws", "cdrom"},
		Modules:        []string{"kvm", "nvme"},
		Sysctls:        map[string]string{"kernel.printk": "4 4 1 7", "kernel.kptr_restrict": "1"},
		DNSNameservers: []string{"8.8.8.8", "1.1.1.1"},
		NTPServers:     []string{"0.us.pool.ntp.org", "1.us.pool.ntp.org"},
		Wifi:           []Wifi{{Name: "home", Passphrase: "mypassword"}, {Name: "nothome", Passphrase: "somethingelse"}},
		Password:       "bhojpur",
		ServerURL:      "https://someserver:6443",
		Token:          "TOKEN_VALUE",
		Labels:         map[string]string{"region": "us-west-1", "somekey": "somevalue"},
		DCPArgs:        []string{"server", "--cluster-init"},
		Environment:    map[string]string{"http_proxy": "http://myserver", "https_proxy": "http://myserver"},
		Taints:         []string{"key1=value1:NoSchedule", "key1=value1:NoExecute"},
	},
}

// writeRoot makes a root directory holding files (relative path -> content).
func writeRoot(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for rel, content := range files {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func mustRead(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFullExampleLoadsEveryValue(t *testing.T) {
	root := writeRoot(t, map[string]string{SystemConfig: mustRead(t, fullExample)})
	l, err := Load(Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if l.Err() != nil {
		t.Fatalf("full example has problems:\n%v", l.Err())
	}
	if diff := cmp.Diff(fullExampleConfig, l.Config); diff != "" {
		t.Errorf("Load(full example) mismatch (-want +got):\n%s", diff)
	}
}

func TestCmdlineExamples(t *testing.T) {
	for _, tc := range []struct {
		cmdline string
		want    Config
	}{
		{`bos.token=TOKEN`, Config{Bos: Bos{Token: "TOKEN"}}},
		{`bos.dns_nameserver=1.1.1.1 bos.dns_nameserver=8.8.8.8`, Config{Bos: Bos{DNSNameservers: []string{"1.1.1.1", "8.8.8.8"}}}},
		{`bos.dns_nameservers=1.1.1.1 bos.dns_nameservers=8.8.8.8`, Config{Bos: Bos{DNSNameservers: []string{"1.1.1.1", "8.8.8.8"}}}},
		{`bos.sysctl[kernel.printk]="4 4 1 7"`, Config{Bos: Bos{Sysctls: map[string]string{"kernel.printk": "4 4 1 7"}}}},
		{`"bos.sysctl[kernel.printk]=4 4 1 7" bos.sysctls[vm.swappiness]=10`, Config{Bos: Bos{Sysctls: map[string]string{"kernel.printk": "4 4 1 7", "vm.swappiness": "10"}}}},
		{`bos.install.efi`, Config{Bos: Bos{Install: Install{ForceEFI: true}}}},
		{`bos.install.efi=true`, Config{Bos: Bos{Install: Install{ForceEFI: true}}}},
		{`bos.install.silent=false`, Config{}},
		{`bos.mode=install`, Config{Bos: Bos{Mode: "install"}}},
		{`bos.fallback_mode=install`, Config{Bos: Bos{FallbackMode: "install"}}},
		{`bos.install.silent bos.install.force_efi bos.install.device=/dev/vda bos.install.config_url=https://gist.github.com/x/bhojpur.yaml bos.install.iso_url=https://github.com/bhojpur/os/bos-amd64.iso bos.install.no_format bos.install.tty=ttyS0 bos.install.debug bos.install.power_off`,
			Config{Bos: Bos{Install: Install{Silent: true, ForceEFI: true, Device: "/dev/vda", ConfigURL: "https://gist.github.com/x/bhojpur.yaml",
				ISOURL: "https://github.com/bhojpur/os/bos-amd64.iso", NoFormat: true, TTY: "ttyS0", Debug: true, PowerOff: true}}}},
		{`bos.hostname=h1`, Config{Hostname: "h1"}},
		{`bos.ssh_authorized_keys="` + edKey + `"`, Config{SSHAuthorizedKeys: []string{edKey}}},
		{`BOOT_IMAGE=/vmlinuz console=ttyS0 quiet bosx.hostname=x bos.hostname=h2 root=/dev/vda2`, Config{Hostname: "h2"}},
		{`bos.hostname=a bos.hostname=b`, Config{Hostname: "b"}},
		{`bos.labels[node.example.com/role]=db bos.taint=a=b:NoSchedule`, Config{Bos: Bos{Labels: map[string]string{"node.example.com/role": "db"}, Taints: []string{"a=b:NoSchedule"}}}},
		{`bos.dcp_args=agent bos.dcp_args=--debug bos.server_url=https://s:6443`, Config{Bos: Bos{DCPArgs: []string{"agent", "--debug"}, ServerURL: "https://s:6443"}}},
		{`bos.environment[HTTP_PROXY]="http://proxy:3128" bos.debug`, Config{Bos: Bos{Environment: map[string]string{"HTTP_PROXY": "http://proxy:3128"}, Debug: true}}},
	} {
		l, err := ParseCmdline("cmdline", strings.NewReader(tc.cmdline))
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Warnings) > 0 || len(l.Problems) > 0 {
			t.Errorf("ParseCmdline(%q): warnings %v, problems %v", tc.cmdline, l.Warnings, l.Problems)
		}
		if diff := cmp.Diff(tc.want, l.Config); diff != "" {
			t.Errorf("ParseCmdline(%q) mismatch (-want +got):\n%s", tc.cmdline, diff)
		}
	}
}

func TestCmdlineWarnings(t *testing.T) {
	for _, tc := range []struct {
		cmdline, want string
	}{
		{`console=ttyS0 bos.tokn=x`, `cmdline:1:15: bos.tokn: unknown key bos.tokn: ignored (did you mean bos.token?)`},
		{`bos.install.devise=/dev/sda`, `cmdline:1:1: bos.install.devise: unknown key bos.install.devise: ignored (did you mean bos.install.device?)`},
		{`bos.install.silent=maybe`, `cmdline:1:1: bos.install.silent: ignored: "maybe" is not true or false`},
		{`bos.hostname`, `cmdline:1:1: bos.hostname: ignored: needs a value (bos.hostname=VALUE)`},
		{`bos.sysctl=4`, `cmdline:1:1: bos.sysctls: ignored: a map key is set as bos.sysctls[KEY]=VALUE`},
		{`bos.write_files=x`, `cmdline:1:1: bos.write_files: ignored: bos.write_files cannot be set on the kernel cmdline; put it in config.yaml`},
		{`bos.token[x]=y`, `cmdline:1:1: bos.token: ignored: [x] only goes with map keys`},
		{`bos.sysctl[kernel.printk=1`, `cmdline:1:1: bos.sysctl: ignored: malformed [key] (write bos.sysctl[KEY]=VALUE)`},
		{`bos. bos.install`, `cmdline:1:1: bos.: unknown key bos.: ignored`},
	} {
		l, err := ParseCmdline("cmdline", strings.NewReader(tc.cmdline))
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Warnings) == 0 || l.Warnings[0].String() != tc.want {
			t.Errorf("ParseCmdline(%q) warnings = %v, want first %q", tc.cmdline, l.Warnings, tc.want)
		}
	}
}

func TestCmdlineValuesAreValidated(t *testing.T) {
	l, err := ParseCmdline("/proc/cmdline", strings.NewReader(`quiet bos.install.device=vda bos.taints=bad`))
	if err != nil {
		t.Fatal(err)
	}
	got := l.Problems.Error()
	for _, want := range []string{
		`/proc/cmdline:1:7: bos.install.device: "vda" is not an absolute device path such as /dev/vda`,
		`/proc/cmdline:1:30: bos.taints[0]: "bad" is not a taint`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems = %q, want %q", got, want)
		}
	}
}

func TestMergeRules(t *testing.T) {
	root := writeRoot(t, map[string]string{
		SystemConfig: `
hostname: from-system
ssh_authorized_keys: [github:a, github:b]
bos:
  labels: {a: "1", b: "1"}
  dcp_args: [server, --one]
  sysctls: {kernel.printk: "1"}
  modules: [kvm]
`,
		Cmdline:                            `bos.hostname=from-cmdline bos.modules=nvme bos.sysctl[vm.swappiness]=5`,
		RuntimeConfig:                      "bos:\n  labels: {b: \"2\"}\n  modules: [kvm, loop]\n",
		Userdata:                           "#cloud-config\nssh_authorized_keys: [github:b, github:c]\nbos:\n  dcp_args: [agent]\n",
		CloudSSHKeys:                       "# keys from metadata\n" + edKey + "\n\ngithub:a\n",
		CloudHostname:                      "from-cloud\n",
		RuntimeConfigD + "/20-second.yaml": "hostname: from-config-d-20\nbos:\n  labels: {c: \"3\"}\n",
		RuntimeConfigD + "/10-first.yaml":  "hostname: from-config-d-10\nbos:\n  dcp_args: [agent, --final]\n",
		RuntimeConfigD + "/.hidden.yaml":   "hostname: hidden\n",
	})
	l, err := Load(Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if l.Err() != nil {
		t.Fatal(l.Err())
	}
	want := Config{
		Hostname:          "from-config-d-20",
		SSHAuthorizedKeys: []string{"github:a", "github:b", edKey, "github:c"},
		Bos: Bos{
			Labels:  map[string]string{"a": "1", "b": "2", "c": "3"},
			DCPArgs: []string{"agent", "--final"},
			Sysctls: map[string]string{"kernel.printk": "1", "vm.swappiness": "5"},
			Modules: []string{"kvm", "nvme", "loop"},
		},
	}
	if diff := cmp.Diff(want, l.Config); diff != "" {
		t.Errorf("merged config mismatch (-want +got):\n%s", diff)
	}
	origins := l.Origins()
	for path, want := range map[string]string{
		"hostname":               filepath.Join(root, RuntimeConfigD, "20-second.yaml") + ":1:11",
		"bos.labels[b]":          filepath.Join(root, RuntimeConfig) + ":2:15",
		"bos.modules[1]":         filepath.Join(root, Cmdline) + ":1:27",
		"bos.dcp_args[1]":        filepath.Join(root, RuntimeConfigD, "10-first.yaml") + ":3:21",
		"ssh_authorized_keys[2]": filepath.Join(root, CloudSSHKeys) + ":2:1",
	} {
		if origins[path] != want {
			t.Errorf("origin of %s = %q, want %q", path, origins[path], want)
		}
	}
}

func TestUserdataHostnameWinsOverMetadata(t *testing.T) {
	root := writeRoot(t, map[string]string{
		CloudHostname: "from-metadata\n",
		Userdata:      "#cloud-config\nhostname: from-userdata\n",
	})
	l, err := Load(Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if l.Config.Hostname != "from-userdata" {
		t.Errorf("hostname = %q, want the userdata's", l.Config.Hostname)
	}
}

func TestBhojpurSymlinkIsOneFile(t *testing.T) {
	root := writeRoot(t, map[string]string{SystemConfig: "run_cmd: [echo once]\nbos:\n  dcp_args: [server]\n"})
	if err := os.Symlink("bos", filepath.Join(root, "bhojpur")); err != nil {
		t.Fatal(err)
	}
	l, err := Load(Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Sources) != 1 {
		t.Errorf("sources = %v, want the one file", l.Sources)
	}
	// A separate bhojpur/system/config.yaml is a source of its own.
	root2 := writeRoot(t, map[string]string{SystemConfig: "hostname: a\n", BhojpurConfig: "hostname: b\n"})
	l, err = Load(Options{Root: root2})
	if err != nil {
		t.Fatal(err)
	}
	if l.Config.Hostname != "b" {
		t.Errorf("hostname = %q, want b from %s", l.Config.Hostname, BhojpurConfig)
	}
}

func gz(t *testing.T, s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestUserdataKinds(t *testing.T) {
	for _, tc := range []struct {
		name, userdata string
		hostname       string
		script         bool
		warning        string
	}{
		{"yaml", "hostname: plain\n", "plain", false, ""},
		{"cloud-config", "#cloud-config\nhostname: cc\n", "cc", false, ""},
		{"gzip", gz(t, "#cloud-config\nhostname: zipped\n"), "zipped", false, ""},
		{"script", "#!/bin/sh\necho hi\n", "", true, ""},
		{"gzip script", gz(t, "#!/bin/sh\necho hi\n"), "", true, ""},
		{"multipart", "Content-Type: multipart/mixed; boundary=x\n", "", false, "MIME multi-part userdata is not supported"},
		{"text", "just some words\n", "", false, "not a #cloud-config, a #! script or a YAML mapping"},
		{"binary", "\x00\x01\x02", "", false, "not a #cloud-config, a #! script or a YAML mapping"},
		{"bad gzip", "\x1f\x8bnot really", "", false, "looks gzip-compressed but has no valid gzip header"},
	} {
		root := writeRoot(t, map[string]string{Userdata: tc.userdata})
		l, err := Load(Options{Root: root})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if l.Config.Hostname != tc.hostname {
			t.Errorf("%s: hostname = %q, want %q", tc.name, l.Config.Hostname, tc.hostname)
		}
		if (l.Script != "") != tc.script {
			t.Errorf("%s: script = %q, want script %v", tc.name, l.Script, tc.script)
		}
		if tc.warning != "" && !strings.Contains(l.Warnings.Error(), tc.warning) {
			t.Errorf("%s: warnings = %q, want %q", tc.name, l.Warnings.Error(), tc.warning)
		}
		if tc.warning == "" && len(l.Warnings) > 0 {
			t.Errorf("%s: unexpected warnings %v", tc.name, l.Warnings)
		}
	}
}

func TestUnreadableSourceIsAnError(t *testing.T) {
	root := writeRoot(t, map[string]string{})
	if err := os.MkdirAll(filepath.Join(root, RuntimeConfig), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(Options{Root: root}); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("Load with a directory as %s: err = %v, want 'is a directory'", RuntimeConfig, err)
	}
}

// TestInvalidFiles checks every file under testdata/invalid against its
// golden messages (.err); UPDATE=1 rewrites them.
func TestInvalidFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/invalid/*.yaml")
	if len(files) == 0 {
		t.Fatal("no testdata")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			fh, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			l, err := LoadFile(f, fh)
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Problems) == 0 {
				t.Fatalf("LoadFile(%s): no problems, want some", f)
			}
			got := SortedIssues(l.Problems).Error() + "\n"
			golden := strings.TrimSuffix(f, ".yaml") + ".err"
			if os.Getenv("UPDATE") == "1" {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(mustRead(t, golden), got); diff != "" {
				t.Errorf("LoadFile(%s) messages (-want +got):\n%s", f, diff)
			}
		})
	}
}

func TestValidFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/valid/*.yaml")
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		l, err := LoadFile(f, fh)
		fh.Close()
		if err != nil {
			t.Fatal(err)
		}
		if l.Err() != nil {
			t.Errorf("LoadFile(%s): %v", f, l.Err())
		}
	}
}

func TestBinaryContentBecomesBase64(t *testing.T) {
	l, err := LoadFile("b.yaml", strings.NewReader(mustRead(t, "testdata/valid/binary-content.yaml")))
	if err != nil || l.Err() != nil {
		t.Fatal(err, l.Err())
	}
	want := []File{
		{Path: "/bin/hello", Permissions: "0555", Encoding: "b64", Content: "f0VMRgIBAQAAAAAAAAAAAAIAPgABAAAA"},
		{Path: "/etc/conf.gz", Encoding: "gzip+b64", Content: "H4sIAAAAAAAAA8tIzcnJBwCGphA2BQAAAA=="},
		{Path: "/etc/b64", Encoding: "b64", Owner: "bhojpur:bhojpur", Content: "aGVsbG8K"},
	}
	if diff := cmp.Diff(want, l.Config.WriteFiles); diff != "" {
		t.Errorf("write_files (-want +got):\n%s", diff)
	}
}

// TestBadInputNeverPanics feeds hostile input to the loader and cmdline
// parser; each must come back with a clear problem, fast.
func TestBadInputNeverPanics(t *testing.T) {
	// 10^12 leaves, but every alias is a list where a string or a mapping
	// belongs: the type checks stop it before anything is expanded.
	nested := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for i, prev := 0, "a"; i < 12; i++ {
		name := string(rune('b' + i))
		nested += name + ": &" + name + " [" + strings.Repeat("*"+prev+", ", 9) + "*" + prev + "]\n"
		prev = name
	}
	nested += "ssh_authorized_keys: *m\nwrite_files: *m\n"
	// A mapping of 1,000 keys aliased 1,000 times where mappings belong:
	// each alias is expanded, so the node limit stops it after 200,000.
	var keys strings.Builder
	for i := 0; i < 1000; i++ {
		keys.WriteString("k" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + ": 1, ")
	}
	bomb := "hostname: h\nx: &m {" + keys.String() + "}\nwrite_files: [" + strings.Repeat("*m, ", 1000) + "]\n"
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	for _, tc := range []struct {
		name, data, want string
	}{
		{"too large", "hostname: x\n" + strings.Repeat("#", MaxFileSize), "a config may be at most"},
		{"nul", "hostname: x\x00", "NUL byte"},
		{"invalid utf-8", "hostname: \xff", "invalid UTF-8"},
		{"nested alias bomb", nested, "ssh_authorized_keys[0]: expected a string, got a list"},
		{"alias bomb", bomb, "over 200000 nodes once aliases are expanded: the file is ignored"},
		{"deep nesting", "hostname: " + deep, "YAML syntax: exceeded max depth of 10000"},
		{"deep mapping", strings.Repeat("a:\n ", 5000) + "b", "YAML syntax: could not find expected ':'"},
		{"tabs", "hostname:\tx\n\tbos: {}", "YAML syntax: found a tab character"},
	} {
		l, err := LoadFile(tc.name, strings.NewReader(tc.data))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !strings.Contains(l.Problems.Error(), tc.want) {
			t.Errorf("%s: problems = %.300q, want %q", tc.name, l.Problems.Error(), tc.want)
		}
		if len(l.Problems) > maxIssues+1 {
			t.Errorf("%s: %d problems, want at most %d and a summary", tc.name, len(l.Problems), maxIssues)
		}
		if tc.name == "alias bomb" && l.Config.Hostname != "" {
			t.Errorf("alias bomb: hostname %q was loaded from a file over the limit", l.Config.Hostname)
		}
	}
	var words strings.Builder
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&words, "bos.modules=m%05d bos.x ", i) // distinct: duplicates are dropped
	}
	huge := words.String()
	l, err := ParseCmdline("cmdline", strings.NewReader(huge))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(l.Warnings.Error(), "cmdline longer than") {
		t.Errorf("huge cmdline: want a length warning")
	}
	if n := len(l.Config.Bos.Modules); n < 1000 || n > MaxCmdline/len("bos.modules=m00000 ") {
		t.Errorf("huge cmdline: modules has %d entries, want those of the first %d bytes", n, MaxCmdline)
	}
}

// TestDocumentBounds: a document of valid keys that aliases expand past
// maxNodes or maxExpanded is ignored whole, with the bound's own problem.
// A config has no list of lists, so aliases amplify one level: a list of
// aliases of one write_files entry.
func TestDocumentBounds(t *testing.T) {
	entries := func(entry string, n int) string {
		return "hostname: h\nwrite_files:\n- &f " + entry + "\n" + strings.Repeat("- *f\n", n)
	}
	big := strings.Repeat("x", 64<<10)
	for _, tc := range []struct {
		name, data, want string
	}{
		// Nine nodes an entry (the mapping, four keys, four values).
		{"nodes", entries(`{path: /etc/a, owner: root, permissions: "0644", content: x}`, maxNodes/9),
			fmt.Sprintf("document too large: over %d nodes once aliases are expanded: the file is ignored", maxNodes)},
		{"bytes", entries("{path: /etc/a, content: "+big+"}", maxExpanded/len(big)),
			fmt.Sprintf("document too large: over %d MiB of values once aliases are expanded: the file is ignored", maxExpanded>>20)},
	} {
		l, err := LoadFile("f.yaml", strings.NewReader(tc.data))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(l.Problems) != 1 || l.Problems[0].Msg != tc.want || l.Problems[0].Key != "" {
			t.Errorf("%s: problems = %.300q, want the one problem %q", tc.name, l.Problems.Error(), tc.want)
		}
		if l.Config.Hostname != "" || len(l.Config.WriteFiles) != 0 {
			t.Errorf("%s: hostname %q and %d write_files loaded from a document over the bound", tc.name, l.Config.Hostname, len(l.Config.WriteFiles))
		}
	}
	// Just under the bounds, the same documents load.
	for name, data := range map[string]string{
		"nodes": entries(`{path: /etc/a, owner: root, permissions: "0644", content: x}`, maxNodes/9-10),
		"bytes": entries("{path: /etc/a, content: "+big+"}", maxExpanded/len(big)-2),
	} {
		l, err := LoadFile("f.yaml", strings.NewReader(data))
		if err != nil || l.Err() != nil || l.Config.Hostname != "h" || len(l.Config.WriteFiles) != 1 {
			t.Errorf("%s under the bound: err %v, problems %.300v, hostname %q, %d write_files (duplicates dropped: want 1)", name, err, l.Err(), l.Config.Hostname, len(l.Config.WriteFiles))
		}
	}
}

// TestDuplicateListEntriesDroppedInOrder: a list keeps the first of equal
// entries, in order, within one source too (the merge rules).
func TestDuplicateListEntriesDroppedInOrder(t *testing.T) {
	l, err := ParseCmdline("c", strings.NewReader("bos.modules=b bos.modules=a bos.modules=b"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"b", "a"}, l.Config.Bos.Modules); diff != "" {
		t.Errorf("cmdline modules (-want +got):\n%s", diff)
	}
	l, err = LoadFile("f", strings.NewReader("run_cmd: [b, a, b, c, a]\nwrite_files:\n- {path: /x}\n- {path: /y}\n- {path: /x}\n"))
	if err != nil || l.Err() != nil {
		t.Fatal(err, l.Err())
	}
	if diff := cmp.Diff([]string{"b", "a", "c"}, l.Config.RunCmd); diff != "" {
		t.Errorf("file run_cmd (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]File{{Path: "/x"}, {Path: "/y"}}, l.Config.WriteFiles); diff != "" {
		t.Errorf("file write_files (-want +got):\n%s", diff)
	}
}

// TestArgvKeepsRepeatedArguments: dcp_args is an argv, replaced whole by a
// later source, never deduplicated: a repeated argument stays.
func TestArgvKeepsRepeatedArguments(t *testing.T) {
	l, err := ParseCmdline("c", strings.NewReader("bos.dcp_args=agent bos.dcp_args=--x bos.dcp_args=--x"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"agent", "--x", "--x"}, l.Config.Bos.DCPArgs); diff != "" {
		t.Errorf("cmdline dcp_args (-want +got):\n%s", diff)
	}
	l, err = LoadFile("f", strings.NewReader("bos:\n  dcp_args: [server, --node-label=a, --node-label=a]\n"))
	if err != nil || l.Err() != nil {
		t.Fatal(err, l.Err())
	}
	if diff := cmp.Diff([]string{"server", "--node-label=a", "--node-label=a"}, l.Config.Bos.DCPArgs); diff != "" {
		t.Errorf("file dcp_args (-want +got):\n%s", diff)
	}
}
