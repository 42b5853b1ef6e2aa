package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bhojpur/os/internal/vmtest"
)

// DCP agent figures (issue 16): seconds from an agent VM's QEMU start to
// its node Ready in a server's cluster, next to the same boot's time to
// sshd (the system without DCP's join and node), median of 3 rounds, each
// a new server VM that is Ready before its agent starts; and the agent's
// memory at rest with one pod.
func init() {
	register("dcp: agent joins a server in QEMU", benchDCPAgent)
}

// The bench's private network (vmtest.PeerNIC).
const (
	benchServerIP  = "192.168.77.1"
	benchAgentIP   = "192.168.77.2"
	benchServerMAC = "52:54:00:4d:00:01"
	benchAgentMAC  = "52:54:00:4d:00:02"
)

type agentBoot struct {
	ssh, ready            time.Duration // from the agent's QEMU start
	used, dcpRSS, ctrdRSS int           // MiB, the agent at rest
}

func benchDCPAgent() error {
	root, err := vmtest.RepoRoot()
	if err != nil {
		return err
	}
	art := filepath.Join(root, "dist", "artifacts")
	if _, err := os.Stat(filepath.Join(art, "bos-amd64.iso")); err != nil {
		return fmt.Errorf("%s: run make iso first", filepath.Join(art, "bos-amd64.iso"))
	}
	n := 3
	if v, err := strconv.Atoi(os.Getenv("BOS_BENCH_DCP_BOOTS")); err == nil && v > 0 {
		n = v
	}
	var boots []agentBoot
	for i := 0; i < n; i++ {
		var b agentBoot
		if _, err := withTB(fmt.Sprintf("dcp-agent-%d", i), func(t *benchTB) time.Duration {
			b = agentBootOnce(t, art)
			return b.ready
		}); err != nil {
			return err
		}
		boots = append(boots, b)
	}
	var ready, ssh []time.Duration
	for _, b := range boots {
		ready, ssh = append(ready, b.ready), append(ssh, b.ssh)
	}
	ratio(fmt.Sprintf("agent QEMU (%s, 2 vCPUs, 2 GiB) start to Ready in the cluster vs to sshd, median of %d", vmtest.Accel(), n),
		median(ready), median(ssh), "none: the first figure")
	last := boots[len(boots)-1]
	figure("agent memory at rest (MemTotal - MemAvailable), Ready, one pod",
		fmt.Sprintf("%d MiB (dcp RSS %d MiB, containerd %d MiB)", last.used, last.dcpRSS, last.ctrdRSS), "under 250 MB; k3s documents 275 MB for an agent")
	return nil
}

// agentBootOnce boots a server VM, waits for its node Ready, boots an
// agent VM joined to it and waits for that node Ready, then runs a pod on
// the agent and reads the agent's memory.
func agentBootOnce(t *benchTB, art string) agentBoot {
	key := vmtest.NewKey(t)
	port := vmtest.FreePort(t)
	start := func(name, userData, cmdline string, nic []string) *vmtest.VM {
		return vmtest.Start(t, vmtest.Options{
			Name:   name,
			ISO:    filepath.Join(art, "bos-amd64.iso"),
			Kernel: filepath.Join(art, "bos-vmlinuz-amd64"),
			Initrd: filepath.Join(art, "bos-initrd-amd64"),
			Append: "console=ttyS0,115200 panic=-1 bos.data_sources=cdrom" + cmdline,
			CPUs:   2, MemoryMB: 2048, SSH: true, Timeout: 40 * time.Minute,
			Extra: append(vmtest.SeedDrive(vmtest.NoCloudSeed(t, userData)), nic...),
		})
	}
	config := func(host, mac, ip, args string) string {
		return fmt.Sprintf("#cloud-config\nhostname: %s\nssh_authorized_keys:\n- %s\nwrite_files:\n%sbos:\n  dcp_args: [%s, \"--node-ip=%s\"]\n",
			host, key.Authorized, vmtest.PeerAddress(mac, ip), args, ip)
	}
	until := func(vm *vmtest.VM, cmd, want string, timeout time.Duration) {
		for end := time.Now().Add(timeout); time.Now().Before(end); time.Sleep(2 * time.Second) {
			if out, err := vm.SSH(key, "bhojpur", cmd); err == nil && strings.Contains(out, want) {
				return
			}
		}
		t.Fatalf("%q did not print %q within %s", cmd, want, timeout)
	}
	server := start("server", config("bench-server", benchServerMAC, benchServerIP, "server"), "", vmtest.PeerNIC(vmtest.PeerListen, port, benchServerMAC))
	if err := server.WaitSSH(key, "bhojpur", 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	until(server, "kubectl get nodes --no-headers", " Ready ", 20*time.Minute)
	tok, err := server.SSH(key, "bhojpur", "sudo cat /var/lib/bhojpur/dcp/server/token")
	if err != nil {
		t.Fatal(err)
	}
	agent := start("agent", config("bench-agent", benchAgentMAC, benchAgentIP, "agent"),
		" bos.server_url=https://"+benchServerIP+":6443 bos.token="+strings.TrimSpace(tok), vmtest.PeerNIC(vmtest.PeerConnect, port, benchAgentMAC))
	var b agentBoot
	if err := agent.WaitSSH(key, "bhojpur", 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	b.ssh = time.Since(agent.Started)
	until(server, "kubectl get node bench-agent --no-headers", " Ready ", 20*time.Minute)
	b.ready = time.Since(agent.Started)
	pod := `kubectl run bench --image=bhojpur.net/dcp/busybox:1.35 --image-pull-policy=IfNotPresent --overrides='{"apiVersion":"v1","spec":{"nodeName":"bench-agent"}}' --command -- sleep 3600`
	if _, err := server.SSH(key, "bhojpur", pod); err != nil {
		t.Fatal(err)
	}
	until(server, "kubectl get pod bench -o jsonpath='{.status.phase}'", "Running", 10*time.Minute)
	b.used, b.dcpRSS, b.ctrdRSS = memoryAtRest(t, agent, key)
	return b
}
