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
//
// Retry.Do is the one retry loop with backoff: errors are final unless
// marked Transient (an error nobody classed is not worth repeating), and
// a try that made progress starts the count over, so a long download cut
// now and then still finishes. The data sources' metadata requests use it
// too, with their own classes of error.
package fetch

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/layout"
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

// retry runs attempt under the Fetcher's Retry, logging each retry; what
// names the download in the errors.
func (f *Fetcher) retry(ctx context.Context, what string, attempt func() (progress bool, err error)) error {
	r := f.Retry
	if r.Notify == nil {
		r.Notify = func(err error, wait time.Duration) { f.logf("%s: %v; retrying in %v", what, err, wait) }
	}
	err := r.Do(ctx, attempt)
	var g *GaveUp
	switch {
	case !errors.As(err, &g):
		return err
	case g.Cancelled != nil:
		return errors.Wrapf(g.Cancelled, "%s", what)
	}
	return errors.Wrapf(ErrFetch, "%s: %v (gave up after %d attempts)", what, g.Last, g.Attempts)
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
		var err error
		body, final, err = f.getOnce(ctx, u, limit, timeout)
		return false, err
	})
	return body, final, err
}

// getOnce is one attempt of Get, cut after timeout.
func (f *Fetcher) getOnce(ctx context.Context, u string, limit int64, timeout time.Duration) ([]byte, *url.URL, error) {
	try, cancel := context.WithTimeoutCause(ctx, timeout, errors.Errorf("no answer in %v", timeout))
	defer cancel()
	req, err := http.NewRequestWithContext(try, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, errors.Wrapf(ErrFetch, "GET %s: %v", u, err)
	}
	resp, err := f.client().Do(req)
	if err != nil {
		if errors.Is(err, ErrFetch) {
			return nil, nil, doError(http.MethodGet, u, err)
		}
		return nil, nil, cutGet(ctx, try, u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, statusError(u, resp)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, nil, cutGet(ctx, try, u, err)
	}
	if int64(len(body)) > limit {
		return nil, nil, errors.Wrapf(ErrFetch, "GET %s: more than %d bytes", u, limit)
	}
	return body, resp.Request.URL, nil
}

// cutGet classes a network error of getOnce: ctx's own error when the
// caller ended it, else transient (the attempt's timeout as its cause
// when that cut it).
func cutGet(ctx, try context.Context, u string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if try.Err() != nil {
		err = errors.Wrapf(context.Cause(try), "GET %s", u)
	}
	return transient{err}
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

// SumsURL is the URL of the checksum list beside an artifact's URL: the
// same directory, no query or fragment.
func SumsURL(artifact, arch string) (string, error) {
	u, err := url.Parse(artifact)
	if err != nil {
		return "", errors.Wrapf(err, "URL %q", artifact)
	}
	u.Path = path.Join(path.Dir(u.Path), layout.Sums(arch))
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
