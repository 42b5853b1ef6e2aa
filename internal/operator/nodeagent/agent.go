// Package nodeagent writes NodeConfigs onto nodes. The operator's
// DaemonSet runs an Agent on every node: for each NodeConfig that selects
// its node it renders spec.config as a config.d file,
// 50-nodeconfig-<name>.yaml, checks it with the toolkit's config loader
// (an invalid one is never written: the node reports the loader's
// file:line message), writes it atomically with mode 0600, removes the
// files of NodeConfigs that are gone or no longer select the node, and
// runs the host's runtime phase when a file changed. Each node reports in
// the NodeConfig's status.nodes: the generation it applied, or why not.
//
// Validator, in the operator's Deployment, sets every NodeConfig's Valid
// condition with the same loader, whether or not a node is selected.
package nodeagent

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/yaml"

	"github.com/bhojpur/os/internal/atomicfile"
	"github.com/bhojpur/os/internal/config"
	"github.com/bhojpur/os/internal/operator/osv1alpha1"
)

// CondValid is the NodeConfig condition that says whether the loader takes
// its config.
const CondValid = "Valid"

// Resync is how often an Agent looks again without a change (a deletion
// it missed, a file somebody edited).
const Resync = 5 * time.Minute

// FileName is the config.d file of the NodeConfig name.
func FileName(name string) string { return "50-nodeconfig-" + name + ".yaml" }

const filePrefix, fileSuffix = "50-nodeconfig-", ".yaml"

// Render is the file that NodeConfig nc becomes: a comment naming it, and
// its config as YAML.
func Render(nc *osv1alpha1.NodeConfig) ([]byte, error) {
	body, err := yaml.JSONToYAML(nc.Spec.Config.Raw)
	if err != nil {
		return nil, fmt.Errorf("NodeConfig %s: spec.config: %v", nc.Name, err)
	}
	head := fmt.Sprintf("# NodeConfig %s, generation %d, written by bos-operator: change the NodeConfig (kubectl edit nodeconfig %s), not this file.\n", nc.Name, nc.Generation, nc.Name)
	return append([]byte(head), body...), nil
}

// Check renders nc and loads it as the loader loads a config.d file: the
// file's bytes, or the loader's problems (FILE:LINE:COL: key: message).
func Check(nc *osv1alpha1.NodeConfig) ([]byte, error) {
	b, err := Render(nc)
	if err != nil {
		return nil, err
	}
	l, err := config.LoadFile(FileName(nc.Name), bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	if err := l.Err(); err != nil {
		return nil, err
	}
	return b, nil
}

// Agent is one node's writer.
type Agent struct {
	Client client.Client
	// Node is this node's name.
	Node string
	// Dir is the node's config.d as this process sees it
	// (/host/var/lib/bhojpur/os/config.d in the DaemonSet's pod).
	Dir string
	// Apply runs the host's runtime phase; its output goes into the error
	// the node reports.
	Apply func(ctx context.Context) ([]byte, error)
	Now   func() time.Time
}

func (a *Agent) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

var skipNameValidation = true

// SetupWithManager runs the agent on a change of any NodeConfig or of its
// node's labels, and every Resync.
func (a *Agent) SetupWithManager(mgr ctrl.Manager) error {
	one := func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: a.Node}}}
	}
	mine := predicate.NewPredicateFuncs(func(o client.Object) bool { return o.GetName() == a.Node })
	return ctrl.NewControllerManagedBy(mgr).
		Named("nodeconfig-agent").
		Watches(&osv1alpha1.NodeConfig{}, handler.EnqueueRequestsFromMapFunc(one), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Node{}, handler.EnqueueRequestsFromMapFunc(one), builder.WithPredicates(mine, predicate.LabelChangedPredicate{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: 1, SkipNameValidation: &skipNameValidation}).
		Complete(a)
}

// report is what the node says of one NodeConfig.
type report struct {
	applied int64 // the generation written and applied; -1: the file is unchanged; 0: neither (err says why)
	err     string
}

// Reconcile brings the node's config.d in line with the NodeConfigs.
func (a *Agent) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	lg := log.FromContext(ctx)
	var node corev1.Node
	if err := a.Client.Get(ctx, types.NamespacedName{Name: a.Node}, &node); err != nil {
		return reconcile.Result{}, err
	}
	var list osv1alpha1.NodeConfigList
	if err := a.Client.List(ctx, &list); err != nil {
		return reconcile.Result{}, err
	}
	if err := os.MkdirAll(a.Dir, 0o700); err != nil {
		return reconcile.Result{}, err
	}
	fs := osfs.New(a.Dir, osfs.WithBoundOS())
	selected := map[string]*osv1alpha1.NodeConfig{}
	reports := map[string]report{}
	keep := map[string]bool{} // files to leave: wanted, or the last valid one of an invalid NodeConfig
	var changed []string
	for i := range list.Items {
		nc := &list.Items[i]
		sel, err := metav1.LabelSelectorAsSelector(&nc.Spec.NodeSelector)
		if err != nil || !sel.Matches(labels.Set(node.Labels)) {
			continue
		}
		selected[nc.Name] = nc
		file := FileName(nc.Name)
		keep[file] = true
		b, err := Check(nc)
		if err != nil {
			reports[nc.Name] = report{err: fmt.Sprintf("not written: %v", err)}
			continue
		}
		old, _ := os.ReadFile(filepath.Join(a.Dir, file))
		if bytes.Equal(old, b) {
			reports[nc.Name] = report{applied: -1} // as before
			continue
		}
		if err := atomicfile.Write(fs, file, b, 0o600); err != nil {
			reports[nc.Name] = report{err: fmt.Sprintf("write %s: %v", file, err)}
			continue
		}
		lg.Info("wrote", "file", file, "generation", nc.Generation)
		changed = append(changed, nc.Name)
		reports[nc.Name] = report{applied: nc.Generation}
	}
	removed, err := a.removeStale(keep)
	if err != nil {
		return reconcile.Result{}, err
	}
	if len(changed) > 0 || len(removed) > 0 {
		out, err := a.Apply(ctx)
		if err != nil {
			msg := fmt.Sprintf("written, but the runtime phase failed: %v%s", err, tail(out))
			for _, n := range changed {
				reports[n] = report{err: msg}
			}
			lg.Error(err, "runtime phase", "changed", changed, "removed", removed)
		}
	}
	for name, nc := range selected {
		if err := a.report(ctx, nc, reports[name]); err != nil {
			return reconcile.Result{}, err
		}
	}
	// NodeConfigs that no longer select the node lose its report.
	for i := range list.Items {
		nc := &list.Items[i]
		if selected[nc.Name] == nil && hasNode(nc, a.Node) {
			if err := a.unreport(ctx, nc); err != nil {
				return reconcile.Result{}, err
			}
		}
	}
	return reconcile.Result{RequeueAfter: Resync}, nil
}

// removeStale removes the NodeConfig files of config.d that keep lacks.
func (a *Agent) removeStale(keep map[string]bool) ([]string, error) {
	ents, err := os.ReadDir(a.Dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, filePrefix) || !strings.HasSuffix(n, fileSuffix) || keep[n] || !e.Type().IsRegular() {
			continue
		}
		if err := os.Remove(filepath.Join(a.Dir, n)); err != nil && !os.IsNotExist(err) {
			return removed, err
		}
		removed = append(removed, n)
	}
	sort.Strings(removed)
	return removed, nil
}

// report writes the node's entry of nc's status.nodes.
func (a *Agent) report(ctx context.Context, nc *osv1alpha1.NodeConfig, r report) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var cur osv1alpha1.NodeConfig
		if err := a.Client.Get(ctx, types.NamespacedName{Name: nc.Name}, &cur); err != nil {
			return client.IgnoreNotFound(err)
		}
		entry := osv1alpha1.NodeStatus{Name: a.Node, Error: r.err, Time: metav1.NewTime(a.now())}
		var prev *osv1alpha1.NodeStatus
		for i := range cur.Status.Nodes {
			if cur.Status.Nodes[i].Name == a.Node {
				prev = &cur.Status.Nodes[i]
			}
		}
		switch {
		case r.applied > 0:
			entry.AppliedGeneration = r.applied
		case r.applied < 0 && prev != nil:
			return nil // the file is as it was: so is the report
		case r.applied < 0:
			// The file on disk is this generation's, its report lost (an
			// agent that stopped before it reported).
			entry.AppliedGeneration = cur.Generation
		case prev != nil:
			entry.AppliedGeneration = prev.AppliedGeneration
		}
		if prev != nil && prev.AppliedGeneration == entry.AppliedGeneration && prev.Error == entry.Error {
			return nil
		}
		var nodes []osv1alpha1.NodeStatus
		for _, n := range cur.Status.Nodes {
			if n.Name != a.Node {
				nodes = append(nodes, n)
			}
		}
		nodes = append(nodes, entry)
		sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
		cur.Status.Nodes = nodes
		return a.Client.Status().Update(ctx, &cur)
	})
}

func (a *Agent) unreport(ctx context.Context, nc *osv1alpha1.NodeConfig) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var cur osv1alpha1.NodeConfig
		if err := a.Client.Get(ctx, types.NamespacedName{Name: nc.Name}, &cur); err != nil {
			return client.IgnoreNotFound(err)
		}
		var nodes []osv1alpha1.NodeStatus
		for _, n := range cur.Status.Nodes {
			if n.Name != a.Node {
				nodes = append(nodes, n)
			}
		}
		cur.Status.Nodes = nodes
		return a.Client.Status().Update(ctx, &cur)
	})
}

func hasNode(nc *osv1alpha1.NodeConfig, node string) bool {
	for _, n := range nc.Status.Nodes {
		if n.Name == node {
			return true
		}
	}
	return false
}

func tail(out []byte) string {
	s := strings.TrimSpace(string(out))
	if s == "" {
		return ""
	}
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	return ":\n" + s
}

// Validator sets each NodeConfig's Valid condition: whether the toolkit's
// config loader takes its config, and its problems when not.
type Validator struct {
	Client client.Client
}

// SetupWithManager runs v on every NodeConfig change.
func (v *Validator) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("nodeconfig-validator").
		For(&osv1alpha1.NodeConfig{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controller.Options{SkipNameValidation: &skipNameValidation}).
		Complete(v)
}

// Reconcile checks one NodeConfig.
func (v *Validator) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	return reconcile.Result{}, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var nc osv1alpha1.NodeConfig
		if err := v.Client.Get(ctx, req.NamespacedName, &nc); err != nil {
			return client.IgnoreNotFound(err)
		}
		c := metav1.Condition{Type: CondValid, Status: metav1.ConditionTrue, Reason: "Loaded", Message: "the config loader takes it", ObservedGeneration: nc.Generation}
		if _, err := Check(&nc); err != nil {
			c.Status, c.Reason, c.Message = metav1.ConditionFalse, "Invalid", err.Error()
		}
		if old := meta.FindStatusCondition(nc.Status.Conditions, CondValid); old != nil && old.Status == c.Status && old.Message == c.Message && old.ObservedGeneration == c.ObservedGeneration {
			return nil
		}
		meta.SetStatusCondition(&nc.Status.Conditions, c)
		err := v.Client.Status().Update(ctx, &nc)
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	})
}
