package install

import (
	"bytes"
	"context"

	"github.com/bhojpur/os/internal/config"
	"github.com/bhojpur/os/internal/exitcode"
)

// ConfigFile is the config to install as bos/system/config.yaml.
type ConfigFile struct {
	Ref  string // URL, path, or "answers" for the interactive questions
	Data []byte
}

// LoadConfig fetches a config and validates it; problems name file, line
// and column.
func (in *Installer) LoadConfig(ctx context.Context, ref string) (*ConfigFile, error) {
	data, err := in.Fetch.Bytes(ctx, ref)
	if err != nil {
		return nil, err
	}
	return CheckConfig(ref, data)
}

// CheckConfig validates config data named ref.
func CheckConfig(ref string, data []byte) (*ConfigFile, error) {
	l, err := config.LoadFile(ref, bytes.NewReader(data))
	if err != nil {
		return nil, classify(exitcode.ErrBadInput, err, "config %s", ref)
	}
	if err := l.Err(); err != nil {
		return nil, classify(exitcode.ErrBadInput, err, "config %s does not validate", ref)
	}
	return &ConfigFile{Ref: ref, Data: data}, nil
}
