package bosoperator

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/cli"
	"github.com/bhojpur/os/internal/config"
	"github.com/bhojpur/os/internal/exitcode"
	"github.com/bhojpur/os/internal/layout"
	"github.com/bhojpur/os/internal/operator/nodeagent"
	"github.com/bhojpur/os/internal/phasereq"
)

// NodeCmd is the node agent: the NodeConfigs that select its node go into
// the host's config.d, and the host's runtime phase applies them.
type NodeCmd struct {
	Kube
	Node     string        `help:"This node's name." env:"NODE_NAME" required:""`
	HostRoot string        `name:"host-root" help:"Where the pod has the host's /var/lib/bhojpur/os (config.d) and /run/bos (the requests to its bos-apply service), under their own paths." default:"/host" type:"existingdir" placeholder:"DIR"`
	Timeout  time.Duration `help:"How long the host's runtime phase may take, from the request to its result." default:"5m"`
}

// Run runs the agent until SIGTERM.
func (c *NodeCmd) Run(env *cli.Env) error {
	if _, err := os.Stat(filepath.Join(c.HostRoot, layout.RunDir)); err != nil {
		return errors.Wrapf(exitcode.ErrBadInput, "--host-root %s holds no %s: not a Bhojpur OS host's (%v)", c.HostRoot, layout.RunDir, err)
	}
	cfg, err := c.config()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	lg := logger(env.Stderr, env.Debug)
	mgr, err := NewManager(cfg, "default", false, lg) // one per node: no election
	if err != nil {
		return err
	}
	// The host's bos-apply service runs the phase (package phasereq):
	// run from this pod, services it restarts would be the pod's.
	host := phasereq.Files{Root: c.HostRoot}
	a := &nodeagent.Agent{
		Client: mgr.GetClient(),
		Node:   c.Node,
		Dir:    filepath.Join(c.HostRoot, config.RuntimeConfigD),
		Apply: func(ctx context.Context) ([]byte, error) {
			r, err := host.Ask(ctx, fmt.Sprintf("%s-%d", c.Node, time.Now().UnixNano()), c.Timeout)
			if err != nil {
				return nil, err
			}
			if !r.OK {
				return []byte(r.Output), errors.New(r.Error)
			}
			return []byte(r.Output), nil
		},
	}
	if err := a.SetupWithManager(mgr); err != nil {
		return err
	}
	env.Log.Printf("writing the NodeConfigs of node %s into %s", c.Node, a.Dir)
	return mgr.Start(ctx)
}
