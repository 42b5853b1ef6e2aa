package images

import (
	"fmt"
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

// The private network between the server VM (A) and the agent VM (B)
// (vmtest.PeerNIC), each NIC's address from a connman provisioning file
// (vmtest.PeerAddress).
const (
	peerNet     = "192.168.76"
	serverPeer  = peerNet + ".1"
	agentPeer   = peerNet + ".2"
	serverMAC   = "52:54:00:4b:00:01"
	agentMAC    = "52:54:00:4b:00:02"
	agentName   = "dcp-agent"
	agentTaint  = "dedicated=edge:NoSchedule" // keeps the server's e2e pods off B
	agentJoined = "joined https://" + serverPeer + ":6443 as node " + agentName + " (the server's CA pinned by the node token"
)

// dcpUserData is the live server's config: the product document's
// dcp_args, its address on the private network, a label, a taint that still
// lets pods run, and the manifest.
func dcpUserData(key vmtest.Key) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#cloud-config\nhostname: dcp-e2e\nssh_authorized_keys:\n- %s\n", key.Authorized)
	b.WriteString("write_files:\n- path: /var/lib/bhojpur/dcp/server/manifests/e2e.yaml\n  permissions: '0600'\n  content: |\n")
	for _, l := range strings.Split(strings.TrimSuffix(dcpManifest, "\n"), "\n") {
		b.WriteString("    " + l + "\n")
	}
	b.WriteString(vmtest.PeerAddress(serverMAC, serverPeer))
	b.WriteString("bos:\n  labels: {e2e: \"yes\"}\n  taints: [\"e2e=yes:PreferNoSchedule\"]\n  dcp_args: [server, \"--cluster-init\", \"--node-ip=" + serverPeer + "\"]\n")
	return b.String()
}

// agentUserData is the agent's config: its address on the private
// network, its labels and taint, and the pod network's interface (eth1,
// the private network's NIC; A's is found from its --node-ip). The server
// URL and the token come on its kernel command line.
func agentUserData(key vmtest.Key) string {
	return fmt.Sprintf("#cloud-config\nhostname: %s\nssh_authorized_keys:\n- %s\nwrite_files:\n%s", agentName, key.Authorized, vmtest.PeerAddress(agentMAC, agentPeer)) +
		"bos:\n  labels: {e2e-agent: \"yes\"}\n  taints: [\"" + agentTaint + "\"]\n  dcp_args: [agent, \"--node-ip=" + agentPeer + "\", \"--flannel-iface=eth1\"]\n"
}

// fetchEach is a pod's shell command that fetches each URL in turn, each
// up to 5 times 3 s apart (this busybox's wget has no working -T: a DNS
// answer or a first packet through the overlay lost on a loaded machine
// would otherwise fail the pod), and fails on the first URL it cannot get.
func fetchEach(urls ...string) string {
	var parts []string
	for _, u := range urls {
		parts = append(parts, "ok=; for i in 1 2 3 4 5; do if wget -qO- "+u+"; then ok=1; break; fi; sleep 3; done; [ -n \"$ok\" ] || exit 1")
	}
	return strings.Join(parts, "; ")
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
// cluster IP, and that kill -9 of dcp leaves the pods running. A second VM,
// B, joins as an agent over a private network: pods on the two nodes talk
// through flannel.
func TestDCPLive(t *testing.T) {
	t.Parallel()
	art := vmtest.Artifacts(t, "bos-vmlinuz-amd64", "bos-initrd-amd64")
	key := vmtest.NewKey(t)
	peerPort := vmtest.FreePort(t)
	live := func(name, seed, cmdline string, nic []string) *vmtest.VM {
		return vmtest.Start(t, vmtest.Options{
			Name:     name,
			ISO:      filepath.Join(art, "bos-amd64.iso"),
			Kernel:   filepath.Join(art, "bos-vmlinuz-amd64"),
			Initrd:   filepath.Join(art, "bos-initrd-amd64"),
			Append:   liveCmdlineBase + " bos.data_sources=cdrom" + cmdline,
			MemoryMB: 2048,
			CPUs:     2,
			SSH:      true,
			Timeout:  45 * time.Minute,
			Extra:    append(vmtest.SeedDrive(seed), nic...),
		})
	}
	vm := live("", vmtest.NoCloudSeed(t, dcpUserData(key)), "", vmtest.PeerNIC(vmtest.PeerListen, peerPort, serverMAC))
	vm.WaitFor(MarkPhaseRun, bootTimeout)
	if err := vm.WaitSSH(key, "bhojpur", 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	g := guest{t, vm, key}
	// B, the agent, boots as soon as A's node token exists, with the token
	// and A's URL on its command line: it joins once A's apiserver answers.
	if !g.until("node token", "sudo cat /var/lib/bhojpur/dcp/server/token", "K10", 5*time.Minute) {
		t.FailNow()
	}
	tok, _ := g.run("sudo cat /var/lib/bhojpur/dcp/server/token")
	bvm := live("agent", vmtest.NoCloudSeed(t, agentUserData(key)), " bos.server_url=https://"+serverPeer+":6443 bos.token="+tok, vmtest.PeerNIC(vmtest.PeerConnect, peerPort, agentMAC))
	b := guest{t, bvm, key}
	// A's own node: on a loaded machine B, booting beside it, can be Ready
	// first, and "any node Ready" let the checks of A's node start before
	// A's kubelet had registered it (CI failed so).
	if !g.until("node Ready", "kubectl get node dcp-e2e --no-headers", " Ready ", dcpTimeout) {
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
	t.Run("runtime phase on request", func(t *testing.T) {
		// What the operator's node agent does through the host's /: a
		// config.d file, a request; the host's bos-apply service runs the
		// runtime phase and answers.
		setup := "sudo sh -c 'umask 077; mkdir -p /var/lib/bhojpur/os/config.d && printf \"write_files:\\n- path: /etc/bos-apply-e2e\\n  content: by request\\n\" > /var/lib/bhojpur/os/config.d/50-e2e.yaml && echo e2e-1 > /run/bos/phase.request' && echo asked"
		if out, err := g.run(setup); err != nil || out != "asked" {
			t.Fatalf("request: %q, %v", out, err)
		}
		if g.until("bos-apply's answer", "sudo cat /run/bos/phase.result", `"id":"e2e-1","ok":true`, 2*time.Minute) {
			if out, err := g.run("sudo cat /etc/bos-apply-e2e"); err != nil || out != "by request" {
				t.Errorf("/etc/bos-apply-e2e after the phase: %q, %v", out, err)
			}
		}
		if out, err := g.run("sudo rm /var/lib/bhojpur/os/config.d/50-e2e.yaml && echo removed"); err != nil || out != "removed" {
			t.Errorf("remove the config.d file: %q, %v", out, err)
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
	t.Run("operator: NodeConfig", func(t *testing.T) {
		// bos-config wrote the operator's manifest; dcp applied it.
		if !g.until("the operator available", "kubectl -n bos-system get deployment bos-operator -o jsonpath='{.status.availableReplicas}'", "1", dcpTimeout) {
			return
		}
		if !g.until("the node agent running on dcp-e2e", "kubectl -n bos-system get pods -l app.kubernetes.io/name=bos-node --field-selector spec.nodeName=dcp-e2e -o jsonpath='{.items[0].status.phase}'", "Running", dcpTimeout) {
			return
		}
		apply := func(name, config string) (string, error) {
			doc := `{"apiVersion":"os.bhojpur.net/v1alpha1","kind":"NodeConfig","metadata":{"name":"` + name + `"},"spec":{"nodeSelector":{"matchLabels":{"kubernetes.io/hostname":"dcp-e2e"}},"config":` + config + `}}`
			return g.run("echo '" + doc + "' | kubectl apply -f - 2>&1")
		}
		start := time.Now()
		if out, err := apply("e2e", `{"bos":{"sysctls":{"vm.swappiness":"13"}},"write_files":[{"path":"/etc/nodeconfig-e2e","content":"from kubectl","permissions":"0644"}]}`); err != nil {
			t.Fatalf("kubectl apply: %q, %v", out, err)
		}
		if g.until("the sysctl and the file on the node", "cat /proc/sys/vm/swappiness /etc/nodeconfig-e2e", "13\nfrom kubectl", time.Minute) {
			t.Logf("NodeConfig applied %s after kubectl apply", time.Since(start).Round(time.Second))
		}
		g.until("the status says generation 1 applied", `kubectl get nodeconfig e2e -o jsonpath='{.status.nodes[?(@.name=="dcp-e2e")].appliedGeneration}'`, "1", time.Minute)
		if out, _ := g.run("sudo stat -c %a /var/lib/bhojpur/os/config.d/50-nodeconfig-e2e.yaml"); out != "600" {
			t.Errorf("the NodeConfig's file: mode %q, want 600", out)
		}
		// An unknown key: the apiserver refuses it (the config's schema).
		if out, err := apply("typo", `{"hostnam":"x"}`); err == nil || !strings.Contains(out, `unknown field "spec.config.hostnam"`) {
			t.Errorf("a NodeConfig with an unknown key: %q, %v; want the apiserver to refuse it", out, err)
		}
		// A key only the loader can judge: reported, nothing written.
		if out, err := apply("bad-key", `{"ssh_authorized_keys":["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBADKEY e2e"]}`); err != nil {
			t.Fatalf("kubectl apply of a bad key: %q, %v", out, err)
		}
		g.until("the bad key reported by the node", `kubectl get nodeconfig bad-key -o jsonpath='{.status.nodes[?(@.name=="dcp-e2e")].error}'`, "50-nodeconfig-bad-key.yaml:3:3: ssh_authorized_keys[0]", time.Minute)
		if out, _ := g.run("sudo ls /var/lib/bhojpur/os/config.d/"); strings.Contains(out, "bad-key") {
			t.Errorf("the invalid NodeConfig was written: config.d holds %q", out)
		}
		// Deleted: its file goes.
		if out, err := g.run("kubectl delete nodeconfig e2e bad-key 2>&1"); err != nil {
			t.Errorf("kubectl delete nodeconfig: %q, %v", out, err)
		}
		g.until("the file removed", "sudo ls /var/lib/bhojpur/os/config.d/ | grep -c nodeconfig || true", "0", time.Minute)
	})
	t.Run("Service by DNS name and cluster IP", func(t *testing.T) {
		if clusterIP == "" {
			t.Skip("no web Service")
		}
		cmd := "kubectl -n e2e run client --image=bhojpur.net/dcp/busybox:1.35 --image-pull-policy=IfNotPresent --restart=Never --command -- " +
			"sh -c '" + fetchEach("http://web.e2e.svc.cluster.local/", "http://"+clusterIP+"/") + "'"
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
	t.Run("agent joins", func(t *testing.T) {
		if err := bvm.WaitSSH(key, "bhojpur", 5*time.Minute); err != nil {
			t.Fatal(err)
		}
		if !g.until("B Ready in A's cluster", "kubectl get node "+agentName+" --no-headers", " Ready ", dcpTimeout) {
			t.FailNow()
		}
		t.Logf("B Ready %s after its QEMU started", time.Since(bvm.Started).Round(time.Second))
		if !b.until("B's log says it joined, pinned", "sudo grep -F 'joined https' /var/log/dcp.log", agentJoined, time.Minute) {
			t.Error("B's dcp.log does not say it joined with the CA pinned")
		}
		if out, _ := g.run("sudo grep -c 'join: issued node credentials to \"" + agentName + "\"' /var/log/dcp.log"); out == "0" || out == "" {
			t.Errorf("A's dcp.log does not say it issued B's credentials (%q)", out)
		}
		labels, _ := g.run("kubectl get node " + agentName + " -o jsonpath='{.metadata.labels}'")
		for _, w := range []string{`"e2e-agent":"yes"`, `"bhojpur.net/mode":"live"`} {
			if !strings.Contains(labels, w) {
				t.Errorf("B's labels %s lack %s", labels, w)
			}
		}
		if taints, _ := g.run("kubectl get node " + agentName + " -o jsonpath='{range .spec.taints[*]}{.key}={.value}:{.effect} {end}'"); !strings.Contains(taints, agentTaint) {
			t.Errorf("B's taints %q, want %s", taints, agentTaint)
		}
		if ip, _ := g.run("kubectl get node " + agentName + " -o jsonpath='{.status.addresses[?(@.type==\"InternalIP\")].address}'"); ip != agentPeer {
			t.Errorf("B's InternalIP %q, want %s (its --node-ip)", ip, agentPeer)
		}
		// A pod on B: B's kubelet runs it, and the apiserver reaches B's
		// kubelet (its serving certificate from the join) for the logs.
		pod := "kubectl -n e2e run on-agent --image=bhojpur.net/dcp/busybox:1.35 --image-pull-policy=IfNotPresent --restart=Never " +
			`--overrides='{"apiVersion":"v1","spec":{"nodeName":"` + agentName + `","tolerations":[{"key":"dedicated","operator":"Exists"}]}}' --command -- sh -c 'echo hello-from-agent'`
		if out, err := g.run(pod); err != nil {
			t.Fatalf("%s: %q, %v", pod, out, err)
		}
		if g.until("the pod on B done", "kubectl -n e2e get pod on-agent -o jsonpath='{.status.phase}'", "Succeeded", 10*time.Minute) {
			if out, err := g.run("kubectl -n e2e logs on-agent"); err != nil || out != "hello-from-agent" {
				t.Errorf("kubectl logs of the pod on B: %q, %v; want hello-from-agent", out, err)
			}
		}
	})
	t.Run("pods talk across nodes", func(t *testing.T) {
		// flannel's vxlan: B's VTEP is its --node-ip, on its --flannel-iface;
		// a pod on B reaches the web pod on A by its pod IP, and through the
		// Service by its DNS name (CoreDNS, on A, answers through the
		// overlay too).
		if vtep, _ := g.run("kubectl get node " + agentName + ` -o jsonpath='{.metadata.annotations.flannel\.alpha\.coreos\.com/public-ip}'`); vtep != agentPeer {
			t.Errorf("B's flannel public-ip annotation %q, want %s", vtep, agentPeer)
		}
		webIP, err := g.run("kubectl -n e2e get pod -l app=web -o jsonpath='{.items[0].status.podIP} {.items[0].spec.nodeName}'")
		if err != nil || !strings.HasSuffix(webIP, " dcp-e2e") {
			t.Fatalf("the web pod's IP and node: %q, %v; want a pod on dcp-e2e", webIP, err)
		}
		webIP = strings.Fields(webIP)[0]
		pod := "kubectl -n e2e run across --image=bhojpur.net/dcp/busybox:1.35 --image-pull-policy=IfNotPresent --restart=Never " +
			`--overrides='{"apiVersion":"v1","spec":{"nodeName":"` + agentName + `","tolerations":[{"key":"dedicated","operator":"Exists"}]}}' --command -- ` +
			"sh -c '" + fetchEach("http://"+webIP+":8080/", "http://web.e2e.svc.cluster.local/") + "'"
		if out, err := g.run(pod); err != nil {
			t.Fatalf("%s: %q, %v", pod, out, err)
		}
		if !g.until("the pod on B done", "kubectl -n e2e get pod across -o jsonpath='{.status.phase}' | grep -E 'Succeeded|Failed'", "ed", 10*time.Minute) {
			return
		}
		phase, _ := g.run("kubectl -n e2e get pod across -o jsonpath='{.status.phase}'")
		if out, _ := g.run("kubectl -n e2e logs across"); phase != "Succeeded" || strings.Count(out, "bhojpur-e2e-web") != 2 {
			routes, _ := b.run("ip route; ip -d link show flannel.1")
			t.Errorf("the pod on B %s and printed %q, want A's page twice (by pod IP %s, by the Service's name); B's routes:\n%s", phase, out, webIP, routes)
		}
	})
	t.Run("agent refuses a token of another CA", func(t *testing.T) {
		// B starts over with a token that pins another CA: it does not
		// join, and its log says why.
		wrong := "K10" + strings.Repeat("ab", 32) + tok[strings.Index(tok, "::"):]
		setup := "sudo sh -c 'rc-service dcp stop >/dev/null 2>&1; rm -rf /var/lib/bhojpur/dcp/agent/pki /var/lib/bhojpur/dcp/agent/cred; " +
			"sed -i \"s|^env DCP_TOKEN=.*|env DCP_TOKEN=" + wrong + "|\" /etc/bhojpur/dcp.conf; : > /var/log/dcp.log; rc-service dcp start >/dev/null 2>&1'; echo done"
		if out, err := b.run(setup); err != nil || out != "done" {
			t.Fatalf("restart B's dcp with a wrong token: %q, %v", out, err)
		}
		if out, err := g.run("kubectl delete node " + agentName + " --wait=true"); err != nil {
			t.Fatalf("kubectl delete node: %q, %v", out, err)
		}
		if !b.until("B's log says the token is of another cluster", "sudo grep -F 'cannot join' /var/log/dcp.log", "the node token is of another cluster", 3*time.Minute) {
			return
		}
		time.Sleep(20 * time.Second)
		if out, _ := g.run("kubectl get nodes -o name"); strings.Contains(out, agentName) {
			t.Errorf("B registered with a token of another CA: %q", out)
		}
		if log, _ := b.run("sudo grep '^dcp:' /var/log/dcp.log"); strings.Contains(log, "kubelet and kube-proxy started") || strings.Contains(log, "joined https") {
			t.Errorf("B joined or started its kubelet with a token of another CA:\n%s", log)
		}
	})
	bvm.Kill()
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
	t.Run("OS labels follow the system, the config's stay as registered", func(t *testing.T) {
		// As after an upgrade whose trial fell back: another version, a
		// fallback label, and a config label changed in dcp.conf.
		edit := "sudo sh -c 'cp /etc/bhojpur/dcp.conf /etc/bhojpur/dcp.conf.orig && " +
			"sed -i -e \"s|^arg bhojpur.net/version=\\(.*\\)$|arg bhojpur.net/version=\\1-next|\" -e \"s|^arg e2e=yes$|arg e2e=changed|\" /etc/bhojpur/dcp.conf && " +
			"printf \"arg --node-label\\narg bhojpur.net/fallback=e2e-failed\\n\" >> /etc/bhojpur/dcp.conf && rc-service dcp restart' >/dev/null 2>&1; echo done"
		if out, err := g.run(edit); err != nil || out != "done" {
			t.Fatalf("edit dcp.conf: %q, %v", out, err)
		}
		label := func(k string) string {
			return "kubectl get node dcp-e2e -o jsonpath='{.metadata.labels." + strings.ReplaceAll(k, ".", "\\.") + "}'"
		}
		g.until("the fallback label on the node", label("bhojpur.net/fallback"), "e2e-failed", dcpTimeout)
		if out, _ := g.run(label("bhojpur.net/version")); out != version+"-next" {
			t.Errorf("version label %q after the restart, want %q", out, version+"-next")
		}
		if out, _ := g.run(label("e2e")); out != "yes" {
			t.Errorf("config label e2e %q after the restart, want yes (registration only)", out)
		}
		// The bad-input cases start from the system as it is (their
		// restarts take it back); that a label dcp no longer gives goes
		// is agent.TestOSLabelPatch's.
		if out, err := g.run("sudo mv /etc/bhojpur/dcp.conf.orig /etc/bhojpur/dcp.conf && echo done"); err != nil || out != "done" {
			t.Fatalf("restore dcp.conf: %q, %v", out, err)
		}
	})
	t.Run("bad input backs off", func(t *testing.T) {
		// Each bad input gives one clear line in /var/log/dcp.log and no
		// restart every respawn_delay (5 s: four more in 20 s): dcp waits 60 s
		// before it exits. Each case is the good dcp.conf with lines added.
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
			// The line comes once dcp has started (slow on a loaded
			// machine); in the 20 s after it, a hot loop would add four.
			if !g.until(tc.what+": the line in /var/log/dcp.log", "sudo cat /var/log/dcp.log", tc.says, 2*time.Minute) {
				continue
			}
			time.Sleep(20 * time.Second)
			log, err := g.run("sudo cat /var/log/dcp.log")
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(log, tc.says); n != 1 {
				t.Errorf("%s: %q is in /var/log/dcp.log %d times 20 s after it first came, want once (a backoff of 60 s):\n%s", tc.what, tc.says, n, log)
			}
		}
	})
}
