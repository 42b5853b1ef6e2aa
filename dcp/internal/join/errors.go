package join

import (
	"fmt"

	"github.com/pkg/errors"
)

// The kinds of Join's errors (errors.Is). Each error's message says what
// happened; these only classify it.
var (
	// ErrUnreachable: no answer (refused, timed out, no route, TLS handshake
	// failed, or the caller's context ended).
	ErrUnreachable = errors.New("the server is unreachable")
	// ErrWrongCA: /cacerts is not the CA the node token pins. The secret
	// was not sent.
	ErrWrongCA = errors.New("the server's CA is not the one the token pins")
	// ErrServerCert: the server's certificate does not verify against the
	// CA of /cacerts for the server URL's host.
	ErrServerCert = errors.New("the server's certificate does not verify against its CA")
	// ErrUnauthorized: the server refused the token's secret (401).
	ErrUnauthorized = errors.New("the server refused the token's secret")
	// ErrBadRequest: the request is malformed; the server refused it (400,
	// 413) or Join did not send it.
	ErrBadRequest = errors.New("the request is malformed")
	// ErrRateLimited: the server issues no more credentials for now (429).
	ErrRateLimited = errors.New("the server is rate limiting credentials")
	// ErrBadResponse: the server answered, but not as a DCP server does: an
	// unexpected status or redirect, an oversize or malformed body, or a
	// certificate that does not chain, name or hold what it must.
	ErrBadResponse = errors.New("the server's answer is not a valid one")
)

// joinError is an error of one kind, with its message and its cause.
type joinError struct {
	kind error
	msg  string
	err  error
}

func (e *joinError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *joinError) Is(target error) bool { return target == e.kind }
func (e *joinError) Unwrap() error        { return e.err }

// fail returns an error of kind, with cause err (may be nil).
func fail(kind, err error, format string, args ...any) error {
	return &joinError{kind: kind, msg: fmt.Sprintf(format, args...), err: err}
}
