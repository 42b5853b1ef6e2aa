package manifests

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/bhojpur/os/internal/cli"
	"github.com/bhojpur/os/internal/cli/bosupgrade"
	"github.com/bhojpur/os/internal/operatormanifest"
)

const (
	plansFile    = "system-upgrade-plans/bos-latest.yaml"
	upgradeLabel = "bhojpur.net/upgrade"
	legacyLabel  = "plan.upgrade.bhojpur.net/bos-latest"
	upgradeImage = "docker.io/bhojpur/bos-upgrade"
	channel      = "https://github.com/bhojpur/os/releases/latest"
)

// doc is one YAML document of a manifest file.
type doc struct {
	file string
	n    int
	data []byte
	meta metav1.TypeMeta
	name string
	ns   string
}

func (d doc) String() string { return fmt.Sprintf("%s#%d %s %s", d.file, d.n, d.meta.Kind, d.name) }

func readDocs(t *testing.T, file string) []doc {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", Dir, file))
	if err != nil {
		t.Fatal(err)
	}
	return parseDocs(t, file, b)
}

func parseDocs(t *testing.T, file string, b []byte) []doc {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	var docs []doc
	for n := 1; ; n++ {
		b, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if len(bytes.TrimSpace(stripComments(b))) == 0 {
			continue
		}
		d := doc{file: file, n: n, data: b}
		var m struct {
			metav1.TypeMeta `json:",inline"`
			Metadata        struct{ Name, Namespace string }
		}
		if err := yaml.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: document %d: %v", file, n, err)
		}
		d.meta, d.name, d.ns = m.TypeMeta, m.Metadata.Name, m.Metadata.Namespace
		docs = append(docs, d)
	}
	return docs
}

func stripComments(b []byte) []byte {
	var out []byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' {
			out = append(append(out, l...), '\n')
		}
	}
	return out
}

// strict decodes d into v, failing on unknown or duplicate fields.
func strict(t *testing.T, d doc, v any) {
	t.Helper()
	if err := yaml.UnmarshalStrict(d.data, v); err != nil {
		t.Fatalf("%s: strict decoding into %T: %v", d, v, err)
	}
}

// strictJSON re-decodes part of a generic document into a real type.
func strictJSON(t *testing.T, what string, part any, v any) {
	t.Helper()
	b, err := yaml.Marshal(part)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, v); err != nil {
		t.Fatalf("%s: strict decoding into %T: %v", what, v, err)
	}
}

type controller struct {
	namespace      string
	serviceAccount string // the upgrade Jobs' (the Plans' serviceAccountName)
	deployment     appsv1.Deployment
	daemonSet      appsv1.DaemonSet
}

// loadController decodes the operator's manifest (what bos-config writes
// on a server) strictly into the Kubernetes types.
func loadController(t *testing.T) controller {
	t.Helper()
	m, err := operatormanifest.Manifest("v0.0.1-test")
	if err != nil {
		t.Fatal(err)
	}
	var c controller
	accounts := map[string]bool{}
	kinds := map[string]int{}
	for _, d := range parseDocs(t, operatormanifest.ManifestFile, m) {
		kinds[d.meta.APIVersion+" "+d.meta.Kind]++
		switch d.meta.APIVersion + " " + d.meta.Kind {
		case "v1 Namespace":
			var o corev1.Namespace
			strict(t, d, &o)
			c.namespace = o.Name
		case "v1 ServiceAccount":
			var o corev1.ServiceAccount
			strict(t, d, &o)
			accounts[o.Name] = true
		case "rbac.authorization.k8s.io/v1 ClusterRole":
			strict(t, d, &rbacv1.ClusterRole{})
		case "rbac.authorization.k8s.io/v1 Role":
			strict(t, d, &rbacv1.Role{})
		case "rbac.authorization.k8s.io/v1 ClusterRoleBinding", "rbac.authorization.k8s.io/v1 RoleBinding":
			var o rbacv1.ClusterRoleBinding
			strict(t, d, &o)
			if len(o.Subjects) != 1 || o.Subjects[0].Kind != "ServiceAccount" || o.RoleRef.Name == "cluster-admin" {
				t.Errorf("%s: binds %+v to %+v, want one service account to its own role", d, o.Subjects, o.RoleRef)
			}
		case "apps/v1 Deployment":
			strict(t, d, &c.deployment)
		case "apps/v1 DaemonSet":
			strict(t, d, &c.daemonSet)
		case "apiextensions.k8s.io/v1 CustomResourceDefinition":
			var o map[string]any
			strict(t, d, &o)
			if d.name == "plans.upgrade.cattle.io" {
				checkCRD(t, d, o)
			}
		default:
			t.Errorf("%s: unexpected kind", d)
		}
	}
	for k, n := range map[string]int{"v1 Namespace": 1, "v1 ServiceAccount": 3, "apps/v1 Deployment": 1, "apps/v1 DaemonSet": 1, "apiextensions.k8s.io/v1 CustomResourceDefinition": 2} {
		if kinds[k] != n {
			t.Errorf("%s has %d %s, want %d", operatormanifest.ManifestFile, kinds[k], k, n)
		}
	}
	if accounts["system-upgrade"] {
		c.serviceAccount = "system-upgrade"
	}
	return c
}

func checkCRD(t *testing.T, d doc, o map[string]any) {
	t.Helper()
	spec, _ := o["spec"].(map[string]any)
	names, _ := spec["names"].(map[string]any)
	if d.name != "plans.upgrade.cattle.io" || spec["group"] != "upgrade.cattle.io" || spec["scope"] != "Namespaced" ||
		names["kind"] != "Plan" || names["plural"] != "plans" {
		t.Errorf("%s: not the namespaced Plan kind of upgrade.cattle.io: %v", d, spec)
	}
	vs, _ := spec["versions"].([]any)
	if len(vs) != 1 {
		t.Fatalf("%s: %d versions, want 1", d, len(vs))
	}
	v, _ := vs[0].(map[string]any)
	if v["name"] != "v1" || v["served"] != true || v["storage"] != true {
		t.Errorf("%s: version %v, want v1 served and stored", d, v)
	}
}

func TestControllerDecodesStrictly(t *testing.T) {
	c := loadController(t)
	for _, w := range []struct {
		what     string
		ns       string
		selector *metav1.LabelSelector
		pod      corev1.PodTemplateSpec
	}{
		{"deployment", c.deployment.Namespace, c.deployment.Spec.Selector, c.deployment.Spec.Template},
		{"daemonset", c.daemonSet.Namespace, c.daemonSet.Spec.Selector, c.daemonSet.Spec.Template},
	} {
		if w.ns != c.namespace {
			t.Errorf("%s in %s, want %s", w.what, w.ns, c.namespace)
		}
		sel, err := metav1.LabelSelectorAsSelector(w.selector)
		if err != nil || !sel.Matches(labels.Set(w.pod.Labels)) {
			t.Errorf("%s selector %v does not select its pods %v (%v)", w.what, w.selector, w.pod.Labels, err)
		}
		cs := w.pod.Spec.Containers
		if len(cs) != 1 || cs[0].Image != operatormanifest.Image("v0.0.1-test") || cs[0].Command[0] != "/usr/sbin/bos-operator" {
			t.Errorf("%s containers %+v, want one running /usr/sbin/bos-operator of %s", w.what, cs, operatormanifest.Image("v0.0.1-test"))
		}
		if sc := cs[0].SecurityContext; sc == nil || sc.Privileged != nil && *sc.Privileged {
			t.Errorf("%s: security context %+v, want one and no privilege", w.what, sc)
		}
	}
	var env []string
	for _, e := range c.deployment.Spec.Template.Spec.Containers[0].Env {
		env = append(env, e.Name)
	}
	for _, want := range []string{"POD_NAMESPACE", "BOS_OPERATOR_IMAGE"} {
		if !slices.Contains(env, want) {
			t.Errorf("controller environment %v lacks %s", env, want)
		}
	}
}

// The Plan type lives in github.com/rancher/system-upgrade-controller,
// which the Go module proxy refuses to serve here (403 on every version),
// so Plans are decoded generically: every field checked against the names
// of its pkg/apis/upgrade.cattle.io/v1 types.go, and the parts that are
// Kubernetes types (nodeSelector, tolerations) decoded strictly into them.
var (
	planFields = []string{"concurrency", "jobActiveDeadlineSecs", "nodeSelector", "serviceAccountName", "channel",
		"version", "secrets", "tolerations", "exclusive", "window", "prepare", "upgrade", "cordon", "drain",
		"imagePullSecrets", "postCompleteDelay", "priorityClassName", "customNodeLabels"}
	containerFields = []string{"image", "command", "args", "envs", "envFrom", "volumes", "securityContext"}
	drainFields     = []string{"timeout", "gracePeriod", "deleteLocalData", "deleteEmptydirData", "ignoreDaemonSets",
		"force", "disableEviction", "skipWaitForDeleteTimeout", "podSelector"}
)

type container struct {
	image   string
	command []string
	args    []string
}

type plan struct {
	name, namespace string
	spec            map[string]any
	selector        labels.Selector
	prepare         container
	upgrade         container
}

func onlyFields(t *testing.T, what string, m map[string]any, allowed []string) {
	t.Helper()
	for k := range m {
		if !slices.Contains(allowed, k) {
			t.Errorf("%s: unknown field %q (known: %s)", what, k, strings.Join(allowed, ", "))
		}
	}
}

func stringList(t *testing.T, what string, v any) []string {
	t.Helper()
	var out []string
	strictJSON(t, what, v, &out)
	return out
}

func loadPlans(t *testing.T) []plan {
	t.Helper()
	var plans []plan
	for _, d := range readDocs(t, plansFile) {
		if d.meta.APIVersion != "upgrade.cattle.io/v1" || d.meta.Kind != "Plan" {
			t.Fatalf("%s: want upgrade.cattle.io/v1 Plan", d)
		}
		var o map[string]any
		strict(t, d, &o) // duplicate keys
		onlyFields(t, d.String(), o, []string{"apiVersion", "kind", "metadata", "spec"})
		var meta metav1.ObjectMeta
		strictJSON(t, d.String()+" metadata", o["metadata"], &meta)
		p := plan{name: meta.Name, namespace: meta.Namespace}
		p.spec, _ = o["spec"].(map[string]any)
		onlyFields(t, d.String()+" spec", p.spec, planFields)

		var ls metav1.LabelSelector
		strictJSON(t, d.String()+" nodeSelector", p.spec["nodeSelector"], &ls)
		sel, err := metav1.LabelSelectorAsSelector(&ls)
		if err != nil {
			t.Fatalf("%s: nodeSelector: %v", d, err)
		}
		p.selector = sel
		var tol []corev1.Toleration
		strictJSON(t, d.String()+" tolerations", p.spec["tolerations"], &tol)
		if drain, ok := p.spec["drain"].(map[string]any); ok {
			onlyFields(t, d.String()+" drain", drain, drainFields)
		}
		for _, c := range []struct {
			key string
			to  *container
		}{{"prepare", &p.prepare}, {"upgrade", &p.upgrade}} {
			m, ok := p.spec[c.key].(map[string]any)
			if !ok {
				t.Fatalf("%s: no %s container", d, c.key)
			}
			what := d.String() + " " + c.key
			onlyFields(t, what, m, containerFields)
			c.to.image, _ = m["image"].(string)
			c.to.command = stringList(t, what+" command", m["command"])
			c.to.args = stringList(t, what+" args", m["args"])
		}
		plans = append(plans, p)
	}
	return plans
}

func TestPlans(t *testing.T) {
	c := loadController(t)
	plans := loadPlans(t)
	var names []string
	for _, p := range plans {
		names = append(names, p.name)
		if p.namespace != c.namespace || p.spec["serviceAccountName"] != c.serviceAccount {
			t.Errorf("plan %s in %s as %v, want %s as %s (the controller's)", p.name, p.namespace, p.spec["serviceAccountName"], c.namespace, c.serviceAccount)
		}
		// sigs.k8s.io/yaml decodes numbers into float64.
		if p.spec["concurrency"] != float64(1) || p.spec["exclusive"] != true || p.spec["cordon"] != true {
			t.Errorf("plan %s: concurrency %v exclusive %v cordon %v, want 1, true, true", p.name, p.spec["concurrency"], p.spec["exclusive"], p.spec["cordon"])
		}
		if p.spec["channel"] != channel {
			t.Errorf("plan %s: channel %v, want %s", p.name, p.spec["channel"], channel)
		}
		if _, ok := p.spec["version"]; ok {
			t.Errorf("plan %s pins a version: the channel would be ignored", p.name)
		}
		drain, _ := p.spec["drain"].(map[string]any)
		if drain["force"] != true || drain["ignoreDaemonSets"] != true {
			t.Errorf("plan %s: drain %v, want force and ignoreDaemonSets", p.name, drain)
		}
		for _, ctr := range []struct {
			c       container
			command string
			reboot  bool
		}{{p.prepare, "/usr/sbin/bos-upgrade-kernel", false}, {p.upgrade, "/usr/sbin/bos-upgrade-rootfs", true}} {
			if ctr.c.image != upgradeImage {
				t.Errorf("plan %s: image %s, want %s (the tag is the channel's release)", p.name, ctr.c.image, upgradeImage)
			}
			if len(ctr.c.command) != 1 || ctr.c.command[0] != ctr.command {
				t.Errorf("plan %s: command %v, want [%s]", p.name, ctr.c.command, ctr.command)
			}
			a := strings.Join(ctr.c.args, " ")
			for _, want := range []string{"--source /bos/system", "--destination /host/bos/system", "--lock-file /host/run/bos/upgrade.lock", "--host-root /host", "--remount"} {
				if !strings.Contains(a, want) {
					t.Errorf("plan %s: %s %s lacks %s", p.name, ctr.command, a, want)
				}
			}
			if got := slices.Contains(ctr.c.args, "--reboot"); got != ctr.reboot {
				t.Errorf("plan %s: %s --reboot = %v, want %v", p.name, ctr.command, got, ctr.reboot)
			}
		}
	}
	sort.Strings(names)
	if !slices.Equal(names, []string{"bos-latest", "bos-latest-legacy"}) {
		t.Errorf("plans = %v, want bos-latest and bos-latest-legacy", names)
	}
}

func TestPlansSelectOptedInNodesOnce(t *testing.T) {
	plans := loadPlans(t)
	for _, tc := range []struct {
		name   string
		labels labels.Set
		want   string // the one plan that takes the node, or ""
	}{
		{"unlabelled", labels.Set{}, ""},
		{"other labels", labels.Set{"bhojpur.net/mode": "disk", "kubernetes.io/os": "linux"}, ""},
		{"latest", labels.Set{upgradeLabel: "latest"}, "bos-latest"},
		{"true", labels.Set{upgradeLabel: "true"}, "bos-latest"},
		{"opted out", labels.Set{upgradeLabel: "false"}, ""},
		{"legacy", labels.Set{legacyLabel: "enabled"}, "bos-latest-legacy"},
		{"legacy true", labels.Set{legacyLabel: "true"}, "bos-latest-legacy"},
		{"legacy empty value", labels.Set{legacyLabel: ""}, "bos-latest-legacy"},
		{"legacy disabled", labels.Set{legacyLabel: "disabled"}, ""},
		{"legacy false", labels.Set{legacyLabel: "false"}, ""},
		{"both", labels.Set{upgradeLabel: "latest", legacyLabel: "enabled"}, "bos-latest"},
		{"new label opts out over legacy", labels.Set{upgradeLabel: "false", legacyLabel: "enabled"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, p := range plans {
				if p.selector.Matches(tc.labels) {
					got = append(got, p.name)
				}
			}
			var want []string
			if tc.want != "" {
				want = []string{tc.want}
			}
			if !slices.Equal(got, want) {
				t.Errorf("node %v is taken by %v, want %v", tc.labels, got, want)
			}
		})
	}
}

// fakeSystem makes a bos/system tree with bos and kernel at version v.
func fakeSystem(t *testing.T, dir, v string) {
	t.Helper()
	for _, f := range []string{"bos/" + v + "/rootfs.squashfs", "bos/" + v + "/bos-init", "kernel/" + v + "/vmlinuz",
		"kernel/" + v + "/initrd", "kernel/" + v + "/kernel.squashfs", "kernel/" + v + "/version"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []string{"bos", "kernel"} {
		if err := os.Symlink(v, filepath.Join(dir, c, "current")); err != nil {
			t.Fatal(err)
		}
	}
}

// jobArgs rewrites the Plan's absolute paths into a fake host and image.
func jobArgs(args []string, host, image string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		switch {
		case a == "/bos/system":
			out[i] = filepath.Join(image, "bos", "system")
		case a == "/host" || strings.HasPrefix(a, "/host/"):
			out[i] = host + strings.TrimPrefix(a, "/host")
		default:
			out[i] = a
		}
	}
	return out
}

func TestJobCommandLinesRunOurCommands(t *testing.T) {
	for _, p := range loadPlans(t) {
		for _, ctr := range []container{p.prepare, p.upgrade} {
			name := filepath.Base(ctr.command[0])
			component := map[string]string{"bos-upgrade-rootfs": "bos", "bos-upgrade-kernel": "kernel"}[name]
			if component == "" {
				t.Fatalf("plan %s runs %s, not one of our upgrade commands", p.name, name)
			}
			t.Run(p.name+"/"+name, func(t *testing.T) {
				host, image := t.TempDir(), t.TempDir()
				fakeSystem(t, filepath.Join(host, "bos", "system"), "v1")
				fakeSystem(t, filepath.Join(image, "bos", "system"), "v2")
				if err := os.MkdirAll(filepath.Join(host, "run", "bos"), 0o755); err != nil {
					t.Fatal(err)
				}
				args := append(jobArgs(ctr.args, host, image), "--dry-run")
				var out, errb bytes.Buffer
				desc := map[string]string{"bos": bosupgrade.RootfsDescription, "kernel": bosupgrade.KernelDescription}[component]
				code := cli.Run(name, desc, bosupgrade.NewCLI(component), args, cli.IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb})
				if code != 0 {
					t.Fatalf("%s %q = %d, stderr %s", name, args, code, errb.String())
				}
				want := "would switch " + component + "/current from v1 to v2"
				if !strings.Contains(out.String(), want) {
					t.Errorf("%s --dry-run said %q, want %q", name, out.String(), want)
				}
				if cur, _ := os.Readlink(filepath.Join(host, "bos", "system", component, "current")); cur != "v1" {
					t.Errorf("--dry-run changed %s/current to %s", component, cur)
				}
			})
		}
	}
}
