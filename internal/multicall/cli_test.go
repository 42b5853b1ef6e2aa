package multicall

import (
	"bytes"
	"strings"
	"testing"

	"github.com/bhojpur/os/internal/cli"
	"github.com/bhojpur/os/internal/layout"
)

// run runs one command in-process and returns exit code, stdout, stderr.
func run(t *testing.T, name string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	streams := cli.IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb}
	code := Main(append([]string{name}, args...), false, streams)
	return code, out.String(), errb.String()
}

func TestEveryCommandAnswersHelpAndVersion(t *testing.T) {
	for _, name := range layout.Commands {
		code, out, _ := run(t, name, "--help")
		if code != 0 || !strings.Contains(out, "Usage: "+name) || !strings.Contains(out, "Exit codes:") || !strings.Contains(out, "--debug") {
			t.Errorf("%s --help = %d, %q; want 0 and usage with exit codes", name, code, out)
		}
		code, out, _ = run(t, name, "--version")
		if code != 0 || !strings.HasPrefix(out, name+" ") {
			t.Errorf("%s --version = %d, %q", name, code, out)
		}
	}
}
