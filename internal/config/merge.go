package config

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// merge folds src into dst by DESIGN.md's rules: a later scalar wins, maps
// merge key by key, lists append without exact duplicates, and lists marked
// replace (dcp_args) are replaced whole. src's nodes are adopted, not copied:
// a source tree is merged once.
func (dst *tree) merge(src *tree) {
	for n, f := range src.src {
		dst.src[n] = f
	}
	dst.root = mergeNode(dst.root, src.root, rootSchema)
}

func mergeNode(dst, src *yaml.Node, f *field) *yaml.Node {
	if dst == nil {
		return src
	}
	if src == nil {
		return dst
	}
	switch f.kind {
	case kStruct, kStringMap:
		for i := 0; i+1 < len(src.Content); i += 2 {
			k, v := src.Content[i], src.Content[i+1]
			var c *field
			if f.kind == kStruct {
				c = f.lookup(k.Value)
			} else {
				c = &field{kind: kString}
			}
			found := false
			for j := 0; j+1 < len(dst.Content); j += 2 {
				if dst.Content[j].Value == k.Value {
					dst.Content[j+1] = mergeNode(dst.Content[j+1], v, c)
					found = true
					break
				}
			}
			if !found {
				dst.Content = append(dst.Content, k, v)
			}
		}
		return dst
	case kStringList:
		if f.replace {
			return src
		}
		have := map[string]bool{}
		for _, c := range dst.Content {
			have[c.Value] = true
		}
		for _, c := range src.Content {
			if !have[c.Value] {
				have[c.Value] = true
				dst.Content = append(dst.Content, c)
			}
		}
		return dst
	case kStructList:
		have := map[string]bool{}
		for _, c := range dst.Content {
			have[fingerprint(c)] = true
		}
		for _, c := range src.Content {
			if fp := fingerprint(c); !have[fp] {
				have[fp] = true
				dst.Content = append(dst.Content, c)
			}
		}
		return dst
	}
	return src // scalars: the later source wins
}

// fingerprint identifies a normalized mapping of scalars by its content.
func fingerprint(n *yaml.Node) string {
	s := ""
	for _, c := range n.Content {
		s += fmt.Sprintf("%d:%s;", len(c.Value), c.Value)
	}
	return s
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
