// Package cli is dcp's command line: `dcp server`, `dcp agent`, `dcp
// token create`, `dcp kubectl`, and the exit codes. The flags are
// k3s-shaped; the upstream components' own flags pass through
// --<component>-arg unchanged.
package cli

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
	"github.com/pkg/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/bhojpur/os/dcp/internal/agent"
	"github.com/bhojpur/os/dcp/internal/bootstrap"
	"github.com/bhojpur/os/dcp/internal/config"
	"github.com/bhojpur/os/dcp/internal/control"
	"github.com/bhojpur/os/dcp/internal/executor"
	"github.com/bhojpur/os/dcp/internal/kubectl"
	"github.com/bhojpur/os/dcp/internal/server"
	"github.com/bhojpur/os/dcp/internal/token"
)

// Exit codes.
const (
	ExitOK       = 0
	ExitFailed   = 1
	ExitUsage    = 2
	ExitBadInput = 3
)

// Version is stamped at build time.
var Version = "dev"

// Env is what every command runs with.
type Env struct {
	Log    *log.Logger
	Stdout io.Writer
}

// CLI is the command tree.
type CLI struct {
	Server  ServerCmd        `cmd:"" help:"Run a server: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and, unless --disable-agent, the node's kubelet, kube-proxy and containerd."`
	Agent   AgentCmd         `cmd:"" help:"Run an agent: join the server at DCP_URL with DCP_TOKEN, then run the node's kubelet, kube-proxy and containerd."`
	Token   TokenCmd         `cmd:"" help:"Manage join tokens."`
	Kubectl KubectlCmd       `cmd:"" help:"Run kubectl (also as the kubectl link)." passthrough:""`
	Version kong.VersionFlag `help:"Print the version and exit."`
}

// KubectlCmd is `dcp kubectl ARGS...`. Main runs kubectl before kong
// parses anything, so that every kubectl flag reaches kubectl; this entry
// gives it its line in the help.
type KubectlCmd struct {
	Args []string `arg:"" optional:"" help:"kubectl's arguments."`
}

// Run runs kubectl.
func (k *KubectlCmd) Run() error {
	if code := kubectl.Main(k.Args); code != 0 {
		return errors.Errorf("kubectl exited with %d", code)
	}
	return nil
}

// TokenCmd is `dcp token`.
type TokenCmd struct {
	Create TokenCreateCmd `cmd:"" help:"Create a join token for agents and print it (a bootstrap token Secret in kube-system; kubectl -n kube-system delete secret bootstrap-token-<id> revokes it)."`
}

// TokenCreateCmd is `dcp token create`, run on a server.
type TokenCreateCmd struct {
	DataDir     string        `name:"data-dir" short:"d" default:"/var/lib/bhojpur/dcp" help:"The server's data directory: the token pins its CA."`
	Kubeconfig  string        `name:"kubeconfig" default:"/etc/bhojpur/dcp/dcp.yaml" help:"An admin kubeconfig of the cluster."`
	TTL         time.Duration `name:"ttl" default:"24h" help:"How long the token joins nodes (0: until it is deleted)."`
	Description string        `name:"description" help:"What the token is for (kept in its Secret)."`
}

// Run creates the token and prints it.
func (t *TokenCreateCmd) Run(env *Env) error {
	if t.TTL < 0 {
		return errors.Wrapf(config.ErrBadInput, "--ttl %s: want 0 (until deleted) or more", t.TTL)
	}
	caFile := (&config.Config{DataDir: t.DataDir}).TLS("server-ca.crt")
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return errors.Wrapf(config.ErrBadInput, "the server's CA: %v (run dcp token create on a server, or give its --data-dir)", err)
	}
	rc, err := clientcmd.BuildConfigFromFlags("", t.Kubeconfig)
	if err != nil {
		return errors.Wrapf(config.ErrBadInput, "--kubeconfig %s: %v", t.Kubeconfig, err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return errors.WithStack(err)
	}
	tok, err := token.NewJoinToken(ca)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := (bootstrap.Store{Client: cs}).Create(ctx, tok, t.TTL, t.Description); err != nil {
		return err
	}
	_, err = fmt.Fprintln(env.Stdout, tok.String())
	return errors.WithStack(err)
}

// NodeFlags are the flags of a node's agent, a server's and an agent's.
type NodeFlags struct {
	NodeName     string   `name:"node-name" env:"DCP_NODE_NAME" help:"Node name (default: the hostname)."`
	NodeIP       string   `name:"node-ip" help:"The address other nodes reach this one at."`
	FlannelIface string   `name:"flannel-iface" help:"The interface pods' traffic to other nodes leaves by (default: the one with the node IP)."`
	NodeLabel    []string `name:"node-label" sep:"none" help:"Label key=value for this node at registration (repeatable)."`
	NodeTaint    []string `name:"node-taint" sep:"none" help:"Taint key=value:Effect for this node at registration (repeatable)."`
	KubeletArg   []string `name:"kubelet-arg" sep:"none" help:"Extra kubelet flag (repeatable)."`
	KubeProxyArg []string `name:"kube-proxy-arg" sep:"none" help:"Extra kube-proxy flag (repeatable)."`
	BinDir       string   `name:"bin-dir" help:"containerd, its shim, ctr and cni/ (default: bin beside the dcp binary)."`
	Images       []string `name:"images" sep:"none" help:"Directory of image archives (*.tar) to import before the kubelet starts (repeatable; default: images beside the dcp binary and <data-dir>/agent/images)."`
	Runc         string   `name:"runc" default:"/usr/sbin/runc" help:"The OCI runtime."`
	Snapshotter  string   `name:"snapshotter" default:"overlayfs" help:"containerd's snapshotter (overlayfs or native)."`
	ResolvConf   string   `name:"resolv-conf" default:"/etc/resolv.conf" help:"resolv.conf for the kubelet (pods with dnsPolicy Default)."`
}

// input fills in's node part from n: the node's name (the hostname unless
// given) and where the agent's programs are (beside dcp unless given).
func (n *NodeFlags) input(in *config.Input) error {
	name := n.NodeName
	if name == "" {
		h, err := os.Hostname()
		if err != nil {
			return errors.Wrap(err, "hostname for --node-name")
		}
		name = h
	}
	binDir, images := n.BinDir, n.Images
	if binDir == "" || len(images) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return errors.Wrap(err, "where dcp is (for --bin-dir)")
		}
		if exe, err = filepath.EvalSymlinks(exe); err != nil {
			return errors.Wrap(err, "where dcp is (for --bin-dir)")
		}
		if binDir == "" {
			binDir = filepath.Join(filepath.Dir(exe), "bin")
		}
		if len(images) == 0 {
			images = []string{filepath.Join(filepath.Dir(exe), "images"), filepath.Join(in.DataDir, "agent", "images")}
		}
	}
	in.NodeName, in.NodeIP, in.FlannelIface, in.Labels, in.Taints = name, n.NodeIP, n.FlannelIface, n.NodeLabel, n.NodeTaint
	in.BinDir, in.ImageDirs, in.Runc, in.Snapshotter, in.ResolvConf = binDir, images, n.Runc, n.Snapshotter, n.ResolvConf
	if in.ExtraArgs == nil {
		in.ExtraArgs = map[string][]string{}
	}
	in.ExtraArgs[agent.Kubelet], in.ExtraArgs[agent.KubeProxy] = n.KubeletArg, n.KubeProxyArg
	return nil
}

// AgentCmd is `dcp agent`.
type AgentCmd struct {
	DataDir       string `name:"data-dir" short:"d" default:"/var/lib/bhojpur/dcp" help:"Where the node's state lives."`
	ServerURL     string `name:"server" short:"s" env:"DCP_URL" help:"The server to join (https://host:6443)."`
	Token         string `name:"token" short:"t" env:"DCP_TOKEN" help:"The cluster's node token (K10<CA sha256>::<user>:<secret>; sudo cat /var/lib/bhojpur/dcp/server/token on a server): it pins the server's CA."`
	ClusterSecret string `name:"cluster-secret" env:"DCP_CLUSTER_SECRET" help:"The cluster's secret instead of a node token: the server's CA is then not pinned."`
	NodeFlags
}

// Config checks the flags and builds the configuration. The cluster's
// networks are placeholders until the agent joins: its server says them.
func (a *AgentCmd) Config() (*config.Config, error) {
	if a.ServerURL == "" {
		return nil, errors.Wrap(config.ErrBadInput, "dcp agent: no server: give DCP_URL (bos.server_url), like https://10.0.0.1:6443")
	}
	if a.Token == "" && a.ClusterSecret == "" {
		return nil, errors.Wrap(config.ErrBadInput, "dcp agent: no token: give DCP_TOKEN (bos.token), the server's node token (sudo cat /var/lib/bhojpur/dcp/server/token on the server)")
	}
	in := config.Input{
		DataDir: a.DataDir, ServerURL: a.ServerURL, Token: a.Token, ClusterSecret: a.ClusterSecret,
		ClusterCIDR: config.DefaultClusterCIDR, ServiceCIDR: config.DefaultServiceCIDR,
		ClusterDNS: config.DefaultClusterDNS, ClusterDomain: config.DefaultClusterDomain,
		HTTPSPort: config.DefaultHTTPSPort, Kubeconfig: config.DefaultKubeconfig,
	}
	if err := a.NodeFlags.input(&in); err != nil {
		return nil, err
	}
	return config.New(in)
}

// Run joins the server, then runs the node's agent until SIGTERM or SIGINT.
func (a *AgentCmd) Run(env *Env) error {
	c, err := a.Config()
	if err != nil {
		return err
	}
	if err := executor.InitLogging(); err != nil {
		return errors.Wrap(err, "logging")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	start := time.Now()
	env.Log.Printf("dcp %s: agent %s, server %s, data %s", Version, c.NodeName, c.ServerURL, c.DataDir)
	if err := agent.Join(ctx, c, env.Log); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	// The server's apiserver answered the join: the kubelet may start.
	apiReady := make(chan struct{})
	close(apiReady)
	return agent.Run(ctx, c, executor.Upstream{}, apiReady, start, env.Log)
}

// ServerCmd is `dcp server`.
type ServerCmd struct {
	DataDir         string   `name:"data-dir" short:"d" default:"/var/lib/bhojpur/dcp" help:"Where the cluster's state lives."`
	ClusterInit     bool     `name:"cluster-init" help:"Start a new cluster with embedded etcd (the default for a first server)."`
	ClusterCIDR     string   `name:"cluster-cidr" default:"10.42.0.0/16" help:"Pod network."`
	ServiceCIDR     string   `name:"service-cidr" default:"10.43.0.0/16" help:"Service network."`
	ClusterDNS      string   `name:"cluster-dns" default:"10.43.0.10" help:"Cluster DNS service IP, inside --service-cidr."`
	ClusterDomain   string   `name:"cluster-domain" default:"cluster.local" help:"Cluster domain."`
	BindAddress     string   `name:"bind-address" help:"Address kube-apiserver listens on (default all)."`
	HTTPSPort       int      `name:"https-listen-port" default:"6443" help:"kube-apiserver's port."`
	DisableAgent    bool     `name:"disable-agent" help:"Run no kubelet on this server."`
	Token           string   `name:"token" short:"t" env:"DCP_TOKEN" help:"Node token (K10<CA sha256>::<user>:<secret>)."`
	ClusterSecret   string   `name:"cluster-secret" env:"DCP_CLUSTER_SECRET" help:"Shared secret of the cluster's token."`
	ServerURL       string   `name:"server" short:"s" env:"DCP_URL" help:"Server to join (not yet supported for servers)."`
	WriteKubeconfig string   `name:"write-kubeconfig" short:"o" default:"/etc/bhojpur/dcp/dcp.yaml" help:"Where the admin kubeconfig is written (0600)."`
	KubeconfigUser  string   `name:"write-kubeconfig-user" help:"Also write this user's ~/.kube/config (0600, owned by the user) with the admin credentials."`
	APIServerArg    []string `name:"kube-apiserver-arg" sep:"none" help:"Extra kube-apiserver flag (repeatable)."`
	KCMArg          []string `name:"kube-controller-manager-arg" sep:"none" help:"Extra kube-controller-manager flag (repeatable)."`
	SchedulerArg    []string `name:"kube-scheduler-arg" sep:"none" help:"Extra kube-scheduler flag (repeatable)."`
	NodeFlags
}

// Config checks the flags and builds the configuration.
func (s *ServerCmd) Config() (*config.Config, error) {
	if s.ServerURL != "" {
		return nil, errors.Wrap(config.ErrBadInput, "--server (DCP_URL): joining a second server to a cluster is not supported yet")
	}
	in := config.Input{
		DataDir: s.DataDir, ClusterCIDR: s.ClusterCIDR, ServiceCIDR: s.ServiceCIDR,
		ClusterDNS: s.ClusterDNS, ClusterDomain: s.ClusterDomain,
		BindAddress: s.BindAddress, HTTPSPort: s.HTTPSPort, DisableAgent: s.DisableAgent,
		ClusterInit: s.ClusterInit, Token: s.Token, ClusterSecret: s.ClusterSecret,
		Kubeconfig: s.WriteKubeconfig, KubeconfigUser: s.KubeconfigUser,
		ExtraArgs: map[string][]string{
			control.APIServer:         s.APIServerArg,
			control.ControllerManager: s.KCMArg,
			control.Scheduler:         s.SchedulerArg,
		},
	}
	if err := s.NodeFlags.input(&in); err != nil {
		return nil, err
	}
	return config.New(in)
}

// Run runs the server until SIGTERM or SIGINT.
func (s *ServerCmd) Run(env *Env) error {
	c, err := s.Config()
	if err != nil {
		return err
	}
	if err := executor.InitLogging(); err != nil {
		return errors.Wrap(err, "logging")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	env.Log.Printf("dcp %s: server %s, data %s", Version, c.NodeName, c.DataDir)
	return server.Run(ctx, c, executor.Upstream{}, env.Log)
}

// Main runs dcp with args (without the program name) and returns the exit
// code. Called as kubectl, it is kubectl.
func Main(argv0 string, args []string) int {
	if filepath.Base(argv0) == "kubectl" {
		return kubectl.Main(args)
	}
	if len(args) > 0 && args[0] == "kubectl" {
		return kubectl.Main(args[1:])
	}
	env := &Env{Log: log.New(os.Stderr, "dcp: ", log.LstdFlags), Stdout: os.Stdout}
	var c CLI
	parser, err := kong.New(&c, kong.Name("dcp"),
		kong.Description("Bhojpur DCP: Kubernetes in one binary."),
		kong.Vars{"version": Version}, kong.Bind(env))
	if err != nil {
		fmt.Fprintln(os.Stderr, "dcp:", err)
		return ExitFailed
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "dcp: %v (see dcp --help)\n", err)
		badInputDelay(env.Log)
		return ExitUsage
	}
	if err := kctx.Run(env); err != nil {
		return report(env.Log, err)
	}
	return ExitOK
}

func report(l *log.Logger, err error) int {
	if errors.Is(err, config.ErrBadInput) {
		l.Printf("%v", trimClass(err))
		badInputDelay(l)
		return ExitBadInput
	}
	l.Printf("%v", err)
	return ExitFailed
}

// trimClass drops the ": invalid input" that wrapping ErrBadInput leaves at
// the end of a message.
func trimClass(err error) string {
	msg := err.Error()
	suffix := ": " + config.ErrBadInput.Error()
	if len(msg) > len(suffix) && msg[len(msg)-len(suffix):] == suffix {
		return msg[:len(msg)-len(suffix)]
	}
	return msg
}

// BadInputDelayEnv names the variable that makes dcp wait so long (a Go
// duration) before it exits on bad input or a usage error. Its supervisor (OpenRC's
// supervise-daemon) restarts it a few seconds after every exit; the wait
// turns a hot restart loop over a typo into one line per wait in the log.
// SIGTERM ends the wait.
const BadInputDelayEnv = "DCP_BAD_INPUT_DELAY"

func badInputDelay(l *log.Logger) {
	v := os.Getenv(BadInputDelayEnv)
	if v == "" {
		return
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		l.Printf("%s=%q: not a duration, not waiting", BadInputDelayEnv, v)
		return
	}
	l.Printf("waiting %s before exiting (%s): fix the input and restart the service", d, BadInputDelayEnv)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
