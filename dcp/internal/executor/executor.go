// Package executor runs the upstream Kubernetes components and etcd inside
// the dcp process. Each component is built from its upstream options and
// flag sets and parses exactly the argv the server gives it, so every flag
// means what upstream documents; the server gets an Executor as a value and
// a test can pass a fake.
//
// The upstream cobra commands are not used: each of them installs the
// process's one signal handler (k8s.io/apiserver's SetupSignalContext
// panics when called twice), and several of them would run here. Their
// RunE bodies are short and repeated below with the server's context.
package executor

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/pkg/errors"
	"github.com/spf13/pflag"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/storage/wal"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	genericapiserver "k8s.io/apiserver/pkg/server"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	logsapi "k8s.io/component-base/logs/api/v1"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	apiserveroptions "k8s.io/kubernetes/cmd/kube-apiserver/app/options"
	kcm "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	kcmoptions "k8s.io/kubernetes/cmd/kube-controller-manager/app/options"
	kubeproxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	scheduleroptions "k8s.io/kubernetes/cmd/kube-scheduler/app/options"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

// Executor starts the components. Every method blocks until the component
// stops or ctx is done.
type Executor interface {
	Etcd(ctx context.Context, c Etcd, ready chan<- struct{}) error
	APIServer(ctx context.Context, args []string, mount Mount) error
	ControllerManager(ctx context.Context, args []string) error
	Scheduler(ctx context.Context, args []string) error
	Kubelet(ctx context.Context, args []string) error
	KubeProxy(ctx context.Context, args []string) error
}

// Etcd is the embedded etcd's configuration: one member, TLS with client
// certificates on both ports, listening on loopback.
type Etcd struct {
	Name, Dir                 string
	ClientURL, PeerURL        string
	CertFile, KeyFile, CAFile string
	SnapshotCount             uint64
	QuotaBackendBytes         int64
	// WALSegmentBytes is the size etcd preallocates for each WAL file (0:
	// etcd's 64 MB). On a tmpfs every preallocated byte is memory.
	WALSegmentBytes int64
}

// Mount is what the apiserver serves on its port beside its API, before
// its authentication: exact URL paths and their handler (DCP's join
// endpoints, which authenticate their requests themselves). A request for
// any other path goes to the apiserver's own chain.
type Mount map[string]http.Handler

// wrap returns a handler chain builder that routes m's paths to their
// handlers and everything else to the chain next builds.
func (m Mount) wrap(next func(http.Handler, *genericapiserver.Config) http.Handler) func(http.Handler, *genericapiserver.Config) http.Handler {
	if len(m) == 0 {
		return next
	}
	return func(api http.Handler, c *genericapiserver.Config) http.Handler {
		chain := next(api, c)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if h, ok := m[r.URL.Path]; ok {
				h.ServeHTTP(w, r)
				return
			}
			chain.ServeHTTP(w, r)
		})
	}
}

// Upstream runs the real components.
type Upstream struct{}

// InitLogging applies upstream's default logging configuration for the
// process. The kubelet and kube-proxy apply their own (the same defaults)
// again: a repeat is allowed when it changes nothing.
func InitLogging() error {
	logsapi.ReapplyHandling = logsapi.ReapplyHandlingIgnoreUnchanged
	return logsapi.ValidateAndApply(logsapi.NewLoggingConfiguration(), utilfeature.DefaultFeatureGate)
}

// Etcd runs the embedded etcd.
func (Upstream) Etcd(ctx context.Context, c Etcd, ready chan<- struct{}) error {
	cfg := embed.NewConfig()
	cfg.Name = c.Name
	cfg.Dir = c.Dir
	cu, err := url.Parse(c.ClientURL)
	if err != nil {
		return errors.Wrap(err, "etcd client URL")
	}
	pu, err := url.Parse(c.PeerURL)
	if err != nil {
		return errors.Wrap(err, "etcd peer URL")
	}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = c.Name + "=" + c.PeerURL
	tls := transport.TLSInfo{CertFile: c.CertFile, KeyFile: c.KeyFile, TrustedCAFile: c.CAFile, ClientCertAuth: true}
	cfg.ClientTLSInfo, cfg.PeerTLSInfo = tls, tls
	cfg.LogLevel = "warn"
	if c.SnapshotCount > 0 {
		cfg.SnapshotCount = c.SnapshotCount
	}
	if c.QuotaBackendBytes > 0 {
		cfg.QuotaBackendBytes = c.QuotaBackendBytes
	}
	if c.WALSegmentBytes > 0 {
		wal.SegmentSizeBytes = c.WALSegmentBytes // a package variable: one etcd per process
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return errors.Wrap(err, "start etcd")
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
		close(ready)
	case err := <-e.Err():
		return errors.Wrap(err, "etcd")
	case <-ctx.Done():
		return nil
	}
	select {
	case err := <-e.Err():
		return errors.Wrap(err, "etcd")
	case <-ctx.Done():
		e.Server.Stop()
		select {
		case <-e.Server.StopNotify():
		case <-time.After(10 * time.Second):
		}
		return nil
	}
}

func parse(name string, sets map[string]*pflag.FlagSet, order []string, args []string) error {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	for _, n := range order {
		fs.AddFlagSet(sets[n])
	}
	if err := fs.Parse(args); err != nil {
		return errors.Wrapf(err, "%s arguments", name)
	}
	if fs.NArg() > 0 {
		return errors.Errorf("%s: unexpected arguments %q", name, fs.Args())
	}
	return nil
}

// APIServer runs kube-apiserver, serving mount beside its API. It is
// upstream's app.Run with one change: the aggregator (the outermost server
// of the chain, the one on the port) builds its handler chain through
// mount.
func (Upstream) APIServer(ctx context.Context, args []string, mount Mount) error {
	s := apiserveroptions.NewServerRunOptions()
	nfs := s.Flags()
	if err := parse("kube-apiserver", nfs.FlagSets, nfs.Order, args); err != nil {
		return err
	}
	if err := s.GenericServerRunOptions.ComponentGlobalsRegistry.Set(); err != nil {
		return errors.Wrap(err, "kube-apiserver feature gates")
	}
	rest.SetDefaultWarningHandler(rest.NoWarnings{})
	completed, err := s.Complete(ctx)
	if err != nil {
		return errors.Wrap(err, "kube-apiserver options")
	}
	if errs := completed.Validate(); len(errs) != 0 {
		return errors.Wrap(utilerrors.NewAggregate(errs), "kube-apiserver options")
	}
	if completed.InformerName == nil {
		name, err := cache.NewInformerName("kube-apiserver")
		if err != nil {
			return errors.Wrap(err, "kube-apiserver")
		}
		completed.InformerName = name
	}
	cfg, err := apiserver.NewConfig(completed)
	if err != nil {
		return errors.Wrap(err, "kube-apiserver configuration")
	}
	generic := cfg.Aggregator.GenericConfig
	generic.BuildHandlerChainFunc = mount.wrap(generic.BuildHandlerChainFunc)
	done, err := cfg.Complete()
	if err != nil {
		return errors.Wrap(err, "kube-apiserver configuration")
	}
	server, err := apiserver.CreateServerChain(done)
	if err != nil {
		return errors.Wrap(err, "kube-apiserver")
	}
	prepared, err := server.PrepareRun()
	if err != nil {
		return errors.Wrap(err, "kube-apiserver")
	}
	return errors.Wrap(prepared.Run(ctx), "kube-apiserver")
}

// ControllerManager runs kube-controller-manager.
func (Upstream) ControllerManager(ctx context.Context, args []string) error {
	s, err := kcmoptions.NewKubeControllerManagerOptions()
	if err != nil {
		return errors.Wrap(err, "kube-controller-manager options")
	}
	known, off, aliases := kcm.KnownControllers(), kcm.ControllersDisabledByDefault(), kcm.ControllerAliases()
	nfs := s.Flags(known, off, aliases)
	s.ParsedFlags = &nfs
	if err := parse("kube-controller-manager", nfs.FlagSets, nfs.Order, args); err != nil {
		return err
	}
	if err := s.ComponentGlobalsRegistry.Set(); err != nil {
		return errors.Wrap(err, "kube-controller-manager feature gates")
	}
	c, err := s.Config(ctx, known, off, aliases)
	if err != nil {
		return errors.Wrap(err, "kube-controller-manager options")
	}
	return errors.Wrap(kcm.Run(ctx, c.Complete()), "kube-controller-manager")
}

// Scheduler runs kube-scheduler.
func (Upstream) Scheduler(ctx context.Context, args []string) error {
	opts := scheduleroptions.NewOptions()
	if err := parse("kube-scheduler", opts.Flags.FlagSets, opts.Flags.Order, args); err != nil {
		return err
	}
	if err := opts.ComponentGlobalsRegistry.Set(); err != nil {
		return errors.Wrap(err, "kube-scheduler feature gates")
	}
	cc, sched, err := scheduler.Setup(ctx, opts)
	if err != nil {
		return errors.Wrap(err, "kube-scheduler options")
	}
	return errors.Wrap(scheduler.Run(ctx, cc, sched), "kube-scheduler")
}

// Kubelet runs the kubelet through its upstream command. It is the one
// component that does: its RunE does work no exported function repeats
// (flag precedence over the config file, drop-ins), and it installs the
// process's signal handler, which is why no other component may. It runs
// until the process gets SIGTERM; ctx only bounds its start.
func (Upstream) Kubelet(ctx context.Context, args []string) error {
	cmd := kubelet.NewKubeletCommand(ctx)
	cmd.SetArgs(args)
	cmd.SilenceErrors = true
	return errors.Wrap(cmd.ExecuteContext(ctx), "kubelet")
}

// KubeProxy runs kube-proxy from its upstream options.
func (Upstream) KubeProxy(ctx context.Context, args []string) error {
	o := kubeproxy.NewOptions()
	fs := pflag.NewFlagSet("kube-proxy", pflag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		return errors.Wrap(err, "kube-proxy arguments")
	}
	if fs.NArg() > 0 {
		return errors.Errorf("kube-proxy: unexpected arguments %q", fs.Args())
	}
	if err := o.Complete(fs); err != nil {
		return errors.Wrap(err, "kube-proxy options")
	}
	if err := o.Validate(); err != nil {
		return errors.Wrap(err, "kube-proxy options")
	}
	// Options.Run returns only on an error, not when ctx ends.
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	select {
	case err := <-done:
		return errors.Wrap(err, "kube-proxy")
	case <-ctx.Done():
		return nil
	}
}
