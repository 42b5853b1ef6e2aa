// Package dcp computes how Bhojpur DCP is started from the config: the exact
// exec-style argv and environment, shared by `bos-config show --dcp` and the
// OpenRC service that the apply phases write.
package dcp

import (
	"regexp"
	"sort"

	"github.com/bhojpur/os/internal/config"
)

// Label keys added to every node.
const (
	ModeLabel    = "bhojpur.net/mode"
	VersionLabel = "bhojpur.net/version"
	// FallbackLabel is added after GRUB fell back from a failed trial boot
	// of an upgrade: its value is the version that failed.
	FallbackLabel = "bhojpur.net/fallback"
)

// LoginUser is the system's login user, who gets a kubeconfig.
const LoginUser = "bhojpur"

// Node is what the node labels say about the running system.
type Node struct {
	Mode     string // boot mode (run/bos/mode)
	Version  string // the running OS version
	Fallback string // the version whose trial boot failed ("" if none)
}

// Invocation is how DCP is executed.
type Invocation struct {
	Argv []string          `json:"argv"`
	Env  map[string]string `json:"env"`
}

// nodeToken matches a DCP node token (K10<CA hash>::<user>:<password>);
// anything else in bos.token is a cluster secret.
var nodeToken = regexp.MustCompile(`^K10[0-9a-fA-F]+::[^:\s]+:\S+$`)

// IsNodeToken tells a node token from a cluster secret.
func IsNodeToken(token string) bool { return nodeToken.MatchString(token) }

// For returns the DCP invocation for a config on a node.
func For(cfg *config.Config, n Node) Invocation {
	b := cfg.Bos
	argv := []string{"dcp"}
	switch {
	case len(b.DCPArgs) > 0:
		argv = append(argv, b.DCPArgs...)
	case b.ServerURL != "":
		argv = append(argv, "agent")
	default:
		argv = append(argv, "server")
	}
	for _, k := range sortedKeys(b.Labels) {
		argv = append(argv, "--node-label", k+"="+b.Labels[k])
	}
	argv = append(argv, "--node-label", ModeLabel+"="+n.Mode, "--node-label", VersionLabel+"="+n.Version)
	if n.Fallback != "" {
		argv = append(argv, "--node-label", FallbackLabel+"="+n.Fallback)
	}
	for _, t := range b.Taints {
		argv = append(argv, "--node-taint", t)
	}
	if argv[1] == "server" {
		// kubectl as the login user just works (its own 0600 copy of the
		// admin kubeconfig; the admin file stays root's).
		argv = append(argv, "--write-kubeconfig-user", LoginUser)
	}
	env := map[string]string{}
	for k, v := range b.Environment {
		env[k] = v
	}
	if b.ServerURL != "" {
		env["DCP_URL"] = b.ServerURL
	}
	if b.Token != "" {
		if IsNodeToken(b.Token) {
			env["DCP_TOKEN"] = b.Token
		} else {
			env["DCP_CLUSTER_SECRET"] = b.Token
		}
	}
	return Invocation{Argv: argv, Env: env}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
