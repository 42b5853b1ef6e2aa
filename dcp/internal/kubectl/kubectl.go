// Package kubectl runs upstream kubectl inside dcp, for `dcp kubectl ...`
// and the `kubectl` link on a node's PATH.
package kubectl

import (
	"os"
	"path/filepath"

	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"

	"github.com/bhojpur/os/dcp/internal/config"
)

// Main runs kubectl with args and returns its exit code. Without KUBECONFIG
// it uses ~/.kube/config when there is one, else the admin kubeconfig when
// it is readable (root), as k3s users expect.
func Main(args []string) int {
	if os.Getenv("KUBECONFIG") == "" {
		os.Setenv("KUBECONFIG", defaultKubeconfig(os.Getenv("HOME")))
	}
	c := cmd.NewDefaultKubectlCommand()
	c.SetArgs(args)
	return cli.Run(c)
}

func defaultKubeconfig(home string) string {
	if home != "" {
		p := filepath.Join(home, ".kube", "config")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if f, err := os.Open(config.DefaultKubeconfig); err == nil {
		f.Close()
		return config.DefaultKubeconfig
	}
	if home != "" {
		return filepath.Join(home, ".kube", "config")
	}
	return config.DefaultKubeconfig
}
