package agent

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/pkg/errors"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/bhojpur/os/dcp/internal/config"
	"github.com/bhojpur/os/dcp/internal/executor"
	"github.com/bhojpur/os/dcp/internal/flannel"
	"github.com/bhojpur/os/dcp/internal/pki"
)

// Logger is the agent's log.
type Logger interface {
	Printf(format string, args ...any)
}

// StartTimeout bounds the wait for containerd's socket and for the node's
// pod range (minutes under TCG emulation).
const StartTimeout = 10 * time.Minute

// Run runs the node's agent until ctx is done or a part fails: containerd
// and the image import at once, the kubelet and kube-proxy once apiReady is
// closed, then the pod network when the node has its pod range. On a
// server it runs beside the control plane; on an agent (c.IsAgent) after
// Join. start is when dcp started (for the log's figures).
func Run(ctx context.Context, c *config.Config, x executor.Executor, apiReady <-chan struct{}, start time.Time, log Logger) error {
	if err := prepareHost(c, log); err != nil {
		return err
	}
	containerdLog, err := os.OpenFile(c.AgentFile("containerd/containerd.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return errors.WithStack(err)
	}
	defer containerdLog.Close()
	// Not an errgroup: the kubelet does not stop when ctx is done (it
	// stops on SIGTERM), so waiting for every part would hide the first
	// failure. The first part to fail ends Run; the process then exits.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	failed := make(chan error, 4)
	part := func(name string, f func() error) {
		go func() {
			err := f()
			if err == nil && ctx.Err() == nil {
				err = errors.Errorf("%s stopped", name)
			}
			failed <- err
		}()
	}
	started := make(chan struct{})
	part("containerd", func() error { return Containerd(ctx, c, containerdLog, started) })
	part("the node's start", func() error {
		if err := wait(ctx, started, "containerd"); err != nil {
			return err
		}
		log.Printf("containerd ready after %.1fs", time.Since(start).Seconds())
		if err := Import(ctx, c, log); err != nil {
			return err
		}
		if err := wait(ctx, apiReady, "kube-apiserver"); err != nil {
			return err
		}
		part("kubelet", func() error { return x.Kubelet(ctx, KubeletArgs(c)) })
		part("kube-proxy", func() error { return x.KubeProxy(ctx, KubeProxyArgs(c)) })
		log.Printf("kubelet and kube-proxy started after %.1fs", time.Since(start).Seconds())
		return network(ctx, c, start, log)
	})
	select {
	case err := <-failed:
		if ctx.Err() != nil && errors.Cause(err) == context.Canceled {
			return nil
		}
		return err
	case <-ctx.Done():
		return nil
	}
}

// prepareHost loads the kernel modules and sets the sysctls that pods'
// networking needs, makes mounts propagate into pods' volumes, and writes the
// kubelet's configuration.
func prepareHost(c *config.Config, log Logger) error {
	for _, m := range []string{"overlay", "br_netfilter", "nf_conntrack", "vxlan"} {
		if out, err := exec.Command("modprobe", m).CombinedOutput(); err != nil {
			log.Printf("modprobe %s: %v %s", m, err, lastLine(out))
		}
	}
	for _, s := range []string{"net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables"} {
		if err := os.WriteFile(filepath.Join("/proc/sys", s), []byte("1\n"), 0o644); err != nil {
			return errors.Wrapf(err, "sysctl %s=1 (pods' traffic through the bridge needs it)", s)
		}
	}
	if err := unix.Mount("", "/", "", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return errors.Wrap(err, "make / a shared mount (volume mounts propagate into pods)")
	}
	for _, d := range []string{c.AgentDir(), c.AgentFile("containerd"), c.AgentFile("kubelet"), c.CNIConfDir(), c.RunDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return errors.WithStack(err)
		}
	}
	return pki.WriteFile(c.AgentFile("kubelet.yaml"), KubeletConfig(c), 0o600)
}

// network waits for kube-controller-manager to give the node its pod range,
// starts flannel on it, writes the pod network's conflist (containerd picks
// it up), and then waits for the node to be Ready, logging when it is. It
// asks as the kubelet (the Node authorizer lets a node read its node).
func network(ctx context.Context, c *config.Config, start time.Time, log Logger) error {
	rc, err := clientcmd.BuildConfigFromFlags("", c.NodeCred(Kubelet))
	if err != nil {
		return errors.Wrap(err, "the kubelet's kubeconfig")
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return errors.WithStack(err)
	}
	var cidr *net.IPNet
	var labels map[string]string
	err = poll(ctx, func(ctx context.Context) (bool, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, c.NodeName, metav1.GetOptions{})
		if err != nil || n.Spec.PodCIDR == "" {
			return false, nil
		}
		labels = n.Labels
		_, cidr, err = net.ParseCIDR(n.Spec.PodCIDR)
		return true, errors.Wrapf(err, "node %s: pod CIDR %q", c.NodeName, n.Spec.PodCIDR)
	})
	if err != nil {
		return errors.Wrapf(err, "waiting for node %s's pod range", c.NodeName)
	}
	if err := reconcileOSLabels(ctx, cs, c, labels, log); err != nil {
		return err
	}
	fn, err := flannel.Start(ctx, flannel.Options{
		NodeName:   c.NodeName,
		Kubeconfig: c.NodeCred(Flannel),
		Network:    c.ClusterCIDR,
		NodeIP:     c.NodeIP,
		Iface:      c.FlannelIface,
		Dir:        filepath.Join(c.RunDir, "flannel"),
	})
	if err != nil {
		return err
	}
	if fn.Subnet.String() != cidr.String() {
		return errors.Errorf("flannel leased %s, but node %s's pod range is %s", fn.Subnet, c.NodeName, cidr)
	}
	if err := pki.WriteFile(filepath.Join(c.CNIConfDir(), "10-dcp.conflist"), CNIConfig(c, cidr, fn.MTU), 0o644); err != nil {
		return err
	}
	log.Printf("node %s registered, pod network %s (flannel vxlan over %s %s, MTU %d), after %.1fs", c.NodeName, cidr, fn.Iface, fn.VTEP, fn.MTU, time.Since(start).Seconds())
	err = poll(ctx, func(ctx context.Context) (bool, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, c.NodeName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return errors.Wrapf(err, "waiting for node %s to be Ready", c.NodeName)
	}
	log.Printf("node %s Ready after %.1fs", c.NodeName, time.Since(start).Seconds())
	<-ctx.Done()
	return nil
}

// poll calls f every second until it is done, fails, ctx is done or
// StartTimeout passed.
func poll(ctx context.Context, f func(context.Context) (bool, error)) error {
	deadline := time.After(StartTimeout)
	for {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ok, err := f(rctx)
		cancel()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return errors.Errorf("not done after %s", StartTimeout)
		case <-time.After(time.Second):
		}
	}
}

func wait(ctx context.Context, ready <-chan struct{}, what string) error {
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(StartTimeout):
		return errors.Errorf("%s not ready after %s", what, StartTimeout)
	}
}
