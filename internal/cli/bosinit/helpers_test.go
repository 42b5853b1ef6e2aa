package bosinit

import (
	"testing"

	"github.com/bhojpur/os/internal/cli/clitest"
)

// run runs the command in-process: exit code, stdout, stderr.
func run(t *testing.T, name string, args ...string) (int, string, string) {
	t.Helper()
	return clitest.Run(t, Main, name, args...)
}

func writeFile(t *testing.T, path, content string) { t.Helper(); clitest.WriteFile(t, path, content) }
