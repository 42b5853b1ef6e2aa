package apitest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bhojpur/os/internal/cli/bosoperator"
	"github.com/bhojpur/os/internal/config"
	"github.com/bhojpur/os/internal/operator/nodeagent"
	"github.com/bhojpur/os/internal/operator/osv1alpha1"
)

// applies counts the runtime phases an Agent ran.
type applies struct {
	mu sync.Mutex
	n  int
}

func (a *applies) apply(context.Context) ([]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n++
	return []byte("bos: phase runtime done\n"), nil
}

func (a *applies) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}

// startAgent runs a node's Agent (its config.d in dir) and the Validator
// in-process until the test ends.
func startAgent(t *testing.T, node, dir string, ap *applies) {
	t.Helper()
	mgr, err := bosoperator.NewManager(cfg, "default", false, discard())
	if err != nil {
		t.Fatal(err)
	}
	if err := (&nodeagent.Agent{Client: mgr.GetClient(), Node: node, Dir: dir, Apply: ap.apply}).SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	if err := (&nodeagent.Validator{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	runManager(t, mgr, "agent")
}

func nodeConfig(name, body string, selector map[string]string) *osv1alpha1.NodeConfig {
	return &osv1alpha1.NodeConfig{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       osv1alpha1.NodeConfigSpec{NodeSelector: metav1.LabelSelector{MatchLabels: selector}, Config: apiextensionsv1.JSON{Raw: []byte(body)}},
	}
}

func getNodeConfig(t *testing.T, name string) *osv1alpha1.NodeConfig {
	t.Helper()
	var nc osv1alpha1.NodeConfig
	if err := kclient.Get(context.Background(), types.NamespacedName{Name: name}, &nc); err != nil {
		t.Fatal(err)
	}
	return &nc
}

func nodeReport(nc *osv1alpha1.NodeConfig, node string) *osv1alpha1.NodeStatus {
	for i := range nc.Status.Nodes {
		if nc.Status.Nodes[i].Name == node {
			return &nc.Status.Nodes[i]
		}
	}
	return nil
}

// TestNodeConfig: a NodeConfig reaches the node it selects as a config.d
// file the loader takes (0600), the runtime phase runs, the status says
// the generation applied; a change is applied again; one whose value only
// the loader refuses is reported and never written; the apiserver refuses
// unknown keys; a deleted or deselected NodeConfig's file goes.
func TestNodeConfig(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "config.d")
	makeNode(t, "nc-a", map[string]string{"role": "edge"})
	ap := &applies{}
	startAgent(t, "nc-a", dir, ap)
	// A file of config.d that is not the agent's stays.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "10-mine.yaml"), []byte("hostname: mine\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	nc := nodeConfig("tuning", `{"bos":{"sysctls":{"vm.swappiness":"10"}},"write_files":[{"path":"/etc/e2e-nodeconfig","content":"from a NodeConfig\n","permissions":"0644"}]}`, map[string]string{"role": "edge"})
	if err := kclient.Create(ctx, nc); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, nodeagent.FileName("tuning"))
	eventually(t, "the file written and the status saying generation 1 applied on nc-a", time.Minute, func() error {
		r := nodeReport(getNodeConfig(t, "tuning"), "nc-a")
		if r == nil || r.AppliedGeneration != 1 || r.Error != "" {
			return fmt.Errorf("nc-a's report %+v", r)
		}
		return nil
	})
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v, mode %v; want 0600", file, err, fi.Mode())
	}
	b, _ := os.ReadFile(file)
	l, err := config.LoadFile(file, strings.NewReader(string(b)))
	if err != nil || l.Err() != nil || l.Config.Bos.Sysctls["vm.swappiness"] != "10" || len(l.Config.WriteFiles) != 1 || l.Config.WriteFiles[0].Path != "/etc/e2e-nodeconfig" {
		t.Errorf("the file does not load as the NodeConfig's config (%v, %v):\n%s", err, l.Err(), b)
	}
	if c := meta.FindStatusCondition(getNodeConfig(t, "tuning").Status.Conditions, nodeagent.CondValid); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Valid condition %+v", c)
	}
	if ap.count() != 1 {
		t.Errorf("%d runtime phases after the first NodeConfig, want 1", ap.count())
	}

	// A change: written and applied again, as generation 2.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		nc := getNodeConfig(t, "tuning")
		nc.Spec.Config.Raw = []byte(`{"bos":{"sysctls":{"vm.swappiness":"20"}}}`)
		return kclient.Update(ctx, nc)
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "generation 2 applied", time.Minute, func() error {
		if r := nodeReport(getNodeConfig(t, "tuning"), "nc-a"); r == nil || r.AppliedGeneration != 2 {
			return fmt.Errorf("nc-a's report %+v", r)
		}
		if b, _ := os.ReadFile(file); !strings.Contains(string(b), `vm.swappiness: "20"`) {
			return fmt.Errorf("file:\n%s", b)
		}
		return nil
	})

	// A value that only the loader can judge: an SSH key that matches the
	// schema's pattern and does not parse.
	bad := nodeConfig("bad-key", `{"ssh_authorized_keys":["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBADKEY e2e"]}`, map[string]string{"role": "edge"})
	if err := kclient.Create(ctx, bad); err != nil {
		t.Fatalf("the apiserver refused a NodeConfig whose SSH key only the loader can judge: %v", err)
	}
	eventually(t, "the bad key reported by nc-a and in the Valid condition, with the loader's file:line", time.Minute, func() error {
		nc := getNodeConfig(t, "bad-key")
		r := nodeReport(nc, "nc-a")
		want := nodeagent.FileName("bad-key") + ":3:3:" // line 1 is the comment that names the NodeConfig
		if r == nil || !strings.Contains(r.Error, "not written") || !strings.Contains(r.Error, want) || !strings.Contains(r.Error, "ssh_authorized_keys[0]") {
			return fmt.Errorf("nc-a's report %+v, want %q and the key", r, want)
		}
		c := meta.FindStatusCondition(nc.Status.Conditions, nodeagent.CondValid)
		if c == nil || c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, want) {
			return fmt.Errorf("Valid condition %+v", c)
		}
		return nil
	})
	if _, err := os.Stat(filepath.Join(dir, nodeagent.FileName("bad-key"))); !os.IsNotExist(err) {
		t.Errorf("the invalid NodeConfig's file exists (%v)", err)
	}

	// The schema (the config's own rules): unknown keys and values that
	// OpenAPI can judge are refused by the apiserver.
	for what, body := range map[string]string{
		"an unknown top-level key": `{"hostnam":"x"}`,
		"an unknown bos key":       `{"bos":{"sysctl":{"a":"b"},"ntp_server":["x"],"labelz":{}}}`,
		"a hostname with a space":  `{"hostname":"a b"}`,
		"a data source unknown":    `{"bos":{"data_sources":["nowhere"]}}`,
		"dcp_args not a command":   `{"bos":{"dcp_args":["serve"]}}`,
		"a bad label key":          `{"bos":{"labels":{"-x":"y"}}}`,
		"a key and its alias":      `{"bos":{"dcp_args":["server"],"dcp_arg":["agent"]}}`,
	} {
		raw := fmt.Sprintf(`{"apiVersion":"os.bhojpur.net/v1alpha1","kind":"NodeConfig","metadata":{"name":"refused"},"spec":{"nodeSelector":{},"config":%s}}`, body)
		err := kclient.Create(ctx, rawPlan([]byte(raw)), client.FieldValidation("Strict"))
		if err == nil {
			_ = kclient.Delete(ctx, rawPlan([]byte(raw)))
			t.Errorf("%s: the apiserver took %s", what, body)
		} else {
			t.Logf("%s: %v", what, err)
		}
	}
	if err := kclient.Create(ctx, rawPlan([]byte(`{"apiVersion":"os.bhojpur.net/v1alpha1","kind":"NodeConfig","metadata":{"name":"typo"},"spec":{"nodeSelector":{},"config":{"bos":{"sysctlz":{}}}}}`)), client.FieldValidation("Strict")); err == nil || !strings.Contains(err.Error(), "sysctlz") {
		t.Errorf("a typo: %v, want an error naming bos.sysctlz", err)
	}

	// Deselected: the file goes, the report too.
	patchNode(t, "nc-a", func(n *corev1.Node) { delete(n.Labels, "role") })
	eventually(t, "the files gone once nc-a is not selected, its reports too", time.Minute, func() error {
		if _, err := os.Stat(file); !os.IsNotExist(err) {
			return fmt.Errorf("%s still there", file)
		}
		if r := nodeReport(getNodeConfig(t, "tuning"), "nc-a"); r != nil {
			return fmt.Errorf("report %+v", r)
		}
		return nil
	})
	patchNode(t, "nc-a", func(n *corev1.Node) { n.Labels = map[string]string{"role": "edge"} })
	eventually(t, "the file back", time.Minute, func() error {
		_, err := os.Stat(file)
		return err
	})
	// Deleted: the file goes.
	if err := kclient.Delete(ctx, getNodeConfig(t, "tuning")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deleted NodeConfig's file gone", time.Minute, func() error {
		if _, err := os.Stat(file); !os.IsNotExist(err) {
			return fmt.Errorf("%s still there", file)
		}
		return nil
	})
	if _, err := os.Stat(filepath.Join(dir, "10-mine.yaml")); err != nil {
		t.Errorf("the agent removed a file of config.d that is not its own: %v", err)
	}
	if n := ap.count(); n < 4 {
		t.Errorf("%d runtime phases, want one per change (at least 4)", n)
	}
	_ = kclient.Delete(ctx, bad)
}
