package plans

import (
	"reflect"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bhojpur/os/internal/operator/upgradev1"
)

const testHash = "0123456789abcdef0123456789abcdef0123456789abcdef01234567"

func plan(concurrency int64) *upgradev1.Plan {
	return &upgradev1.Plan{
		ObjectMeta: metav1.ObjectMeta{Name: "bos-latest", Namespace: "bos-system"},
		Spec:       upgradev1.PlanSpec{Concurrency: concurrency, Cordon: true, Upgrade: &upgradev1.ContainerSpec{Image: "bhojpur/bos-upgrade"}},
	}
}

func node(name string, labels ...string) corev1.Node {
	n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}}}
	for i := 0; i+1 < len(labels); i += 2 {
		n.Labels[labels[i]] = labels[i+1]
	}
	return n
}

func job(node, hash string, cond batchv1.JobConditionType) batchv1.Job {
	j := batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j-" + node + "-" + hash[:4], Labels: map[string]string{LabelPlan: "bos-latest", LabelNode: node, LabelHash: hash}}}
	if cond != "" {
		j.Status.Conditions = []batchv1.JobCondition{{Type: cond, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded"}}
	}
	return j
}

func TestDecide(t *testing.T) {
	old := "fedcba9876543210fedcba9876543210fedcba9876543210fedcba98"
	for _, tc := range []struct {
		name     string
		state    State
		start    []string
		done     []string
		uncordon []string
		deleted  int
		failure  string // the failed node, with its reason after a space
		applying []string
		complete bool
		waiting  string
	}{
		{name: "nothing selected", state: State{Plan: plan(1)}, complete: true},
		{
			name:  "concurrency 1 starts one, by name",
			state: State{Plan: plan(1), Nodes: []corev1.Node{node("b"), node("a"), node("c")}},
			start: []string{"a"}, applying: []string{"a"},
		},
		{
			name:  "concurrency 2 counts the Job under way",
			state: State{Plan: plan(2), Nodes: []corev1.Node{node("a"), node("b"), node("c")}, Jobs: []batchv1.Job{job("b", testHash, "")}},
			start: []string{"a"}, applying: []string{"a", "b"},
		},
		{
			name:     "a stale Job still running keeps its slot",
			state:    State{Plan: plan(1), Nodes: []corev1.Node{node("a"), node("b")}, Jobs: []batchv1.Job{job("b", old, "")}},
			applying: []string{"b"}, waiting: "1 of 1 upgrades under way",
		},
		{
			name:  "done nodes are skipped",
			state: State{Plan: plan(1), Nodes: []corev1.Node{node("a", DonePrefix+"bos-latest", testHash), node("b")}},
			start: []string{"b"}, applying: []string{"b"},
		},
		{
			name:  "a complete Job: the node is done, the next starts",
			state: State{Plan: plan(1), Nodes: []corev1.Node{node("a"), node("b")}, Jobs: []batchv1.Job{job("a", testHash, batchv1.JobComplete)}},
			done:  []string{"a"}, deleted: 1, start: []string{"b"}, applying: []string{"b"},
		},
		{
			name:  "the last Job completes: complete",
			state: State{Plan: plan(1), Nodes: []corev1.Node{node("a", DonePrefix+"bos-latest", testHash), node("b")}, Jobs: []batchv1.Job{job("b", testHash, batchv1.JobComplete)}},
			done:  []string{"b"}, deleted: 1, complete: true,
		},
		{
			name:     "a fallback stops the Job and the rollout",
			state:    State{Plan: plan(1), Version: "v2", Nodes: []corev1.Node{node("a", FallbackLabel, "v2"), node("b")}, Jobs: []batchv1.Job{job("a", testHash, "")}},
			uncordon: []string{"a"}, deleted: 1, failure: "a " + ReasonTrialBootFailed, waiting: "stopped",
		},
		{
			name:  "a fallback from another version is no failure of this one",
			state: State{Plan: plan(1), Version: "v3", Nodes: []corev1.Node{node("a", FallbackLabel, "v2"), node("b")}},
			start: []string{"a"}, applying: []string{"a"},
		},
		{
			name:    "a node that failed the version before is not tried again",
			state:   State{Plan: plan(2), Version: "v2", Nodes: []corev1.Node{node("a", FallbackLabel, "v2"), node("b")}},
			failure: "a " + ReasonTrialBootFailed, waiting: "stopped",
		},
		{
			name:     "a failed Job stops the rollout, stays for its logs, uncordons",
			state:    State{Plan: plan(2), Version: "v2", Nodes: []corev1.Node{node("a"), node("b")}, Jobs: []batchv1.Job{job("a", testHash, batchv1.JobFailed)}},
			uncordon: []string{"a"}, failure: "a " + ReasonJobFailed, waiting: "stopped",
		},
		{
			name: "a failure in the status for this hash: nothing starts, running Jobs go on",
			state: State{Plan: func() *upgradev1.Plan {
				p := plan(2)
				p.Status.Failure = &upgradev1.Failure{Node: "x", Hash: testHash}
				return p
			}(), Version: "v2", Nodes: []corev1.Node{node("a"), node("b")}, Jobs: []batchv1.Job{job("b", testHash, "")}},
			applying: []string{"b"}, waiting: "stopped",
		},
		{
			name: "a failure for another hash does not stop this one",
			state: State{Plan: func() *upgradev1.Plan {
				p := plan(1)
				p.Status.Failure = &upgradev1.Failure{Node: "x", Hash: old}
				return p
			}(), Nodes: []corev1.Node{node("a")}},
			start: []string{"a"}, applying: []string{"a"},
		},
		{
			name: "exclusive waits for the other exclusive Plan",
			state: State{Plan: func() *upgradev1.Plan {
				p := plan(1)
				p.Spec.Exclusive = true
				return p
			}(), Nodes: []corev1.Node{node("a")}, ExclusiveBusy: true},
			waiting: "another exclusive Plan",
		},
		{
			name:     "a complete stale Job is deleted and its node uncordoned, not labelled",
			state:    State{Plan: plan(1), Nodes: []corev1.Node{node("a")}, Jobs: []batchv1.Job{job("a", old, batchv1.JobComplete)}},
			uncordon: []string{"a"}, deleted: 1, start: []string{"a"}, applying: []string{"a"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.state
			if s.Hash == "" {
				s.Hash = testHash
			}
			if s.Version == "" {
				s.Version = "v2"
			}
			a := Decide(s)
			check := func(what string, got, want []string) {
				if len(got) == 0 && len(want) == 0 {
					return
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %v, want %v", what, got, want)
				}
			}
			check("Start", a.Start, tc.start)
			check("Done", a.Done, tc.done)
			check("Uncordon", a.Uncordon, tc.uncordon)
			check("Applying", a.Applying, tc.applying)
			if len(a.Delete) != tc.deleted {
				t.Errorf("Delete %d Jobs, want %d", len(a.Delete), tc.deleted)
			}
			var failure string
			if a.Failure != nil {
				failure = a.Failure.Node + " " + a.Failure.Reason
				if !strings.Contains(a.Failure.Message, a.Failure.Node) && a.Failure.Reason == ReasonTrialBootFailed {
					t.Errorf("failure message %q does not name the node", a.Failure.Message)
				}
			}
			if failure != tc.failure {
				t.Errorf("Failure %q, want %q", failure, tc.failure)
			}
			if a.Complete != tc.complete {
				t.Errorf("Complete %v, want %v", a.Complete, tc.complete)
			}
			if (tc.waiting == "") != (a.Waiting == "") || !strings.Contains(a.Waiting, tc.waiting) {
				t.Errorf("Waiting %q, want %q", a.Waiting, tc.waiting)
			}
			if n := len(a.Applying); n > int(max(s.Plan.Spec.Concurrency, 1)) && len(a.Start) > 0 {
				t.Errorf("%d under way after starting %v: over concurrency %d", n, a.Start, s.Plan.Spec.Concurrency)
			}
		})
	}
}
