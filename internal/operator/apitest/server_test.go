// Package apitest runs the operator's controllers against a real
// apiserver: the built dcp's (dist/bin/dcp, `make dcp`), started here as
// `dcp server --disable-agent` on loopback (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler; no kubelet, so the nodes are
// API objects and a Job's pods never run: the tests write the Jobs' status
// as the Job controller would). Without the binary the tests skip, unless
// BOS_REQUIRE_VM=1 or BOS_REQUIRE_DCP=1 (make test), where they fail.
package apitest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/yaml"

	"github.com/bhojpur/os/internal/cli/bosoperator"
	"github.com/bhojpur/os/internal/operatormanifest"
	"github.com/bhojpur/os/internal/vmtest"
)

// The shared server of the package's tests.
var (
	cfg     *rest.Config
	kclient client.Client
	srvLog  = &syncBuffer{}
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	bin := os.Getenv("DCP_BIN")
	if bin == "" {
		if root, err := vmtest.RepoRoot(); err == nil {
			bin = filepath.Join(root, "dist", "bin", "dcp")
		}
	}
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("BOS_REQUIRE_VM") == "1" || os.Getenv("BOS_REQUIRE_DCP") != "" {
			fmt.Fprintf(os.Stderr, "apitest: dcp binary %s: %v (make dcp builds it)\n", bin, err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "apitest: no dcp binary at %s (make dcp builds it): skipped\n", bin)
		return 0
	}
	dir, err := os.MkdirTemp("", "apitest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	stop, err := startServer(bin, dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "apitest: %v\n%s", err, srvLog.tail())
		return 1
	}
	defer stop()
	if cfg, err = clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "dcp.yaml")); err == nil {
		kclient, err = client.New(cfg, client.Options{Scheme: bosoperator.Scheme()})
	}
	if err == nil {
		err = installCRDs()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "apitest: %v\n", err)
		return 1
	}
	log.SetLogger(funcr.New(func(prefix, args string) {}, funcr.Options{}))
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "apitest: the dcp server's log ends:\n%s", srvLog.tail())
	}
	return code
}

// startServer starts dcp server in dir and waits for its control plane.
func startServer(bin, dir string) (stop func(), err error) {
	for _, port := range []string{"6443", "2379", "2380"} {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("port %s is in use: the tests need it for their server", port)
		}
	}
	cmd := exec.Command(bin, "server", "--disable-agent", "--cluster-init",
		"--data-dir", filepath.Join(dir, "data"), "--write-kubeconfig", filepath.Join(dir, "dcp.yaml"), "--node-name", "apitest")
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	w.Close()
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			srvLog.WriteString(line + "\n")
			if strings.Contains(line, "dcp: ") && strings.Contains(line, "control plane running") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	go func() { done <- cmd.Wait() }()
	stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	select {
	case <-ready:
		return stop, nil
	case err := <-done:
		return nil, fmt.Errorf("dcp server exited before it was ready: %v", err)
	case <-time.After(5 * time.Minute):
		stop()
		return nil, fmt.Errorf("dcp server not ready after 5 minutes")
	}
}

// installCRDs creates the operator's CustomResourceDefinitions and waits
// until they are served.
func installCRDs() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, doc := range [][]byte{operatormanifest.PlanCRD, operatormanifest.NodeConfigCRD} {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(doc, &crd); err != nil {
			return err
		}
		s := bosoperator.Scheme()
		_ = apiextensionsv1.AddToScheme(s)
		c, err := client.New(cfg, client.Options{Scheme: s})
		if err != nil {
			return err
		}
		if err := c.Create(ctx, &crd); err != nil {
			return fmt.Errorf("create %s: %w", crd.Name, err)
		}
		if err := established(ctx, c, crd.Name); err != nil {
			return err
		}
	}
	return nil
}

// established waits until the CustomResourceDefinition name is served.
func established(ctx context.Context, c client.Client, name string) error {
	for {
		var got apiextensionsv1.CustomResourceDefinition
		if err := c.Get(ctx, types.NamespacedName{Name: name}, &got); err == nil {
			for _, cond := range got.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not established: %w", name, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// namespace creates a namespace for one test.
func namespace(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := kclient.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kclient.Delete(context.Background(), ns) })
	// Pods need the namespace's default service account, which the
	// controller-manager creates a moment later.
	eventually(t, "namespace "+name+"'s default service account", time.Minute, func() error {
		return kclient.Get(context.Background(), types.NamespacedName{Namespace: name, Name: "default"}, &corev1.ServiceAccount{})
	})
}

// eventually calls f until it returns nil, failing the test with its last
// error after timeout.
func eventually(t *testing.T, what string, timeout time.Duration, f func() error) {
	t.Helper()
	var err error
	for end := time.Now().Add(timeout); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		if err = f(); err == nil {
			return
		}
	}
	t.Fatalf("%s: not within %s: %v", what, timeout, err)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) WriteString(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.WriteString(p)
}

func (s *syncBuffer) tail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.b.Bytes()
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// runManager starts mgr until the test ends, failing it if mgr fails.
func runManager(t *testing.T, mgr manager.Manager, what string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: %v", what, err)
		}
	})
}

// objects are the documents of a YAML stream, empty ones left out.
func objects(t *testing.T, b []byte) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatal(err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}
