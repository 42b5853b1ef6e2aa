package apply

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/config"
	"github.com/bhojpur/os/internal/dcp"
)

// Files of the DCP service.
const (
	DCPService  = "etc/init.d/dcp"
	DCPSettings = "etc/bhojpur/dcp.conf"
	DCPExec     = "etc/bhojpur/dcp-exec"
	dcpRunlevel = "etc/runlevels/default"
)

// DCPBinaries are where an installed DCP is looked for, in order.
var DCPBinaries = []string{"bos/system/dcp/current/dcp", "usr/bin/dcp"}

func dcpInvocation(cfg *config.Config, n dcp.Node) dcp.Invocation {
	if n.Mode == "" {
		n.Mode = "local"
	}
	return dcp.For(cfg, n)
}

// dcpStep writes the DCP OpenRC service and its settings file; at runtime
// it restarts DCP when they changed.
//
// The settings file (0600: it holds the token) has one line per argv
// element ("arg VALUE") and per environment variable ("env NAME=VALUE").
// The service runs a tiny POSIX sh wrapper (dcp-exec) that reads the lines
// with `IFS= read -r`, appends args with `set -- "$@" "$value"` and sets
// variables with `export "$assignment"`: values are never parsed by a shell
// (no eval, no command_args, which OpenRC evals), so quotes, $, backticks,
// spaces and globs in the config reach DCP as they are. Values holding a
// line break or NUL cannot be carried and are refused.
type dcpStep struct {
	Invocation dcp.Invocation
	Restart    bool
}

func (s dcpStep) String() string {
	mode := "dcp"
	if len(s.Invocation.Argv) > 1 {
		mode += " " + s.Invocation.Argv[1]
	}
	return "DCP service (" + mode + ")"
}

// DCPSettingsFile renders the settings file of an invocation.
func DCPSettingsFile(inv dcp.Invocation) ([]byte, error) {
	if len(inv.Argv) == 0 {
		return nil, errors.New("dcp: empty argv")
	}
	var b strings.Builder
	b.WriteString("# Written by bos-config apply: the argv and environment of DCP, one per\n# line, read by /etc/bhojpur/dcp-exec without shell evaluation.\n")
	for i, a := range inv.Argv {
		if strings.ContainsAny(a, "\x00\n\r") {
			return nil, errors.Errorf("dcp argument %d holds a line break or NUL", i)
		}
		fmt.Fprintf(&b, "arg %s\n", a)
	}
	if err := checkEnv(inv.Env); err != nil {
		return nil, errors.Wrap(err, "dcp")
	}
	for _, k := range sortedKeys(inv.Env) {
		fmt.Fprintf(&b, "env %s=%s\n", k, inv.Env[k])
	}
	return []byte(b.String()), nil
}

// DCPExecScript is the wrapper that starts DCP from the settings file:
// dcp-exec [SETTINGS [BINARY]]. argv[0] of the settings ("dcp") is replaced
// by the installed binary.
const DCPExecScript = `#!/bin/sh
# Written by bos-config apply. Starts Bhojpur DCP exec-style with the argv
# and environment of /etc/bhojpur/dcp.conf: "arg VALUE" lines append VALUE to
# the argv, "env NAME=VALUE" lines export it. Nothing is evaluated.
set -eu
conf=${1:-/etc/bhojpur/dcp.conf}
bin=${2:-}
if [ -z "$bin" ]; then
	for b in /bos/system/dcp/current/dcp /usr/bin/dcp; do
		if [ -x "$b" ]; then
			bin=$b
			break
		fi
	done
fi
if [ -z "$bin" ]; then
	echo "dcp-exec: no DCP is installed" >&2
	exit 1
fi
first=1
set --
while IFS= read -r line; do
	case $line in
	"arg "*)
		if [ "$first" = 1 ]; then
			first=0
		else
			set -- "$@" "${line#arg }"
		fi
		;;
	"env "*) export "${line#env }" ;;
	"" | "#"*) ;;
	*)
		echo "dcp-exec: $conf: unknown line" >&2
		exit 1
		;;
	esac
done <"$conf"
exec "$bin" "$@"
`

// DCPServiceScript is the OpenRC service of DCP.
const DCPServiceScript = `#!/sbin/openrc-run
# Written by bos-config apply. DCP runs exec-style under supervise-daemon
# through /etc/bhojpur/dcp-exec, with the argv and environment of
# /etc/bhojpur/dcp.conf (see bos-config show --dcp).
description="Bhojpur DCP"
supervisor=supervise-daemon
command=/etc/bhojpur/dcp-exec
command_args=/etc/bhojpur/dcp.conf
pidfile=/run/dcp.pid
output_log=/var/log/dcp.log
error_log=/var/log/dcp.log
respawn_delay=5
respawn_max=0

depend() {
	need net
	use dns
	after firewall connman
}

start_pre() {
	if [ ! -x /bos/system/dcp/current/dcp ] && [ ! -x /usr/bin/dcp ]; then
		eerror "no DCP is installed"
		return 1
	fi
}
`

// DCPInstalled tells whether a DCP binary is installed in the root.
func DCPInstalled(t *Target) bool {
	for _, p := range DCPBinaries {
		if fi, err := t.FS.Stat(p); err == nil && fi.Mode().IsRegular() {
			return true
		}
	}
	return false
}

func (s dcpStep) Apply(ctx context.Context, t *Target) error {
	settings, err := DCPSettingsFile(s.Invocation)
	if err != nil {
		return err
	}
	changed := false
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{DCPExec, []byte(DCPExecScript), 0o755},
		{DCPSettings, settings, 0o600},
		{DCPService, []byte(DCPServiceScript), 0o755},
	} {
		c, err := t.writeFile(f.name, f.data, f.mode, 0, 0)
		if err != nil {
			return err
		}
		changed = changed || c
	}
	if !DCPInstalled(t) {
		t.logf("no DCP is installed")
		return nil
	}
	if err := t.enableDCP(); err != nil {
		return err
	}
	if !s.Restart || !changed {
		return nil
	}
	if !t.Live {
		t.skipped("rc-service dcp restart")
		return nil
	}
	if out, err := t.Runner.Run(ctx, nil, "rc-service", "dcp", "restart"); err != nil {
		return errors.Wrapf(err, "rc-service dcp restart: %s", strings.TrimSpace(string(out)))
	}
	t.logf("restarted dcp")
	return nil
}

// enableDCP adds DCP to the default runlevel when the root has one.
func (t *Target) enableDCP() error {
	if fi, err := t.FS.Stat(dcpRunlevel); err != nil || !fi.IsDir() {
		return nil
	}
	link := dcpRunlevel + "/dcp"
	if target, err := t.FS.Readlink(link); err == nil && target == "/"+DCPService {
		return nil
	}
	_ = t.FS.Remove(link)
	if err := t.FS.Symlink("/"+DCPService, link); err != nil {
		return errors.Wrapf(err, "add dcp to the default runlevel")
	}
	t.Writes++
	t.logf("added dcp to the default runlevel")
	return nil
}
