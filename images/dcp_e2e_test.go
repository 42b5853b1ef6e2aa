package images

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bhojpur/os/internal/vmtest"
)

// Markers of the DCP service in /var/log/dcp.log.
const (
	MarkDCPNodeReady = "Ready after" // "node NAME Ready after 93.1s"
	dcpTimeout       = 20 * time.Minute
)

// dcpManifest is what the config's write_files puts into the manifests
// directory: a web server of the shipped test image and its Service.
const dcpManifest = `apiVersion: v1
kind: Namespace
metadata: {name: e2e}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: e2e}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: bhojpur.net/dcp/busybox:1.35
        imagePullPolicy: IfNotPresent
        command: [sh, -c, "echo bhojpur-e2e-web > /tmp/index.html && exec httpd -f -p 8080 -h /tmp"]
        ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: e2e}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`

// dcpUserData is the live node's config: the product document's dcp_args,
// a label, a taint that still lets pods run, and the manifest.
func dcpUserData(key vmtest.Key) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#cloud-config\nhostname: dcp-e2e\nssh_authorized_keys:\n- %s\n", key.Authorized)
	b.WriteString("write_files:\n- path: /var/lib/bhojpur/dcp/server/manifests/e2e.yaml\n  permissions: '0600'\n  content: |\n")
	for _, l := range strings.Split(strings.TrimSuffix(dcpManifest, "\n"), "\n") {
		b.WriteString("    " + l + "\n")
	}
	b.WriteString("bos:\n  labels: {e2e: \"yes\"}\n  taints: [\"e2e=yes:PreferNoSchedule\"]\n  dcp_args: [server, \"--cluster-init\"]\n")
	return b.String()
}

// noCloudSeed writes a NoCloud volume (label cidata) with user-data.
func noCloudSeed(t *testing.T, userData string) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "cidata")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"user-data": userData, "meta-data": "instance-id: dcp-e2e\n"} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	seed := filepath.Join(dir, "seed.iso")
	if out, err := exec.Command("xorriso", "-as", "mkisofs", "-quiet", "-V", "cidata", "-R", "-J", "-o", seed, src).CombinedOutput(); err != nil {
		t.Fatalf("xorriso: %v\n%s", err, out)
	}
	return seed
}

// guest runs commands over ssh as bhojpur.
type guest struct {
	t   *testing.T
	vm  *vmtest.VM
	key vmtest.Key
}

func (g guest) run(cmd string) (string, error) {
	out, err := g.vm.SSH(g.key, "bhojpur", cmd)
	return strings.TrimSpace(out), err
}

// until runs cmd every few seconds until its output contains want.
func (g guest) until(what, cmd, want string, timeout time.Duration) bool {
	g.t.Helper()
	var out string
	var err error
	for end := time.Now().Add(timeout); time.Now().Before(end); time.Sleep(5 * time.Second) {
		if out, err = g.run(cmd); err == nil && strings.Contains(out, want) {
			return true
		}
	}
	log, _ := g.run("sudo tail -n 40 /var/log/dcp.log")
	g.t.Errorf("%s: %q printed %q (%v), want %q within %s\n/var/log/dcp.log:\n%s", what, cmd, out, err, want, timeout, log)
	return false
}

// TestDCPLive boots the live ISO in a VM of 2 vCPUs and 2 GiB with a
// NoCloud config and checks, in one boot, what the DCP issue asks of a
// live node: kubectl as bhojpur, the node Ready with its labels and
// taints, CoreDNS, a manifest from write_files, Service by DNS name and
// cluster IP, and that kill -9 of dcp leaves the pods running.
func TestDCPLive(t *testing.T) {
	t.Parallel()
	art := vmtest.Artifacts(t, "bos-vmlinuz-amd64", "bos-initrd-amd64")
	key := vmtest.NewKey(t)
	seed := noCloudSeed(t, dcpUserData(key))
	vm := vmtest.Start(t, vmtest.Options{
		ISO:      filepath.Join(art, "bos-amd64.iso"),
		Kernel:   filepath.Join(art, "bos-vmlinuz-amd64"),
		Initrd:   filepath.Join(art, "bos-initrd-amd64"),
		Append:   liveCmdlineBase + " bos.data_sources=cdrom",
		MemoryMB: 2048,
		CPUs:     2,
		SSH:      true,
		Timeout:  45 * time.Minute,
		Extra:    []string{"-drive", "file=" + seed + ",media=cdrom,if=ide,index=1,readonly=on"},
	})
	vm.WaitFor(MarkPhaseRun, bootTimeout)
	if err := vm.WaitSSH(key, "bhojpur", 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	g := guest{t, vm, key}
	if !g.until("node Ready", "kubectl get nodes --no-headers", " Ready ", dcpTimeout) {
		t.FailNow()
	}
	t.Logf("node Ready %s after QEMU started", time.Since(vm.Started).Round(time.Second))
	// The version label is what bos-config says DCP is started with.
	versionLabel, _ := g.run("sudo bos-config show --dcp -o json | grep -o 'bhojpur.net/version=[^\"]*'")
	version := strings.TrimPrefix(versionLabel, "bhojpur.net/version=")
	if version == "" {
		t.Errorf("bos-config show --dcp names no bhojpur.net/version label")
	}

	t.Run("kubeconfigs", func(t *testing.T) {
		for cmd, want := range map[string]string{
			"stat -c '%a %U' ~/.kube/config":                       "600 bhojpur",
			"sudo stat -c '%a %U' /etc/bhojpur/dcp/dcp.yaml":       "600 root",
			"test -r /etc/bhojpur/dcp/dcp.yaml || echo unreadable": "unreadable",
			"command -v kubectl":                                   "/usr/bin/kubectl",
		} {
			if out, err := g.run(cmd); err != nil || out != want {
				t.Errorf("%q = %q, %v; want %q", cmd, out, err, want)
			}
		}
	})
	t.Run("labels and taints", func(t *testing.T) {
		labels, err := g.run("kubectl get node dcp-e2e -o jsonpath='{.metadata.labels}'")
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range []string{`"bhojpur.net/mode":"live"`, `"bhojpur.net/version":"` + version + `"`, `"e2e":"yes"`} {
			if !strings.Contains(labels, w) {
				t.Errorf("node labels %s lack %s", labels, w)
			}
		}
		taints, err := g.run("kubectl get node dcp-e2e -o jsonpath='{range .spec.taints[*]}{.key}={.value}:{.effect} {end}'")
		if err != nil || !strings.Contains(taints, "e2e=yes:PreferNoSchedule") {
			t.Errorf("node taints %q, %v; want e2e=yes:PreferNoSchedule", taints, err)
		}
		// The document's command selects on the label.
		if out, err := g.run("kubectl label nodes -l bhojpur.net/mode plan.upgrade.bhojpur.net/bos-latest=enabled"); err != nil || !strings.Contains(out, "labeled") {
			t.Errorf("kubectl label nodes -l bhojpur.net/mode: %q, %v", out, err)
		}
	})
	t.Run("CoreDNS", func(t *testing.T) {
		g.until("CoreDNS available", "kubectl -n kube-system get deployment coredns -o jsonpath='{.status.availableReplicas}'", "1", dcpTimeout)
	})
	var clusterIP string
	t.Run("manifest from write_files", func(t *testing.T) {
		if g.until("web available", "kubectl -n e2e get deployment web -o jsonpath='{.status.availableReplicas}'", "1", dcpTimeout) {
			clusterIP, _ = g.run("kubectl -n e2e get service web -o jsonpath='{.spec.clusterIP}'")
		}
	})
	t.Run("Service by DNS name and cluster IP", func(t *testing.T) {
		if clusterIP == "" {
			t.Skip("no web Service")
		}
		cmd := "kubectl -n e2e run client --image=bhojpur.net/dcp/busybox:1.35 --image-pull-policy=IfNotPresent --restart=Never --command -- " +
			"sh -c 'wget -qO- http://web.e2e.svc.cluster.local/ && wget -qO- http://" + clusterIP + "/'"
		if out, err := g.run(cmd); err != nil {
			t.Fatalf("%s: %q, %v", cmd, out, err)
		}
		if g.until("client pod done", "kubectl -n e2e get pod client -o jsonpath='{.status.phase}'", "Succeeded", 5*time.Minute) {
			out, _ := g.run("kubectl -n e2e logs client")
			if strings.Count(out, "bhojpur-e2e-web") != 2 {
				t.Errorf("client's output %q, want the page twice (by name, by cluster IP)", out)
			}
		}
	})
	t.Run("kill -9 dcp", func(t *testing.T) {
		started := "kubectl -n e2e get pods -l app=web -o jsonpath='{.items[0].status.containerStatuses[0].state.running.startedAt}'"
		before, err := g.run(started)
		if err != nil || before == "" {
			t.Fatalf("web's start time: %q, %v", before, err)
		}
		if out, err := g.run("sudo pkill -9 -x dcp && echo killed"); err != nil || out != "killed" {
			t.Fatalf("pkill -9 dcp: %q, %v", out, err)
		}
		// supervise-daemon starts it again: the apiserver answers and
		// the node is Ready once more.
		time.Sleep(10 * time.Second)
		if !g.until("node Ready after kill -9", "kubectl get nodes --no-headers", " Ready ", dcpTimeout) {
			return
		}
		after, err := g.run(started)
		if err != nil || after != before {
			t.Errorf("web's container started at %q before kill -9 of dcp and %q after (%v): it was restarted", before, after, err)
		}
		if out, _ := g.run("kubectl -n e2e get pods -l app=web -o jsonpath='{.items[0].status.containerStatuses[0].restartCount}'"); out != "0" {
			t.Errorf("web's restart count %q, want 0", out)
		}
	})
	t.Run("bad input backs off", func(t *testing.T) {
		// Each bad input gives one clear line in /var/log/dcp.log and no
		// restart every respawn_delay (5 s: four in 20 s): dcp waits 60 s before it
		// exits. Each case is the good dcp.conf with lines added.
		if out, err := g.run("sudo cp /etc/bhojpur/dcp.conf /etc/bhojpur/dcp.conf.good && echo saved"); err != nil || out != "saved" {
			t.Fatalf("save dcp.conf: %q, %v", out, err)
		}
		for _, tc := range []struct{ what, lines, says string }{
			{"a dcp_args flag that dcp does not know", "arg --no-such-flag", "unknown flag --no-such-flag"},
			{"a --cluster-cidr that is not a CIDR", "arg --cluster-cidr\\narg banana", `--cluster-cidr "banana": not a CIDR`},
			{"a bos.token that is a malformed node token", "env DCP_TOKEN=K10abc::node:secret", "DCP_TOKEN (--token): not a node token"},
		} {
			cmd := "sudo sh -c '{ cat /etc/bhojpur/dcp.conf.good; printf \"" + tc.lines + "\\n\"; } > /etc/bhojpur/dcp.conf && : > /var/log/dcp.log && rc-service dcp restart' >/dev/null 2>&1; echo done"
			if out, err := g.run(cmd); err != nil {
				t.Fatalf("%s: restart: %q, %v", tc.what, out, err)
			}
			time.Sleep(20 * time.Second)
			log, err := g.run("sudo cat /var/log/dcp.log")
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(log, tc.says); n != 1 {
				t.Errorf("%s: %q is in 20 s of /var/log/dcp.log %d times, want once (a backoff of 60 s):\n%s", tc.what, tc.says, n, log)
			}
		}
	})
}
