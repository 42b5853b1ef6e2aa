package apitest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bhojpur/os/internal/cli"
	"github.com/bhojpur/os/internal/cli/bosoperator"
	"github.com/bhojpur/os/internal/operator/plans"
)

// kubeconfigFile writes cfg as a kubeconfig for the command line.
func kubeconfigFile(t *testing.T) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["x"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	kc.CurrentContext = "x"
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, p); err != nil {
		t.Fatal(err)
	}
	return p
}

func operator(args ...string) (int, string) {
	var out bytes.Buffer
	code := bosoperator.Main(bosoperator.Name, args, cli.IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out})
	return code, out.String()
}

// TestDrain runs `bos-operator drain` (an upgrade Job's step) on a node
// with pods: it cordons, refuses what kubectl drain refuses without
// --force, then evicts everything but the upgrade Jobs' own pods.
func TestDrain(t *testing.T) {
	ns := "drain"
	namespace(t, ns)
	makeNode(t, "dr-a", nil)
	ctx := context.Background()
	pod := func(name string, labels map[string]string, emptyDir bool) {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
			Spec:       corev1.PodSpec{NodeName: "dr-a", Containers: []corev1.Container{{Name: "c", Image: "bhojpur.net/dcp/busybox:1.35"}}},
		}
		if emptyDir {
			p.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		}
		if err := kclient.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	pod("bare", nil, false)
	pod("scratch", nil, true)
	pod("upgrade", map[string]string{plans.LabelPlan: "bos-latest"}, false)
	kc := kubeconfigFile(t)

	code, out := operator("drain", "--kubeconfig", kc, "--node", "dr-a", "--grace-period", "0", "--timeout", "1m")
	if code == 0 || !strings.Contains(out, "bare") || !strings.Contains(out, "--force") {
		t.Errorf("drain without --force: exit %d, %q; want a failure naming the bare pod and --force", code, out)
	}
	if !getNode(t, "dr-a").Spec.Unschedulable {
		t.Error("dr-a not cordoned by the drain that failed")
	}
	code, out = operator("drain", "--kubeconfig", kc, "--node", "dr-a", "--grace-period", "0", "--timeout", "1m", "--force", "--delete-emptydir-data", "--ignore-daemonsets")
	if code != 0 || !strings.Contains(out, "cordoned and drained") {
		t.Fatalf("drain --force --delete-emptydir-data: exit %d\n%s", code, out)
	}
	var pods corev1.PodList
	if err := kclient.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			left = append(left, p.Name)
		}
	}
	if strings.Join(left, ",") != "upgrade" {
		t.Errorf("pods left on dr-a: %v, want the upgrade Job's only", left)
	}
	if code, out := operator("drain", "--kubeconfig", kc, "--node", "dr-a", "--pod-selector", "a in (b"); code != 3 || !strings.Contains(out, "--pod-selector") {
		t.Errorf("a bad --pod-selector: exit %d, %q; want 3 naming the flag", code, out)
	}
	if code, out := operator("drain", "--kubeconfig", filepath.Join(t.TempDir(), "none"), "--node", "dr-a"); code != 3 || !strings.Contains(out, "no way to the apiserver") {
		t.Errorf("a missing kubeconfig: exit %d, %q", code, out)
	}
	_ = os.Remove(kc)
}
