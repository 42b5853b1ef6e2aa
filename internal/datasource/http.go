package datasource

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/fetch"
)

// StatusError is an HTTP answer that is neither success, 404 nor retried.
type StatusError struct {
	Method, URL string
	Code        int
}

func (e *StatusError) Error() string {
	return e.Method + " " + e.URL + ": HTTP " + http.StatusText(e.Code) + " (" + strconv.Itoa(e.Code) + ")"
}

// errInsecureRedirect: a redirect would lower https to http. It is
// refused and not retried.
var errInsecureRedirect = errors.New("refusing redirect from https to http")

// boundError is a request cut short by the bound of the whole probe. It
// counts as ErrUnavailable.
type boundError struct{ what string }

func (e *boundError) Error() string        { return e.what }
func (e *boundError) Is(target error) bool { return target == ErrUnavailable }

// isBound says err was caused by the probe's total time bound.
func isBound(err error) bool {
	var b *boundError
	return errors.As(err, &b)
}

// statusOf is the HTTP status of err, or 0.
func statusOf(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// client makes bounded, retried HTTP requests for one provider.
type client struct {
	http    *http.Client
	retry   fetch.Retry
	attempt time.Duration
}

// newTransport is a transport for metadata services: never through a proxy
// (the service is link-local and identifies the caller by its address),
// dial bounded by the attempt timeout, TLS verified with the system roots.
func newTransport(attempt time.Duration, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Transport {
	if dial == nil {
		dial = (&net.Dialer{Timeout: attempt}).DialContext
	}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           dial,
		TLSHandshakeTimeout:   attempt,
		ResponseHeaderTimeout: attempt,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       10 * time.Second,
		ForceAttemptHTTP2:     false,
	}
}

func newClient(o Options) *client {
	rt := o.Transport
	if rt == nil {
		rt = newTransport(o.AttemptTimeout, nil)
	}
	return newClientWith(o, rt)
}

func newClientWith(o Options, rt http.RoundTripper) *client {
	return &client{
		http: &http.Client{
			Transport: rt,
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) >= 3 {
					return errors.New("too many redirects")
				}
				// Each hop against the one before it: once on https,
				// never back to http, even when the chain began on http.
				if prev := via[len(via)-1].URL; prev.Scheme == "https" && req.URL.Scheme != "https" {
					return errors.Wrapf(errInsecureRedirect, "%s redirects to %s", prev.Redacted(), req.URL.Redacted())
				}
				return nil
			},
		},
		// The backoff needs no bound of its own: the probe's Timeout
		// ends every wait longer than what is left of it.
		retry:   fetch.Retry{Attempts: o.Attempts, Base: o.Backoff, Max: o.Timeout},
		attempt: o.AttemptTimeout,
	}
}

// reply is a successful answer.
type reply struct {
	header http.Header
	body   []byte
}

// get is do with GET.
func (c *client) get(ctx context.Context, url string, header map[string]string, limit int64) (*reply, error) {
	return c.do(ctx, http.MethodGet, url, header, limit)
}

// do sends a request, retrying timeouts, dropped connections, 429 and 5xx
// with fetch's doubling backoff, and reads at most limit bytes of the body.
// A 404 is errNotFound; nothing listening (refused, unreachable, no such
// host) or no answer after every attempt is ErrUnavailable; other statuses
// are a *StatusError.
func (c *client) do(ctx context.Context, method, url string, header map[string]string, limit int64) (*reply, error) {
	var r *reply
	err := c.retry.Do(ctx, func() (bool, error) {
		var retry bool
		var err error
		r, retry, err = c.once(ctx, method, url, header, limit)
		switch {
		case err == nil || !retry:
			return false, err
		case ctx.Err() != nil:
			return false, noAnswer(method, url)
		}
		return false, fetch.Transient(err)
	})
	var g *fetch.GaveUp
	switch {
	case !errors.As(err, &g):
		return r, err
	case g.Cancelled != nil:
		return nil, &boundError{what: method + " " + url + ": no answer within the probe's time bound (last: " + g.Last.Error() + ")"}
	case statusOf(g.Last) != 0:
		return nil, g.Last
	}
	return nil, errors.Wrapf(ErrUnavailable, "%s %s: %v (after %d attempts)", method, url, g.Last, g.Attempts)
}

// noAnswer is a request cut by the probe's time bound.
func noAnswer(method, url string) error {
	return &boundError{what: method + " " + url + ": no answer within the probe's time bound"}
}

// once is one attempt; retry says whether another may help.
func (c *client) once(ctx context.Context, method, url string, header map[string]string, limit int64) (r *reply, retry bool, err error) {
	actx, cancel := context.WithTimeout(ctx, c.attempt)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, method, url, nil)
	if err != nil {
		return nil, false, errors.Wrapf(err, "%s %s", method, url)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		retry, err := c.doError(ctx, actx, method, url, err)
		return nil, retry, err
	}
	defer resp.Body.Close()
	if retry, err := status(method, url, resp); err != nil {
		return nil, retry, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		retry, err := c.bodyError(ctx, actx, method, url, err)
		return nil, retry, err
	}
	if int64(len(body)) > limit {
		return nil, false, errors.Wrapf(errTooLarge, "%s %s: body over %d bytes", method, url, limit)
	}
	return &reply{header: resp.Header, body: body}, false, nil
}

// doError classes an error of Client.Do: the probe's bound, nothing
// there, the attempt's timeout, a certificate or redirect refused, or
// another network error (retried).
func (c *client) doError(ctx, actx context.Context, method, url string, err error) (retry bool, _ error) {
	switch {
	case ctx.Err() != nil:
		return false, noAnswer(method, url)
	case absent(err):
		return false, errors.Wrapf(ErrUnavailable, "%s %s: %v", method, url, rootCause(err))
	case actx.Err() != nil:
		return true, errors.Errorf("no answer within %v", c.attempt)
	case badCertificate(err), errors.Is(err, errInsecureRedirect):
		return false, errors.Wrapf(err, "%s %s", method, url)
	}
	return true, errors.Wrapf(err, "%s %s", method, url)
}

// status classes an answer that is not a success: 404 is errNotFound,
// 429 and 5xx are retried, the rest final. Its body is drained a little,
// so the connection may be reused.
func status(method, url string, resp *http.Response) (retry bool, err error) {
	code := resp.StatusCode
	if code >= 200 && code <= 299 {
		return false, nil
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	switch {
	case code == http.StatusNotFound:
		return false, errors.Wrapf(errNotFound, "%s %s", method, url)
	case code == http.StatusTooManyRequests || code >= 500:
		return true, &StatusError{Method: method, URL: url, Code: code}
	}
	return false, &StatusError{Method: method, URL: url, Code: code}
}

// bodyError classes an error reading the body: the probe's bound, the
// attempt's timeout, or another network error; all but the first are
// retried.
func (c *client) bodyError(ctx, actx context.Context, method, url string, err error) (retry bool, _ error) {
	switch {
	case ctx.Err() != nil:
		return false, noAnswer(method, url)
	case actx.Err() != nil:
		return true, errors.Errorf("body not read within %v", c.attempt)
	}
	return true, errors.Wrapf(err, "%s %s: reading the body", method, url)
}

// absent says the error means nothing is there to answer: the connection
// was refused, there is no route, or the name does not resolve.
func absent(err error) bool {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && (dnsErr.IsNotFound || !dnsErr.IsTimeout) {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENETUNREACH) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.EADDRNOTAVAIL)
}

// badCertificate says the server's TLS certificate did not verify:
// trying again will not help.
func badCertificate(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci)
}

// rootCause is the innermost error, for short log lines.
func rootCause(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

// optional GETs url; a 404 gives (nil, nil).
func (c *client) optional(ctx context.Context, url string, header map[string]string, limit int64) (*reply, error) {
	r, err := c.get(ctx, url, header, limit)
	if errors.Is(err, errNotFound) {
		return nil, nil
	}
	return r, err
}

// text GETs url and returns its body trimmed; a 404 gives "".
func (c *client) text(ctx context.Context, url string, header map[string]string) (string, error) {
	r, err := c.optional(ctx, url, header, maxMetadata)
	if err != nil || r == nil {
		return "", err
	}
	return strings.TrimSpace(string(r.body)), nil
}

// getJSON GETs url and decodes its JSON body into v.
func (c *client) getJSON(ctx context.Context, url string, header map[string]string, v any) error {
	r, err := c.get(ctx, url, header, maxMetadata)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		return errors.Wrapf(err, "GET %s: decoding the JSON answer", url)
	}
	return nil
}
