package plans

import (
	"fmt"
	"sort"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/bhojpur/os/internal/operator/upgradev1"
)

// Failure reasons in a Plan's status.failure.
const (
	ReasonTrialBootFailed = "TrialBootFailed"
	ReasonJobFailed       = "JobFailed"
)

// State is what a Plan's reconcile sees: the Plan, the version and hash it
// rolls out, the nodes its selector selects, its Jobs, and whether another
// exclusive Plan of the namespace has a Job under way.
type State struct {
	Plan          *upgradev1.Plan
	Version, Hash string
	Nodes         []corev1.Node
	Jobs          []batchv1.Job
	ExclusiveBusy bool
}

// Actions are what the reconcile does about a State.
type Actions struct {
	Start    []string       // nodes to start a Job on
	Done     []string       // nodes that applied Hash: label, uncordon
	Uncordon []string       // nodes whose failed upgrade is over: uncordon, no label
	Delete   []*batchv1.Job // Jobs that are over (done, failed, stale)
	Failure  *Failure       // a node that failed Version, if one did
	Applying []string       // nodes with a Job under way, after the actions
	Complete bool           // every selected node applied Hash
	Waiting  string         // why no Job starts although nodes wait ("" if none do)
}

// Failure is a node that failed the rollout of a version.
type Failure struct {
	Node, Reason, Message string
}

// Decide is the Plan's next step. It never starts more Jobs than leave
// spec.concurrency Jobs under way, counting those of other hashes (a
// stale Job still running its upgrade keeps its node), and none once a
// node failed the version (the Plan's status.failure for this hash, or
// one found now).
func Decide(s State) Actions {
	var a Actions
	p := s.Plan
	busy := map[string]bool{}  // nodes with a Job under way
	tried := map[string]bool{} // nodes with a Job of this hash, in any state
	for i := range s.Jobs {
		j := &s.Jobs[i]
		node := j.Labels[LabelNode]
		current := j.Labels[LabelHash] == s.Hash
		if current {
			tried[node] = true
		}
		switch {
		case finished(j, batchv1.JobComplete):
			if current {
				a.Done = append(a.Done, node)
			} else if cordons(p) {
				a.Uncordon = append(a.Uncordon, node)
			}
			a.Delete = append(a.Delete, j)
		case finished(j, batchv1.JobFailed):
			if current && a.Failure == nil {
				a.Failure = &Failure{Node: node, Reason: ReasonJobFailed, Message: fmt.Sprintf("the upgrade Job %s failed: %s", j.Name, jobMessage(j))}
			}
			if cordons(p) {
				a.Uncordon = append(a.Uncordon, node)
			}
			if !current {
				a.Delete = append(a.Delete, j)
			} // a failed Job of this hash stays, for its logs
		case current && fellBack(s.Nodes, node, s.Version):
			// The node rebooted into the version, its trial boot failed,
			// and GRUB booted the old one: stop the Job before its rerun.
			if a.Failure == nil {
				a.Failure = &Failure{Node: node, Reason: ReasonTrialBootFailed, Message: fmt.Sprintf("node %s fell back from the trial boot of %s to its previous version (%s=%s)", node, s.Version, FallbackLabel, labelValue(s.Version))}
			}
			if cordons(p) {
				a.Uncordon = append(a.Uncordon, node)
			}
			a.Delete = append(a.Delete, j)
		default:
			busy[node] = true
		}
	}
	failed := a.Failure != nil || (p.Status.Failure != nil && p.Status.Failure.Hash == s.Hash)
	done := map[string]bool{}
	for _, n := range a.Done {
		done[n] = true
	}
	var waiting []string
	a.Complete = true
	for i := range s.Nodes {
		n := &s.Nodes[i]
		if done[n.Name] || n.Labels[DonePrefix+p.Name] == s.Hash {
			continue
		}
		a.Complete = false
		if busy[n.Name] || tried[n.Name] {
			continue
		}
		if fellBack(s.Nodes, n.Name, s.Version) {
			// It failed this version before (another Plan, or by hand).
			if a.Failure == nil && !failed {
				a.Failure = &Failure{Node: n.Name, Reason: ReasonTrialBootFailed, Message: fmt.Sprintf("node %s carries %s=%s: its trial boot of %s failed before", n.Name, FallbackLabel, labelValue(s.Version), s.Version)}
				failed = true
			}
			continue
		}
		waiting = append(waiting, n.Name)
	}
	failed = failed || a.Failure != nil
	sort.Strings(waiting)
	slots := int(p.Spec.Concurrency)
	if slots < 1 {
		slots = 1
	}
	slots -= len(busy)
	switch {
	case len(waiting) == 0:
	case failed:
		a.Waiting = fmt.Sprintf("the rollout of %s is stopped: a node failed it", s.Version)
	case p.Spec.Exclusive && s.ExclusiveBusy:
		a.Waiting = "another exclusive Plan has an upgrade under way"
	case slots <= 0:
		a.Waiting = fmt.Sprintf("%d of %d upgrades under way (concurrency)", len(busy), p.Spec.Concurrency)
	default:
		if slots > len(waiting) {
			slots = len(waiting)
		}
		a.Start = waiting[:slots]
	}
	for n := range busy {
		a.Applying = append(a.Applying, n)
	}
	a.Applying = append(a.Applying, a.Start...)
	sort.Strings(a.Applying)
	return a
}

func cordons(p *upgradev1.Plan) bool { return p.Spec.Cordon || p.Spec.Drain != nil }

// finished says whether the Job has condition t (Complete, Failed) true.
func finished(j *batchv1.Job, t batchv1.JobConditionType) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func jobMessage(j *batchv1.Job) string {
	for _, c := range j.Status.Conditions {
		if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
			if c.Message != "" {
				return c.Reason + ": " + c.Message
			}
			return c.Reason
		}
	}
	return "no reason given"
}

// fellBack says whether node carries the fallback label of version.
func fellBack(nodes []corev1.Node, node, version string) bool {
	for i := range nodes {
		if nodes[i].Name == node {
			v, ok := nodes[i].Labels[FallbackLabel]
			return ok && v != "" && v == labelValue(version)
		}
	}
	return false
}
