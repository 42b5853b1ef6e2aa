package datasource

import (
	"bytes"
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-billy/v5"
	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/userdata"
)

// Paths written under the target root.
const (
	UserdataPath       = "run/config/userdata"
	AuthorizedKeysPath = "run/config/ssh/authorized_keys"
	HostnamePath       = "run/config/local_hostname"
)

// Outcome is what one provider did during a probe.
type Outcome struct {
	Name string
	// State is "userdata", "metadata only", "empty", "unavailable",
	// "error", "timeout" or "not needed" (a provider earlier in the list
	// already gave userdata, or the probe stopped before asking it).
	State string
	Err   error
	Took  time.Duration
}

// Result says what a probe found and wrote.
type Result struct {
	// Source is the provider whose data was written; "" when none gave any.
	Source   string
	Userdata userdata.Kind
	Hostname string
	SSHKeys  int
	Written  []string // paths under the root, written
	Removed  []string // stale paths under the root, removed
	Warnings []string
	Outcomes []Outcome
}

// Probe asks the named providers for their data and writes the chosen
// one's under fsys (the target's /): run/config/userdata (mode 0600),
// run/config/ssh/authorized_keys and run/config/local_hostname.
//
// The chosen provider is the first in the list that gives userdata; when
// none does, the first that gives a hostname or SSH keys. All providers are
// asked at once, so a provider that hangs costs no more than opts.Timeout,
// which bounds the whole probe; the answers are taken in list order, and
// the probe stops as soon as the choice is made.
//
// An unknown name is an error (ErrUnknownSource) before anything is asked.
// A provider that fails is a warning: the probe, and the boot, go on.
// Errors returned are about names and about writing the files.
func Probe(ctx context.Context, fsys billy.Filesystem, names []string, opts Options) (*Result, error) {
	opts = opts.withDefaults()
	if opts.Devices == nil {
		opts.Devices = BlockDevices{FS: fsys}
	}
	var ps []Provider
	seen := map[string]bool{}
	for _, n := range names {
		p, err := New(n, opts)
		if err != nil {
			return nil, err
		}
		if seen[p.Name()] {
			continue
		}
		seen[p.Name()] = true
		ps = append(ps, p)
	}
	res := &Result{}
	if len(ps) == 0 {
		opts.Log.Printf("datasource: no data sources to probe")
		return res, nil
	}
	chosen, data := choose(ctx, ps, opts, res)
	if chosen == "" {
		opts.Log.Printf("datasource: no data source gave userdata, a hostname or SSH keys")
		return res, nil
	}
	res.Source = chosen
	if err := write(fsys, data, opts, res); err != nil {
		return res, err
	}
	return res, nil
}

// stopGrace is how long a probe waits for cancelled providers to stop.
const stopGrace = 200 * time.Millisecond

type answer struct {
	data *Data
	err  error
	took time.Duration
}

// fetchSafely is p.Fetch with a panic turned into the provider's error: a
// provider runs in a goroutine of bos-init (PID 1) too, where a panic
// would end the boot (the kernel panics when PID 1 dies).
func fetchSafely(ctx context.Context, p Provider) (d *Data, err error) {
	defer func() {
		if r := recover(); r != nil {
			d, err = nil, fmt.Errorf("%s: panic: %v\n%s", p.Name(), r, debug.Stack())
		}
	}()
	return p.Fetch(ctx)
}

// choose runs every provider at once and picks, in list order, the first
// with userdata, else the first with any data.
func choose(ctx context.Context, ps []Provider, opts Options, res *Result) (string, *Data) {
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	start := time.Now()
	answers := make([]chan answer, len(ps))
	var wg sync.WaitGroup
	for i, p := range ps {
		answers[i] = make(chan answer, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.Now()
			d, err := fetchSafely(ctx, p)
			answers[i] <- answer{data: d, err: err, took: time.Since(t)}
		}()
	}
	// Once choose is done, cancel the rest and let them stop. Network
	// requests stop at once; a read from a stuck device cannot be cut
	// short, and the bound matters more than waiting for it: after a
	// short grace it is left to finish on its own (it writes nothing).
	defer func() {
		cancel()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		t := time.NewTimer(stopGrace)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			opts.Log.Printf("datasource: not waiting for a provider that is still reading a device")
		}
	}()

	fallback, fallbackData := "", (*Data)(nil)
	for i, p := range ps {
		name := p.Name()
		var a answer
		select {
		case a = <-answers[i]:
		case <-ctx.Done():
			select {
			case a = <-answers[i]:
			default:
				a = answer{err: &boundError{what: fmt.Sprintf("no answer within the probe's bound of %v", opts.Timeout)}, took: time.Since(start)}
			}
		}
		o := Outcome{Name: name, Err: a.err, Took: a.took}
		if a.err == nil && a.data != nil && len(bytes.TrimSpace(a.data.UserData)) == 0 {
			a.data.UserData = nil
		}
		switch {
		case isBound(a.err):
			o.State = "timeout"
			opts.Log.Printf("datasource: %s: %v", name, a.err)
		case errors.Is(a.err, ErrUnavailable):
			o.State = "unavailable"
			opts.Log.Printf("datasource: %s: %v", name, a.err)
		case a.err != nil:
			o.State = "error"
			warn(res, opts, "datasource: %s: %v", name, a.err)
		case a.data.empty():
			o.State = "empty"
			opts.Log.Printf("datasource: %s: answered with no userdata, hostname or SSH keys (%v)", name, a.took.Round(time.Millisecond))
		case a.data.UserData == nil:
			o.State = "metadata only"
			opts.Log.Printf("datasource: %s: no userdata (hostname %q, %d SSH keys); probing on", name, a.data.Hostname, len(a.data.SSHKeys))
			if fallback == "" {
				fallback, fallbackData = name, a.data
			}
		default:
			o.State = "userdata"
			opts.Log.Printf("datasource: %s: userdata found (%d bytes, %v)", name, len(a.data.UserData), a.took.Round(time.Millisecond))
			res.Outcomes = append(res.Outcomes, o)
			for _, rest := range ps[i+1:] {
				res.Outcomes = append(res.Outcomes, Outcome{Name: rest.Name(), State: "not needed"})
			}
			return name, a.data
		}
		res.Outcomes = append(res.Outcomes, o)
	}
	return fallback, fallbackData
}

func warn(res *Result, opts Options, format string, args ...any) {
	opts.Log.Printf(format, args...)
	res.Warnings = append(res.Warnings, strings.TrimPrefix(fmt.Sprintf(format, args...), "datasource: "))
}

// write puts the chosen data under the root. What the chosen provider does
// not give is removed, so the files never mix two providers or two runs.
func write(fsys billy.Filesystem, d *Data, opts Options, res *Result) error {
	src := res.Source
	// userdata
	ud := userdata.Userdata{}
	if d.UserData != nil {
		var err error
		ud, err = userdata.Classify(d.UserData, opts.MaxUserData)
		switch {
		case err != nil:
			warn(res, opts, "datasource: %s: userdata ignored: %v", src, err)
			ud = userdata.Userdata{Kind: userdata.KindUnknown}
		case ud.Kind == userdata.KindUnknown:
			warn(res, opts, "datasource: %s: userdata ignored (%d bytes): %s", src, len(ud.Data), ud.Problem)
		case ud.Problem != "":
			warn(res, opts, "datasource: %s: userdata says #cloud-config but does not parse: %s; the config loader will report it", src, ud.Problem)
		}
	}
	res.Userdata = ud.Kind
	switch ud.Kind {
	case userdata.KindCloudConfig, userdata.KindYAML, userdata.KindScript:
		if err := writeFile(fsys, UserdataPath, ud.Data, 0o600); err != nil {
			return err
		}
		res.Written = append(res.Written, UserdataPath)
		how := ""
		if ud.Compressed {
			how = ", gzip-compressed as served"
		}
		opts.Log.Printf("datasource: %s: wrote %s (%s, %d bytes%s)", src, UserdataPath, ud.Kind, len(ud.Data), how)
	default:
		if err := remove(fsys, UserdataPath, res); err != nil {
			return err
		}
	}

	// SSH keys
	keys := cleanKeys(d.SSHKeys)
	res.SSHKeys = len(keys)
	if len(keys) > 0 {
		if err := writeFile(fsys, AuthorizedKeysPath, []byte(strings.Join(keys, "\n")+"\n"), 0o600); err != nil {
			return err
		}
		res.Written = append(res.Written, AuthorizedKeysPath)
		opts.Log.Printf("datasource: %s: wrote %s (%d keys)", src, AuthorizedKeysPath, len(keys))
	} else if err := remove(fsys, AuthorizedKeysPath, res); err != nil {
		return err
	}

	// hostname
	h := strings.TrimSuffix(strings.TrimSpace(d.Hostname), ".")
	if h != "" && !validHostname(h) {
		warn(res, opts, "datasource: %s: hostname %q is not a valid host name; ignored", src, h)
		h = ""
	}
	res.Hostname = h
	if h != "" {
		if err := writeFile(fsys, HostnamePath, []byte(h+"\n"), 0o644); err != nil {
			return err
		}
		res.Written = append(res.Written, HostnamePath)
		opts.Log.Printf("datasource: %s: wrote %s (%s)", src, HostnamePath, h)
	} else if err := remove(fsys, HostnamePath, res); err != nil {
		return err
	}
	return nil
}

func remove(fsys billy.Filesystem, name string, res *Result) error {
	if _, err := fsys.Lstat(name); err != nil {
		return nil
	}
	if err := removeFile(fsys, name); err != nil {
		return err
	}
	res.Removed = append(res.Removed, name)
	return nil
}

// validHostname accepts an RFC 1123 host name: dot-separated labels of
// letters, digits and inner hyphens, each 1 to 63 long, 253 in all.
func validHostname(h string) bool {
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// cleanKeys splits, trims and de-duplicates SSH keys, keeping order and
// dropping blank lines, comments and lines with control characters.
func cleanKeys(in []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, k := range in {
		for _, line := range strings.Split(k, "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") || seen[line] || hasControl(line) {
				continue
			}
			seen[line] = true
			out = append(out, line)
		}
	}
	return out
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return true
		}
	}
	return false
}
