// Command dcp is Bhojpur DCP, Kubernetes in one static binary: `dcp server`
// runs embedded etcd and the control plane, `dcp kubectl` (or dcp called as
// kubectl) is kubectl.
package main

import (
	"os"

	"github.com/bhojpur/os/dcp/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[0], os.Args[1:])) }
