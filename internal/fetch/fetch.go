// Package fetch is the one way Bhojpur OS downloads: release artifacts,
// installer ISOs, configs and checksum lists. Artifacts are streamed to
// disk while being hashed (sha256) through one writer, resumed with an HTTP
// Range request after an interruption (the hash still covers the whole
// file: the part already on disk is read through it first), retried with
// backoff on transient errors, and checked against the wanted sum before
// the caller may use them. A mismatch deletes the download. Nothing reads
// an artifact before it is whole and verified: the caller unpacks the
// file afterwards. Bounds cap what one download may write and ask the
// caller whether it fits before it is written.
package fetch

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/store"
)

// Error classes; errors.Is finds them.
var (
	// ErrChecksum: an artifact's sha256 differs from the release's.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrFetch: the server or the network failed, after the retries.
	ErrFetch = errors.New("download failed")
	// ErrNotFound: the server says there is no such file (HTTP 404 or
	// 410); never retried. errors.Is(err, ErrFetch) holds too.
	ErrNotFound error = notFound{}
	// ErrInsecureRedirect: a redirect would lower https to http; never
	// followed, never retried. errors.Is(err, ErrFetch) holds too.
	ErrInsecureRedirect error = insecureRedirect{}
	// ErrTooLarge: the artifact is larger than Bounds.Max allows; never
	// retried, and the part file is deleted. errors.Is(err, ErrFetch)
	// holds too.
	ErrTooLarge error = tooLarge{}
	// ErrNotListed: a checksum list does not name the artifact.
	ErrNotListed = errors.New("not in the checksum list")
)

type tooLarge struct{}

func (tooLarge) Error() string        { return "larger than allowed" }
func (tooLarge) Is(target error) bool { return target == ErrFetch }

type notFound struct{}

func (notFound) Error() string        { return "not found" }
func (notFound) Is(target error) bool { return target == ErrFetch }

type insecureRedirect struct{}

func (insecureRedirect) Error() string        { return "redirect from https to http refused" }
func (insecureRedirect) Is(target error) bool { return target == ErrFetch }

// maxRedirects is how many redirects one request follows (as net/http).
const maxRedirects = 10

// DefaultURL is where a release's artifacts are, by default: {version} and
// {artifact} are replaced.
const DefaultURL = "https://github.com/bhojpur/os/releases/download/{version}/{artifact}"

// ArtifactURL fills a URL template. A template without placeholders is a
// base: /{version}/{artifact} is appended.
func ArtifactURL(template, version, artifact string) string {
	if !strings.Contains(template, "{artifact}") {
		template = strings.TrimRight(template, "/") + "/{version}/{artifact}"
	}
	r := strings.NewReplacer("{version}", url.PathEscape(version), "{artifact}", url.PathEscape(artifact))
	return r.Replace(template)
}

// Retry is the retry policy for transient errors (connection refused or
// cut, timeouts, HTTP 5xx and 429).
type Retry struct {
	Attempts int           // attempts that made no progress before giving up (default 5)
	Base     time.Duration // first backoff, doubled each time (default 500ms)
	Max      time.Duration // longest backoff (default 15s)
	Stall    time.Duration // no bytes for this long cuts an attempt (default 60s)
	Timeout  time.Duration // cuts one attempt of Get, a small document (default 30s)
}

func (r Retry) withDefaults() Retry {
	if r.Attempts <= 0 {
		r.Attempts = 5
	}
	if r.Base <= 0 {
		r.Base = 500 * time.Millisecond
	}
	if r.Max <= 0 {
		r.Max = 15 * time.Second
	}
	if r.Stall <= 0 {
		r.Stall = 60 * time.Second
	}
	if r.Timeout <= 0 {
		r.Timeout = 30 * time.Second
	}
	return r
}

// Fetcher downloads over HTTP(S). Client nil means http.DefaultClient
// (TLS verified against the system roots). Whatever the client, a
// redirect never lowers the scheme: once a request is https, a redirect
// to http is refused (ErrInsecureRedirect), so a server, or whoever
// controls one hop, cannot move a download off TLS. Every redirect
// followed is logged, so the log names the URL actually fetched.
type Fetcher struct {
	Client *http.Client
	Retry  Retry
	Log    func(format string, args ...any)
	// Progress, when set, returns a writer that is told of every byte of
	// an artifact of the given size (-1 unknown), starting at done.
	Progress func(name string, size, done int64) io.WriteCloser
}

func (f *Fetcher) logf(format string, args ...any) {
	if f.Log != nil {
		f.Log(format, args...)
	}
}

// client is the Fetcher's client with the redirect rule: a copy, so the
// caller's client is not changed; its own CheckRedirect, if any, still
// runs after the rule.
func (f *Fetcher) client() *http.Client {
	c := *http.DefaultClient
	if f.Client != nil {
		c = *f.Client
	}
	next := c.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		prev := via[len(via)-1].URL
		if prev.Scheme == "https" && req.URL.Scheme != "https" {
			return errors.Wrapf(ErrInsecureRedirect, "%s redirects to %s", logURL(prev), logURL(req.URL))
		}
		if next != nil {
			if err := next(req, via); err != nil {
				return err
			}
		} else if len(via) >= maxRedirects {
			return errors.Wrapf(ErrFetch, "%s: stopped after %d redirects", logURL(via[0].URL), maxRedirects)
		}
		f.logf("%s: redirected to %s", logURL(prev), logURL(req.URL))
		return nil
	}
	return &c
}

// logURL is u for a log line: no password, no query (signed download
// URLs carry their credentials there).
func logURL(u *url.URL) string {
	c := *u
	if c.RawQuery != "" {
		c.RawQuery = "..."
	}
	c.ForceQuery = false
	return c.Redacted()
}

// doError classes an error of Client.Do: a refused redirect is final,
// anything else is worth another attempt.
func doError(method, u string, err error) error {
	if errors.Is(err, ErrFetch) { // from CheckRedirect
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return errors.Wrapf(err, "%s %s", method, u)
	}
	return transient{errors.Wrapf(err, "%s %s", method, u)}
}

// transient marks an error worth retrying.
type transient struct{ error }

func (t transient) Unwrap() error { return t.error }

func isTransient(err error) bool {
	var t transient
	return errors.As(err, &t)
}

// retry runs attempt until it succeeds, fails for good, or has failed
// Attempts times without progress.
func (f *Fetcher) retry(ctx context.Context, what string, attempt func() (progress bool, err error)) error {
	r := f.Retry.withDefaults()
	wait := r.Base
	failures := 0
	for total := 1; ; total++ {
		progress, err := attempt()
		if err == nil {
			return nil
		}
		if !isTransient(err) {
			return err
		}
		if progress {
			failures, wait = 0, r.Base
		}
		failures++
		if failures >= r.Attempts || total >= 20*r.Attempts {
			return errors.Wrapf(ErrFetch, "%s: %v (gave up after %d attempts)", what, err, total)
		}
		f.logf("%s: %v; retrying in %v", what, err, wait)
		select {
		case <-ctx.Done():
			return errors.Wrapf(ctx.Err(), "%s", what)
		case <-time.After(wait):
		}
		if wait *= 2; wait > r.Max {
			wait = r.Max
		}
	}
}

// statusError classes an HTTP status.
func statusError(u string, resp *http.Response) error {
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone {
		return errors.Wrapf(ErrNotFound, "GET %s: HTTP %s", u, resp.Status)
	}
	err := errors.Wrapf(ErrFetch, "GET %s: HTTP %s", u, resp.Status)
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout {
		return transient{err}
	}
	return err
}

// Get fetches a small document (at most limit bytes) into memory, with
// retries; Retry.Timeout cuts an attempt that has not finished in time (a
// server that accepts and never answers). It also returns the final URL
// after redirects.
func (f *Fetcher) Get(ctx context.Context, u string, limit int64) ([]byte, *url.URL, error) {
	var body []byte
	var final *url.URL
	timeout := f.Retry.withDefaults().Timeout
	err := f.retry(ctx, "GET "+u, func() (bool, error) {
		try, cancel := context.WithTimeoutCause(ctx, timeout, errors.Errorf("no answer in %v", timeout))
		defer cancel()
		cut := func(err error) error { // a network error, or the timeout
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if try.Err() != nil {
				err = errors.Wrapf(context.Cause(try), "GET %s", u)
			}
			return transient{err}
		}
		req, err := http.NewRequestWithContext(try, http.MethodGet, u, nil)
		if err != nil {
			return false, errors.Wrapf(ErrFetch, "GET %s: %v", u, err)
		}
		resp, err := f.client().Do(req)
		if err != nil {
			if errors.Is(err, ErrFetch) {
				return false, doError(http.MethodGet, u, err)
			}
			return false, cut(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, statusError(u, resp)
		}
		body, err = io.ReadAll(io.LimitReader(resp.Body, limit+1))
		if err != nil {
			return false, cut(err)
		}
		if int64(len(body)) > limit {
			return false, errors.Wrapf(ErrFetch, "GET %s: more than %d bytes", u, limit)
		}
		final = resp.Request.URL
		return false, nil
	})
	return body, final, err
}

// Latest resolves the latest release from a channel URL. It follows
// redirects; a final URL whose path has /tag/<version> (GitHub's
// releases/latest) names the version. Otherwise the body does: a JSON
// object with "tag_name" or "version", or plain text whose first word is
// the version.
func (f *Fetcher) Latest(ctx context.Context, channel string) (string, error) {
	body, final, err := f.Get(ctx, channel, 64<<10)
	if err != nil {
		return "", err
	}
	v := ""
	if final != nil {
		if i := strings.LastIndex(final.Path, "/tag/"); i >= 0 {
			v, _ = url.PathUnescape(strings.Trim(final.Path[i+len("/tag/"):], "/"))
		}
	}
	trimmed := strings.TrimSpace(string(body))
	if v == "" && strings.HasPrefix(trimmed, "{") {
		var doc struct {
			TagName string `json:"tag_name"`
			Version string `json:"version"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			return "", errors.Wrapf(ErrFetch, "channel %s: bad JSON: %v", channel, err)
		}
		v = doc.TagName
		if v == "" {
			v = doc.Version
		}
	} else if v == "" {
		if fields := strings.Fields(trimmed); len(fields) > 0 && !strings.HasPrefix(trimmed, "<") {
			v = fields[0]
		}
	}
	if !store.ValidVersion(v) {
		return "", errors.Wrapf(ErrFetch, "channel %s names no valid release (got %q)", channel, v)
	}
	return v, nil
}

// Sums is a release's sha256sum file: artifact name to lower-case hex.
type Sums map[string]string

// ParseSums reads sha256sum output ("<hex>  <name>", or "<hex> *<name>").
func ParseSums(r io.Reader) (Sums, error) {
	sums := Sums{}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" || strings.HasPrefix(text, "#") {
			continue
		}
		sum, name, ok := strings.Cut(text, " ")
		name = strings.TrimPrefix(strings.TrimPrefix(name, " "), "*")
		if b, err := hex.DecodeString(sum); !ok || err != nil || len(b) != sha256.Size || name == "" || strings.Contains(name, "/") {
			return nil, errors.Errorf("line %d: not \"<sha256>  <name>\": %q", line, text)
		}
		if old, dup := sums[name]; dup && old != strings.ToLower(sum) {
			return nil, errors.Errorf("line %d: %s listed twice with different sums", line, name)
		}
		sums[name] = strings.ToLower(sum)
	}
	return sums, sc.Err()
}

// MaxSumsSize bounds a downloaded checksum list.
const MaxSumsSize = 4 << 20

// SumsName is the checksum list a release publishes beside its artifacts.
func SumsName(arch string) string { return "sha256sum-" + arch + ".txt" }

// SumsURL is the URL of the checksum list beside an artifact's URL: the
// same directory, no query or fragment.
func SumsURL(artifact, arch string) (string, error) {
	u, err := url.Parse(artifact)
	if err != nil {
		return "", errors.Wrapf(err, "URL %q", artifact)
	}
	u.Path = path.Join(path.Dir(u.Path), SumsName(arch))
	u.RawPath, u.RawQuery, u.Fragment, u.ForceQuery = "", "", "", false
	return u.String(), nil
}

// ArtifactName is the file name an artifact URL ends in, as the checksum
// list names it.
func ArtifactName(artifact string) string {
	if u, err := url.Parse(artifact); err == nil {
		return path.Base(u.Path)
	}
	return path.Base(artifact)
}

// PublishedSum fetches the checksum list beside an artifact's URL and
// returns the artifact's sum and the list's URL. No list (ErrNotFound) and
// a list without the artifact (ErrNotListed) are errors errors.Is tells
// apart; a list that does not parse is ErrFetch.
func (f *Fetcher) PublishedSum(ctx context.Context, artifact, arch string) (sum, list string, err error) {
	list, err = SumsURL(artifact, arch)
	if err != nil {
		return "", "", errors.Wrap(ErrFetch, err.Error())
	}
	data, _, err := f.Get(ctx, list, MaxSumsSize)
	if err != nil {
		return "", list, err
	}
	sums, err := ParseSums(strings.NewReader(string(data)))
	if err != nil {
		return "", list, errors.Wrapf(ErrFetch, "checksum list %s: %v", logURLString(list), err)
	}
	name := ArtifactName(artifact)
	if sum = sums[name]; sum == "" {
		return "", list, errors.Wrapf(ErrNotListed, "%s does not list %s", logURLString(list), name)
	}
	return sum, list, nil
}

// RedactURL is a URL for a log line: no password, no query.
func RedactURL(s string) string { return logURLString(s) }

// logURLString is logURL for a URL as a string.
func logURLString(s string) string {
	if u, err := url.Parse(s); err == nil {
		return logURL(u)
	}
	return s
}

// Result is a verified download.
type Result struct {
	Size int64
	Sum  string // hex sha256
	URL  string // what was fetched, after redirects (for logs: no password or query)
}

// Bounds limit one download.
type Bounds struct {
	// Max is the most bytes the artifact may have (0: no bound). A server
	// that announces more is refused before anything is written; one that
	// sends more is cut before the byte past Max is written. Either way
	// the part file is deleted (ErrTooLarge).
	Max int64
	// Room, when set, is asked whether n more bytes fit before they are
	// written: once with what is left to fetch when the server gives the
	// size, and before each Step bytes when it does not. Its error ends
	// the download as it is, without a retry; the part already on disk
	// stays, to be resumed once there is room.
	Room func(n int64) error
	// Step is what Room is asked about at a time when the size is not
	// known (0: RoomStep).
	Step int64
}

// RoomStep is the default Bounds.Step.
const RoomStep = 64 << 20

// Download fetches u into the file part of fsys, resuming what part
// already holds, and verifies it against want (hex sha256, any case). An
// empty want verifies nothing: the caller gets the sum in the Result and
// compares it itself (the installer, when no checksum list is published).
// b, when not nil, bounds the download. On a mismatch the part file is
// deleted. The caller renames or removes part afterwards.
func (f *Fetcher) Download(ctx context.Context, u string, fsys store.FS, part, want string, b *Bounds) (Result, error) {
	var res Result
	if b == nil {
		b = &Bounds{}
	}
	name := path.Base(u)
	err := f.retry(ctx, name, func() (bool, error) {
		var err error
		var progress bool
		res, progress, err = f.attempt(ctx, u, fsys, part, *b)
		return progress, err
	})
	if err != nil {
		return res, err
	}
	if want = strings.ToLower(want); want != "" && res.Sum != want {
		if rerr := fsys.RemoveAll(part); rerr != nil {
			f.logf("remove %s: %v", part, rerr)
		}
		return res, errors.Wrapf(ErrChecksum, "%s: sha256 %s, the release says %s; the download was deleted", name, res.Sum, want)
	}
	return res, nil
}

// tooLargeError deletes part and says why.
func (f *Fetcher) tooLargeError(fsys store.FS, part, format string, args ...any) error {
	if err := fsys.RemoveAll(part); err != nil {
		f.logf("remove %s: %v", part, err)
	}
	return errors.Wrapf(ErrTooLarge, format+"; the download was deleted", args...)
}

// attempt is one try of Download.
func (f *Fetcher) attempt(ctx context.Context, u string, fsys store.FS, part string, b Bounds) (Result, bool, error) {
	var have int64
	if fi, err := fsys.Lstat(part); err == nil && fi.Mode().IsRegular() {
		have = fi.Size()
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Result{}, false, errors.Wrapf(err, "stat %s", part)
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Result{}, false, errors.Wrapf(ErrFetch, "GET %s: %v", u, err)
	}
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
	}
	resp, err := f.client().Do(req)
	if err != nil {
		if ctx.Err() != nil && context.Cause(ctx) == ctx.Err() {
			return Result{}, false, ctx.Err()
		}
		return Result{}, false, doError(http.MethodGet, u, err)
	}
	defer resp.Body.Close()

	size := int64(-1)
	body := io.Reader(resp.Body)
	switch {
	case have > 0 && resp.StatusCode == http.StatusPartialContent:
		start, total, ok := contentRange(resp.Header.Get("Content-Range"))
		if !ok || start != have {
			fsys.RemoveAll(part)
			return Result{}, false, transient{errors.Errorf("GET %s: unexpected Content-Range %q; starting over", u, resp.Header.Get("Content-Range"))}
		}
		size = total
		f.logf("%s: resuming at %d bytes", path.Base(u), have)
	case have > 0 && resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		_, total, _ := contentRange(resp.Header.Get("Content-Range"))
		if total != have {
			if err := fsys.RemoveAll(part); err != nil {
				return Result{}, false, errors.Wrapf(err, "remove %s", part)
			}
			return Result{}, false, transient{errors.Errorf("GET %s: %s holds %d bytes, more than the artifact; starting over", u, part, have)}
		}
		size, body = total, http.NoBody // the part is whole already
	case resp.StatusCode == http.StatusOK:
		have = 0
		size = resp.ContentLength
	default:
		return Result{}, false, statusError(u, resp)
	}

	// Bounds, before a byte is written.
	if b.Max > 0 && max(size, have) > b.Max {
		return Result{}, false, f.tooLargeError(fsys, part, "GET %s: %d bytes, more than the %d this artifact may have", u, max(size, have), b.Max)
	}
	allowed := int64(math.MaxInt64) // bytes Room agreed to, past have
	if b.Step <= 0 {
		b.Step = RoomStep
	}
	if b.Room != nil {
		ask := b.Step
		if size >= 0 {
			ask = size - have
		}
		if err := b.Room(ask); err != nil {
			return Result{}, false, err
		}
		if size < 0 {
			allowed = ask
		}
	}

	flag := os.O_WRONLY | os.O_CREATE | os.O_APPEND
	if have == 0 {
		flag |= os.O_TRUNC
	}
	out, err := fsys.OpenFile(part, flag, 0o644)
	if err != nil {
		return Result{}, false, errors.Wrapf(err, "open %s", part)
	}
	defer func() {
		if out != nil {
			out.Close()
		}
	}()

	// The part already on disk: through the hash.
	h := sha256.New()
	if have > 0 {
		if err := replay(fsys, part, have, h); err != nil {
			return Result{}, false, err
		}
	}
	var prog io.WriteCloser
	if f.Progress != nil {
		prog = f.Progress(path.Base(u), size, have)
		defer prog.Close()
	}

	// The network: one buffer goes to the hash and the file.
	r := f.Retry.withDefaults()
	stall := time.AfterFunc(r.Stall, func() { cancel(errors.Errorf("no data for %v", r.Stall)) })
	defer stall.Stop()
	buf := make([]byte, 256<<10)
	got := int64(0)
	var netErr error
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			stall.Reset(r.Stall)
			if b.Max > 0 && have+got+int64(n) > b.Max {
				out.Close()
				out = nil
				return Result{}, false, f.tooLargeError(fsys, part, "GET %s: more than %d bytes, the most this artifact may have", u, b.Max)
			}
			for got+int64(n) > allowed { // size unknown: ask again
				if err := b.Room(b.Step); err != nil {
					if serr := out.Sync(); serr != nil {
						return Result{}, got > 0, errors.Wrapf(serr, "sync %s", part)
					}
					return Result{}, got > 0, err
				}
				allowed += b.Step
			}
			chunk := buf[:n]
			h.Write(chunk)
			if _, err := out.Write(chunk); err != nil {
				return Result{}, got > 0, errors.Wrapf(err, "write %s", part)
			}
			if prog != nil {
				prog.Write(chunk)
			}
			got += int64(n)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
				rerr = cause
			}
			netErr = rerr
			break
		}
	}
	if netErr == nil && size >= 0 && have+got != size {
		netErr = io.ErrUnexpectedEOF
	}
	// Keep what arrived, for the next attempt or the next run.
	if err := out.Sync(); err != nil {
		return Result{}, got > 0, errors.Wrapf(err, "sync %s", part)
	}
	err = out.Close()
	out = nil
	if err != nil {
		return Result{}, got > 0, errors.Wrapf(err, "close %s", part)
	}
	if netErr != nil {
		if ctx.Err() != nil && context.Cause(ctx) == ctx.Err() {
			return Result{}, got > 0, ctx.Err()
		}
		return Result{}, got > 0, transient{errors.Wrapf(netErr, "GET %s after %d bytes", u, have+got)}
	}
	return Result{Size: have + got, Sum: hex.EncodeToString(h.Sum(nil)), URL: logURL(resp.Request.URL)}, true, nil
}

// replay reads the first n bytes of part through h.
func replay(fsys store.FS, part string, n int64, h hash.Hash) error {
	in, err := fsys.Open(part)
	if err != nil {
		return errors.Wrapf(err, "open %s", part)
	}
	defer in.Close()
	if _, err := io.CopyBuffer(h, io.LimitReader(in, n), make([]byte, 256<<10)); err != nil {
		return errors.Wrapf(err, "read %s", part)
	}
	return nil
}

// contentRange parses "bytes START-END/TOTAL" and "bytes */TOTAL".
func contentRange(v string) (start, total int64, ok bool) {
	v, found := strings.CutPrefix(v, "bytes ")
	if !found {
		return 0, -1, false
	}
	rng, tot, found := strings.Cut(v, "/")
	if !found {
		return 0, -1, false
	}
	total, err := strconv.ParseInt(tot, 10, 64)
	if err != nil {
		total = -1
	}
	if rng == "*" {
		return 0, total, true
	}
	s, _, found := strings.Cut(rng, "-")
	start, err = strconv.ParseInt(s, 10, 64)
	return start, total, found && err == nil
}
