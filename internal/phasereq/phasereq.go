// Package phasereq runs the config's runtime phase on request, in the
// host's own context. The operator's node agent, in a pod, writes a
// request (layout.PhaseRequest); the host's bos-apply service (bos-config
// serve, started by init) runs `bos-config apply --phase runtime` and
// writes the outcome (layout.PhaseResult) for the request's id. The phase
// may restart services (dcp, connman): started from a pod they would run
// in its mount namespace and cgroup and die with it; started by the
// host's service they are the host's.
//
// Both files are replaced atomically. There is one asker per node (the
// node agent), so one request in flight: a request that replaces one not
// yet taken up is answered instead of it (its phase applies every change
// so far).
package phasereq

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-billy/v5/osfs"

	"github.com/bhojpur/os/internal/atomicfile"
	"github.com/bhojpur/os/internal/layout"
)

// MaxOutput bounds the phase's output kept in a result.
const MaxOutput = 16 << 10

// Result is the outcome of a request.
type Result struct {
	ID     string `json:"id"`
	OK     bool   `json:"ok"`
	Error  string `json:"error,omitempty"`
	Output string `json:"output,omitempty"`
	Took   string `json:"took"`
}

// Files are the request and result files under a root (the host's / as
// the caller sees it).
type Files struct{ Root string }

func (f Files) request() string { return filepath.Join(f.Root, layout.PhaseRequest) }
func (f Files) result() string  { return filepath.Join(f.Root, layout.PhaseResult) }

func (f Files) write(name string, data []byte) error {
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return atomicfile.Write(osfs.New(dir, osfs.WithBoundOS()), filepath.Base(name), data, 0o600)
}

func readSmall(name string, max int64) ([]byte, error) {
	fh, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return io.ReadAll(io.LimitReader(fh, max))
}

// Result reads the last result ("" ID if there is none).
func (f Files) Result() (Result, error) {
	var r Result
	b, err := readSmall(f.result(), 4*MaxOutput)
	if os.IsNotExist(err) {
		return r, nil
	}
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return Result{}, fmt.Errorf("%s: %v", f.result(), err)
	}
	return r, nil
}

// Ask requests a runtime phase as id and waits for its result, up to
// timeout.
func (f Files) Ask(ctx context.Context, id string, timeout time.Duration) (Result, error) {
	if strings.ContainsAny(id, "\n\x00") || id == "" {
		return Result{}, fmt.Errorf("phasereq: bad id %q", id)
	}
	if err := f.write(f.request(), []byte(id+"\n")); err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		r, err := f.Result()
		if err == nil && r.ID == id {
			return r, nil
		}
		select {
		case <-ctx.Done():
			return Result{}, fmt.Errorf("no answer from the host's bos-apply service within %s (rc-service bos-apply status on the node; releases before it have none)", timeout)
		case <-time.After(time.Second):
		}
	}
}

// Serve answers requests until ctx ends: every poll it reads the request,
// and for an id it has not answered it runs run and writes the result.
func (f Files) Serve(ctx context.Context, poll time.Duration, run func(context.Context) ([]byte, error), logf func(string, ...any)) error {
	last, err := f.Result()
	if err != nil {
		logf("%v: answering requests anew", err)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(poll):
		}
		b, err := readSmall(f.request(), 512)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			logf("read %s: %v", f.request(), err)
			continue
		}
		id := strings.TrimSpace(string(b))
		if id == "" || id == last.ID {
			continue
		}
		logf("request %s: the runtime phase", id)
		start := time.Now()
		out, err := run(ctx)
		r := Result{ID: id, OK: err == nil, Took: time.Since(start).Round(time.Millisecond).String()}
		if err != nil {
			r.Error = err.Error()
		}
		if len(out) > MaxOutput {
			out = append([]byte("..."), out[len(out)-MaxOutput:]...)
		}
		r.Output = string(out)
		js, _ := json.Marshal(r)
		if err := f.write(f.result(), js); err != nil {
			logf("write %s: %v", f.result(), err)
			continue
		}
		logf("request %s: %s in %s", id, map[bool]string{true: "done", false: "failed: " + r.Error}[r.OK], r.Took)
		last = r
	}
}
