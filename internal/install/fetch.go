package install

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/cli"
	"github.com/bhojpur/os/internal/fetch"
)

// Fetcher gets configs, ISOs and checksum files over HTTP(S) with retries
// and timeouts, or from local paths.
type Fetcher struct {
	Client   *http.Client
	Attempts int           // tries per download; default 3
	Wait     time.Duration // first pause between tries, doubled each time; default 1s
	// ConfigTimeout bounds one try of a small file; ISOTimeout one try of
	// an ISO.
	ConfigTimeout, ISOTimeout time.Duration
	// Progress, when set (a terminal), shows a progress bar for ISOs.
	Progress io.Writer
	Log      cli.Logger
}

func (f *Fetcher) attempts() int {
	if f.Attempts > 0 {
		return f.Attempts
	}
	return 3
}

func (f *Fetcher) wait() time.Duration {
	if f.Wait > 0 {
		return f.Wait
	}
	return time.Second
}

func (f *Fetcher) client() *http.Client {
	if f.Client != nil {
		return f.Client
	}
	return http.DefaultClient
}

// errNotFound is a 404 or 410: not worth retrying.
var errNotFound = errors.New("not found")

// IsRemote says whether a config or ISO reference is a URL to download.
func IsRemote(ref string) bool {
	return strings.HasPrefix(ref, "http://") || strings.HasPrefix(ref, "https://")
}

// localPath turns file:// URLs into paths.
func localPath(ref string) string {
	if strings.HasPrefix(ref, "file://") {
		if u, err := url.Parse(ref); err == nil {
			return u.Path
		}
	}
	return ref
}

// retry runs one try until it succeeds, the error is final, or the tries
// are used up.
func (f *Fetcher) retry(ctx context.Context, what string, try func(context.Context) error) error {
	wait := f.wait()
	var err error
	for i := 1; i <= f.attempts(); i++ {
		err = try(ctx)
		if err == nil || errors.Is(err, errNotFound) || ctx.Err() != nil {
			return err
		}
		if i < f.attempts() {
			if f.Log != nil {
				f.Log.Printf("%s: %v; retrying in %v (%d of %d)", what, err, wait, i+1, f.attempts())
			}
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return ctx.Err()
			}
			wait *= 2
		}
	}
	return err
}

// get does one HTTP GET with a timeout and streams the body to w.
func (f *Fetcher) get(ctx context.Context, u string, timeout time.Duration, w func(io.Reader, int64) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := f.client().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return errors.Wrapf(errNotFound, "GET %s: %s", u, resp.Status)
	case resp.StatusCode/100 != 2:
		return errors.Errorf("GET %s: %s", u, resp.Status)
	}
	return w(resp.Body, resp.ContentLength)
}

// MaxConfigSize bounds a downloaded config or checksum file.
const MaxConfigSize = 4 << 20

// Bytes fetches a small file: a config or a checksum list. A failed
// download is cli.ErrDownload; a missing local file cli.ErrBadInput.
func (f *Fetcher) Bytes(ctx context.Context, ref string) ([]byte, error) {
	if !IsRemote(ref) {
		b, err := os.ReadFile(localPath(ref))
		if err != nil {
			return nil, errors.Wrapf(cli.ErrBadInput, "read %s: %v", ref, err)
		}
		return b, nil
	}
	timeout := f.ConfigTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	var data []byte
	err := f.retry(ctx, "download "+ref, func(ctx context.Context) error {
		return f.get(ctx, ref, timeout, func(r io.Reader, _ int64) error {
			b, err := io.ReadAll(io.LimitReader(r, MaxConfigSize+1))
			if err != nil {
				return err
			}
			if len(b) > MaxConfigSize {
				return errors.Errorf("%s is larger than %s", ref, Size(MaxConfigSize))
			}
			data = b
			return nil
		})
	})
	if err != nil {
		return nil, classify(cli.ErrDownload, err, "download %s", ref)
	}
	return data, nil
}

// Download fetches an ISO into dst, hashing it on the way, and returns its
// sha256 in hex.
func (f *Fetcher) Download(ctx context.Context, u, dst string) (string, error) {
	timeout := f.ISOTimeout
	if timeout <= 0 {
		timeout = time.Hour
	}
	var sum string
	err := f.retry(ctx, "download "+u, func(ctx context.Context) error {
		return f.get(ctx, u, timeout, func(r io.Reader, total int64) error {
			out, err := os.Create(dst)
			if err != nil {
				return errors.Wrapf(cli.ErrDisk, "create %s: %v", dst, err)
			}
			h := sha256.New()
			var w io.Writer = io.MultiWriter(out, h)
			var bar *progress
			if f.Progress != nil {
				bar = &progress{w: f.Progress, name: path.Base(u), total: total}
				w = io.MultiWriter(w, bar)
			}
			_, err = io.Copy(w, r)
			if bar != nil {
				bar.done(err == nil)
			}
			if err == nil {
				err = out.Sync()
			}
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			sum = hex.EncodeToString(h.Sum(nil))
			return nil
		})
	})
	if err != nil {
		if errors.Is(err, cli.ErrDisk) {
			return "", err
		}
		return "", classify(cli.ErrDownload, err, "download %s", u)
	}
	return sum, nil
}

// classed is an error of a class (a cli sentinel) that keeps its cause
// for errors.Is.
type classed struct {
	class, err error
	msg        string
}

func (e *classed) Error() string   { return e.msg + ": " + e.err.Error() }
func (e *classed) Unwrap() []error { return []error{e.class, e.err} }

// classify wraps err with a message and a class.
func classify(class, err error, format string, args ...any) error {
	return &classed{class: class, err: err, msg: fmt.Sprintf(format, args...)}
}

// progress draws "name  12.5 MiB / 300 MiB  4%" on one line.
type progress struct {
	w     io.Writer
	name  string
	total int64
	n     int64
	last  time.Time
}

func (p *progress) Write(b []byte) (int, error) {
	p.n += int64(len(b))
	if now := time.Now(); now.Sub(p.last) > 200*time.Millisecond {
		p.last = now
		p.draw()
	}
	return len(b), nil
}

func (p *progress) draw() {
	if p.total > 0 {
		fmt.Fprintf(p.w, "\r%s  %s / %s  %3d%%", p.name, Size(p.n), Size(p.total), p.n*100/p.total)
		return
	}
	fmt.Fprintf(p.w, "\r%s  %s", p.name, Size(p.n))
}

func (p *progress) done(ok bool) {
	p.draw()
	if ok {
		fmt.Fprintln(p.w, "  done")
	} else {
		fmt.Fprintln(p.w, "  failed")
	}
}

// HashFile returns the sha256 of a file in hex.
func HashFile(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", errors.Wrapf(err, "read %s", name)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// SumsName is the checksum list published beside the artifacts.
func SumsName(arch string) string { return "sha256sum-" + arch + ".txt" }

// sumsRef is the checksum list beside an ISO URL or path.
func sumsRef(iso, arch string) string {
	if IsRemote(iso) {
		u, err := url.Parse(iso)
		if err != nil {
			return ""
		}
		u.Path = path.Join(path.Dir(u.Path), SumsName(arch))
		u.RawQuery, u.Fragment = "", ""
		return u.String()
	}
	return filepath.Join(filepath.Dir(localPath(iso)), SumsName(arch))
}

// isoName is the base name of an ISO URL or path.
func isoName(iso string) string {
	if IsRemote(iso) {
		if u, err := url.Parse(iso); err == nil {
			return path.Base(u.Path)
		}
	}
	return filepath.Base(localPath(iso))
}

// Checksum fetches the checksum list beside an ISO and returns the
// published sum of the ISO, with a note for the plan. No list published is
// not an error (the note says so); a list that cannot be read is.
func (f *Fetcher) Checksum(ctx context.Context, iso, arch string) (sum, note string, err error) {
	ref := sumsRef(iso, arch)
	if !IsRemote(ref) {
		if _, err := os.Stat(ref); os.IsNotExist(err) {
			return "", "no " + SumsName(arch) + " beside the ISO: not verified", nil
		}
	}
	data, err := f.Bytes(ctx, ref)
	if err != nil {
		if errors.Is(err, errNotFound) {
			return "", "no " + SumsName(arch) + " published beside the ISO: not verified", nil
		}
		return "", "", err
	}
	sums, err := fetch.ParseSums(bytes.NewReader(data))
	if err != nil {
		return "", "", classify(cli.ErrDownload, err, "checksum list %s", ref)
	}
	sum = sums[isoName(iso)]
	if sum == "" {
		return "", ref + " does not list " + isoName(iso) + ": not verified", nil
	}
	return sum, "sha256 verified against " + ref, nil
}
