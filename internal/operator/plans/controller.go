package plans

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/bhojpur/os/internal/operator/upgradev1"
)

// Conditions of a Plan's status.
const (
	CondResolved = "LatestResolved" // the version is known
	CondFailed   = "Failed"         // a node failed the version: the rollout is stopped
	CondComplete = "Complete"       // every selected node applied the hash
)

// Reconciler runs the Plans of one namespace.
type Reconciler struct {
	Client  client.Client
	Jobs    JobOptions
	Channel Channel
	// Interval is how often a channel is asked again.
	Interval time.Duration
	Now      func() time.Time

	mu       sync.Mutex
	resolved map[types.UID]resolution
}

type resolution struct {
	channel, version string
	at               time.Time
}

// SetupWithManager runs r for the manager's Plans: on a change of a Plan,
// of one of its Jobs, or of a node's labels. One reconcile at a time, so
// that exclusive Plans and concurrency see each other's Jobs.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&upgradev1.Plan{}).
		Owns(&batchv1.Job{}).
		Watches(&corev1.Node{}, handler.EnqueueRequestsFromMapFunc(r.allPlans), builder.WithPredicates(predicate.LabelChangedPredicate{})).
		// Metrics are off (bosoperator.NewManager): nothing needs the
		// controller's name to be unique in the process, and tests run
		// several managers.
		WithOptions(controller.Options{MaxConcurrentReconciles: 1, SkipNameValidation: &skipNameValidation}).
		Complete(r)
}

var skipNameValidation = true

func (r *Reconciler) allPlans(ctx context.Context, _ client.Object) []reconcile.Request {
	var list upgradev1.PlanList
	if err := r.Client.List(ctx, &list); err != nil {
		log.FromContext(ctx).Error(err, "list plans")
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, p := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: p.Namespace, Name: p.Name}})
	}
	return reqs
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Reconcile takes one Plan a step further (Decide) and writes its status.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	lg := log.FromContext(ctx)
	var plan upgradev1.Plan
	if err := r.Client.Get(ctx, req.NamespacedName, &plan); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	old := plan.Status.DeepCopy()
	var result reconcile.Result
	if plan.Spec.Version == "" && plan.Spec.Channel != "" {
		result.RequeueAfter = r.Interval
	}
	version, err := r.version(ctx, &plan)
	if err != nil {
		setCondition(&plan, CondResolved, metav1.ConditionFalse, "ChannelError", err.Error())
		result.RequeueAfter = time.Minute
		if version == "" {
			return result, r.writeStatus(ctx, &plan, old)
		}
		// The last version known stays the rollout's.
	} else {
		setCondition(&plan, CondResolved, metav1.ConditionTrue, "Resolved", "version "+version)
	}
	if version == "" {
		setCondition(&plan, CondResolved, metav1.ConditionFalse, "NoVersion", "the Plan has neither a version nor a channel")
		return result, r.writeStatus(ctx, &plan, old)
	}
	secrets, err := r.secrets(ctx, &plan)
	if err != nil {
		return result, err
	}
	hash := Hash(&plan.Spec, version, secrets)
	st := State{Plan: &plan, Version: version, Hash: hash}
	if st.Nodes, err = r.nodes(ctx, &plan); err != nil {
		return result, err
	}
	var jobs batchv1.JobList
	if err := r.Client.List(ctx, &jobs, client.InNamespace(plan.Namespace), client.MatchingLabels{LabelPlan: plan.Name}); err != nil {
		return result, err
	}
	st.Jobs = jobs.Items
	if plan.Spec.Exclusive {
		if st.ExclusiveBusy, err = r.exclusiveBusy(ctx, &plan); err != nil {
			return result, err
		}
	}
	a := Decide(st)

	for _, n := range a.Done {
		if err := r.patchNode(ctx, n, map[string]string{DonePrefix + plan.Name: hash}, cordons(&plan)); err != nil {
			return result, err
		}
		lg.Info("node upgraded", "node", n, "version", version)
	}
	for _, n := range a.Uncordon {
		if err := r.patchNode(ctx, n, nil, true); err != nil {
			return result, err
		}
	}
	for _, j := range a.Delete {
		if err := r.Client.Delete(ctx, j, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
			return result, err
		}
	}
	for _, n := range a.Start {
		job := NewJob(&plan, n, version, hash, r.Jobs)
		if err := r.Client.Create(ctx, job); err != nil && !apierrors.IsAlreadyExists(err) {
			return result, err
		}
		lg.Info("upgrade started", "node", n, "version", version, "job", job.Name)
	}

	plan.Status.LatestVersion, plan.Status.LatestHash, plan.Status.Applying = version, hash, a.Applying
	if f := plan.Status.Failure; f != nil && f.Hash != hash {
		plan.Status.Failure = nil // a new version or spec: a new rollout
	}
	if a.Failure != nil && plan.Status.Failure == nil {
		plan.Status.Failure = &upgradev1.Failure{Node: a.Failure.Node, Version: version, Hash: hash, Reason: a.Failure.Reason, Message: a.Failure.Message, Time: metav1.NewTime(r.now())}
		lg.Info("rollout stopped", "node", a.Failure.Node, "version", version, "reason", a.Failure.Reason, "message", a.Failure.Message)
	}
	if f := plan.Status.Failure; f != nil {
		setCondition(&plan, CondFailed, metav1.ConditionTrue, f.Reason, f.Message)
	} else {
		setCondition(&plan, CondFailed, metav1.ConditionFalse, "NoFailure", "no node failed "+version)
	}
	switch {
	case a.Complete:
		setCondition(&plan, CondComplete, metav1.ConditionTrue, "Complete", fmt.Sprintf("every selected node (%d) runs %s", len(st.Nodes), version))
	case a.Waiting != "":
		setCondition(&plan, CondComplete, metav1.ConditionFalse, "Waiting", a.Waiting)
	default:
		setCondition(&plan, CondComplete, metav1.ConditionFalse, "Applying", fmt.Sprintf("upgrading %v to %s", a.Applying, version))
	}
	return result, r.writeStatus(ctx, &plan, old)
}

func (r *Reconciler) writeStatus(ctx context.Context, plan *upgradev1.Plan, old *upgradev1.PlanStatus) error {
	if equality.Semantic.DeepEqual(old, &plan.Status) {
		return nil
	}
	return r.Client.Status().Update(ctx, plan)
}

// version is the Plan's version: spec.version, or its channel's, asked
// again every Interval. On an error it returns the last version known
// (status.latestVersion) with the error.
func (r *Reconciler) version(ctx context.Context, plan *upgradev1.Plan) (string, error) {
	if plan.Spec.Version != "" {
		return plan.Spec.Version, nil
	}
	if plan.Spec.Channel == "" {
		return "", nil
	}
	r.mu.Lock()
	if r.resolved == nil {
		r.resolved = map[types.UID]resolution{}
	}
	c, ok := r.resolved[plan.UID]
	r.mu.Unlock()
	if ok && c.channel == plan.Spec.Channel && r.now().Sub(c.at) < r.Interval {
		return c.version, nil
	}
	v, err := r.Channel.Resolve(ctx, plan.Spec.Channel)
	if err != nil {
		return plan.Status.LatestVersion, err
	}
	r.mu.Lock()
	r.resolved[plan.UID] = resolution{plan.Spec.Channel, v, r.now()}
	r.mu.Unlock()
	return v, nil
}

// secrets is the data of the Plan's Secrets that count for its hash.
func (r *Reconciler) secrets(ctx context.Context, plan *upgradev1.Plan) (map[string]map[string][]byte, error) {
	out := map[string]map[string][]byte{}
	for _, s := range plan.Spec.Secrets {
		if s.IgnoreUpdates {
			continue
		}
		var sec corev1.Secret
		if err := r.Client.Get(ctx, types.NamespacedName{Namespace: plan.Namespace, Name: s.Name}, &sec); err != nil {
			return nil, fmt.Errorf("plan %s: secret %s: %w", plan.Name, s.Name, err)
		}
		out[s.Name] = sec.Data
	}
	return out, nil
}

// nodes are the nodes the Plan selects, by name. No selector selects none.
func (r *Reconciler) nodes(ctx context.Context, plan *upgradev1.Plan) ([]corev1.Node, error) {
	sel, err := metav1.LabelSelectorAsSelector(plan.Spec.NodeSelector)
	if err != nil {
		return nil, fmt.Errorf("plan %s: nodeSelector: %w", plan.Name, err)
	}
	if plan.Spec.NodeSelector == nil {
		sel = labels.Nothing()
	}
	var list corev1.NodeList
	if err := r.Client.List(ctx, &list, client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, err
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	return list.Items, nil
}

// exclusiveBusy says whether another exclusive Plan of the namespace has a
// Job under way.
func (r *Reconciler) exclusiveBusy(ctx context.Context, plan *upgradev1.Plan) (bool, error) {
	var jobs batchv1.JobList
	if err := r.Client.List(ctx, &jobs, client.InNamespace(plan.Namespace), client.MatchingLabels{LabelExclusive: "true"}); err != nil {
		return false, err
	}
	for i := range jobs.Items {
		j := &jobs.Items[i]
		if j.Labels[LabelPlan] != plan.Name && !finished(j, batchv1.JobComplete) && !finished(j, batchv1.JobFailed) {
			return true, nil
		}
	}
	return false, nil
}

// patchNode adds labels to the node and, with uncordon, makes it
// schedulable again.
func (r *Reconciler) patchNode(ctx context.Context, name string, add map[string]string, uncordon bool) error {
	var n corev1.Node
	if err := r.Client.Get(ctx, types.NamespacedName{Name: name}, &n); err != nil {
		return client.IgnoreNotFound(err)
	}
	base := n.DeepCopy()
	if n.Labels == nil {
		n.Labels = map[string]string{}
	}
	for k, v := range add {
		n.Labels[k] = v
	}
	if uncordon {
		n.Spec.Unschedulable = false
	}
	return r.Client.Patch(ctx, &n, client.MergeFrom(base))
}

func setCondition(p *upgradev1.Plan, t string, s metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&p.Status.Conditions, metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: p.Generation})
}
