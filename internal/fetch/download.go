package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"math"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/store"
)

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

// attempt is one try of Download. progress says whether it wrote bytes,
// so the retry starts its count over.
func (f *Fetcher) attempt(ctx context.Context, u string, fsys store.FS, part string, b Bounds) (Result, bool, error) {
	have, err := partSize(fsys, part)
	if err != nil {
		return Result{}, false, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	resp, err := f.send(ctx, u, have)
	if err != nil {
		return Result{}, false, err
	}
	defer resp.Body.Close()

	t := &transfer{f: f, u: u, fsys: fsys, part: part, b: b, have: have, size: -1}
	body, err := t.accept(resp)
	if err != nil {
		return Result{}, false, err
	}
	if err := t.bound(); err != nil {
		return Result{}, false, err
	}
	if err := t.open(); err != nil {
		return Result{}, false, err
	}
	defer t.close()
	netErr, err := t.receive(ctx, cancel, body)
	if err == nil {
		err = t.keep()
	}
	if err == nil && netErr != nil {
		err = t.cut(ctx, netErr)
	}
	if err != nil {
		return Result{}, t.got > 0, err
	}
	return Result{Size: t.have + t.got, Sum: hex.EncodeToString(t.h.Sum(nil)), URL: logURL(resp.Request.URL)}, true, nil
}

// partSize is how many bytes part already holds (0: none, or not a
// regular file).
func partSize(fsys store.FS, part string) (int64, error) {
	fi, err := fsys.Lstat(part)
	switch {
	case err == nil && fi.Mode().IsRegular():
		return fi.Size(), nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return 0, errors.Wrapf(err, "stat %s", part)
	}
	return 0, nil
}

// send asks for u, from byte have on when the part holds some. An error
// is ctx's own when the caller ended it, else classed by doError.
func (f *Fetcher) send(ctx context.Context, u string, have int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, errors.Wrapf(ErrFetch, "GET %s: %v", u, err)
	}
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
	}
	resp, err := f.client().Do(req)
	if err != nil {
		if ctx.Err() != nil && context.Cause(ctx) == ctx.Err() {
			return nil, ctx.Err()
		}
		return nil, doError(http.MethodGet, u, err)
	}
	return resp, nil
}

// transfer is one attempt of Download once the server has answered.
type transfer struct {
	f       *Fetcher
	u, part string
	fsys    store.FS
	b       Bounds
	have    int64          // bytes of part kept from before this attempt
	size    int64          // the artifact's size, -1 unknown
	got     int64          // bytes this attempt wrote
	allowed int64          // bytes past have that Room agreed to
	out     store.File     // part, open for appending; nil once closed
	h       hash.Hash      // sha256 of part from its first byte
	prog    io.WriteCloser // Progress's writer, or nil
}

// accept reads the answer's status: the rest of the part (206 with the
// Content-Range asked for), a part already whole (416 naming its size) or
// the whole artifact (200). It sets have and size and returns the body
// to read. A part the server does not continue is deleted, to start over.
func (t *transfer) accept(resp *http.Response) (io.Reader, error) {
	switch {
	case t.have > 0 && resp.StatusCode == http.StatusPartialContent:
		return t.resume(resp)
	case t.have > 0 && resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		return t.whole(resp)
	case resp.StatusCode == http.StatusOK:
		t.have, t.size = 0, resp.ContentLength
		return resp.Body, nil
	}
	return nil, statusError(t.u, resp)
}

// resume accepts a 206 that goes on where the part ends.
func (t *transfer) resume(resp *http.Response) (io.Reader, error) {
	start, total, ok := contentRange(resp.Header.Get("Content-Range"))
	if !ok || start != t.have {
		t.fsys.RemoveAll(t.part)
		return nil, transient{errors.Errorf("GET %s: unexpected Content-Range %q; starting over", t.u, resp.Header.Get("Content-Range"))}
	}
	t.size = total
	t.f.logf("%s: resuming at %d bytes", path.Base(t.u), t.have)
	return resp.Body, nil
}

// whole accepts a 416 whose size is the part's: nothing is left to fetch.
// A part larger than the artifact is deleted.
func (t *transfer) whole(resp *http.Response) (io.Reader, error) {
	_, total, _ := contentRange(resp.Header.Get("Content-Range"))
	if total != t.have {
		if err := t.fsys.RemoveAll(t.part); err != nil {
			return nil, errors.Wrapf(err, "remove %s", t.part)
		}
		return nil, transient{errors.Errorf("GET %s: %s holds %d bytes, more than the artifact; starting over", t.u, t.part, t.have)}
	}
	t.size = total
	return http.NoBody, nil
}

// bound checks the bounds before a byte is written: the size against
// Max, then what is left to fetch against Room.
func (t *transfer) bound() error {
	if n := max(t.size, t.have); t.b.Max > 0 && n > t.b.Max {
		return t.f.tooLargeError(t.fsys, t.part, "GET %s: %d bytes, more than the %d this artifact may have", t.u, n, t.b.Max)
	}
	t.allowed = math.MaxInt64
	if t.b.Step <= 0 {
		t.b.Step = RoomStep
	}
	if t.b.Room == nil {
		return nil
	}
	ask := t.b.Step
	if t.size >= 0 {
		ask = t.size - t.have
	}
	if err := t.b.Room(ask); err != nil {
		return err
	}
	if t.size < 0 {
		t.allowed = ask
	}
	return nil
}

// open opens the part for appending (emptied when starting over), reads
// what it already holds through the hash, and starts the progress writer.
func (t *transfer) open() error {
	flag := os.O_WRONLY | os.O_CREATE | os.O_APPEND
	if t.have == 0 {
		flag |= os.O_TRUNC
	}
	out, err := t.fsys.OpenFile(t.part, flag, 0o644)
	if err != nil {
		return errors.Wrapf(err, "open %s", t.part)
	}
	t.out, t.h = out, sha256.New()
	if t.have > 0 {
		if err := replay(t.fsys, t.part, t.have, t.h); err != nil {
			return err
		}
	}
	if t.f.Progress != nil {
		t.prog = t.f.Progress(path.Base(t.u), t.size, t.have)
	}
	return nil
}

// close closes the progress writer and the part, if still open.
func (t *transfer) close() {
	if t.prog != nil {
		t.prog.Close()
	}
	if t.out != nil {
		t.out.Close()
	}
}

// receive copies body to the part until EOF; no bytes for Retry.Stall
// cut it through cancel. A read error (the stall as its cause when the
// stall cut it) or a body shorter than announced is netErr, for a retry;
// a bound or a write that fails is err.
func (t *transfer) receive(ctx context.Context, cancel context.CancelCauseFunc, body io.Reader) (netErr, err error) {
	stall := t.f.Retry.withDefaults().Stall
	timer := time.AfterFunc(stall, func() { cancel(errors.Errorf("no data for %v", stall)) })
	defer timer.Stop()
	buf := make([]byte, 256<<10)
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			timer.Reset(stall)
			if err := t.write(buf[:n]); err != nil {
				return nil, err
			}
		}
		if rerr == io.EOF {
			if t.size >= 0 && t.have+t.got != t.size {
				return io.ErrUnexpectedEOF, nil
			}
			return nil, nil
		}
		if rerr != nil {
			if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
				rerr = cause
			}
			return rerr, nil
		}
	}
}

// write passes one chunk to the hash, the part and the progress writer,
// within the bounds: a byte past Max deletes the part (ErrTooLarge).
func (t *transfer) write(chunk []byte) error {
	n := int64(len(chunk))
	if t.b.Max > 0 && t.have+t.got+n > t.b.Max {
		t.out.Close()
		t.out = nil
		return t.f.tooLargeError(t.fsys, t.part, "GET %s: more than %d bytes, the most this artifact may have", t.u, t.b.Max)
	}
	if err := t.room(n); err != nil {
		return err
	}
	t.h.Write(chunk)
	if _, err := t.out.Write(chunk); err != nil {
		return errors.Wrapf(err, "write %s", t.part)
	}
	if t.prog != nil {
		t.prog.Write(chunk)
	}
	t.got += n
	return nil
}

// room asks Room for another Step as often as the next n bytes need,
// when the size is unknown. When Room refuses, the part is synced as it
// is, to be resumed once there is room.
func (t *transfer) room(n int64) error {
	for t.got+n > t.allowed {
		if err := t.b.Room(t.b.Step); err != nil {
			if serr := t.out.Sync(); serr != nil {
				return errors.Wrapf(serr, "sync %s", t.part)
			}
			return err
		}
		t.allowed += t.b.Step
	}
	return nil
}

// keep syncs and closes the part, so what arrived stays for the next
// attempt or the next run.
func (t *transfer) keep() error {
	if err := t.out.Sync(); err != nil {
		return errors.Wrapf(err, "sync %s", t.part)
	}
	err := t.out.Close()
	t.out = nil
	if err != nil {
		return errors.Wrapf(err, "close %s", t.part)
	}
	return nil
}

// cut classes a body cut short: ctx's own error when the caller ended it,
// else transient.
func (t *transfer) cut(ctx context.Context, netErr error) error {
	if ctx.Err() != nil && context.Cause(ctx) == ctx.Err() {
		return ctx.Err()
	}
	return transient{errors.Wrapf(netErr, "GET %s after %d bytes", t.u, t.have+t.got)}
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
