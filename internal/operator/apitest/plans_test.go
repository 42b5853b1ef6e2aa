package apitest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bhojpur/os/internal/cli/bosoperator"
	"github.com/bhojpur/os/internal/operator/plans"
	"github.com/bhojpur/os/internal/operator/upgradev1"
	"github.com/bhojpur/os/internal/vmtest"
)

const upgradeLabel = "bhojpur.net/upgrade"

// startController runs the Plan controller of ns in-process until the test
// ends, leader elected as in the cluster.
func startController(t *testing.T, ns string, interval time.Duration) {
	t.Helper()
	mgr, err := bosoperator.NewManager(cfg, ns, true, discard())
	if err != nil {
		t.Fatal(err)
	}
	r := &plans.Reconciler{Client: mgr.GetClient(), Jobs: plans.JobOptions{Image: "bhojpur/bos-operator:test", BackoffLimit: 2, ActiveDeadline: 600}, Interval: interval}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	runManager(t, mgr, "controller")
}

func makeNode(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if err := kclient.Create(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kclient.Delete(context.Background(), n) })
}

func patchNode(t *testing.T, name string, f func(*corev1.Node)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var n corev1.Node
		if err := kclient.Get(context.Background(), types.NamespacedName{Name: name}, &n); err != nil {
			return err
		}
		f(&n)
		return kclient.Update(context.Background(), &n)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func getNode(t *testing.T, name string) *corev1.Node {
	t.Helper()
	var n corev1.Node
	if err := kclient.Get(context.Background(), types.NamespacedName{Name: name}, &n); err != nil {
		t.Fatal(err)
	}
	return &n
}

func getPlan(t *testing.T, ns, name string) *upgradev1.Plan {
	t.Helper()
	var p upgradev1.Plan
	if err := kclient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

// jobs are the plan's Jobs that are not being deleted, by node.
func jobs(t *testing.T, ns, plan string) map[string]batchv1.Job {
	t.Helper()
	var list batchv1.JobList
	if err := kclient.List(context.Background(), &list, client.InNamespace(ns), client.MatchingLabels{plans.LabelPlan: plan}); err != nil {
		t.Fatal(err)
	}
	out := map[string]batchv1.Job{}
	for _, j := range list.Items {
		if j.DeletionTimestamp == nil {
			out[j.Labels[plans.LabelNode]] = j
		}
	}
	return out
}

// finishJob writes the status that the Job controller writes when the
// Job's pod succeeded (or, with failed, failed for good).
func finishJob(t *testing.T, j batchv1.Job, failed bool) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var cur batchv1.Job
		if err := kclient.Get(context.Background(), client.ObjectKeyFromObject(&j), &cur); err != nil {
			return err
		}
		now := metav1.Now()
		if cur.Status.StartTime == nil {
			cur.Status.StartTime = &now
		}
		cur.Status.Active, cur.Status.Ready = 0, ptr(int32(0))
		cur.Status.UncountedTerminatedPods = nil
		if failed {
			cur.Status.Failed = 1
			cur.Status.Conditions = append(cur.Status.Conditions,
				batchv1.JobCondition{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now, LastProbeTime: now},
				batchv1.JobCondition{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now, LastProbeTime: now})
		} else {
			cur.Status.Succeeded = 1
			cur.Status.CompletionTime = &now
			cur.Status.Conditions = append(cur.Status.Conditions,
				batchv1.JobCondition{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, Reason: "CompletionsReached", LastTransitionTime: now, LastProbeTime: now},
				batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, Reason: "CompletionsReached", LastTransitionTime: now, LastProbeTime: now})
		}
		return kclient.Status().Update(context.Background(), &cur)
	})
	if err != nil {
		t.Fatalf("finish Job %s: %v", j.Name, err)
	}
}

func ptr[T any](v T) *T { return &v }

func discardPlan(ns, name, version string, concurrency int64) *upgradev1.Plan {
	return &upgradev1.Plan{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: upgradev1.PlanSpec{
			Concurrency:        concurrency,
			Version:            version,
			NodeSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{upgradeLabel: "latest-" + ns}},
			ServiceAccountName: "system-upgrade",
			Tolerations:        []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			Cordon:             true,
			Drain:              &upgradev1.DrainSpec{Force: true, SkipWaitForDeleteTimeout: 60},
			Prepare:            &upgradev1.ContainerSpec{Image: "bhojpur/bos-upgrade", Command: []string{"/usr/sbin/bos-upgrade-kernel"}},
			Upgrade:            &upgradev1.ContainerSpec{Image: "bhojpur/bos-upgrade", Command: []string{"/usr/sbin/bos-upgrade-rootfs"}, Args: []string{"--reboot"}},
		},
	}
}

// watchConcurrency records the most Jobs of plan under way at once, and
// the most of its nodes cordoned at once, until stop.
func watchConcurrency(t *testing.T, ns, plan string, nodes []string) (stop func() (jobs, cordoned int)) {
	var mu sync.Mutex
	var maxJobs, maxCordoned int
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-quit:
				return
			case <-time.After(50 * time.Millisecond):
			}
			var list batchv1.JobList
			if err := kclient.List(context.Background(), &list, client.InNamespace(ns), client.MatchingLabels{plans.LabelPlan: plan}); err != nil {
				continue
			}
			active := 0
			for _, j := range list.Items {
				finished := false
				for _, c := range j.Status.Conditions {
					finished = finished || (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue
				}
				if !finished && j.DeletionTimestamp == nil {
					active++
				}
			}
			cordoned := 0
			for _, n := range nodes {
				var node corev1.Node
				if kclient.Get(context.Background(), types.NamespacedName{Name: n}, &node) == nil && node.Spec.Unschedulable {
					cordoned++
				}
			}
			mu.Lock()
			maxJobs, maxCordoned = max(maxJobs, active), max(maxCordoned, cordoned)
			mu.Unlock()
		}
	}()
	return func() (int, int) {
		close(quit)
		<-done
		mu.Lock()
		defer mu.Unlock()
		return maxJobs, maxCordoned
	}
}

// TestPlanRollout walks a Plan through every state against the real
// apiserver: version resolved, one node at a time (concurrency 1), a
// node done (labelled, uncordoned, its Job gone), the next started, a node
// falling back from its trial boot (the rollout stopped, the Plan's status
// naming it, no Job anywhere else), and a new version starting over.
func TestPlanRollout(t *testing.T) {
	ns := "rollout"
	namespace(t, ns)
	startController(t, ns, time.Minute)
	ctx := context.Background()
	sel := map[string]string{upgradeLabel: "latest-" + ns}
	for _, n := range []string{"ro-a", "ro-b", "ro-c"} {
		makeNode(t, n, map[string]string{"kubernetes.io/hostname": n})
	}
	p := discardPlan(ns, "bos-latest", "v2", 1)
	if err := kclient.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the Plan's status has v2 and its hash, complete with no node selected", time.Minute, func() error {
		p := getPlan(t, ns, "bos-latest")
		if p.Status.LatestVersion != "v2" || len(p.Status.LatestHash) != 56 || !meta.IsStatusConditionTrue(p.Status.Conditions, plans.CondComplete) {
			return fmt.Errorf("status %+v", p.Status)
		}
		return nil
	})
	hash := getPlan(t, ns, "bos-latest").Status.LatestHash

	stop := watchConcurrency(t, ns, "bos-latest", []string{"ro-a", "ro-b", "ro-c"})
	// kubectl label node ... bhojpur.net/upgrade=latest, on two nodes.
	for _, n := range []string{"ro-a", "ro-b"} {
		patchNode(t, n, func(n *corev1.Node) { n.Labels[upgradeLabel] = sel[upgradeLabel] })
	}
	var ja batchv1.Job
	eventually(t, "one Job, on ro-a", time.Minute, func() error {
		js := jobs(t, ns, "bos-latest")
		var ok bool
		if ja, ok = js["ro-a"]; !ok || len(js) != 1 {
			return fmt.Errorf("jobs on %v", keys(js))
		}
		return nil
	})
	spec := ja.Spec.Template.Spec
	if spec.NodeName != "ro-a" || spec.Containers[0].Image != "bhojpur/bos-upgrade:v2" || len(spec.InitContainers) != 2 || spec.ServiceAccountName != "system-upgrade" {
		t.Errorf("ro-a's Job: node %q image %q init %d sa %q", spec.NodeName, spec.Containers[0].Image, len(spec.InitContainers), spec.ServiceAccountName)
	}
	eventually(t, "status.applying [ro-a]", 30*time.Second, func() error {
		if a := getPlan(t, ns, "bos-latest").Status.Applying; strings.Join(a, ",") != "ro-a" {
			return fmt.Errorf("applying %v", a)
		}
		return nil
	})
	time.Sleep(2 * time.Second) // room for a wrong second Job
	if js := jobs(t, ns, "bos-latest"); len(js) != 1 {
		t.Fatalf("concurrency 1, Jobs on %v", keys(js))
	}

	// The Job's drain step cordoned the node; the upgrade completes.
	patchNode(t, "ro-a", func(n *corev1.Node) { n.Spec.Unschedulable = true })
	finishJob(t, ja, false)
	eventually(t, "ro-a labelled done and uncordoned, its Job gone, ro-b's started", time.Minute, func() error {
		n := getNode(t, "ro-a")
		js := jobs(t, ns, "bos-latest")
		if n.Labels[plans.DonePrefix+"bos-latest"] != hash || n.Spec.Unschedulable {
			return fmt.Errorf("ro-a labels %v unschedulable %v", n.Labels, n.Spec.Unschedulable)
		}
		if _, ok := js["ro-b"]; !ok || len(js) != 1 {
			return fmt.Errorf("jobs on %v", keys(js))
		}
		return nil
	})
	jb := jobs(t, ns, "bos-latest")["ro-b"]

	// ro-b reboots into v2, its trial boot fails, GRUB boots v1: dcp
	// labels the node with the version that failed.
	patchNode(t, "ro-b", func(n *corev1.Node) { n.Spec.Unschedulable = true; n.Labels[plans.FallbackLabel] = "v2" })
	eventually(t, "the Plan failed for v2 on ro-b, ro-b's Job gone and ro-b uncordoned", time.Minute, func() error {
		p := getPlan(t, ns, "bos-latest")
		f := p.Status.Failure
		if f == nil || f.Node != "ro-b" || f.Version != "v2" || f.Reason != plans.ReasonTrialBootFailed || !strings.Contains(f.Message, "ro-b") {
			return fmt.Errorf("failure %+v", f)
		}
		c := meta.FindStatusCondition(p.Status.Conditions, plans.CondFailed)
		if c == nil || c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "ro-b") {
			return fmt.Errorf("Failed condition %+v", c)
		}
		if js := jobs(t, ns, "bos-latest"); len(js) != 0 {
			return fmt.Errorf("jobs on %v", keys(js))
		}
		if getNode(t, "ro-b").Spec.Unschedulable {
			return fmt.Errorf("ro-b still cordoned")
		}
		return nil
	})
	if err := kclient.Get(ctx, client.ObjectKeyFromObject(&jb), &batchv1.Job{}); err == nil {
		// Deleted in the background: it may linger a moment, marked.
		t.Logf("ro-b's Job is being deleted")
	}
	// Another node opts in: v2 does not start there.
	patchNode(t, "ro-c", func(n *corev1.Node) { n.Labels[upgradeLabel] = sel[upgradeLabel] })
	time.Sleep(3 * time.Second)
	if js := jobs(t, ns, "bos-latest"); len(js) != 0 {
		t.Fatalf("after ro-b failed v2, Jobs on %v", keys(js))
	}
	if c := meta.FindStatusCondition(getPlan(t, ns, "bos-latest").Status.Conditions, plans.CondComplete); c == nil || c.Reason != "Waiting" || !strings.Contains(c.Message, "stopped") {
		t.Errorf("Complete condition %+v, want Waiting: stopped", c)
	}

	// Release v3: a new rollout, the failure cleared. ro-a (done with v2)
	// comes first again; never more than one Job.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p := getPlan(t, ns, "bos-latest")
		p.Spec.Version = "v3"
		return kclient.Update(ctx, p)
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "v3: the failure cleared, one Job, on ro-a", time.Minute, func() error {
		p := getPlan(t, ns, "bos-latest")
		js := jobs(t, ns, "bos-latest")
		if p.Status.LatestVersion != "v3" || p.Status.Failure != nil {
			return fmt.Errorf("status %+v", p.Status)
		}
		if _, ok := js["ro-a"]; !ok || len(js) != 1 {
			return fmt.Errorf("jobs on %v", keys(js))
		}
		return nil
	})
	if j := jobs(t, ns, "bos-latest")["ro-a"]; j.Spec.Template.Spec.Containers[0].Image != "bhojpur/bos-upgrade:v3" {
		t.Errorf("v3 Job's image %q", j.Spec.Template.Spec.Containers[0].Image)
	}
	// A Job that fails for good also stops the rollout, and stays for its
	// logs.
	finishJob(t, jobs(t, ns, "bos-latest")["ro-a"], true)
	eventually(t, "v3 failed on ro-a (JobFailed), nothing else started", time.Minute, func() error {
		f := getPlan(t, ns, "bos-latest").Status.Failure
		if f == nil || f.Node != "ro-a" || f.Reason != plans.ReasonJobFailed || !strings.Contains(f.Message, "BackoffLimitExceeded") {
			return fmt.Errorf("failure %+v", f)
		}
		return nil
	})
	time.Sleep(2 * time.Second)
	if js := jobs(t, ns, "bos-latest"); len(js) != 1 {
		t.Errorf("after ro-a's Job failed: Jobs on %v, want ro-a's failed one only", keys(js))
	}
	if maxJobs, maxCordoned := stop(); maxJobs > 1 || maxCordoned > 1 {
		t.Errorf("concurrency 1: %d Jobs under way at once, %d nodes cordoned at once", maxJobs, maxCordoned)
	}
}

// TestPlanChannel: a Plan without a version takes it from its channel's
// redirect, served on loopback, and asks again on the interval.
func TestPlanChannel(t *testing.T) {
	ns := "channel"
	namespace(t, ns)
	var mu sync.Mutex
	latest := "v0.12.1"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		http.Redirect(w, r, "/bhojpur/os/releases/tag/"+latest, http.StatusFound)
	}))
	defer srv.Close()
	startController(t, ns, time.Second) // the CLI refuses under a minute; the test has no minute to spare
	p := discardPlan(ns, "from-channel", "", 1)
	p.Spec.Channel = srv.URL + "/releases/latest"
	if err := kclient.Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	eventually(t, "latestVersion from the channel", time.Minute, func() error {
		if v := getPlan(t, ns, "from-channel").Status.LatestVersion; v != "v0.12.1" {
			return fmt.Errorf("latestVersion %q", v)
		}
		return nil
	})
	mu.Lock()
	latest = "v0.12.2"
	mu.Unlock()
	eventually(t, "the channel's new version", time.Minute, func() error {
		if v := getPlan(t, ns, "from-channel").Status.LatestVersion; v != "v0.12.2" {
			return fmt.Errorf("latestVersion %q", v)
		}
		return nil
	})
	// A channel that stops answering: the last version stays, the
	// condition says why.
	srv.Close()
	eventually(t, "LatestResolved false with the channel's error", time.Minute, func() error {
		p := getPlan(t, ns, "from-channel")
		c := meta.FindStatusCondition(p.Status.Conditions, plans.CondResolved)
		if c == nil || c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, srv.URL) || p.Status.LatestVersion != "v0.12.2" {
			return fmt.Errorf("condition %+v, version %q", c, p.Status.LatestVersion)
		}
		return nil
	})
}

// TestPlanSchema: the CRD's schema refuses what the controller could not
// run, before the controller sees it.
func TestPlanSchema(t *testing.T) {
	ns := "schema"
	namespace(t, ns)
	for what, mutate := range map[string]func(*upgradev1.Plan){
		"a negative concurrency": func(p *upgradev1.Plan) { p.Spec.Concurrency = -1 },
		"no upgrade":             func(p *upgradev1.Plan) { p.Spec.Upgrade = nil },
		"an upgrade of no image": func(p *upgradev1.Plan) { p.Spec.Upgrade.Image = "" },
	} {
		p := discardPlan(ns, "bad", "v1", 1)
		mutate(p)
		if err := kclient.Create(context.Background(), p); err == nil {
			_ = kclient.Delete(context.Background(), p)
			t.Errorf("%s: the apiserver took the Plan", what)
		}
	}
	// A typo in a field name (kubectl apply's strict field validation).
	raw := []byte(`{"apiVersion":"upgrade.cattle.io/v1","kind":"Plan","metadata":{"name":"typo","namespace":"schema"},"spec":{"concurency":1,"upgrade":{"image":"x"}}}`)
	res := kclient.Create(context.Background(), rawPlan(raw), client.FieldValidation("Strict"))
	if res == nil || !strings.Contains(res.Error(), "concurency") {
		t.Errorf("a Plan with spec.concurency: %v, want the field named in the error", res)
	}
}

func rawPlan(b []byte) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(b); err != nil {
		panic(err)
	}
	return u
}

func discard() logr.Logger { return funcr.New(func(prefix, args string) {}, funcr.Options{}) }

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestTwoReplicas: two controllers of one namespace (two replicas of the
// Deployment) elect one leader, which holds the namespace's lease: a Plan
// at concurrency 1 gets one Job, not one per replica.
func TestTwoReplicas(t *testing.T) {
	ns := "replicas"
	namespace(t, ns)
	startController(t, ns, time.Minute)
	startController(t, ns, time.Minute)
	makeNode(t, "rep-a", map[string]string{upgradeLabel: "latest-" + ns})
	makeNode(t, "rep-b", map[string]string{upgradeLabel: "latest-" + ns})
	stop := watchConcurrency(t, ns, "bos-latest", []string{"rep-a", "rep-b"})
	if err := kclient.Create(context.Background(), discardPlan(ns, "bos-latest", "v2", 1)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "one Job, on rep-a", time.Minute, func() error {
		if js := jobs(t, ns, "bos-latest"); len(js) != 1 || js["rep-a"].Name == "" {
			return fmt.Errorf("jobs on %v", keys(js))
		}
		return nil
	})
	time.Sleep(3 * time.Second)
	if maxJobs, _ := stop(); maxJobs != 1 {
		t.Errorf("two replicas: %d Jobs under way at once, want 1", maxJobs)
	}
	var lease coordinationv1.Lease
	if err := kclient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "bos-operator"}, &lease); err != nil || lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
		t.Errorf("leader lease %s/bos-operator: %v %+v", ns, err, lease.Spec)
	}
}

// TestShippedPlans: the image's bos-latest Plans, and a Plan in the
// system-upgrade-controller's spellings (envs), are taken by the CRD with
// strict field validation, so the Plans that users of that controller
// wrote work unchanged.
func TestShippedPlans(t *testing.T) {
	root, err := vmtest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "images/overlay/var/lib/bhojpur/dcp/server/manifests/system-upgrade-plans/bos-latest.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ns := "shipped"
	namespace(t, ns)
	envs := []byte(`{"apiVersion":"upgrade.cattle.io/v1","kind":"Plan","metadata":{"name":"k3os-style"},"spec":{"concurrency":1,"channel":"https://github.com/bhojpur/os/releases/latest","nodeSelector":{"matchExpressions":[{"key":"k3os.io/mode","operator":"Exists"}]},"serviceAccountName":"system-upgrade","cordon":true,"drain":{"force":true},"upgrade":{"image":"bhojpur/bos-upgrade","command":["bos-upgrade-rootfs"],"envs":[{"name":"A","value":"b"}]}}}`)
	n := 0
	for _, u := range objects(t, append(append(b, []byte("\n---\n")...), envs...)) {
		u.SetNamespace(ns)
		if err := kclient.Create(context.Background(), u, client.FieldValidation("Strict")); err != nil {
			t.Errorf("Plan %s: %v", u.GetName(), err)
		}
		n++
	}
	if n != 3 {
		t.Errorf("%d Plans, want the two shipped and one more", n)
	}
	var p upgradev1.Plan
	if err := kclient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "k3os-style"}, &p); err != nil || len(p.Spec.Upgrade.Env) != 1 {
		t.Errorf("envs of the k3OS-style Plan: %v, %+v", err, p.Spec.Upgrade)
	}
}
