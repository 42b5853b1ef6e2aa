// Package userdata tells what a cloud userdata payload is: #cloud-config or
// plain YAML, a #! script, or something unsupported. Both the data sources
// (before writing it) and the config loader (before merging it) use it.
package userdata

import (
	"bytes"
	"compress/gzip"
	"io"
	"regexp"

	"github.com/pkg/errors"
	"gopkg.in/yaml.v3"
)

// Kind is what a userdata payload is.
type Kind int

// The kinds of userdata.
const (
	KindNone        Kind = iota // no userdata, or only white space
	KindCloudConfig             // starts with #cloud-config
	KindYAML                    // a YAML mapping without the #cloud-config line
	KindScript                  // starts with #!
	KindUnknown                 // anything else: reported, not written
)

func (k Kind) String() string {
	switch k {
	case KindNone:
		return "none"
	case KindCloudConfig:
		return "#cloud-config YAML"
	case KindYAML:
		return "YAML"
	case KindScript:
		return "#! script"
	}
	return "unknown"
}

var gzipMagic = []byte{0x1f, 0x8b}

// ErrTooLarge is userdata over its size bound, compressed or not.
var ErrTooLarge = errors.New("userdata too large")

// Userdata is a payload made ready to write.
type Userdata struct {
	Data       []byte // decompressed
	Kind       Kind
	Compressed bool
	// Problem says, without quoting the payload, why a payload is
	// KindUnknown or why a #cloud-config payload does not parse.
	Problem string
}

// Classify decompresses gzip userdata (once, bounded by max bytes
// out) and says what it is. It never returns the payload's text in
// Problem or in an error: userdata may hold secrets.
func Classify(raw []byte, max int64) (Userdata, error) {
	u := Userdata{Data: raw}
	if int64(len(raw)) > max {
		return u, errors.Wrapf(ErrTooLarge, "userdata is %d bytes, over the bound of %d", len(raw), max)
	}
	if bytes.HasPrefix(raw, gzipMagic) {
		out, err := gunzip(raw, max)
		if err != nil {
			return u, err
		}
		u.Data, u.Compressed = out, true
	}
	u.Kind, u.Problem = kindOf(u.Data)
	return u, nil
}

// gunzip decompresses at most max bytes; more is an error (a gzip bomb
// stops after max+1 bytes of output).
func gunzip(raw []byte, max int64) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, errors.Wrap(err, "userdata looks gzip-compressed but has no valid gzip header")
	}
	defer zr.Close()
	zr.Multistream(true)
	out, err := io.ReadAll(io.LimitReader(zr, max+1))
	if err != nil {
		return nil, errors.Wrap(err, "decompressing gzip userdata")
	}
	if int64(len(out)) > max {
		return nil, errors.Wrapf(ErrTooLarge, "gzip userdata decompresses to more than %d bytes", max)
	}
	return out, nil
}

var bom = []byte{0xef, 0xbb, 0xbf}

// lineRE finds the line number in a yaml.v3 error, which is all we report.
var lineRE = regexp.MustCompile(`line (\d+)`)

// YAMLErrorLine returns the match of "line N" in a yaml.v3 error message:
// the position without the text, which may be secret.
func YAMLErrorLine(msg string) []string { return lineRE.FindStringSubmatch(msg) }

func kindOf(data []byte) (Kind, string) {
	d := bytes.TrimPrefix(data, bom)
	if len(bytes.TrimSpace(d)) == 0 {
		return KindNone, ""
	}
	switch {
	case bytes.HasPrefix(d, []byte("#!")):
		return KindScript, ""
	case bytes.HasPrefix(d, []byte("#cloud-config")):
		if p := yamlProblem(d); p != "" {
			return KindCloudConfig, p
		}
		return KindCloudConfig, ""
	case bytes.HasPrefix(d, gzipMagic):
		return KindUnknown, "gzip inside gzip is not supported"
	case bytes.HasPrefix(d, []byte("Content-Type:")) || bytes.HasPrefix(d, []byte("MIME-Version:")):
		return KindUnknown, "MIME multi-part userdata is not supported"
	}
	if p := yamlProblem(d); p != "" {
		return KindUnknown, "not a #cloud-config, a #! script or a YAML mapping: " + p
	}
	return KindYAML, ""
}

// yamlProblem says why d is not one YAML mapping, or "".
func yamlProblem(d []byte) string {
	var n yaml.Node
	if err := yaml.Unmarshal(d, &n); err != nil {
		if m := lineRE.FindStringSubmatch(err.Error()); m != nil {
			return "YAML syntax error at line " + m[1]
		}
		return "YAML syntax error"
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 && n.Content[0].Kind == yaml.MappingNode {
		return ""
	}
	if n.Kind == 0 || (n.Kind == yaml.DocumentNode && len(n.Content) == 0) {
		return "" // only comments: an empty config
	}
	return "the YAML document is not a mapping"
}
