// Package e2e runs the built dcp binary for real on this machine: a server
// (etcd, kube-apiserver, kube-controller-manager, kube-scheduler) on
// loopback, talked to with dcp's own kubectl. The Makefile builds the binary
// (dist/bin/dcp) first and sets BOS_REQUIRE_DCP=1, so that a missing binary
// fails the run instead of skipping it.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bhojpur/os/dcp/internal/join"
	"github.com/bhojpur/os/dcp/internal/kubeconfig"
	"github.com/bhojpur/os/dcp/internal/token"
)

func binary(t *testing.T) string {
	t.Helper()
	p := os.Getenv("DCP_BIN")
	if p == "" {
		p, _ = filepath.Abs("../../dist/bin/dcp")
	}
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("BOS_REQUIRE_DCP") != "" {
			t.Fatalf("dcp binary %s: %v (make dcp builds it)", p, err)
		}
		t.Skipf("no dcp binary at %s (make dcp builds it)", p)
	}
	return p
}

// server is one running `dcp server`.
type server struct {
	cmd  *exec.Cmd
	log  *bytes.Buffer
	done chan error
}

func start(t *testing.T, bin, dir string) *server {
	t.Helper()
	for _, port := range []string{"6443", "2379", "2380"} {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second); err == nil {
			c.Close()
			t.Fatalf("port %s is in use: the test needs it for its server", port)
		}
	}
	s := &server{log: &bytes.Buffer{}, done: make(chan error, 1)}
	s.cmd = exec.Command(bin, "server", "--disable-agent", "--cluster-init",
		"--data-dir", filepath.Join(dir, "data"), "--write-kubeconfig", filepath.Join(dir, "dcp.yaml"),
		"--node-name", "e2e")
	r, w, _ := os.Pipe()
	s.cmd.Stdout, s.cmd.Stderr = w, w
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			s.log.WriteString(line + "\n")
			if strings.Contains(line, "dcp: ") && strings.Contains(line, "control plane running") {
				close(ready)
			}
		}
	}()
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() { s.stop(t) })
	select {
	case <-ready:
	case err := <-s.done:
		t.Fatalf("dcp server exited before it was ready: %v\n%s", err, tail(s.log.String()))
	case <-time.After(5 * time.Minute):
		t.Fatalf("dcp server not ready after 5 minutes\n%s", tail(s.log.String()))
	}
	return s
}

func (s *server) stop(t *testing.T) {
	if s.cmd.ProcessState != nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(60 * time.Second):
		t.Errorf("dcp server did not stop within 60s of SIGTERM")
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
}

func tail(s string) string {
	if len(s) > 4000 {
		return s[len(s)-4000:]
	}
	return s
}

func kubectl(t *testing.T, bin, kubeconfig string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"kubectl"}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestServer(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	kc := filepath.Join(dir, "dcp.yaml")
	// A manifest that is there before the first start (as write_files puts
	// it) is applied.
	mdir := filepath.Join(dir, "data", "server", "manifests", "apps")
	if err := os.MkdirAll(mdir, 0o700); err != nil {
		t.Fatal(err)
	}
	manifest := func(value string) {
		t.Helper()
		doc := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-manifest\n  namespace: default\ndata:\n  key: " + value + "\n"
		if err := os.WriteFile(filepath.Join(mdir, "app.yaml"), []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	manifest("first")
	s := start(t, bin, dir)

	out, err := kubectl(t, bin, kc, "get", "--raw", "/readyz")
	if err != nil || strings.TrimSpace(out) != "ok" {
		t.Fatalf("kubectl get --raw /readyz = %q, %v", out, err)
	}
	if out, err := kubectl(t, bin, kc, "create", "namespace", "kept-across-restarts"); err != nil {
		t.Fatalf("kubectl create namespace: %v\n%s", err, out)
	}
	if out, err := kubectl(t, bin, kc, "create", "secret", "generic", "s1", "--from-literal=password=plain-text-marker"); err != nil {
		t.Fatalf("kubectl create secret: %v\n%s", err, out)
	}

	t.Run("files", func(t *testing.T) {
		data := filepath.Join(dir, "data", "server")
		for _, f := range []string{kc, filepath.Join(data, "token"), filepath.Join(data, "tls", "server-ca.key"), filepath.Join(data, "cred", "encryption-config.json")} {
			fi, err := os.Stat(f)
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: %v, want mode 0600", f, err)
			}
		}
		tok, _ := os.ReadFile(filepath.Join(data, "token"))
		ca, _ := os.ReadFile(filepath.Join(data, "tls", "server-ca.crt"))
		sum := sha256.Sum256(ca)
		if want := "K10" + hex.EncodeToString(sum[:]) + "::server:"; !strings.HasPrefix(string(tok), want) {
			t.Errorf("token %q, want it to start with %q (the sha256 of server-ca.crt)", tok, want)
		}
	})

	t.Run("manifests", func(t *testing.T) {
		waitFor(t, bin, kc, "first", "get", "configmap", "from-manifest", "-o", "jsonpath={.data.key}")
		// A change is applied again, by server-side apply.
		manifest("second")
		waitFor(t, bin, kc, "second", "get", "configmap", "from-manifest", "-o", "jsonpath={.data.key}")
		waitFor(t, bin, kc, "dcp", "get", "configmap", "from-manifest", "-o", "jsonpath={.metadata.managedFields[0].manager}")
		// The cluster DNS addon is a manifest that dcp writes itself.
		waitFor(t, bin, kc, "10.43.0.10", "-n", "kube-system", "get", "service", "kube-dns", "-o", "jsonpath={.spec.clusterIP}")
		waitFor(t, bin, kc, "bhojpur.net/dcp/coredns:1.15.0", "-n", "kube-system", "get", "deployment", "coredns", "-o", "jsonpath={.spec.template.spec.containers[0].image}")
	})

	t.Run("anonymous", func(t *testing.T) {
		// Anonymous requests reach the health endpoints and nothing else.
		ca, err := os.ReadFile(filepath.Join(dir, "data", "server", "tls", "server-ca.crt"))
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		for path, want := range map[string]int{"/readyz": 200, "/livez": 200, "/api/v1/namespaces": 401, "/version": 401} {
			resp, err := client.Get("https://127.0.0.1:6443" + path)
			if err != nil {
				t.Errorf("anonymous GET %s: %v", path, err)
				continue
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("anonymous GET %s = %d, want %d", path, resp.StatusCode, want)
			}
		}
	})

	t.Run("join", func(t *testing.T) { testJoin(t, bin, dir) })

	// A restart reuses the PKI, the token and etcd's data.
	tok, _ := os.ReadFile(filepath.Join(dir, "data", "server", "token"))
	s.stop(t)
	// etcd's database file holds every write once etcd has stopped.
	t.Run("secrets encrypted at rest", func(t *testing.T) {
		db := filepath.Join(dir, "data", "server", "db", "etcd", "member", "snap", "db")
		b, err := os.ReadFile(db)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("plain-text-marker")) {
			t.Error("the secret's value is in etcd's database in clear text")
		}
		if !bytes.Contains(b, []byte("k8s:enc:aesgcm:v1:dcp-1")) {
			t.Error("no aesgcm-encrypted value in etcd's database")
		}
	})

	start(t, bin, dir)
	if again, _ := os.ReadFile(filepath.Join(dir, "data", "server", "token")); !bytes.Equal(again, tok) {
		t.Errorf("token after a restart %q, want %q", again, tok)
	}
	if out, err := kubectl(t, bin, kc, "get", "namespace", "kept-across-restarts", "-o", "name"); err != nil || strings.TrimSpace(out) != "namespace/kept-across-restarts" {
		t.Errorf("after a restart: %q, %v; want the namespace created before it", out, err)
	}
}

// waitFor runs kubectl until it prints want (the manifests directory is
// looked at every 10 seconds).
func waitFor(t *testing.T, bin, kc, want string, args ...string) {
	t.Helper()
	var out string
	var err error
	for end := time.Now().Add(2 * time.Minute); time.Now().Before(end); time.Sleep(2 * time.Second) {
		if out, err = kubectl(t, bin, kc, args...); err == nil && strings.TrimSpace(out) == want {
			return
		}
	}
	t.Errorf("kubectl %q = %q, %v; want %q", args, out, err, want)
}

// TestBadInputDelay: under its supervisor, dcp waits before it exits on bad
// input (no hot restart loop), and SIGTERM ends the wait.
func TestBadInputDelay(t *testing.T) {
	bin := binary(t)
	cmd := exec.Command(bin, "server", "--no-such-flag")
	cmd.Env = append(os.Environ(), "DCP_BAD_INPUT_DELAY=1h")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		t.Fatalf("dcp exited at once with DCP_BAD_INPUT_DELAY=1h: %s", out.String())
	case <-time.After(3 * time.Second):
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("dcp did not end its wait on SIGTERM")
	}
	if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(out.String(), "unknown flag --no-such-flag") || !strings.Contains(out.String(), "waiting 1h0m0s") {
		t.Errorf("exit %d, output %q; want exit 2, the flag named and the wait said", code, out.String())
	}
}

func TestBadInput(t *testing.T) {
	bin := binary(t)
	for _, tc := range []struct {
		name     string
		args     []string
		env      string
		wantCode int
		want     string
	}{
		{"cluster cidr", []string{"server", "--cluster-cidr", "banana"}, "", 3, `--cluster-cidr "banana": not a CIDR`},
		{"unknown flag", []string{"server", "--no-such-flag"}, "", 2, "unknown flag --no-such-flag"},
		{"token", []string{"server"}, "DCP_TOKEN=K10abc::node:secret", 3, "DCP_TOKEN (--token): not a node token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, append(tc.args, "--data-dir", t.TempDir())...)
			cmd.Env = append(os.Environ(), tc.env)
			out, _ := cmd.CombinedOutput()
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if code := cmd.ProcessState.ExitCode(); code != tc.wantCode || len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
				t.Errorf("dcp %q: exit %d, output %q; want exit %d and one line containing %q", tc.args, code, out, tc.wantCode, tc.want)
			}
		})
	}
}

// testJoin joins the running server as an agent does, on its apiserver's
// port: with the node token it gets credentials that the apiserver takes
// for the node's; a wrong secret or a token of another CA gets nothing.
func testJoin(t *testing.T, bin, dir string) {
	b, err := os.ReadFile(filepath.Join(dir, "data", "server", "token"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := token.ParseNode(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	const url = "https://127.0.0.1:6443"
	node := join.NodeInfo{Name: "e2e-agent", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}
	var log logBuf
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	creds, err := join.Join(ctx, url, tok, node, filepath.Join(t.TempDir(), "pki"), &log)
	if err != nil {
		t.Fatalf("join with the node token: %v", err)
	}
	if !creds.Pinned || creds.Cluster.ClusterDNS != "10.43.0.10" || creds.Cluster.ClusterCIDR != "10.42.0.0/16" {
		t.Errorf("credentials %+v: want pinned, with the server's cluster networks", creds)
	}
	// The kubelet's certificate is the node's identity to the apiserver.
	kc := filepath.Join(t.TempDir(), "kubelet.kubeconfig")
	if err := kubeconfig.Write(kc, url, creds.ServerCA, creds.KubeletClient.Cert, creds.KubeletClient.Key, 0o600, -1, -1); err != nil {
		t.Fatal(err)
	}
	if out, err := kubectl(t, bin, kc, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username} {.status.userInfo.groups}"); err != nil || !strings.Contains(out, `system:node:e2e-agent ["system:nodes"`) {
		t.Errorf("kubectl auth whoami as the joined kubelet: %q, %v; want system:node:e2e-agent in system:nodes", out, err)
	}

	// flannel's certificate reads nodes and patches their status, and no
	// more: the RBAC that the server writes into its manifests directory.
	fc := filepath.Join(t.TempDir(), "flannel.kubeconfig")
	if err := kubeconfig.Write(fc, url, creds.ServerCA, creds.Flannel.Cert, creds.Flannel.Key, 0o600, -1, -1); err != nil {
		t.Fatal(err)
	}
	// (can-i prints a warning about cluster-scoped resources before its answer)
	canI := func(args ...string) string {
		out, _ := kubectl(t, bin, fc, append([]string{"auth", "can-i"}, args...)...)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		return lines[len(lines)-1]
	}
	for end := time.Now().Add(2 * time.Minute); canI("watch", "nodes") != "yes" && time.Now().Before(end); {
		time.Sleep(2 * time.Second)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"watch", "nodes"}, "yes"},
		{[]string{"list", "nodes"}, "yes"},
		{[]string{"patch", "nodes", "--subresource=status"}, "yes"},
		{[]string{"patch", "nodes"}, "no"},
		{[]string{"delete", "nodes"}, "no"},
		{[]string{"list", "secrets", "-A"}, "no"},
		{[]string{"create", "pods"}, "no"},
	} {
		if out := canI(c.args...); out != c.want {
			t.Errorf("flannel's certificate: can-i %q = %q, want %s", c.args, out, c.want)
		}
	}

	// A join token of dcp token create joins until it is deleted or expires.
	admin := filepath.Join(dir, "dcp.yaml")
	create := func(ttl string) (token.Token, string) {
		t.Helper()
		out, err := exec.Command(bin, "token", "create", "--data-dir", filepath.Join(dir, "data"), "--kubeconfig", admin, "--ttl", ttl, "--description", "e2e").Output()
		if err != nil {
			t.Fatalf("dcp token create --ttl %s: %q, %v", ttl, out, err)
		}
		jt, err := token.ParseNode(strings.TrimSpace(string(out)))
		if err != nil || !token.IsJoinTokenID(jt.User) || jt.CAHash != tok.CAHash {
			t.Fatalf("dcp token create printed %q (%v): want a node token with a join token's ID and the server token's CA hash", out, err)
		}
		return jt, "bootstrap-token-" + jt.User
	}
	jt, secretName := create("1h")
	if out, err := kubectl(t, bin, admin, "-n", "kube-system", "get", "secret", secretName, "-o", "jsonpath={.type} {.data.usage-dcp-join}"); err != nil || out != "bootstrap.kubernetes.io/token dHJ1ZQ==" {
		t.Errorf("the join token's Secret: %q, %v", out, err)
	}
	if _, err := join.Join(ctx, url, jt, join.NodeInfo{Name: "e2e-token", IPs: node.IPs}, t.TempDir(), &log); err != nil {
		t.Errorf("join with a token of dcp token create: %v", err)
	}
	if out, err := kubectl(t, bin, admin, "-n", "kube-system", "delete", "secret", secretName); err != nil {
		t.Fatalf("delete the join token: %q, %v", out, err)
	}
	if _, err := join.Join(ctx, url, jt, node, t.TempDir(), &log); !errors.Is(err, join.ErrUnauthorized) {
		t.Errorf("join with a deleted join token: %v, want ErrUnauthorized", err)
	}
	expired, _ := create("1s")
	time.Sleep(2 * time.Second)
	if _, err := join.Join(ctx, url, expired, node, t.TempDir(), &log); !errors.Is(err, join.ErrUnauthorized) {
		t.Errorf("join with an expired join token: %v, want ErrUnauthorized", err)
	}
	if out, err := exec.Command(bin, "token", "create", "--data-dir", t.TempDir()).CombinedOutput(); exitCode(err) != 3 || !strings.Contains(string(out), "run dcp token create on a server") {
		t.Errorf("dcp token create without a server's data: %q, %v; want exit 3 and what to do", out, err)
	}

	wrongSecret := tok
	wrongSecret.Secret = "not-the-secret"
	if _, err := join.Join(ctx, url, wrongSecret, node, t.TempDir(), &log); !errors.Is(err, join.ErrUnauthorized) {
		t.Errorf("join with a wrong secret: %v, want ErrUnauthorized", err)
	}
	otherCA := tok
	otherCA.CAHash = strings.Repeat("ab", 32)
	if _, err := join.Join(ctx, url, otherCA, node, t.TempDir(), &log); !errors.Is(err, join.ErrWrongCA) {
		t.Errorf("join with a token of another CA: %v, want ErrWrongCA", err)
	}

	// dcp agent with that token says so in its log and retries; SIGTERM ends it.
	cmd := exec.Command(bin, "agent", "--server", url, "--data-dir", filepath.Join(t.TempDir(), "agent"), "--node-name", "e2e-agent", "--node-ip", "127.0.0.1")
	cmd.Env = append(os.Environ(), "DCP_TOKEN="+otherCA.String())
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	want := "the node token is of another cluster"
	for end := time.Now().Add(time.Minute); time.Now().Before(end) && !strings.Contains(out.String(), want); {
		time.Sleep(500 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Error("dcp agent did not stop within 30s of SIGTERM")
	}
	logged := out.String()
	if !strings.Contains(logged, want) || !strings.Contains(logged, "retrying in 5s") || strings.Contains(logged, "kubelet") {
		t.Errorf("dcp agent with a token of another CA logged:\n%s\nwant %q, a retry in 5s and no kubelet", logged, want)
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("dcp agent exited %d after SIGTERM, want 0", code)
	}
}

type logBuf struct{ syncBuffer }

func (l *logBuf) Printf(format string, args ...any) { fmt.Fprintf(&l.syncBuffer, format+"\n", args...) }

// syncBuffer is a bytes.Buffer safe for a process's output and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// exitCode is a command's exit code from its error (0 for none).
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
