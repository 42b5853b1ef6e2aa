package bosupgrade

import (
	"testing"

	"github.com/bhojpur/os/internal/cli"
	"github.com/bhojpur/os/internal/cli/clitest"
)

// run runs the command in-process: exit code, stdout, stderr.
func run(t *testing.T, name string, args ...string) (int, string, string) {
	t.Helper()
	return clitest.Run(t, mainOf, name, args...)
}

func writeFile(t *testing.T, path, content string) { t.Helper(); clitest.WriteFile(t, path, content) }

// mainOf runs the upgrade command that name names.
func mainOf(name string, args []string, streams cli.IO) int {
	if name == KernelName {
		return KernelMain(name, args, streams)
	}
	return RootfsMain(name, args, streams)
}
