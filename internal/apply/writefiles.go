package apply

import (
	"context"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/account"
	"github.com/bhojpur/os/internal/config"
)

// MaxFileSize bounds a write_files entry after decoding and decompressing
// (the loader bounds all of them together: config.MaxWriteFiles). Content
// is decoded by config.File.Decode, the decoder validation uses.
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
	data, err := f.Decode(MaxFileSize)
	if errors.Is(err, config.ErrTooLarge) {
		err = ErrTooLarge
	}
	if err != nil {
		return errors.Wrapf(err, "%s", f.Path)
	}
	perm, err := f.Mode()
	if err != nil {
		return errors.Wrapf(err, "%s", f.Path)
	}
	uid, gid, err := t.resolveOwner(f.Owner)
	if err != nil {
		return errors.Wrapf(err, "%s", f.Path)
	}
	_, err = t.writeFile(f.Path, data, unixMode(perm), uid, gid)
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
