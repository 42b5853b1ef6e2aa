package plans

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/bhojpur/os/internal/operator/upgradev1"
)

func TestNewJob(t *testing.T) {
	p := plan(1)
	p.Spec.Drain = &upgradev1.DrainSpec{Force: true, SkipWaitForDeleteTimeout: 60}
	p.Spec.Prepare = &upgradev1.ContainerSpec{Image: "bhojpur/bos-upgrade", Command: []string{"/usr/sbin/bos-upgrade-kernel"}}
	p.Spec.Upgrade.Command = []string{"/usr/sbin/bos-upgrade-rootfs"}
	p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
	j := NewJob(p, "node-1", "v1.2.3+build", testHash, JobOptions{Image: "bhojpur/bos-operator:v1", BackoffLimit: 20, ActiveDeadline: 3600, PullPolicy: corev1.PullIfNotPresent})
	spec := j.Spec.Template.Spec
	if spec.NodeName != "node-1" || !spec.HostPID || spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("pod spec: nodeName %q hostPID %v restart %q", spec.NodeName, spec.HostPID, spec.RestartPolicy)
	}
	var names []string
	for _, c := range spec.InitContainers {
		names = append(names, c.Name)
	}
	if strings.Join(names, ",") != "prepare,drain" {
		t.Errorf("init containers %v, want prepare then drain", names)
	}
	up := spec.Containers[0]
	if up.Image != "bhojpur/bos-upgrade:v1.2.3-build" || up.SecurityContext == nil || !*up.SecurityContext.Privileged {
		t.Errorf("upgrade container image %q, security %+v", up.Image, up.SecurityContext)
	}
	drain := strings.Join(spec.InitContainers[1].Command, " ")
	if drain != "/usr/sbin/bos-operator drain --node node-1 --force --ignore-daemonsets --skip-wait-for-delete-timeout 60" {
		t.Errorf("drain command %q", drain)
	}
	env := map[string]string{}
	for _, e := range up.Env {
		env[e.Name] = e.Value
	}
	if env[envVersion] != "v1.2.3+build" || env[envNode] != "node-1" || env[envHash] != testHash {
		t.Errorf("upgrade env %v", env)
	}
	if j.Labels[LabelVersion] != "v1.2.3-build" {
		t.Errorf("version label %q", j.Labels[LabelVersion])
	}
	if len(j.OwnerReferences) != 1 || j.OwnerReferences[0].Kind != "Plan" || !*j.OwnerReferences[0].Controller {
		t.Errorf("owner %+v", j.OwnerReferences)
	}
	if errs := validation.IsDNS1123Label(j.Name); len(errs) > 0 {
		t.Errorf("job name %q: %v", j.Name, errs)
	}
	cordonOnly := plan(1)
	if c := NewJob(cordonOnly, "n", "v", testHash, JobOptions{}).Spec.Template.Spec.InitContainers; len(c) != 1 || !strings.HasSuffix(strings.Join(c[0].Command, " "), "--cordon-only") {
		t.Errorf("cordon without drain: %+v", c)
	}
	cordonOnly.Spec.Cordon = false
	if c := NewJob(cordonOnly, "n", "v", testHash, JobOptions{}).Spec.Template.Spec.InitContainers; len(c) != 0 {
		t.Errorf("neither cordon nor drain: init containers %+v", c)
	}
}

func TestJobName(t *testing.T) {
	long := strings.Repeat("n", 200)
	a, b := JobName("bos-latest", long+"a", testHash), JobName("bos-latest", long+"b", testHash)
	if a == b {
		t.Errorf("two nodes, one Job name %q", a)
	}
	for _, n := range []string{a, JobName("p", "node.example.com", testHash)} {
		if errs := validation.IsDNS1123Label(n); len(errs) > 0 {
			t.Errorf("%q: %v", n, errs)
		}
	}
}

func TestImage(t *testing.T) {
	for in, want := range map[string]string{
		"bhojpur/bos-upgrade":                 "bhojpur/bos-upgrade:v2",
		"localhost:5000/bos-upgrade":          "localhost:5000/bos-upgrade:v2",
		"bhojpur/bos-upgrade:pinned":          "bhojpur/bos-upgrade:pinned",
		"bhojpur/bos-upgrade@sha256:0123abcd": "bhojpur/bos-upgrade@sha256:0123abcd",
	} {
		if got := Image(in, "v2"); got != want {
			t.Errorf("Image(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHash(t *testing.T) {
	p := plan(1)
	h := Hash(&p.Spec, "v2", nil)
	if len(h) != 56 || Hash(&p.Spec, "v2", nil) != h {
		t.Fatalf("hash %q", h)
	}
	if Hash(&p.Spec, "v3", nil) == h {
		t.Error("another version, the same hash")
	}
	if Hash(&p.Spec, "v2", map[string]map[string][]byte{"s": {"k": []byte("1")}}) == Hash(&p.Spec, "v2", map[string]map[string][]byte{"s": {"k": []byte("2")}}) {
		t.Error("another secret, the same hash")
	}
	p.Spec.Concurrency = 2
	if Hash(&p.Spec, "v2", nil) == h {
		t.Error("another spec, the same hash")
	}
}

func TestChannel(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/latest", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/bhojpur/os/releases/tag/v0.12.1", http.StatusFound)
	})
	mux.HandleFunc("/trailing", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://example.com/releases/tag/v0.12.2/", http.StatusFound)
	})
	mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("v0.12.1")) })
	mux.HandleFunc("/odd", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/releases/tag/v1%20$(reboot)", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := &Channel{}
	ctx := context.Background()
	if v, err := c.Resolve(ctx, srv.URL+"/latest"); err != nil || v != "v0.12.1" {
		t.Errorf("relative redirect: %q, %v", v, err)
	}
	if v, err := c.Resolve(ctx, srv.URL+"/trailing"); err != nil || v != "v0.12.2" {
		t.Errorf("absolute redirect with a trailing slash: %q, %v", v, err)
	}
	for path, want := range map[string]string{"/page": "not a redirect", "/odd": "is not a version"} {
		if _, err := c.Resolve(ctx, srv.URL+path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error saying %q", path, err, want)
		}
	}
	if _, err := c.Resolve(ctx, "ftp://example.com/x"); err == nil || !strings.Contains(err.Error(), "not an http(s) URL") {
		t.Errorf("ftp channel: %v", err)
	}

	tls := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://example.com/releases/tag/v9", http.StatusFound)
	}))
	defer tls.Close()
	if _, err := (&Channel{Client: tls.Client()}).Resolve(ctx, tls.URL); err == nil || !strings.Contains(err.Error(), "from https to http, refused") {
		t.Errorf("https to http: %v", err)
	}
	// TLS is verified: the test server's certificate is nobody's.
	if _, err := c.Resolve(ctx, tls.URL); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("an unknown certificate: %v", err)
	}
}
