package agent

import (
	"context"
	"net"
	"time"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/dcp/internal/config"
	"github.com/bhojpur/os/dcp/internal/join"
	"github.com/bhojpur/os/dcp/internal/kubeconfig"
)

// The waits between an agent's join attempts: doubling from the first to
// the last, so that a server that is not up yet is found soon and a wrong
// token costs one line in the log every few minutes, not a hot loop.
const (
	JoinFirstRetry = 5 * time.Second
	JoinMaxRetry   = 2 * time.Minute
)

// hints say what to do about each kind of join failure.
var hints = []struct {
	kind error
	hint string
}{
	{join.ErrUnreachable, "check DCP_URL (bos.server_url) and that the server runs and its port is open"},
	{join.ErrWrongCA, "the node token is of another cluster: give this cluster's (sudo cat /var/lib/bhojpur/dcp/server/token on its server)"},
	{join.ErrServerCert, "DCP_URL names the server by a host its certificate does not carry: use the server's node IP or name"},
	{join.ErrUnauthorized, "the token's secret is wrong: give the server's node token (sudo cat /var/lib/bhojpur/dcp/server/token on its server)"},
	{join.ErrRateLimited, "the server is busy issuing credentials"},
}

func hint(err error) string {
	for _, h := range hints {
		if errors.Is(err, h.kind) {
			return " (" + h.hint + ")"
		}
	}
	return ""
}

// Join gets this agent's credentials from its server (c.ServerURL) with
// its token, retrying with backoff until it succeeds or ctx ends, each
// failure logged with what failed and what to do. Then it takes the
// cluster's networks from the server's answer and writes the kubelet's,
// kube-proxy's and flannel's kubeconfigs.
func Join(ctx context.Context, c *config.Config, log Logger) error {
	node := join.NodeInfo{Name: c.NodeName, IPs: []net.IP{c.NodeIP}}
	wait := JoinFirstRetry
	for attempt := 1; ; attempt++ {
		creds, err := join.Join(ctx, c.ServerURL, c.Token, node, c.NodeTLS(""), log)
		if err == nil {
			return joined(c, creds, log)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		log.Printf("cannot join the DCP server (attempt %d): %v%s; retrying in %s", attempt, err, hint(err), wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		if wait *= 2; wait > JoinMaxRetry {
			wait = JoinMaxRetry
		}
	}
}

// joined sets c's cluster networks from creds and writes the node
// components' kubeconfigs, to the server URL the agent joined through (it
// reaches it, and the server's certificate verified for its host).
func joined(c *config.Config, creds *join.Credentials, log Logger) error {
	cl := creds.Cluster
	if err := c.SetCluster(cl.ClusterCIDR, cl.ServiceCIDR, cl.ClusterDNS, cl.ClusterDomain); err != nil {
		return errors.Wrapf(err, "the cluster networks the server %s gave", c.ServerURL)
	}
	server, err := join.BaseURL(c.ServerURL)
	if err != nil {
		return err
	}
	for _, k := range []struct {
		name string
		pair join.Pair
	}{{Kubelet, creds.KubeletClient}, {KubeProxy, creds.KubeProxy}, {Flannel, creds.Flannel}} {
		if err := kubeconfig.Write(c.NodeCred(k.name), server, creds.ServerCA, k.pair.Cert, k.pair.Key, 0o600, -1, -1); err != nil {
			return err
		}
	}
	pinned := "pinned by the node token"
	if !creds.Pinned {
		pinned = "NOT pinned: a cluster secret"
	}
	log.Printf("joined %s as node %s (the server's CA %s; pods %s, services %s)", server, c.NodeName, pinned, c.ClusterCIDR, c.ServiceCIDR)
	return nil
}
