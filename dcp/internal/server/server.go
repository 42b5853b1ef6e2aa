// Package server runs a DCP server: it prepares the control plane's files
// (package control), then starts etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler through an executor, in that
// order, each after the one it needs is ready, and beside them, unless
// --disable-agent, the node's agent (package agent). The apiserver's port
// also serves the join endpoints (package join) agents join with.
package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/pkg/errors"
	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/bhojpur/os/dcp/internal/agent"
	"github.com/bhojpur/os/dcp/internal/bootstrap"
	"github.com/bhojpur/os/dcp/internal/config"
	"github.com/bhojpur/os/dcp/internal/control"
	"github.com/bhojpur/os/dcp/internal/executor"
	"github.com/bhojpur/os/dcp/internal/join"
	"github.com/bhojpur/os/dcp/internal/manifests"
	"github.com/bhojpur/os/dcp/internal/pki"
)

// Logger is the server's log.
type Logger interface {
	Printf(format string, args ...any)
}

// ReadyTimeout bounds the wait for etcd and for the apiserver's /readyz.
// Under TCG emulation the apiserver needs minutes, not seconds.
const ReadyTimeout = 10 * time.Minute

// Prepare writes everything the control plane reads: PKI, token,
// kubeconfigs, the apiserver's configuration files. It is idempotent.
func Prepare(c *config.Config, now time.Time) (*control.PKI, error) {
	for _, d := range []string{c.ServerDir(), c.TLSDir(), c.CredDir(), c.EtcdDir(), c.ManifestsDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, errors.Wrapf(err, "create %s", d)
		}
	}
	p, err := control.EnsurePKI(c, now)
	if err != nil {
		return nil, err
	}
	if err := control.WriteConfigFiles(c); err != nil {
		return nil, err
	}
	for name, data := range map[string][]byte{
		manifests.CoreDNSFile: manifests.CoreDNS(agent.CoreDNSImage, c.ClusterDNS.String(), c.ClusterDomain),
		manifests.FlannelFile: manifests.Flannel,
	} {
		if err := pki.WriteFile(filepath.Join(c.ManifestsDir(), name), data, 0o600); err != nil {
			return nil, err
		}
	}
	return p, control.WriteKubeconfigs(c)
}

// joinMount is the join endpoints (package join) that the apiserver serves
// on its port: agents get their credentials there with the node token or
// a join token of `dcp token create` (read through the apiserver as the
// supervisor).
func joinMount(c *config.Config, p *control.PKI, supervisor *rest.Config, log Logger) (executor.Mount, error) {
	cs, err := kubernetes.NewForConfig(supervisor)
	if err != nil {
		return nil, errors.WithStack(err)
	}
	js, err := join.NewServer(join.ServerConfig{
		ServerCA:  p.ServerCA,
		ClientCA:  p.ClientCA,
		APIServer: "https://" + net.JoinHostPort(c.AdvertiseIP().String(), strconv.Itoa(c.HTTPSPort)),
		Cluster: join.Cluster{
			ClusterCIDR:   c.ClusterCIDR.String(),
			ServiceCIDR:   c.ServiceCIDR.String(),
			ClusterDNS:    c.ClusterDNS.String(),
			ClusterDomain: c.ClusterDomain,
		},
		Secret: p.Token.Secret,
		Tokens: bootstrap.Store{Client: cs},
		Log:    log,
	})
	if err != nil {
		return nil, err
	}
	return executor.Mount{join.CACertsPath: js, join.CredentialsPath: js}, nil
}

// Run prepares and runs the control plane until ctx is done or a component
// fails.
func Run(ctx context.Context, c *config.Config, x executor.Executor, log Logger) error {
	start := time.Now()
	p, err := Prepare(c, start)
	if err != nil {
		return err
	}
	// The supervisor's client: the join's token lookups, the manifests.
	supervisor, err := clientcmd.BuildConfigFromFlags("", c.Cred("supervisor"))
	if err != nil {
		return errors.Wrap(err, "supervisor kubeconfig")
	}
	mount, err := joinMount(c, p, supervisor, log)
	if err != nil {
		return err
	}
	// etcd runs under its own context: it stops after the components that
	// use it, so that a shutdown does not leave kube-apiserver retrying a
	// vanished etcd.
	etcdCtx, stopEtcd := context.WithCancel(context.Background())
	defer stopEtcd()
	etcdDone := make(chan error, 1)
	etcdReady := make(chan struct{})
	go func() {
		etcdDone <- x.Etcd(etcdCtx, executor.Etcd{
			Name:      c.NodeName,
			Dir:       c.EtcdDir(),
			ClientURL: fmt.Sprintf("https://127.0.0.1:%d", c.EtcdClientPort),
			PeerURL:   fmt.Sprintf("https://127.0.0.1:%d", c.EtcdPeerPort),
			CertFile:  c.TLS("etcd/server.crt"),
			KeyFile:   c.TLS("etcd/server.key"),
			CAFile:    c.TLS("etcd/server-ca.crt"),
			// A small node: snapshot often to keep the raft log in memory short.
			SnapshotCount:   5000,
			WALSegmentBytes: walSegmentBytes(c.EtcdDir()),
		}, etcdReady)
	}()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		select {
		case err := <-etcdDone:
			if err == nil {
				err = errors.New("etcd stopped")
			}
			return err
		case <-gctx.Done():
			return nil
		}
	})
	apiReady := make(chan struct{})
	if !c.DisableAgent {
		g.Go(func() error { return agent.Run(gctx, c, x, apiReady, start, log) })
	}
	err = run(gctx, g, c, x, mount, supervisor, etcdReady, apiReady, start, log)
	// Stop etcd last, and do not wait for ever for a component that does not
	// stop.
	stopped := make(chan error, 1)
	go func() { stopped <- g.Wait() }()
	select {
	case werr := <-stopped:
		if err == nil {
			err = werr
		}
	case <-time.After(StopTimeout):
		log.Printf("components still running %s after the stop; exiting", StopTimeout)
	}
	stopEtcd()
	select {
	case <-etcdDone:
	case <-time.After(StopTimeout):
	}
	if ctx.Err() != nil && errors.Cause(err) == context.Canceled {
		return nil
	}
	return err
}

// ManifestsInterval is how often the manifests directory is looked at.
const ManifestsInterval = 10 * time.Second

// StopTimeout bounds each part of a shutdown.
const StopTimeout = 20 * time.Second

// run starts the components in order, each once the one it needs is ready,
// and returns the first failure or nil when ctx is done.
func run(ctx context.Context, g *errgroup.Group, c *config.Config, x executor.Executor, mount executor.Mount, supervisor *rest.Config, etcdReady <-chan struct{}, apiReady chan struct{}, start time.Time, log Logger) error {
	if err := wait(ctx, etcdReady); err != nil {
		return errors.Wrap(err, "waiting for etcd")
	}
	log.Printf("etcd ready after %.1fs", time.Since(start).Seconds())
	g.Go(func() error { return x.APIServer(ctx, control.APIServerArgs(c), mount) })
	g.Go(func() error { return waitReadyz(ctx, c, apiReady) })
	if err := wait(ctx, apiReady); err != nil {
		return errors.Wrap(err, "waiting for kube-apiserver")
	}
	log.Printf("kube-apiserver ready after %.1fs", time.Since(start).Seconds())
	g.Go(func() error { return x.ControllerManager(ctx, control.ControllerManagerArgs(c)) })
	g.Go(func() error { return x.Scheduler(ctx, control.SchedulerArgs(c)) })
	a, err := manifests.NewApplier(supervisor)
	if err != nil {
		return err
	}
	g.Go(func() error {
		manifests.Watch(ctx, c.ManifestsDir(), a, ManifestsInterval, log)
		return nil
	})
	log.Printf("control plane running; admin kubeconfig %s", c.Kubeconfig)
	<-ctx.Done()
	return nil
}

// wait returns when ready is closed, ctx is done (a component failed or
// the server is stopping), or ReadyTimeout passed.
func wait(ctx context.Context, ready <-chan struct{}) error {
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(ReadyTimeout):
		return errors.Errorf("not ready after %s", ReadyTimeout)
	}
}

// waitReadyz polls the apiserver's /readyz as the admin until it says ok,
// then closes ready and returns nil.
func waitReadyz(ctx context.Context, c *config.Config, ready chan<- struct{}) error {
	caPEM, err := os.ReadFile(c.TLS("server-ca.crt"))
	if err != nil {
		return errors.WithStack(err)
	}
	pool, err := pki.CertPool(caPEM)
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(c.TLS("client-supervisor.crt"), c.TLS("client-supervisor.key"))
	if err != nil {
		return errors.WithStack(err)
	}
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}},
	}
	url := fmt.Sprintf("https://127.0.0.1:%d/readyz", c.HTTPSPort)
	for {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				close(ready)
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}
