package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/bhojpur/os/internal/vmtest"
)

// DCP figures (issue 13): seconds from QEMU start to the node Ready and to
// a first test pod Running, with the split (boot to dcp start, dcp start
// to kube-apiserver ready, to node Ready), next to the same boot's time to
// sshd (the system without DCP's part); the live node's memory at rest
// with CoreDNS and one pod; whether a 1 GiB VM gets Ready.
func init() {
	register("dcp: live node Ready in QEMU", benchDCP)
}

var (
	apiReadyRe  = regexp.MustCompile(`kube-apiserver ready after ([0-9.]+)s`)
	nodeReadyRe = regexp.MustCompile(`node \S+ Ready after ([0-9.]+)s`)
)

type dcpBoot struct {
	ssh, ready, pod       time.Duration // from QEMU start
	apiAfter, readyAfter  time.Duration // from dcp's start (its log)
	used, dcpRSS, ctrdRSS int           // MiB
}

func benchDCP() error {
	root, err := vmtest.RepoRoot()
	if err != nil {
		return err
	}
	art := filepath.Join(root, "dist", "artifacts")
	iso := filepath.Join(art, "bos-amd64.iso")
	fi, err := os.Stat(iso)
	if err != nil {
		return fmt.Errorf("%s: run make iso first", iso)
	}
	n := 3
	if v, err := strconv.Atoi(os.Getenv("BOS_BENCH_DCP_BOOTS")); err == nil && v > 0 {
		n = v
	}
	var boots []dcpBoot
	for i := 0; i < n; i++ {
		var b dcpBoot
		_, err := withTB(fmt.Sprintf("dcp-%d", i), func(t *benchTB) time.Duration {
			b = dcpBootOnce(t, art, 2048, true)
			return b.ready
		})
		if err != nil {
			return err
		}
		boots = append(boots, b)
	}
	pick := func(f func(dcpBoot) time.Duration) time.Duration {
		var ds []time.Duration
		for _, b := range boots {
			ds = append(ds, f(b))
		}
		return median(ds)
	}
	ready, ssh := pick(func(b dcpBoot) time.Duration { return b.ready }), pick(func(b dcpBoot) time.Duration { return b.ssh })
	what := fmt.Sprintf("QEMU (%s, 2 vCPUs, 2 GiB) start to node Ready vs to sshd, median of %d", vmtest.Accel(), n)
	ratio(what, ready, ssh, "none: the first figure; k3s documents no TCG figure")
	figure("  QEMU start to the first test pod Running", pick(func(b dcpBoot) time.Duration { return b.pod }).Round(time.Second).String(), "none")
	apiAfter, readyAfter := pick(func(b dcpBoot) time.Duration { return b.apiAfter }), pick(func(b dcpBoot) time.Duration { return b.readyAfter })
	figure("  split: boot to dcp start / dcp start to apiserver ready / to node Ready",
		fmt.Sprintf("%.0f s / %.0f s / %.0f s", (ready-readyAfter).Seconds(), apiAfter.Seconds(), (readyAfter-apiAfter).Seconds()), "none")
	last := boots[len(boots)-1]
	figure("memory at rest (MemTotal - MemAvailable), node Ready, CoreDNS and one pod",
		fmt.Sprintf("%d MiB (dcp RSS %d MiB, containerd %d MiB)", last.used, last.dcpRSS, last.ctrdRSS), "under 700 MB; k3s documents 1596 MB for a server with a workload")
	figure("ISO size with DCP", fmt.Sprintf("%.1f MB", float64(fi.Size())/1e6), "under 350 MB")
	_, err = withTB("dcp-1GiB", func(t *benchTB) time.Duration {
		return dcpBootOnce(t, art, 1024, false).ready
	})
	if err != nil {
		figure("node Ready in a 1 GiB VM", "no: "+firstLine(err.Error()), "yes")
	} else {
		figure("node Ready in a 1 GiB VM", "yes", "yes")
	}
	return nil
}

// dcpBootOnce boots the live ISO and waits for the node to be Ready; with
// pod, it also runs a test pod and reads the memory figures.
func dcpBootOnce(t *benchTB, art string, memMB int, pod bool) dcpBoot {
	key := vmtest.NewKey(t)
	vm := vmtest.Start(t, vmtest.Options{
		ISO:    filepath.Join(art, "bos-amd64.iso"),
		Kernel: filepath.Join(art, "bos-vmlinuz-amd64"),
		Initrd: filepath.Join(art, "bos-initrd-amd64"),
		Append: fmt.Sprintf(`console=ttyS0,115200 panic=-1 bos.ssh_authorized_keys="%s"`, key.Authorized),
		CPUs:   2, MemoryMB: memMB, SSH: true, Timeout: 30 * time.Minute,
	})
	var b dcpBoot
	if err := vm.WaitSSH(key, "bhojpur", 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	b.ssh = time.Since(vm.Started)
	until := func(cmd, want string, timeout time.Duration) time.Duration {
		for end := time.Now().Add(timeout); time.Now().Before(end); time.Sleep(2 * time.Second) {
			if out, err := vm.SSH(key, "bhojpur", cmd); err == nil && strings.Contains(out, want) {
				return time.Since(vm.Started)
			}
		}
		t.Fatalf("%q did not print %q within %s", cmd, want, timeout)
		return 0
	}
	b.ready = until("kubectl get nodes --no-headers", " Ready ", 20*time.Minute)
	log, _ := vm.SSH(key, "bhojpur", "sudo grep '^dcp:' /var/log/dcp.log")
	b.apiAfter, b.readyAfter = lastSeconds(apiReadyRe, log), lastSeconds(nodeReadyRe, log)
	if !pod {
		return b
	}
	if _, err := vm.SSH(key, "bhojpur", "kubectl run bench --image=bhojpur.net/dcp/busybox:1.35 --image-pull-policy=IfNotPresent --command -- sleep 3600"); err != nil {
		t.Fatal(err)
	}
	b.pod = until("kubectl get pod bench -o jsonpath='{.status.phase}'", "Running", 10*time.Minute)
	until("kubectl -n kube-system get deployment coredns -o jsonpath='{.status.availableReplicas}'", "1", 10*time.Minute)
	b.used, b.dcpRSS, b.ctrdRSS = memoryAtRest(t, vm, key)
	return b
}

// memoryAtRest waits 30 s and reads a node's memory in MiB: MemTotal -
// MemAvailable, dcp's RSS and containerd's.
func memoryAtRest(t *benchTB, vm *vmtest.VM, key vmtest.Key) (used, dcpRSS, ctrdRSS int) {
	time.Sleep(30 * time.Second)
	out, err := vm.SSH(key, "bhojpur", "awk '/MemTotal|MemAvailable/ {print $2}' /proc/meminfo; sudo ps -o rss= -C dcp; sudo ps -o rss= -C containerd")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(out)
	kb := func(i int) int {
		if i >= len(f) {
			return 0
		}
		v, _ := strconv.Atoi(f[i])
		return v / 1024
	}
	return kb(0) - kb(1), kb(2), kb(3)
}

// lastSeconds is the last match of re's seconds in log.
func lastSeconds(re *regexp.Regexp, log string) time.Duration {
	m := re.FindAllStringSubmatch(log, -1)
	if len(m) == 0 {
		return 0
	}
	s, _ := strconv.ParseFloat(m[len(m)-1][1], 64)
	return time.Duration(s * float64(time.Second))
}
