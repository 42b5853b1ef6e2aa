package multicall

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bhojpur/os/internal/cli"
	"github.com/bhojpur/os/internal/exitcode"
	"github.com/bhojpur/os/internal/layout"
)

func TestResolveNamesTheCommand(t *testing.T) {
	for _, tc := range []struct {
		argv     []string
		name     string
		args     []string
		resolved bool
	}{
		{[]string{"/usr/sbin/bos-config", "show"}, "bos-config", []string{"show"}, true},
		{[]string{"bos-upgrade-kernel"}, "bos-upgrade-kernel", []string{}, true},
		{[]string{"/init", "quiet"}, "bos-init", []string{"quiet"}, true},
		{[]string{"/bos/system/bos/current/bos-install", "--silent"}, "bos-install", []string{"--silent"}, true},
		{[]string{"bos", "config", "show"}, "bos-config", []string{"show"}, true},
		{[]string{"./bos", "bos-upgrade-rootfs", "--help"}, "bos-upgrade-rootfs", []string{"--help"}, true},
		{[]string{"bos", "init", "--plan"}, "bos-init", []string{"--plan"}, true},
		{[]string{"bos"}, "", nil, false},
		{[]string{"bos", "frobnicate"}, "bos-frobnicate", []string{}, false},
		{[]string{"sh"}, "sh", []string{}, false},
		{nil, "", nil, false},
	} {
		name, args, ok := Resolve(tc.argv)
		if name != tc.name || ok != tc.resolved || !cmp.Equal(args, tc.args) {
			t.Errorf("Resolve(%q) = %q, %q, %v; want %q, %q, %v", tc.argv, name, args, ok, tc.name, tc.args, tc.resolved)
		}
	}
}

func TestEveryCommandRunsUnderBothSpellings(t *testing.T) {
	for _, c := range layout.Commands {
		for _, argv := range [][]string{{"/usr/sbin/" + c, "--version"}, {"bos", strings.TrimPrefix(c, "bos-"), "--version"}} {
			var out bytes.Buffer
			code := Main(argv, false, cli.IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out})
			if code != 0 || !strings.HasPrefix(out.String(), c+" ") {
				t.Errorf("Main(%q) = %d, %q; want 0 and %q first", argv, code, out.String(), c)
			}
		}
	}
}

func TestBosWithoutACommandListsThem(t *testing.T) {
	for _, tc := range []struct {
		argv []string
		code int
	}{
		{[]string{"bos"}, exitcode.Usage},
		{[]string{"bos", "frobnicate"}, exitcode.Usage},
		{[]string{"bos", "--help"}, exitcode.OK},
		{[]string{"/tmp/renamed"}, exitcode.Usage},
	} {
		var out, errb bytes.Buffer
		code := Main(tc.argv, false, cli.IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb})
		all := out.String() + errb.String()
		if code != tc.code || !strings.Contains(all, "bos-upgrade-kernel") {
			t.Errorf("Main(%q) = %d, %q; want %d and the list of commands", tc.argv, code, all, tc.code)
		}
	}
}

// TestRunnersAreTheCommandList: the multi-call binary runs every command
// of the one list, and each has its own cmd/<name> main.
func TestRunnersAreTheCommandList(t *testing.T) {
	if len(runners) != len(layout.Commands) {
		t.Errorf("runners has %d commands, layout.Commands %d", len(runners), len(layout.Commands))
	}
	for _, c := range layout.Commands {
		if runners[c] == nil {
			t.Errorf("no runner for %s", c)
		}
		if _, err := os.Stat(filepath.Join("../../cmd", c, "main.go")); err != nil {
			t.Errorf("%s has no main of its own: %v", c, err)
		}
	}
}
