package bosconfig

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/apply"
	"github.com/bhojpur/os/internal/atomicfile"
	"github.com/bhojpur/os/internal/cli"
	"github.com/bhojpur/os/internal/config"
	"github.com/bhojpur/os/internal/datasource"
	"github.com/bhojpur/os/internal/exitcode"
	"github.com/bhojpur/os/internal/fetch"
	"github.com/bhojpur/os/internal/layout"
	"github.com/bhojpur/os/internal/logger"
	"github.com/bhojpur/os/internal/version"
)

// ApplyCmd is `bos-config apply --phase initrd|boot|runtime`.
type ApplyCmd struct {
	Phase     string `enum:"initrd,boot,runtime" required:"" help:"Phase to apply: initrd (before the root is mounted), boot (before services), runtime (after the network)." placeholder:"PHASE"`
	GitHubURL string `name:"github-url" default:"https://github.com" env:"BOS_GITHUB_URL" help:"Key service for github:USER SSH keys (USER.keys under it)." placeholder:"URL"`
	GitLabURL string `name:"gitlab-url" default:"https://gitlab.com" env:"BOS_GITLAB_URL" help:"Key service for gitlab:USER SSH keys (USER.keys under it)." placeholder:"URL"`

	// Target, when set, replaces the production seams (tests).
	Target *apply.Target `kong:"-"`
	// Probe runs the data sources at runtime. SEAM for the lead: wire
	// datasource.Probe in probeDataSources below (or set this field).
	Probe func(ctx context.Context, t *apply.Target, cfg *config.Config) error `kong:"-"`
}

// Run applies the phase, then prints the phase marker the image's OpenRC
// services wait for on the console.
func (c *ApplyCmd) Run(env *cli.Env) error {
	phase, err := apply.ParsePhase(c.Phase)
	if err != nil {
		return errors.Wrap(exitcode.ErrUsage, err.Error())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	t := c.Target
	if t == nil {
		t = apply.NewTarget(env.Root, env.FS, env.Log)
	}
	if t.GitHubURL == "" {
		t.GitHubURL = c.GitHubURL
	}
	if t.GitLabURL == "" {
		t.GitLabURL = c.GitLabURL
	}
	if t.Get == nil {
		t.Get = KeyGetter(env.Log)
	}
	probe := c.Probe
	if probe == nil {
		probe = probeDataSources
	}
	var problems int
	load := func() (apply.Input, error) {
		l, err := config.Load(config.Options{Root: env.Root, FS: env.FS})
		if err != nil {
			return apply.Input{}, err
		}
		l.Report(env.Stderr)
		problems = len(l.Problems)
		cfg := l.Config
		return apply.Input{Config: &cfg, Script: l.Script, Node: apply.ReadNode(env.FS, version.Version), Refused: l.Refused()}, nil
	}
	err = apply.Apply(ctx, t, apply.Options{Phase: phase, Version: version.Version, Load: load, Probe: probe})
	if err == nil && problems > 0 {
		err = errors.Errorf("the config has %d problem(s); see above (refused values were left out, the rest was applied)", problems)
	}
	// The stamp tells OpenRC's bos-boot service that init ran the boot
	// phase already this boot (images/overlay/usr/lib/bos/inittab).
	outcome := "done\n"
	if err != nil {
		outcome = "failed\n"
	}
	if werr := atomicfile.Write(env.FS, PhaseStamp(phase), []byte(outcome), 0o644); werr != nil {
		env.Log.Printf("warning: %v", werr)
	}
	fmt.Fprintf(env.Stdout, "bos: phase %s done\n", phase)
	return err
}

// PhaseStamp is the file bos-config apply writes once it has applied a
// phase during this boot (on the /run tmpfs): its outcome, done or failed.
func PhaseStamp(p apply.Phase) string { return layout.PhasesDir + "/" + string(p) }

// KeyGetter is how bos-config apply fetches key lists (github:USER, https
// URLs): the one downloader, with three tries of at most 10 s each, 1 s
// apart and doubling, TLS verified against the system roots.
func KeyGetter(log logger.Logger) func(ctx context.Context, url string, limit int64) ([]byte, error) {
	f := &fetch.Fetcher{Retry: fetch.Retry{Attempts: 3, Base: time.Second, Timeout: 10 * time.Second}, Log: log.Printf}
	return func(ctx context.Context, url string, limit int64) ([]byte, error) {
		body, _, err := f.Get(ctx, url, limit)
		return body, err
	}
}

// probeDataSources runs the data sources of the config at runtime; the
// BOS_DATASOURCE_URL_<NAME> overrides are read here, at the edge.
// apply.Apply reloads the config after it returns (userdata under
// run/config is a config source).
func probeDataSources(ctx context.Context, t *apply.Target, cfg *config.Config) error {
	res, err := datasource.Probe(ctx, t.FS, cfg.Bos.DataSources, datasource.Options{URLs: datasource.URLsFromEnv(os.Environ()), Log: t.Log})
	if err != nil {
		return err
	}
	for _, w := range res.Warnings {
		t.Log.Printf("data sources: %s", w)
	}
	if res.Source != "" {
		t.Log.Printf("data sources: using %s", res.Source)
	}
	return nil
}
