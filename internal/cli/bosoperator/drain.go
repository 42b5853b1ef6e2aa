package bosoperator

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pkg/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubectl/pkg/drain"

	"github.com/bhojpur/os/internal/cli"
	"github.com/bhojpur/os/internal/exitcode"
	"github.com/bhojpur/os/internal/operator/plans"
)

// DrainCmd cordons its node and drains it, as kubectl drain does, but
// never evicts the upgrade Jobs' own pods (those labelled
// upgrade.cattle.io/plan): the one running this step is among them.
type DrainCmd struct {
	Kube
	Node                     string        `help:"The node." env:"SYSTEM_UPGRADE_NODE_NAME" required:""`
	CordonOnly               bool          `help:"Cordon, do not drain."`
	Force                    bool          `help:"Also delete pods that no controller manages."`
	IgnoreDaemonsets         bool          `help:"Leave DaemonSet pods (they would come back)."`
	DeleteEmptydirData       bool          `help:"Also evict pods with emptyDir volumes (their data is lost)."`
	DisableEviction          bool          `help:"Delete pods instead of evicting them (PodDisruptionBudgets are not asked)."`
	Timeout                  time.Duration `help:"Give up after this long (0: no limit)."`
	GracePeriod              int           `help:"Seconds each pod has to stop (-1: its own terminationGracePeriodSeconds)." default:"-1"`
	SkipWaitForDeleteTimeout int           `help:"Do not wait for pods whose deletion is older than this many seconds (0: wait for all)."`
	PodSelector              string        `help:"Drain only the pods this label selector selects."`
}

// Run cordons and drains.
func (d *DrainCmd) Run(env *cli.Env) error {
	sel := "!" + plans.LabelPlan
	if d.PodSelector != "" {
		if _, err := labels.Parse(d.PodSelector); err != nil {
			return errors.Wrapf(exitcode.ErrBadInput, "--pod-selector %q: %v", d.PodSelector, err)
		}
		sel += "," + d.PodSelector
	}
	cfg, err := d.config()
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	h := &drain.Helper{
		Ctx:                             ctx,
		Client:                          cs,
		Force:                           d.Force,
		GracePeriodSeconds:              d.GracePeriod,
		IgnoreAllDaemonSets:             d.IgnoreDaemonsets,
		Timeout:                         d.Timeout,
		DeleteEmptyDirData:              d.DeleteEmptydirData,
		DisableEviction:                 d.DisableEviction,
		SkipWaitForDeleteTimeoutSeconds: d.SkipWaitForDeleteTimeout,
		PodSelector:                     sel,
		Out:                             env.Stdout,
		ErrOut:                          env.Stderr,
	}
	node, err := cs.CoreV1().Nodes().Get(ctx, d.Node, metav1.GetOptions{})
	if err != nil {
		return errors.Wrapf(err, "node %s", d.Node)
	}
	start := time.Now()
	if err := drain.RunCordonOrUncordon(h, node, true); err != nil {
		return errors.Wrapf(err, "cordon %s", d.Node)
	}
	if d.CordonOnly {
		env.Log.Printf("node %s cordoned", d.Node)
		return nil
	}
	if err := drain.RunNodeDrain(h, d.Node); err != nil {
		return errors.Wrapf(err, "drain %s", d.Node)
	}
	env.Log.Printf("node %s cordoned and drained in %s", d.Node, time.Since(start).Round(time.Millisecond))
	return nil
}
