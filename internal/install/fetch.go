package install

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/exitcode"
	"github.com/bhojpur/os/internal/fetch"
	"github.com/bhojpur/os/internal/layout"
	"github.com/bhojpur/os/internal/store"
)

// Fetcher gets configs, checksum lists and ISOs from local paths, or over
// HTTP(S) through package fetch (retries, timeouts, resume, hashing,
// progress), and classes its errors by exit code.
type Fetcher struct {
	HTTP   *fetch.Fetcher // nil: a fetch.Fetcher with its defaults
	MaxISO int64          // the largest ISO it downloads (0: MaxISOSize)
}

// MaxISOSize bounds a downloaded ISO: many times a release's (about 300
// MB), far below what would fill a disk by surprise.
const MaxISOSize = 4 << 30

func (f *Fetcher) http() *fetch.Fetcher {
	if f.HTTP != nil {
		return f.HTTP
	}
	return &fetch.Fetcher{}
}

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

// MaxConfigSize bounds a downloaded config or checksum file.
const MaxConfigSize = 4 << 20

// Bytes fetches a small file: a config or a checksum list. A failed
// download is exitcode.ErrDownload (fetch.ErrNotFound stays visible to
// errors.Is); a missing local file exitcode.ErrBadInput.
func (f *Fetcher) Bytes(ctx context.Context, ref string) ([]byte, error) {
	if !IsRemote(ref) {
		b, err := os.ReadFile(localPath(ref))
		if err != nil {
			return nil, errors.Wrapf(exitcode.ErrBadInput, "read %s: %v", ref, err)
		}
		return b, nil
	}
	data, _, err := f.http().Get(ctx, ref, MaxConfigSize)
	if err != nil {
		return nil, classify(exitcode.ErrDownload, err, "download %s", ref)
	}
	return data, nil
}

// Download fetches an ISO into the file dst, hashing it on the way, and
// checks it against want, the published sum ("" when none is: not
// verified). An ISO larger than f.MaxISO, or than the room left beside dst,
// is refused before it fills the disk. It returns the sha256 in hex.
// Download, size and checksum failures are exitcode.ErrDownload; failures
// to write dst (and no room for it) exitcode.ErrDisk.
func (f *Fetcher) Download(ctx context.Context, u, dst, want string) (string, error) {
	fsys, err := store.NewOSFS(filepath.Dir(dst))
	if err != nil {
		return "", classify(exitcode.ErrDisk, err, "download %s", u)
	}
	max := f.MaxISO
	if max <= 0 {
		max = MaxISOSize
	}
	bounds := &fetch.Bounds{Max: max, Room: func(n int64) error {
		return store.NeedSpace(fsys, "/", n, "the ISO")
	}}
	res, err := f.http().Download(ctx, u, fsys, filepath.Base(dst), want, bounds)
	switch {
	case err == nil:
		return res.Sum, nil
	case errors.Is(err, fetch.ErrChecksum):
		return "", classify(exitcode.ErrDownload, err, "ISO %s does not match the published sha256", u)
	case errors.Is(err, fetch.ErrFetch) || ctx.Err() != nil:
		return "", classify(exitcode.ErrDownload, err, "download %s", u)
	default: // the file, not the network
		return "", classify(exitcode.ErrDisk, err, "download %s", u)
	}
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

// sumsRef is the checksum list beside an ISO URL or path.
func sumsRef(iso, arch string) string {
	if IsRemote(iso) {
		u, err := fetch.SumsURL(iso, arch)
		if err != nil {
			return ""
		}
		return u
	}
	return filepath.Join(filepath.Dir(localPath(iso)), layout.Sums(arch))
}

// isoName is the base name of an ISO URL or path.
func isoName(iso string) string {
	if IsRemote(iso) {
		return fetch.ArtifactName(iso)
	}
	return filepath.Base(localPath(iso))
}

// Checksum fetches the checksum list beside an ISO and returns the
// published sum of the ISO, with a note for the plan. No list published is
// not an error (the note says so); a list that cannot be read is.
func (f *Fetcher) Checksum(ctx context.Context, iso, arch string) (sum, note string, err error) {
	ref := sumsRef(iso, arch)
	if IsRemote(iso) {
		sum, _, err := f.http().PublishedSum(ctx, iso, arch)
		switch {
		case errors.Is(err, fetch.ErrNotFound):
			return "", "no " + layout.Sums(arch) + " published beside the ISO: not verified", nil
		case errors.Is(err, fetch.ErrNotListed):
			return "", ref + " does not list " + isoName(iso) + ": not verified", nil
		case err != nil:
			return "", "", classify(exitcode.ErrDownload, err, "checksum list %s", ref)
		}
		return sum, "sha256 verified against " + ref, nil
	}
	if _, err := os.Stat(ref); os.IsNotExist(err) {
		return "", "no " + layout.Sums(arch) + " beside the ISO: not verified", nil
	}
	data, err := f.Bytes(ctx, ref)
	if err != nil {
		return "", "", err
	}
	sums, err := fetch.ParseSums(bytes.NewReader(data))
	if err != nil {
		return "", "", classify(exitcode.ErrDownload, err, "checksum list %s", ref)
	}
	sum = sums[isoName(iso)]
	if sum == "" {
		return "", ref + " does not list " + isoName(iso) + ": not verified", nil
	}
	return sum, "sha256 verified against " + ref, nil
}
