package config

import (
	"compress/gzip"
	"encoding/base64"
	"io"
	"strconv"
	"strings"

	"github.com/pkg/errors"
)

// MaxWriteFiles bounds what all write_files entries of the merged config
// decode to, together (so each one too): 64 MiB. The config itself is at
// most 1 MiB a source, but gzip turns 64 KiB into 64 MiB, and files are
// written at every boot, /etc to RAM.
const MaxWriteFiles = 64 << 20

// Mode returns the permission bits of the entry (setuid, setgid and
// sticky included): 0644 when not set. permissions is an octal string,
// with an optional 0 or 0o in front.
func (f File) Mode() (uint32, error) {
	if f.Permissions == "" {
		return 0o644, nil
	}
	if !rx(patPermissions).MatchString(f.Permissions) {
		return 0, errors.Errorf("permissions %q are not an octal mode", f.Permissions)
	}
	m, err := strconv.ParseUint(strings.TrimPrefix(f.Permissions, "0o"), 8, 32)
	return uint32(m), err
}

// ErrTooLarge is content that decodes to more than the limit asked for.
var ErrTooLarge = errors.New("content too large once decoded")

// Decode returns the content of the entry decoded as its encoding says
// (one of Encodings): base64 may be wrapped and indented, gzip may hold
// several members. More than limit bytes is an error wrapping ErrTooLarge.
func (f File) Decode(limit int64) ([]byte, error) {
	var d decoder
	r, err := d.open(f)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, errors.Wrapf(ErrTooLarge, "over %d bytes once decoded", limit)
	}
	return data, nil
}

// decoder decodes write_files content as a stream; its gzip reader (and
// its 32 KiB window) is reused from entry to entry.
type decoder struct{ gz *gzip.Reader }

// open returns a reader of the decoded content of f.
func (d *decoder) open(f File) (io.Reader, error) {
	var b64, gz bool
	switch f.Encoding {
	case "":
	case "b64", "base64":
		b64 = true
	case "gz", "gzip":
		gz = true
	case "gz+b64", "gz+base64", "gzip+b64", "gzip+base64":
		b64, gz = true, true
	default:
		return nil, errors.Errorf("unknown encoding %q", f.Encoding)
	}
	var r io.Reader = strings.NewReader(f.Content)
	if b64 {
		r = &named{"base64", base64.NewDecoder(base64.StdEncoding, &unspaced{s: f.Content})}
	}
	if gz {
		var err error
		if d.gz == nil {
			d.gz, err = gzip.NewReader(r)
		} else {
			err = d.gz.Reset(r)
		}
		if err != nil {
			return nil, err
		}
		r = d.gz
	}
	return r, nil
}

// size returns how many bytes f decodes to, reading at most limit+1.
func (d *decoder) size(f File, limit int64) (int64, error) {
	r, err := d.open(f)
	if err != nil {
		return 0, err
	}
	return io.Copy(io.Discard, io.LimitReader(r, limit+1))
}

// unspaced reads a string without its ASCII white space (base64 wrapped on
// lines and indented in YAML).
type unspaced struct{ s string }

func (u *unspaced) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && len(u.s) > 0 {
		i := strings.IndexAny(u.s, " \t\n\r\v\f")
		if i < 0 {
			i = len(u.s)
		}
		c := copy(p[n:], u.s[:i])
		n += c
		u.s = u.s[c:]
		if c == i && len(u.s) > 0 {
			u.s = u.s[1:] // the white space
		}
	}
	if n == 0 && len(u.s) == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// named prefixes the errors of a reader with what it decodes.
type named struct {
	what string
	r    io.Reader
}

func (n *named) Read(p []byte) (int, error) {
	c, err := n.r.Read(p)
	if err != nil && err != io.EOF {
		err = errors.Wrap(err, n.what)
	}
	return c, err
}
