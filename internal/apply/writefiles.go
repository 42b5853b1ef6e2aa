package apply

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"io"
	"strconv"
	"strings"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/apply/account"
	"github.com/bhojpur/os/internal/config"
)

// MaxFileSize bounds a write_files entry after decoding and decompressing.
const MaxFileSize = 64 << 20

// ErrTooLarge is returned for content over MaxFileSize.
var ErrTooLarge = errors.New("content is over 64 MiB once decoded")

// writeFileStep is one write_files entry.
type writeFileStep struct{ File config.File }

func (s writeFileStep) String() string { return "write_files " + s.File.Path }

func (s writeFileStep) Apply(ctx context.Context, t *Target) error {
	f := s.File
	if fsPath(f.Path) == "" {
		return errors.Errorf("path %q is not a file inside the root", f.Path)
	}
	data, err := DecodeContent(f.Encoding, f.Content)
	if err != nil {
		return errors.Wrapf(err, "%s", f.Path)
	}
	perm := uint64(0o644)
	if f.Permissions != "" {
		if perm, err = strconv.ParseUint(f.Permissions, 8, 32); err != nil || perm > 0o7777 {
			return errors.Errorf("%s: permissions %q are not an octal mode", f.Path, f.Permissions)
		}
	}
	uid, gid, err := t.resolveOwner(f.Owner)
	if err != nil {
		return errors.Wrapf(err, "%s", f.Path)
	}
	_, err = t.writeFile(f.Path, data, unixMode(uint32(perm)), uid, gid)
	return err
}

// resolveOwner resolves user[:group] through the root's etc/passwd and
// etc/group.
func (t *Target) resolveOwner(owner string) (int, int, error) {
	if owner == "" || owner == "root" || owner == "root:root" {
		return 0, 0, nil
	}
	passwd, _ := readFile(t.FS, "etc/passwd")
	group, _ := readFile(t.FS, "etc/group")
	return account.ResolveOwner(owner, account.ParsePasswd(passwd), account.ParseGroup(group))
}

// DecodeContent decodes write_files content as cloud-init does: empty or
// text/plain (as is; YAML !!binary is already decoded by the YAML reader),
// b64/base64, gz/gzip, and gz+b64 style combinations. The result is at most
// MaxFileSize bytes.
func DecodeContent(encoding, content string) ([]byte, error) {
	var b64, gz bool
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "", "text/plain":
	case "b64", "base64":
		b64 = true
	case "gz", "gzip", "application/x-gzip":
		gz = true
	case "gz+b64", "gz+base64", "gzip+b64", "gzip+base64":
		b64, gz = true, true
	default:
		return nil, errors.Errorf("unknown encoding %q", encoding)
	}
	data := []byte(content)
	if b64 {
		clean := strings.Map(func(r rune) rune {
			if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, content)
		dec, err := base64.StdEncoding.DecodeString(clean)
		if err != nil {
			// some writers drop the padding
			var err2 error
			if dec, err2 = base64.RawStdEncoding.DecodeString(strings.TrimRight(clean, "=")); err2 != nil {
				return nil, errors.Wrap(err, "base64")
			}
		}
		data = dec
	}
	if gz {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, errors.Wrap(err, "gzip")
		}
		out, err := io.ReadAll(io.LimitReader(zr, MaxFileSize+1))
		if err != nil {
			return nil, errors.Wrap(err, "gzip")
		}
		data = out
	}
	if len(data) > MaxFileSize {
		return nil, ErrTooLarge
	}
	return data, nil
}
