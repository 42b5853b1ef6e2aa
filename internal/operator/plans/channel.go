package plans

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// ChannelTimeout bounds one channel request.
const ChannelTimeout = 30 * time.Second

// Channel resolves a Plan's channel: a URL that answers with a redirect to
// .../<version> (GitHub's releases/latest does). The redirect is not
// followed: its Location's last path element is the version, so nothing
// is downloaded, and an https channel that redirects to http is refused
// (its answer could be anybody's).
type Channel struct {
	Client *http.Client // nil: http.DefaultTransport, TLS verified
}

// Resolve returns the version that channel names now.
func (c *Channel) Resolve(ctx context.Context, channel string) (string, error) {
	u, err := url.Parse(channel)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("channel %q: not an http(s) URL", channel)
	}
	ctx, cancel := context.WithTimeout(ctx, ChannelTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, channel, nil)
	if err != nil {
		return "", err
	}
	client := http.Client{Transport: http.DefaultTransport}
	if c.Client != nil {
		client = *c.Client
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("channel %s: %v", channel, err)
	}
	defer resp.Body.Close()
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10) // let the connection be reused; never more
	if resp.StatusCode < 300 || resp.StatusCode > 399 {
		return "", fmt.Errorf("channel %s answered %s, not a redirect to .../<version>", channel, resp.Status)
	}
	loc, err := resp.Location()
	if err != nil {
		return "", fmt.Errorf("channel %s: a redirect without a usable Location: %v", channel, err)
	}
	if u.Scheme == "https" && loc.Scheme != "https" {
		return "", fmt.Errorf("channel %s redirects to %s: from https to %s, refused", channel, loc.Redacted(), loc.Scheme)
	}
	v := path.Base(strings.TrimRight(loc.Path, "/"))
	if v == "" || v == "." || v == "/" || !versionOK(v) {
		return "", fmt.Errorf("channel %s redirects to %s, whose last path element %q is not a version", channel, loc.Redacted(), v)
	}
	return v, nil
}

// versionOK: what can be an image tag (after + becomes -): up to 128 of
// [A-Za-z0-9_.+-], not beginning with . or -.
func versionOK(v string) bool {
	if len(v) > 128 || v[0] == '.' || v[0] == '-' {
		return false
	}
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '+' || c == '-') {
			return false
		}
	}
	return true
}
