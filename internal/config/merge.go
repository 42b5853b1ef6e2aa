package config

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// merger folds trees into one by DESIGN.md's rules: a later scalar wins,
// maps merge key by key, lists append without exact duplicates, and lists
// marked replace (dcp_args) are replaced whole. Source nodes are adopted,
// not copied: a source tree is merged once. seen caches, per list node of
// the result, the entries it holds, so merging n sources stays linear.
type merger struct {
	t    *tree
	seen map[*yaml.Node]map[string]bool
}

func newMerger(t *tree) *merger {
	return &merger{t: t, seen: map[*yaml.Node]map[string]bool{}}
}

// merge folds src in; src must share the result's provenance map (newTree
// with the same map), so no positions are copied.
func (m *merger) merge(src *tree) {
	m.t.root = m.node(m.t.root, src.root, rootSchema)
}

func (m *merger) node(dst, src *yaml.Node, f *field) *yaml.Node {
	if src == nil {
		return dst
	}
	if dst == nil {
		switch {
		case f.kind == kStruct, (f.kind == kStringList || f.kind == kStructList) && !f.replace:
			// The first value of a key: its node is adopted, its entries
			// merged into it as into an empty one (so lists in it lose
			// their own duplicates).
			entries := src.Content
			dst, src = src, &yaml.Node{Kind: src.Kind, Content: entries}
			dst.Content = make([]*yaml.Node, 0, len(entries))
		default:
			return src
		}
	}
	switch f.kind {
	case kStruct, kStringMap:
		for i := 0; i+1 < len(src.Content); i += 2 {
			k, v := src.Content[i], src.Content[i+1]
			c := &field{kind: kString}
			if f.kind == kStruct {
				c = f.lookup(k.Value)
			}
			found := false
			for j := 0; j+1 < len(dst.Content); j += 2 {
				if dst.Content[j].Value == k.Value {
					dst.Content[j+1] = m.node(dst.Content[j+1], v, c)
					found = true
					break
				}
			}
			if !found {
				dst.Content = append(dst.Content, k, m.node(nil, v, c))
			}
		}
		return dst
	case kStringList, kStructList:
		if f.replace {
			return src
		}
		key := func(n *yaml.Node) string { return n.Value }
		if f.kind == kStructList {
			key = fingerprint
		}
		have := m.seen[dst]
		if have == nil {
			have = make(map[string]bool, len(dst.Content))
			for _, c := range dst.Content {
				have[key(c)] = true
			}
			m.seen[dst] = have
		}
		for _, c := range src.Content {
			if k := key(c); !have[k] {
				have[k] = true
				dst.Content = append(dst.Content, c)
			}
		}
		return dst
	}
	return src // scalars: the later source wins
}

// fingerprint identifies a normalized mapping of scalars by its content.
func fingerprint(n *yaml.Node) string {
	var b strings.Builder
	for _, c := range n.Content {
		b.WriteString(strconv.Itoa(len(c.Value)))
		b.WriteByte(':')
		b.WriteString(c.Value)
	}
	return b.String()
}

// index maps key paths (bos.taints[1], bos.labels[region]) to the nodes of
// the merged tree, so validation messages can name file, line and column.
type index map[string]*yaml.Node

func (t *tree) index() index {
	idx := index{}
	var walk func(n *yaml.Node, f *field, path string)
	walk = func(n *yaml.Node, f *field, path string) {
		idx[path] = n
		switch f.kind {
		case kStruct:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if c := f.lookup(n.Content[i].Value); c != nil {
					p := join(path, c.name)
					idx[p+"#key"] = n.Content[i]
					walk(n.Content[i+1], c, p)
				}
			}
		case kStringMap:
			for i := 0; i+1 < len(n.Content); i += 2 {
				p := path + "[" + n.Content[i].Value + "]"
				idx[p+"#key"] = n.Content[i]
				idx[p] = n.Content[i+1]
			}
		case kStringList:
			for i, c := range n.Content {
				idx[fmt.Sprintf("%s[%d]", path, i)] = c
			}
		case kStructList:
			for i, c := range n.Content {
				walk(c, &field{kind: kStruct, fields: f.fields}, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	walk(t.root, rootSchema, "")
	return idx
}
