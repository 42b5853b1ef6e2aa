// Package apply applies the Bhojpur OS config to a root, one phase at a
// time, in boot order: initrd (in bos-init, on the new root before the
// switch to it), boot (early in the system's boot) and runtime (once the
// system is up, after the cloud data sources). Every phase writes files,
// the password, the hostname, modules, sysctls and the environment, and
// runs its own commands (init_cmd, boot_cmd, run_cmd); SSH keys, connman
// and DCP's settings wait for the boot phase, key lists fetched from a URL
// and the userdata script for the runtime phase (see Plan).
//
// A phase is planned first: Plan turns the config into an ordered list of
// steps (values with String and Apply), so tests can diff the plan without
// running it. Run then attempts every step, collects the failures and
// summarises them. Steps are idempotent: they compare bytes before writing,
// so applying a phase twice changes nothing the second time. All file writes
// go through one atomic helper (writeFile). Actions that are not files
// (hostname syscall, module loading, commands, service restarts) run only
// when the target root is "/", and are listed as skipped otherwise.
package apply

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-billy/v5"
	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/account"
	"github.com/bhojpur/os/internal/config"
	"github.com/bhojpur/os/internal/dcp"
	"github.com/bhojpur/os/internal/execrun"
	"github.com/bhojpur/os/internal/logger"
)

// Phase is one of the three apply phases.
type Phase string

// The phases, in boot order.
const (
	Initrd  Phase = "initrd"
	Boot    Phase = "boot"
	Runtime Phase = "runtime"
)

// Phases lists the valid phases.
var Phases = []Phase{Initrd, Boot, Runtime}

// ParsePhase checks a phase name.
func ParsePhase(s string) (Phase, error) {
	for _, p := range Phases {
		if string(p) == s {
			return p, nil
		}
	}
	return "", errors.Errorf("unknown phase %q (want initrd, boot or runtime)", s)
}

// Step is one action of a phase.
type Step interface {
	// String names the step for logs and plans; it never shows a secret.
	String() string
	// Apply performs the step on the target; it is idempotent.
	Apply(ctx context.Context, t *Target) error
}

// Host is the syscall seam for the hostname.
type Host interface {
	Hostname() (string, error)
	Sethostname(name string) error
}

// ModuleLoader loads a kernel module (and, through modules.dep, its
// dependencies) with its parameters.
type ModuleLoader interface {
	Load(name, params string) error
}

// Chowner changes the owner of a path inside the target root without
// following a final symlink. memfs has no Chown, so tests record the calls.
type Chowner interface {
	Lchown(name string, uid, gid int) error
}

// Target is where and how a phase is applied.
type Target struct {
	FS   billy.Filesystem // rooted at Root
	Root string           // absolute path of the root, for messages
	// Live is true when Root is "/": non-file actions are run. Otherwise
	// they are logged as skipped.
	Live bool
	Log  logger.Logger

	Runner  execrun.Runner // the commands, scripts and rc-service
	Host    Host
	Modules ModuleLoader
	Chown   Chowner

	// Env is the base environment of commands (bos.environment is added).
	Env []string

	// Key services for github:USER and gitlab:USER, without trailing slash.
	GitHubURL, GitLabURL string
	// Get fetches a small document (a key list) of at most limit bytes,
	// retrying what may pass. Nil where there is no network: the initrd's
	// bos-init links no HTTP client (its binary is 2.7 MB smaller, and
	// GRUB reads it from the media at every boot).
	Get func(ctx context.Context, url string, limit int64) ([]byte, error)

	// Salt returns a crypt salt; default account.NewSalt. Tests fix it.
	Salt func() (string, error)

	// Writes counts files written, chmod-ed or chown-ed: zero on a
	// second run of the same phase.
	Writes int
}

// NewTarget is the production target of a run on root (through fs): the
// root's file system, os/exec, the real hostname syscall, the kernel's
// module loader and lchown(2). Non-file actions run only when root is "/".
func NewTarget(root string, fs billy.Filesystem, log logger.Logger) *Target {
	root = filepath.Clean(root)
	return &Target{
		FS:      fs,
		Root:    root,
		Live:    root == "/",
		Log:     log,
		Runner:  execrun.Exec{},
		Host:    SysHost{},
		Modules: &KernelModules{Root: root},
		Chown:   RootChowner{Root: root},
	}
}

func (t *Target) logf(format string, args ...any) {
	if t.Log != nil {
		t.Log.Printf(format, args...)
	}
}

// skipped lists an action that is not run because the root is not "/".
func (t *Target) skipped(format string, args ...any) {
	t.logf("skipped (--root %s is not /): %s", t.Root, fmt.Sprintf(format, args...))
}

// Input is what a phase applies: the merged config and the extras that
// come with it.
type Input struct {
	Config *config.Config
	// Script is the path (inside the root) of a userdata "#!" script, run
	// at runtime; empty if none.
	Script string
	// Node is what the DCP node labels say: boot mode, OS version and a
	// failed trial boot.
	Node dcp.Node
	// Refused are the key paths of the values the loader refused
	// (config.Loaded.Refused), already left out of Config. When one of
	// them decides how DCP runs, DCP's settings are left as they were.
	Refused []string
}

// Plan returns the steps of a phase, in order: write_files, the bhojpur
// user (password, SSH keys), hostname, modules, sysctls, connman (DNS, NTP,
// wifi), environment, DCP, then the phase's commands and, at runtime, the
// userdata script.
func Plan(phase Phase, in Input) []Step {
	cfg := in.Config
	if cfg == nil {
		cfg = &config.Config{}
	}
	b := cfg.Bos
	boot, runtime := phase == Boot, phase == Runtime
	var steps []Step
	for _, f := range cfg.WriteFiles {
		steps = append(steps, writeFileStep{File: f})
	}
	steps = append(steps, passwordStep{User: DefaultUser, Password: b.Password})
	if boot || runtime {
		steps = append(steps, authorizedKeysStep{User: DefaultUser, Keys: cfg.SSHAuthorizedKeys, Fetch: runtime})
	}
	steps = append(steps, hostnameStep{Name: cfg.Hostname})
	for _, m := range b.Modules {
		if strings.TrimSpace(m) != "" {
			steps = append(steps, moduleStep{Spec: m})
		}
	}
	for _, k := range sortedKeys(b.Sysctls) {
		steps = append(steps, sysctlStep{Key: k, Value: b.Sysctls[k]})
	}
	if boot || runtime {
		if len(b.DNSNameservers) > 0 || len(b.NTPServers) > 0 {
			steps = append(steps, connmanStep{DNS: b.DNSNameservers, NTP: b.NTPServers})
		}
		steps = append(steps, wifiStep{Networks: b.Wifi})
	}
	if len(b.Environment) > 0 {
		steps = append(steps, environmentStep{Env: b.Environment})
	}
	if boot || runtime {
		if key, held := dcpHeldBy(in.Refused); held {
			steps = append(steps, dcpHeldStep{Key: key})
		} else {
			steps = append(steps, dcpStep{Invocation: dcpInvocation(cfg, in.Node), Restart: runtime, Version: in.Node.Version})
		}
	}
	var cmds []string
	key := ""
	switch phase {
	case Initrd:
		cmds, key = cfg.InitCmd, "init_cmd"
	case Boot:
		cmds, key = cfg.BootCmd, "boot_cmd"
	case Runtime:
		cmds, key = cfg.RunCmd, "run_cmd"
	}
	for i, c := range cmds {
		steps = append(steps, commandStep{Key: key, Index: i, Command: c, Env: b.Environment})
	}
	if runtime && in.Script != "" {
		steps = append(steps, scriptStep{Path: in.Script, Env: b.Environment})
	}
	return steps
}

// Failure is a step that failed.
type Failure struct {
	Step string
	Err  error
}

// PhaseError summarises the failed steps of a phase.
type PhaseError struct {
	Phase    Phase
	Steps    int
	Failures []Failure
}

func (e *PhaseError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "phase %s: %d of %d steps failed:", e.Phase, len(e.Failures), e.Steps)
	for _, f := range e.Failures {
		fmt.Fprintf(&b, "\n  %s: %v", f.Step, f.Err)
	}
	return b.String()
}

// Run attempts every step in order and returns a *PhaseError naming the
// failed ones, or nil.
func Run(ctx context.Context, t *Target, phase Phase, steps []Step) error {
	t.defaults()
	perr := &PhaseError{Phase: phase, Steps: len(steps)}
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			perr.Failures = append(perr.Failures, Failure{Step: s.String(), Err: err})
			continue
		}
		if err := s.Apply(ctx, t); err != nil {
			t.logf("error: %s: %v", s, err)
			perr.Failures = append(perr.Failures, Failure{Step: s.String(), Err: err})
		}
	}
	if len(perr.Failures) > 0 {
		return perr
	}
	return nil
}

// Options are the inputs of Apply.
type Options struct {
	Phase   Phase
	Version string
	// Load loads the merged config. It is called again after the data
	// sources were probed, since cloud userdata is a config source.
	Load func() (Input, error)
	// Probe runs the data sources (bos.data_sources) at runtime, before
	// the runtime steps. SEAM: the lead wires datasource.Probe here; nil
	// means no data sources are probed.
	Probe func(ctx context.Context, t *Target, cfg *config.Config) error
}

// Apply loads the config, probes the data sources at runtime (then reloads
// the config), plans the phase and runs it.
func Apply(ctx context.Context, t *Target, o Options) error {
	t.defaults()
	in, err := o.Load()
	if err != nil {
		return errors.Wrap(err, "load config")
	}
	var probeErr error
	if o.Phase == Runtime && o.Probe != nil && in.Config != nil && len(in.Config.Bos.DataSources) > 0 {
		if probeErr = o.Probe(ctx, t, in.Config); probeErr != nil {
			t.logf("error: data sources %s: %v", strings.Join(in.Config.Bos.DataSources, ", "), probeErr)
		}
		if in, err = o.Load(); err != nil {
			return errors.Wrap(err, "reload config after probing the data sources")
		}
	}
	if in.Node == (dcp.Node{}) {
		in.Node = ReadNode(t.FS, o.Version)
	}
	steps := Plan(o.Phase, in)
	err = Run(ctx, t, o.Phase, steps)
	if probeErr != nil {
		var perr *PhaseError
		if !errors.As(err, &perr) {
			perr = &PhaseError{Phase: o.Phase}
		}
		perr.Steps = len(steps) + 1
		perr.Failures = append([]Failure{{Step: "data sources", Err: probeErr}}, perr.Failures...)
		return perr
	}
	return err
}

// ReadNode reads what bos-init recorded under run/bos for the DCP node
// labels: the boot mode ("local" when absent), the running OS version
// (version when absent) and the version whose trial boot failed.
func ReadNode(fs billy.Filesystem, version string) dcp.Node {
	return dcp.Node{
		Mode:     runFile(fs, "run/bos/mode", "local"),
		Version:  runFile(fs, "run/bos/version", version),
		Fallback: runFile(fs, "run/bos/fallback", ""),
	}
}

// runFile reads a one-line file that bos-init wrote, or gives def.
func runFile(fs billy.Filesystem, name, def string) string {
	data, err := readFile(fs, name)
	if err != nil {
		return def
	}
	if v := strings.TrimSpace(string(data)); v != "" {
		return v
	}
	return def
}

func (t *Target) defaults() {
	if t.GitHubURL == "" {
		t.GitHubURL = "https://github.com"
	}
	if t.GitLabURL == "" {
		t.GitLabURL = "https://gitlab.com"
	}
	if t.Env == nil {
		t.Env = os.Environ()
	}
	if t.Salt == nil {
		t.Salt = account.NewSalt
	}
}
