package apply

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"strings"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/config"
	"github.com/bhojpur/os/internal/dcp"
	"github.com/bhojpur/os/internal/operatormanifest"
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
// with `IFS= read -r` and execs `env NAME=VALUE... DCP ARGS...`, each
// element appended with `set -- "$@" "$value"`: values are never parsed by
// a shell (no eval, no command_args, which OpenRC evals), so quotes, $,
// backticks, spaces and globs in the config reach DCP as they are. No line
// sets a variable of the wrapper itself, so a bos.environment name such as
// bin or PATH cannot change which program it runs. Values holding a line
// break or NUL cannot be carried and are refused.
//
// On a server it also writes the operator's manifest for this release
// (operatormanifest.Manifest) into the server's manifests directory, on
// every boot: the seeded /var of an upgraded node would keep the old one.
type dcpStep struct {
	Invocation dcp.Invocation
	Restart    bool
	Version    string // the running release: the operator image's tag
}

func (s dcpStep) String() string {
	mode := "dcp"
	if len(s.Invocation.Argv) > 1 {
		mode += " " + s.Invocation.Argv[1]
	}
	return "DCP service (" + mode + ")"
}

// dcpHeldBy tells whether a refused key decides how DCP runs: its role and
// server (dcp_args, server_url) or its credentials (token), or a source
// that was refused whole (key "") and may have set them. Leaving such a
// value out would start DCP differently from what the config meant, for
// example as a server of its own instead of an agent.
func dcpHeldBy(refused []string) (string, bool) {
	for _, k := range refused {
		switch {
		case k == "", k == "bos", k == "bos.dcp_args", strings.HasPrefix(k, "bos.dcp_args["), k == "bos.server_url", k == "bos.token":
			return k, true
		}
	}
	return "", false
}

// dcpHeldStep stands for the DCP step when DCP's settings are held: it
// writes nothing and fails, so the phase says why.
type dcpHeldStep struct{ Key string }

func (s dcpHeldStep) String() string { return "DCP service (left as it was)" }

func (s dcpHeldStep) Apply(ctx context.Context, t *Target) error {
	what := s.Key + " was refused"
	if s.Key == "" {
		what = "a config source was refused whole"
	}
	return errors.Errorf("%s: DCP's settings were left as they were", what)
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
// by the installed binary. The image ships it too (images/rootfs.sh), so
// that a boot with the default config writes nothing under /etc/init.d
// and OpenRC's dependency cache, built with the image, stays valid.
//
//go:embed scripts/dcp-exec
var DCPExecScript string

// DCPServiceScript is the OpenRC service of DCP (in the image too).
//
//go:embed scripts/dcp.initd
var DCPServiceScript string

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
	if err := s.writeOperator(t); err != nil {
		return err
	}
	if !s.Restart || !changed {
		return nil
	}
	if !t.Live {
		t.skipped("rc-service dcp restart")
		return nil
	}
	if _, err := t.Runner.Run(ctx, command(nil, "rc-service", "dcp", "restart")); err != nil {
		return err // names the command, with its output
	}
	t.logf("restarted dcp")
	return nil
}

// OldControllerManifest is the system-upgrade-controller's manifest that
// releases before the operator shipped (its image could not be pulled):
// the operator's replaces it.
const OldControllerManifest = "system-upgrade-controller.yaml"

// writeOperator writes the operator's manifest on a server (dcp server,
// its --data-dir or the default) and removes the old controller's.
func (s dcpStep) writeOperator(t *Target) error {
	argv := s.Invocation.Argv
	if len(argv) < 2 || argv[1] != "server" || s.Version == "" {
		return nil
	}
	data := "var/lib/bhojpur/dcp"
	for i, a := range argv {
		switch {
		case (a == "--data-dir" || a == "-d") && i+1 < len(argv):
			data = argv[i+1]
		case strings.HasPrefix(a, "--data-dir="):
			data = strings.TrimPrefix(a, "--data-dir=")
		}
	}
	dir := strings.TrimPrefix(data, "/") + "/server/manifests"
	m, err := operatormanifest.Manifest(s.Version)
	if err != nil {
		return err
	}
	if err := t.FS.MkdirAll(dir, 0o700); err != nil {
		return errors.Wrapf(err, "mkdir %s", dir)
	}
	if _, err := t.writeFile(dir+"/"+operatormanifest.ManifestFile, m, 0o600, 0, 0); err != nil {
		return err
	}
	old := dir + "/" + OldControllerManifest
	if _, err := t.FS.Lstat(old); err == nil {
		if err := t.FS.Remove(old); err != nil {
			return errors.Wrapf(err, "remove %s", old)
		}
		t.Writes++
		t.logf("removed %s: the operator replaces it", old)
	}
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
