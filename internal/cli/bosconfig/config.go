// Package app holds the command-line structs of the bos-* commands: flags,
// help and the glue from a parsed command line to the internal packages.
package bosconfig

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/pkg/errors"
	"gopkg.in/yaml.v3"

	"github.com/bhojpur/os/internal/apply"
	"github.com/bhojpur/os/internal/cli"
	"github.com/bhojpur/os/internal/config"
	"github.com/bhojpur/os/internal/dcp"
	"github.com/bhojpur/os/internal/exitcode"
	"github.com/bhojpur/os/internal/version"
)

// Name is the command's name.
const Name = "bos-config"

// Main runs bos-config on args and returns its exit code.
func Main(name string, args []string, streams cli.IO) int {
	return cli.Run(name, Description, &CLI{}, args, streams)
}

// Description is bos-config's --help text.
const Description = `Load, merge, validate, show and apply the Bhojpur OS config.

Sources, lowest priority first (paths under --root): /bos/system/config.yaml,
the kernel cmdline (/proc/cmdline, bos.* words), /var/lib/bhojpur/os/config.yaml,
cloud data under /run/config, /var/lib/bhojpur/os/config.d/* in lexical order.`

// CLI is bos-config's command line.
type CLI struct {
	cli.Globals
	Show        ShowCmd        `cmd:"" help:"Print the merged effective config."`
	Validate    ValidateCmd    `cmd:"" help:"Check config files (or, with none, the merged config); exit 1 with FILE:LINE:COL messages when invalid."`
	Schema      SchemaCmd      `cmd:"" help:"Print the JSON Schema of config.yaml (for editors, through yaml-language-server)."`
	Apply       ApplyCmd       `cmd:"" help:"Apply one phase of the config: initrd (before the root is mounted), boot (before services), runtime (after the network)."`
	Datasources DatasourcesCmd `cmd:"" help:"Probe the cloud data sources (bos.data_sources) and write /run/config/{userdata,ssh/authorized_keys,local_hostname}."`
	Serve       ServeCmd       `cmd:"" help:"Run the runtime phase on request (the bos-apply service: the operator's node agent asks through /run/bos/phase.request)."`
}

// ShowCmd prints the effective config.
type ShowCmd struct {
	Output  string `short:"o" enum:"yaml,json" default:"yaml" help:"Output format: yaml or json."`
	Sources bool   `help:"Also show which source set each value."`
	DCP     bool   `name:"dcp" help:"Print the DCP invocation {argv, env} instead of the config."`
}

// Run shows the config.
func (c *ShowCmd) Run(env *cli.Env) error {
	l, err := config.Load(config.Options{Root: env.Root, FS: env.FS})
	if err != nil {
		return needsRoot(env, "show", err)
	}
	l.Report(env.Stderr)
	var out []byte
	switch {
	case c.DCP:
		inv := dcp.For(&l.Config, apply.ReadNode(env.FS, version.Version))
		if c.Output == "json" {
			out, err = json.MarshalIndent(inv, "", "  ")
			out = append(out, '\n')
		} else {
			out, err = yamlOf(inv)
		}
	case c.Output == "json":
		out, err = l.JSON(c.Sources)
	default:
		out, err = l.YAML(c.Sources)
	}
	if err != nil {
		return err
	}
	if _, err := env.Stdout.Write(out); err != nil {
		return errors.Wrap(err, "write output")
	}
	if len(l.Problems) > 0 {
		return &exitcode.Error{Code: exitcode.Failure, Err: errors.Errorf("the config has %d problem(s); see above", len(l.Problems))}
	}
	return nil
}

// needsRoot turns a config source that a user other than root may not read
// (/bos/system/config.yaml is 0600) into one line that says so and how to
// run the command, exit 1; other errors pass.
func needsRoot(env *cli.Env, sub string, err error) error {
	if !errors.Is(err, fs.ErrPermission) || os.Geteuid() == 0 {
		return err
	}
	fmt.Fprintf(env.Stderr, "bos-config %s: needs root (run: sudo bos-config %s)\n", sub, sub)
	return &exitcode.Error{Code: exitcode.Failure}
}

// ValidateCmd checks config files.
type ValidateCmd struct {
	Files []string `arg:"" optional:"" help:"Files to check ('-' for standard input); none: the merged config of --root." placeholder:"FILE"`
}

// Run validates.
func (c *ValidateCmd) Run(env *cli.Env) error {
	bad := 0
	if len(c.Files) == 0 {
		l, err := config.Load(config.Options{Root: env.Root, FS: env.FS})
		if err != nil {
			return needsRoot(env, "validate", err)
		}
		l.Report(env.Stderr)
		bad = len(l.Problems)
	}
	for _, name := range c.Files {
		var r io.Reader = env.Stdin
		display := "<stdin>"
		if name != "-" {
			f, err := os.Open(name)
			if err != nil {
				return errors.Wrapf(exitcode.ErrBadInput, "%v", err)
			}
			defer f.Close()
			r, display = f, name
		}
		l, err := config.LoadFile(display, r)
		if err != nil {
			return err
		}
		l.Report(env.Stderr)
		bad += len(l.Problems)
	}
	if bad > 0 {
		return &exitcode.Error{Code: exitcode.Failure, Err: errors.Errorf("%d problem(s)", bad)}
	}
	fmt.Fprintln(env.Stdout, "valid")
	return nil
}

// SchemaCmd prints the JSON Schema.
type SchemaCmd struct{}

// Run prints the schema.
func (c *SchemaCmd) Run(env *cli.Env) error {
	s, err := config.Schema()
	if err != nil {
		return err
	}
	_, err = env.Stdout.Write(s)
	return errors.Wrap(err, "write schema")
}

func yamlOf(v any) ([]byte, error) {
	out, err := yaml.Marshal(v)
	return out, errors.Wrap(err, "encode YAML")
}
