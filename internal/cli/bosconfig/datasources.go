package bosconfig

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/cli"
	"github.com/bhojpur/os/internal/config"
	"github.com/bhojpur/os/internal/datasource"
	"github.com/bhojpur/os/internal/exitcode"
)

// DatasourcesCmd probes the cloud data sources and writes what the chosen
// one gives under the root: run/config/userdata, run/config/ssh/authorized_keys
// and run/config/local_hostname. The runtime phase runs the same probe
// before applying the config.
type DatasourcesCmd struct {
	Source  []string      `name:"source" short:"s" help:"Data source to probe, in order; repeatable (aws, gcp, digitalocean, hetzner, openstack, packet, scaleway, vultr, cdrom). Default: the config's bos.data_sources." placeholder:"NAME"`
	Timeout time.Duration `help:"Bound on the whole probe." default:"30s" env:"BOS_DATASOURCE_TIMEOUT"`
	Attempt time.Duration `name:"attempt-timeout" help:"Bound on one request to a metadata service (timeouts and 5xx are tried 3 times)." default:"2s"`
}

// Validate checks the flags.
func (c *DatasourcesCmd) Validate() error {
	if c.Timeout <= 0 || c.Attempt <= 0 {
		return errors.Wrap(exitcode.ErrUsage, "--timeout and --attempt-timeout must be positive")
	}
	return nil
}

// Run probes. A source that is absent or fails is a warning, never an
// error: only an unknown name or a failure to write the files is.
func (c *DatasourcesCmd) Run(env *cli.Env) error {
	names, fromFlag := c.Source, len(c.Source) > 0
	if !fromFlag {
		l, err := config.Load(config.Options{Root: env.Root, FS: env.FS})
		if err != nil {
			return err
		}
		for _, w := range config.SortedIssues(l.Warnings) {
			fmt.Fprintf(env.Stderr, "warning: %s\n", w)
		}
		var refused error
		for _, p := range config.SortedIssues(l.Problems) {
			if p.Key == "bos.data_sources" || strings.HasPrefix(p.Key, "bos.data_sources[") {
				// left out of the config: say so rather than probe the rest
				refused = errors.Wrapf(exitcode.ErrBadInput, "%s", p)
				continue
			}
			fmt.Fprintf(env.Stderr, "warning: %s\n", p)
		}
		if refused != nil {
			return refused
		}
		names = l.Config.Bos.DataSources
	}
	if len(names) == 0 {
		fmt.Fprintln(env.Stdout, "no data sources to probe (bos.data_sources is empty)")
		return nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := datasource.Options{
		URLs:           datasource.URLsFromEnv(os.Environ()),
		Timeout:        c.Timeout,
		AttemptTimeout: c.Attempt,
		Log:            env.Log,
	}
	res, err := datasource.Probe(ctx, env.FS, names, opts)
	if errors.Is(err, datasource.ErrUnknownSource) {
		if fromFlag {
			return errors.Wrap(exitcode.ErrUsage, err.Error())
		}
		return errors.Wrapf(exitcode.ErrBadInput, "bos.data_sources: %v", err)
	}
	if res != nil {
		report(env, res)
	}
	if err != nil {
		return errors.Wrap(exitcode.ErrDisk, err.Error())
	}
	return nil
}

// report prints what the probe found, one line per fact.
func report(env *cli.Env, res *datasource.Result) {
	for _, o := range res.Outcomes {
		fmt.Fprintf(env.Stdout, "%-13s %s", o.Name+":", o.State)
		if o.Took > 0 {
			fmt.Fprintf(env.Stdout, " (%v)", o.Took.Round(time.Millisecond))
		}
		fmt.Fprintln(env.Stdout)
	}
	if res.Source == "" {
		fmt.Fprintln(env.Stdout, "no data source gave userdata, a hostname or SSH keys; nothing written")
		return
	}
	fmt.Fprintf(env.Stdout, "source: %s\n", res.Source)
	for _, p := range res.Written {
		fmt.Fprintf(env.Stdout, "wrote %s\n", path.Join("/", p))
	}
	for _, p := range res.Removed {
		fmt.Fprintf(env.Stdout, "removed stale %s\n", path.Join("/", p))
	}
	if n := len(res.Warnings); n > 0 {
		fmt.Fprintf(env.Stdout, "%d warnings (logged above)\n", n)
	}
}
