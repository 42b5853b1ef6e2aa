package bosconfig

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/bhojpur/os/internal/cli"
	"github.com/bhojpur/os/internal/phasereq"
)

// ServeCmd is `bos-config serve`, the bos-apply service: it answers the
// requests of the operator's node agent with a runtime phase, run here,
// in the host's own context (see package phasereq).
type ServeCmd struct {
	Poll time.Duration `help:"How often the request file is looked at." default:"2s"`
}

// Run serves until SIGTERM.
func (c *ServeCmd) Run(env *cli.Env) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f := phasereq.Files{Root: env.Root}
	env.Log.Printf("answering runtime phase requests (%s)", f.Root)
	return f.Serve(ctx, c.Poll, func(ctx context.Context) ([]byte, error) {
		var out bytes.Buffer
		code := Main(Name, []string{"--root", env.Root, "apply", "--phase", "runtime"}, cli.IO{Stdin: bytes.NewReader(nil), Stdout: &out, Stderr: &out})
		if code != 0 {
			return out.Bytes(), fmt.Errorf("bos-config apply --phase runtime: exit %d", code)
		}
		return out.Bytes(), nil
	}, env.Log.Printf)
}
