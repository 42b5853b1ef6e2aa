package config

import (
	"bytes"
	"encoding/json"
	"sort"

	"github.com/pkg/errors"
	"gopkg.in/yaml.v3"
)

// Origins maps the key path of every value to the position that set it,
// for example "bos.taints[1]" -> "/var/lib/bhojpur/os/config.yaml:12:5".
func (l *Loaded) Origins() map[string]string {
	out := map[string]string{}
	for p, n := range l.tree.index() {
		if n.Kind == yaml.ScalarNode && !bytes.HasSuffix([]byte(p), []byte("#key")) {
			out[p] = l.tree.pos(n).String()
		}
	}
	return out
}

// YAML renders the effective config with canonical names; with origins, a
// comment after each value says which source set it.
func (l *Loaded) YAML(origins bool) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	var err error
	if origins {
		err = enc.Encode(l.commented())
	} else {
		err = enc.Encode(&l.Config)
	}
	if err == nil {
		err = enc.Close()
	}
	return buf.Bytes(), errors.Wrap(err, "encode YAML")
}

// commented is a copy of the merged tree whose scalars carry their origin
// as a line comment.
func (l *Loaded) commented() *yaml.Node {
	var cp func(n *yaml.Node) *yaml.Node
	cp = func(n *yaml.Node) *yaml.Node {
		c := &yaml.Node{Kind: n.Kind, Tag: n.Tag, Value: n.Value, Style: n.Style}
		for i, ch := range n.Content {
			cc := cp(ch)
			isKey := n.Kind == yaml.MappingNode && i%2 == 0
			if ch.Kind == yaml.ScalarNode && !isKey {
				cc.LineComment = "from " + l.tree.pos(ch).String()
				if cc.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
					cc.Style = yaml.DoubleQuotedStyle
				}
			}
			c.Content = append(c.Content, cc)
		}
		return c
	}
	return cp(l.tree.root)
}

// JSON renders the effective config; with origins it is
// {"config": ..., "origins": {"key.path": "file:line:col"}}.
func (l *Loaded) JSON(origins bool) ([]byte, error) {
	var v any = &l.Config
	if origins {
		v = struct {
			Config  *Config           `json:"config"`
			Origins map[string]string `json:"origins"`
		}{&l.Config, l.Origins()}
	}
	out, err := json.MarshalIndent(v, "", "  ")
	return append(out, '\n'), errors.Wrap(err, "encode JSON")
}

// SortedIssues orders issues by file, line and column.
func SortedIssues(is Issues) Issues {
	out := append(Issues(nil), is...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Pos, out[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	return out
}
