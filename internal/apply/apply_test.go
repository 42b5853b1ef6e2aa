package apply

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/config"
	"github.com/bhojpur/os/internal/dcp"
	"github.com/bhojpur/os/internal/execrun"
	"github.com/bhojpur/os/internal/operatormanifest"
)

const docRSAKey = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC2TBZGjE+J8ag11dzkFT58J3XPONrDVmalCNrKxsfADfyy0eqdZrG8hcAxAR/5zuj90Gin2uBR4Sw6Cn4VHsPZcFpXyQCjK1QDADj+WcuhpXOIOY3AB0LZBly9NI0ll+8lo3QtEaoyRLtrMBhQ6Mooy2M3MTG4JNwU9o3yInuqZWf9PvtW6KxMl+ygg1xZkljhemGZ9k0wSrjqif+8usNbzVlCOVQmZwZA+BZxbdcLNwkg7zWJSXzDIXyqM6iWPGXQDEbWLq3+HR1qKucTCSxjbqoe0FD5xcW7NHIME5XKX84yH92n6yn+rxSsyUfhJWYqJd+i0fKf5UbN6qLrtd/D"

const githubKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFXgMxutej63IN7ROY+tzajxkWiZFL5phjMjBolTDo2/"

func fullInput(t testing.TB) Input {
	return Input{Config: loadConfig(t, "testdata/full.yaml"), Node: dcp.Node{Mode: "local", Version: "v1.2.3"}}
}

func planOf(steps []Step) []string {
	var out []string
	for _, s := range steps {
		out = append(out, s.String())
	}
	return out
}

func TestPlan(t *testing.T) {
	in := fullInput(t)
	in.Script = "/run/config/userdata"
	common := []string{"write_files /etc/local.d/example.start", "password of bhojpur"}
	kernel := []string{"hostname myhost", "module kvm", "module nvme", "sysctl kernel.kptr_restrict", "sysctl kernel.printk"}
	net := []string{"connman fallback DNS and NTP servers", "wifi (2 networks)"}
	env := []string{"environment (/etc/environment)"}
	keys := []string{"ssh_authorized_keys of bhojpur (2 entries)"}
	dcpS := []string{"DCP service (dcp server)"}
	cat := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	for phase, want := range map[Phase][]string{
		Initrd:  cat(common, kernel, env, []string{"init_cmd[0] echo hello, init command"}),
		Boot:    cat(common, keys, kernel, net, env, dcpS, []string{"boot_cmd[0] echo hello, boot command"}),
		Runtime: cat(common, keys, kernel, net, env, dcpS, []string{"run_cmd[0] echo hello, run command", "userdata script /run/config/userdata"}),
	} {
		if diff := cmp.Diff(want, planOf(Plan(phase, in))); diff != "" {
			t.Errorf("Plan(%s) (-want +got):\n%s", phase, diff)
		}
	}
	// No secret ever shows in a step name.
	for _, p := range Phases {
		for _, s := range planOf(Plan(p, in)) {
			for _, secret := range []string{"TOKEN_VALUE", "mypassword", "somethingelse", ": bhojpur"} {
				if strings.Contains(s, secret) {
					t.Errorf("step %q shows a secret", s)
				}
			}
		}
	}
}

// snapshot maps every path under root to its inode and mtime.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		out[p] = fmt.Sprintf("ino %d mtime %d mode %v uid %d gid %d", st.Ino, fi.ModTime().UnixNano(), fi.Mode(), st.Uid, st.Gid)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFullExampleBoot(t *testing.T) {
	root := newRoot(t)
	tt := newTarget(root, false)
	if err := Run(context.Background(), tt.Target, Boot, Plan(Boot, fullInput(t))); err != nil {
		t.Fatalf("apply boot: %v\nlog:\n%s", err, tt.log)
	}
	type want struct {
		data  string
		mode  os.FileMode
		owner [2]int
	}
	openssl, err := exec.Command("openssl", "passwd", "-6", "-salt", "saltsalt", "bhojpur").Output()
	if err != nil {
		t.Fatalf("openssl: %v", err)
	}
	hash := strings.TrimSpace(string(openssl))
	files := map[string]want{
		"etc/local.d/example.start":         {"#!/bin/bash\necho hello, local service start", 0o755, [2]int{0, 0}},
		"etc/shadow":                        {"root:*:19000:0:99999:7:::\nbhojpur:" + hash + ":19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n", 0o640, [2]int{0, 42}},
		"home/bhojpur/.ssh/authorized_keys": {keysBlock(docRSAKey), 0o600, [2]int{1000, 1000}},
		"etc/hostname":                      {"myhost\n", 0o644, [2]int{0, 0}},
		"etc/hosts":                         {"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tmyhost\n", 0o644, [2]int{0, 0}},
		"proc/sys/kernel/printk":            {"4 4 1 7\n", 0o644, [2]int{0, 0}},
		"proc/sys/kernel/kptr_restrict":     {"1\n", 0o644, [2]int{0, 0}},
		"etc/connman/main.conf": {"[General]\n# image default\nPreferredTechnologies=ethernet,wifi\n" +
			"FallbackNameservers=8.8.8.8,1.1.1.1\nFallbackTimeservers=0.us.pool.ntp.org,1.us.pool.ntp.org\n", 0o644, [2]int{0, 0}},
		"var/lib/connman/bos-wifi.config": {"# Written by bos-config apply from bos.wifi; edits are lost.\n" +
			"\n[service_bos_wifi_0]\nType = wifi\nName = home\nSecurity = psk\nPassphrase = mypassword\n" +
			"\n[service_bos_wifi_1]\nType = wifi\nName = nothome\nSecurity = psk\nPassphrase = somethingelse\n", 0o600, [2]int{0, 0}},
		"etc/environment": {"http_proxy='http://myserver'\nhttps_proxy='http://myserver'\n", 0o600, [2]int{0, 0}},
		"etc/bhojpur/dcp.conf": {"# Written by bos-config apply: the argv and environment of DCP, one per\n# line, read by /etc/bhojpur/dcp-exec without shell evaluation.\n" +
			"arg dcp\narg server\narg --cluster-init\n" +
			"arg --node-label\narg region=us-west-1\narg --node-label\narg somekey=somevalue\n" +
			"arg --node-label\narg bhojpur.net/mode=local\narg --node-label\narg bhojpur.net/version=v1.2.3\n" +
			"arg --node-taint\narg key1=value1:NoSchedule\narg --node-taint\narg key1=value1:NoExecute\narg --write-kubeconfig-user\narg bhojpur\n" +
			"env DCP_CLUSTER_SECRET=TOKEN_VALUE\nenv DCP_URL=https://someserver:6443\n" +
			"env http_proxy=http://myserver\nenv https_proxy=http://myserver\n", 0o600, [2]int{0, 0}},
		"etc/init.d/dcp":       {DCPServiceScript, 0o755, [2]int{0, 0}},
		"etc/bhojpur/dcp-exec": {DCPExecScript, 0o755, [2]int{0, 0}},
	}
	for name, w := range files {
		if got := readRoot(t, root, name); got != w.data {
			t.Errorf("%s (-want +got):\n%s", name, cmp.Diff(w.data, got))
		}
		if got := modeOf(t, root, name); got != w.mode {
			t.Errorf("%s: mode %v, want %v", name, got, w.mode)
		}
		if name == "proc/sys/kernel/printk" || name == "proc/sys/kernel/kptr_restrict" {
			continue // written in place
		}
		if got := tt.chown.owner(t, root, name); got != w.owner {
			t.Errorf("%s: owner %v, want %v", name, got, w.owner)
		}
	}
	if got := modeOf(t, root, "home/bhojpur/.ssh"); got != 0o700 {
		t.Errorf("~/.ssh: mode %v, want 0700", got)
	}
	if got := tt.chown.owner(t, root, "home/bhojpur/.ssh"); got != [2]int{1000, 1000} {
		t.Errorf("~/.ssh: owner %v, want 1000:1000", got)
	}
	if l, err := os.Readlink(filepath.Join(root, "etc/runlevels/default/dcp")); err != nil || l != "/etc/init.d/dcp" {
		t.Errorf("runlevel link = %q, %v", l, err)
	}
	if _, err := os.Stat(filepath.Join(root, "root/.ssh")); err == nil {
		t.Errorf("root got an .ssh directory")
	}
	log := tt.log.String()
	for _, line := range []string{
		"wrote /etc/hostname",
		"skipped (--root " + root + " is not /): sethostname myhost",
		"skipped (--root " + root + " is not /): load module kvm",
		"skipped (--root " + root + " is not /): boot_cmd[0] echo hello, boot command",
		"set sysctl kernel.printk = 4 4 1 7",
		"set the password of bhojpur in /etc/shadow",
	} {
		if !strings.Contains(log, line+"\n") {
			t.Errorf("log lacks %q:\n%s", line, log)
		}
	}
	if strings.Contains(log, "bhojpur:$6$") || strings.Contains(log, "TOKEN_VALUE") || strings.Contains(log, "mypassword") {
		t.Errorf("log shows a secret:\n%s", log)
	}
	if len(tt.runner.runs) != 0 || len(tt.modules.loaded) != 0 || tt.host.name != "localhost" {
		t.Errorf("non-file actions ran into a tree root: runs %v, modules %v, hostname %q", tt.runner.runs, tt.modules.loaded, tt.host.name)
	}

	// Idempotence: a second run writes nothing, touches nothing.
	before := snapshot(t, root)
	tt2 := newTarget(root, false)
	tt2.Salt = func() (string, error) { return "othersalt", nil } // must not matter: the hash matches already
	if err := Run(context.Background(), tt2.Target, Boot, Plan(Boot, fullInput(t))); err != nil {
		t.Fatalf("second apply: %v", err)
	}
	if tt2.Writes != 0 {
		t.Errorf("second apply: %d writes, want 0; log:\n%s", tt2.Writes, tt2.log)
	}
	if diff := cmp.Diff(before, snapshot(t, root)); diff != "" {
		t.Errorf("second apply changed the tree (-before +after):\n%s", diff)
	}
	if strings.Contains(tt2.log.String(), "wrote ") {
		t.Errorf("second apply logged writes:\n%s", tt2.log)
	}
}

func TestRuntimeFetchesGitHubKeys(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		if r.URL.Path != "/bhojpur.keys" {
			http.NotFound(w, r)
			return
		}
		if n == 1 {
			http.Error(w, "try again", http.StatusBadGateway) // the first try fails: retried
			return
		}
		fmt.Fprintf(w, "%s\n%s\n", githubKey, docRSAKey) // the RSA key is already there: not duplicated
	}))
	defer srv.Close()
	root := newRoot(t)
	if err := os.WriteFile(filepath.Join(root, "proc/modules"), []byte("kvm 1 0 - Live 0x0\nnvme 1 0 - Live 0x0\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	tt := newTarget(root, true)
	tt.GitHubURL = srv.URL
	in := fullInput(t)
	in.Config.RunCmd = nil
	for _, phase := range []Phase{Boot, Runtime, Runtime} {
		if err := Run(context.Background(), tt.Target, phase, Plan(phase, in)); err != nil {
			t.Fatalf("apply %s: %v\nlog:\n%s", phase, err, tt.log)
		}
	}
	want := keysBlock(docRSAKey, "# from github:bhojpur", githubKey)
	if got := readRoot(t, root, "home/bhojpur/.ssh/authorized_keys"); got != want {
		t.Errorf("authorized_keys (-want +got):\n%s", cmp.Diff(want, got))
	}
	if hits.Load() != 3 {
		t.Errorf("key service hit %d times, want 3 (a retry, then one per runtime run)", hits.Load())
	}
	// live: hostname set once, loaded modules skipped, DCP restarted once
	// (the boot phase never restarts; the second runtime run changed nothing).
	if tt.host.name != "myhost" || len(tt.modules.loaded) != 0 {
		t.Errorf("hostname %q, modules loaded %v", tt.host.name, tt.modules.loaded)
	}
	wantRuns := [][]string{{"/bin/sh", "-c", "echo hello, boot command"}}
	if diff := cmp.Diff(wantRuns, tt.runner.runs); diff != "" {
		t.Errorf("runs (-want +got):\n%s", diff)
	}
}

func TestRuntimeKeyErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/good.keys":
			fmt.Fprintf(w, "%s\nnot a key at all\n", githubKey)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	root := newRoot(t)
	tt := newTarget(root, false)
	tt.GitHubURL, tt.GitLabURL = srv.URL, srv.URL
	cfg := &config.Config{SSHAuthorizedKeys: []string{"github:good", "gitlab:missing", "github:../etc", "http://insecure/keys", "ssh-rsa AAAAbroken"}}
	err := Run(context.Background(), tt.Target, Runtime, []Step{authorizedKeysStep{User: DefaultUser, Keys: cfg.SSHAuthorizedKeys, Fetch: true}})
	if err == nil {
		t.Fatal("no error")
	}
	for _, msg := range []string{"github:good: line 2 not an SSH public key", "404 Not Found", `"../etc" is not a user name`, "only https:// key URLs", "not an SSH public key"} {
		if !strings.Contains(err.Error(), msg) {
			t.Errorf("error lacks %q: %v", msg, err)
		}
	}
	if got := readRoot(t, root, "home/bhojpur/.ssh/authorized_keys"); got != keysBlock("# from github:good", githubKey) {
		t.Errorf("authorized_keys = %q, want only the valid fetched key", got)
	}
}

func TestFailingCommandDoesNotStopTheOthers(t *testing.T) {
	root := newRoot(t)
	tt := newTarget(root, true)
	tt.Runner = execrun.Exec{}
	out := filepath.Join(t.TempDir(), "out")
	cfg := &config.Config{
		BootCmd: []string{
			"echo first $GREETING >> " + out,
			"echo about to fail; echo on stderr >&2; exit 3",
			"echo third >> " + out,
		},
		Bos: config.Bos{Environment: map[string]string{"GREETING": "hello world"}},
	}
	var steps []Step
	for _, s := range Plan(Boot, Input{Config: cfg}) {
		if _, ok := s.(commandStep); ok {
			steps = append(steps, s)
		}
	}
	err := Run(context.Background(), tt.Target, Boot, steps)
	var perr *PhaseError
	if !errors.As(err, &perr) || len(perr.Failures) != 1 || perr.Steps != 3 {
		t.Fatalf("Run = %v, want one failed step of 3", err)
	}
	var cerr *CommandError
	if !errors.As(perr.Failures[0].Err, &cerr) || cerr.Status != 3 || !strings.Contains(cerr.Output, "about to fail") || !strings.Contains(cerr.Output, "on stderr") {
		t.Errorf("failure = %#v, want exit status 3 with the output", perr.Failures[0].Err)
	}
	if !strings.Contains(err.Error(), "boot_cmd[1] echo about to fail; echo on stderr >&2; exit 3: exit status 3, output:\n    about to fail\n    on stderr") {
		t.Errorf("summary:\n%v", err)
	}
	if got := readRoot(t, out, ""); got != "first hello world\nthird\n" {
		t.Errorf("commands wrote %q", got)
	}
}

func TestDCPExecPassesValuesVerbatim(t *testing.T) {
	dir := t.TempDir()
	// The fake DCP prints its argv and two variables, one item per line.
	fake := filepath.Join(dir, "dcp")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nfor a in \"$@\"; do printf '[%s]\\n' \"$a\"; done\nprintf 'TOKEN=[%s]\\nODD=[%s]\\n' \"$DCP_TOKEN\" \"$ODD\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	pwned := filepath.Join(dir, "pwned")
	nasty := []string{"$(touch " + pwned + ")", "`touch " + pwned + "`", "a b  c", "'single' \"double\"", "*", "back\\slash", "--x=$HOME", " leading", "trailing "}
	inv := dcpInvocation(&config.Config{Bos: config.Bos{DCPArgs: append([]string{"agent"}, nasty...), Token: "s3cr3t;$(touch " + pwned + ")", Environment: map[string]string{"ODD": "x\"y'z $PATH"}}}, dcp.Node{Mode: "disk", Version: "v1"})
	settings, err := DCPSettingsFile(inv)
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "dcp.conf")
	if err := os.WriteFile(conf, settings, 0o600); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "dcp-exec")
	if err := os.WriteFile(script, []byte(DCPExecScript), 0o755); err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for _, a := range inv.Argv[1:] {
		fmt.Fprintf(&want, "[%s]\n", a)
	}
	fmt.Fprintf(&want, "TOKEN=[]\nODD=[x\"y'z $PATH]\n")
	shells := [][]string{{"dash"}, {"busybox", "sh"}, {"bash", "--posix"}}
	for _, sh := range shells {
		if _, err := exec.LookPath(sh[0]); err != nil {
			continue
		}
		out, err := exec.Command(sh[0], append(sh[1:], script, conf, fake)...).CombinedOutput()
		if err != nil {
			t.Errorf("%v dcp-exec: %v\n%s", sh, err, out)
			continue
		}
		if diff := cmp.Diff(want.String(), string(out)); diff != "" {
			t.Errorf("%v dcp-exec (-want +got):\n%s", sh, diff)
		}
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Errorf("a config value was run by the shell")
	}
	// The token is a cluster secret here: it travels as DCP_CLUSTER_SECRET.
	if !strings.Contains(string(settings), "env DCP_CLUSTER_SECRET=s3cr3t;$(touch "+pwned+")\n") {
		t.Errorf("settings:\n%s", settings)
	}
	if _, err := DCPSettingsFile(dcpInvocation(&config.Config{Bos: config.Bos{DCPArgs: []string{"server", "--a\nb"}}}, dcp.Node{Version: "v1"})); err == nil {
		t.Errorf("a line break in dcp_args was accepted")
	}
}

func TestNoDCPInstalled(t *testing.T) {
	root := newRoot(t)
	if err := os.Remove(filepath.Join(root, "usr/bin/dcp")); err != nil {
		t.Fatal(err)
	}
	tt := newTarget(root, true)
	in := fullInput(t)
	if err := Run(context.Background(), tt.Target, Runtime, []Step{dcpStep{Invocation: dcpInvocation(in.Config, dcp.Node{Mode: "local", Version: "v1"}), Restart: true}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tt.log.String(), "no DCP is installed\n") || len(tt.runner.runs) != 0 {
		t.Errorf("log:\n%s\nruns %v", tt.log, tt.runner.runs)
	}
	if _, err := os.Lstat(filepath.Join(root, "etc/runlevels/default/dcp")); err == nil {
		t.Errorf("dcp enabled without a binary")
	}
	// Installing DCP later and changing the config restarts it at runtime.
	if err := os.MkdirAll(filepath.Join(root, "bos/system/dcp/v1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bos/system/dcp/v1/dcp"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("v1", filepath.Join(root, "bos/system/dcp/current")); err != nil {
		t.Fatal(err)
	}
	in.Config.Bos.Token = "other"
	if err := Run(context.Background(), tt.Target, Runtime, []Step{dcpStep{Invocation: dcpInvocation(in.Config, dcp.Node{Mode: "local", Version: "v1"}), Restart: true}}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]string{{"rc-service", "dcp", "restart"}}, tt.runner.runs); diff != "" {
		t.Errorf("runs (-want +got):\n%s", diff)
	}
}

func TestModulesAndGeneratedHostname(t *testing.T) {
	root := newRoot(t)
	if err := os.WriteFile(filepath.Join(root, "proc/modules"), []byte("nvme_core 1 0 - Live 0x0\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	tt := newTarget(root, true)
	cfg := &config.Config{Bos: config.Bos{Modules: []string{"kvm_intel nested=1 ept=1", "nvme-core", "br_netfilter"}}}
	if err := Run(context.Background(), tt.Target, Initrd, Plan(Initrd, Input{Config: cfg})); err != nil {
		t.Fatalf("%v\n%s", err, tt.log)
	}
	if diff := cmp.Diff([]string{"kvm_intel nested=1 ept=1", "br_netfilter"}, tt.modules.loaded); diff != "" {
		t.Errorf("modules loaded (-want +got):\n%s", diff)
	}
	name := GeneratedHostname("0123456789abcdef0123456789abcdef")
	if !strings.HasPrefix(name, "bos-") || len(name) != 12 {
		t.Fatalf("GeneratedHostname = %q", name)
	}
	if got := readRoot(t, root, "etc/hostname"); got != name+"\n" {
		t.Errorf("etc/hostname = %q, want %q", got, name)
	}
	if got := readRoot(t, root, hostnameFile); got != name+"\n" {
		t.Errorf("%s = %q, want %q", hostnameFile, got, name)
	}
	// The saved name wins over the machine id (it survives a new one).
	if err := os.WriteFile(filepath.Join(root, "etc/machine-id"), []byte("ffff\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	tt2 := newTarget(root, true)
	if err := Run(context.Background(), tt2.Target, Boot, []Step{hostnameStep{}}); err != nil {
		t.Fatal(err)
	}
	if tt2.Writes != 0 || tt2.host.name != name {
		t.Errorf("second run: %d writes, hostname %q, want 0 and %q", tt2.Writes, tt2.host.name, name)
	}
}

// TestOperatorManifest: a server gets the operator's manifest of the
// running release in its manifests directory (its --data-dir's), the old
// controller's manifest goes; an agent gets none.
func TestOperatorManifest(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		dir  string
	}{
		{"server", []string{"server"}, "var/lib/bhojpur/dcp/server/manifests"},
		{"server with a data dir", []string{"server", "--data-dir", "/srv/dcp"}, "srv/dcp/server/manifests"},
		{"server with a data dir=", []string{"server", "--data-dir=/srv/dcp2"}, "srv/dcp2/server/manifests"},
		{"agent", []string{"agent"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := newRoot(t)
			tt := newTarget(root, false)
			old := filepath.Join(root, "var/lib/bhojpur/dcp/server/manifests", OldControllerManifest)
			if err := os.MkdirAll(filepath.Dir(old), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(old, []byte("kind: Deployment\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg := &config.Config{Bos: config.Bos{DCPArgs: tc.args}}
			step := dcpStep{Invocation: dcpInvocation(cfg, dcp.Node{Mode: "disk", Version: "v1.2.3"}), Version: "v1.2.3"}
			if err := Run(context.Background(), tt.Target, Boot, []Step{step}); err != nil {
				t.Fatal(err)
			}
			m := filepath.Join(root, tc.dir, operatormanifest.ManifestFile)
			if tc.dir == "" {
				if matches, _ := filepath.Glob(filepath.Join(root, "*/*/*/*/server/manifests", operatormanifest.ManifestFile)); len(matches) != 0 {
					t.Errorf("an agent got the operator's manifest: %v", matches)
				}
				if _, err := os.Stat(old); err != nil {
					t.Errorf("an agent removed a manifest: %v", err)
				}
				return
			}
			b, err := os.ReadFile(m)
			if err != nil || !strings.Contains(string(b), "image: "+operatormanifest.Image("v1.2.3")) {
				t.Fatalf("%s: %v\n%.300s", m, err, b)
			}
			if fi, _ := os.Stat(m); fi.Mode().Perm() != 0o600 {
				t.Errorf("%s mode %v, want 0600", m, fi.Mode())
			}
			if _, err := os.Stat(old); tc.dir == "var/lib/bhojpur/dcp/server/manifests" && !os.IsNotExist(err) {
				t.Errorf("the old controller's manifest is still there (%v)", err)
			}
		})
	}
}
