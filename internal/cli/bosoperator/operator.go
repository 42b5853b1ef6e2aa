// Package bosoperator is the bos-operator command: the controller that
// runs upgrade.cattle.io/v1 Plans (a Deployment in bos-system, leader
// elected), and `bos-operator drain`, the step of an upgrade Job that
// cordons and drains its node.
package bosoperator

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/pkg/errors"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/bhojpur/os/internal/cli"
	"github.com/bhojpur/os/internal/exitcode"
	"github.com/bhojpur/os/internal/operator/nodeagent"
	"github.com/bhojpur/os/internal/operator/osv1alpha1"
	"github.com/bhojpur/os/internal/operator/plans"
	"github.com/bhojpur/os/internal/operator/upgradev1"
)

// Name is the command's name.
const Name = "bos-operator"

// Description is its help text.
const Description = "The Bhojpur OS operator: runs the upgrade.cattle.io/v1 Plans of its namespace " +
	"(cordon, drain, upgrade, reboot, uncordon, one node after another), stops a rollout when a node falls back from its trial boot, " +
	"and writes the os.bhojpur.net NodeConfigs onto the nodes they select."

// CLI is the command line.
type CLI struct {
	cli.Globals
	Controller ControllerCmd `cmd:"" help:"Run the Plan controller (leader elected: replicas are safe)."`
	Drain      DrainCmd      `cmd:"" help:"Cordon a node and drain it (an upgrade Job's step)."`
	Node       NodeCmd       `cmd:"" help:"Write the NodeConfigs that select this node into its config.d and apply them (the DaemonSet on every node)."`
}

// Main runs bos-operator on args and returns its exit code.
func Main(name string, args []string, streams cli.IO) int {
	return cli.Run(name, Description, &CLI{}, args, streams)
}

// Kube is how the command reaches the apiserver.
type Kube struct {
	Kubeconfig string `help:"A kubeconfig file (default: the pod's service account)." env:"KUBECONFIG" type:"path" placeholder:"FILE"`
}

func (k Kube) config() (*rest.Config, error) {
	var c *rest.Config
	var err error
	if k.Kubeconfig != "" {
		c, err = clientcmd.BuildConfigFromFlags("", k.Kubeconfig)
	} else {
		c, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, errors.Wrapf(exitcode.ErrBadInput, "no way to the apiserver (--kubeconfig FILE, or run in a pod): %v", err)
	}
	c.UserAgent = Name
	return c, nil
}

// ControllerCmd runs the Plan controller.
type ControllerCmd struct {
	Kube
	Namespace       string        `help:"The namespace whose Plans it runs (and where its leader lease is)." env:"POD_NAMESPACE" default:"bos-system"`
	Image           string        `help:"The operator's own image: the drain step of each upgrade Job runs it." env:"BOS_OPERATOR_IMAGE" required:""`
	ChannelInterval time.Duration `help:"How often a Plan's channel is asked for the latest version." default:"15m"`
	BackoffLimit    int32         `help:"How often an upgrade Job's pod is rerun (a pod that reboots its node is rerun after the boot)." default:"20"`
	JobDeadline     time.Duration `help:"An upgrade Job that runs longer is ended, unless its Plan sets jobActiveDeadlineSecs." default:"1h"`
	PullPolicy      string        `help:"The image pull policy of the Jobs' containers." enum:"IfNotPresent,Always,Never" default:"IfNotPresent"`
	LeaderElect     bool          `help:"Elect a leader among the replicas (--no-leader-elect for one replica out of cluster)." default:"true" negatable:""`
}

// Run runs the controller until SIGTERM.
func (c *ControllerCmd) Run(env *cli.Env) error {
	cfg, err := c.config()
	if err != nil {
		return err
	}
	if c.ChannelInterval < time.Minute {
		return errors.Wrapf(exitcode.ErrBadInput, "--channel-interval %s: at least 1m (a channel is somebody's server)", c.ChannelInterval)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	lg := logger(env.Stderr, env.Debug)
	log.SetLogger(lg)
	mgr, err := NewManager(cfg, c.Namespace, c.LeaderElect, lg)
	if err != nil {
		return err
	}
	r := &plans.Reconciler{
		Client: mgr.GetClient(),
		Jobs: plans.JobOptions{
			Image:          c.Image,
			BackoffLimit:   c.BackoffLimit,
			ActiveDeadline: int64(c.JobDeadline.Seconds()),
			PullPolicy:     corev1.PullPolicy(c.PullPolicy),
		},
		Interval: c.ChannelInterval,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return err
	}
	if err := (&nodeagent.Validator{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
		return err
	}
	env.Log.Printf("running the Plans of namespace %s (image %s)", c.Namespace, c.Image)
	return mgr.Start(ctx)
}

// Scheme knows the built-in kinds, Plans and NodeConfigs.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = upgradev1.AddToScheme(s)
	_ = osv1alpha1.AddToScheme(s)
	return s
}

// NewManager is a controller manager of namespace's objects (and of
// nodes), its metrics server off, its leader lease (with elect) in
// namespace.
func NewManager(cfg *rest.Config, namespace string, elect bool, lg logr.Logger) (ctrl.Manager, error) {
	return ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  Scheme(),
		Logger:                  lg,
		Cache:                   cache.Options{DefaultNamespaces: map[string]cache.Config{namespace: {}}},
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:  "0",
		LeaderElection:          elect,
		LeaderElectionID:        "bos-operator",
		LeaderElectionNamespace: namespace,
		GracefulShutdownTimeout: ptr(10 * time.Second),
	})
}

func ptr[T any](v T) *T { return &v }

// logger writes controller-runtime's structured lines to w, its debug
// lines (V(1) and up) only with debug.
func logger(w io.Writer, debug bool) logr.Logger {
	verbosity := 0
	if debug {
		verbosity = 5
	}
	return funcr.New(func(prefix, args string) {
		if prefix != "" {
			fmt.Fprintf(w, "%s: %s %s\n", Name, prefix, args)
		} else {
			fmt.Fprintf(w, "%s: %s\n", Name, args)
		}
	}, funcr.Options{Verbosity: verbosity})
}
