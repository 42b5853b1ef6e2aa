package config

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"

	"gopkg.in/yaml.v3"
)

// merger folds normalized trees into one, in order: a later scalar wins;
// maps (structures and string maps) merge key by key, a later value
// winning; lists append, keeping order and dropping an entry equal to one
// already there (a string by its value, a mapping by its fingerprint),
// within the first source too; a list marked replace (dcp_args, an argv)
// is replaced whole and keeps repeated entries. Source nodes are adopted,
// not copied: a source tree is merged once. seen caches, per list node of
// the result, the entries it holds, and keys the keys of each mapping, so
// merging n sources stays linear.
type merger struct {
	t    *tree
	seen map[*yaml.Node]map[string]bool
	keys map[*yaml.Node]map[string]int // per mapping of the result: key -> index in Content
	work int                           // keys and entries handled, for the tests of linearity
}

func newMerger(t *tree) *merger {
	return &merger{t: t, seen: map[*yaml.Node]map[string]bool{}, keys: map[*yaml.Node]map[string]int{}}
}

// merge folds src in; src must share the result's provenance map (newTree
// with the same map), so no positions are copied.
func (m *merger) merge(src *tree) {
	m.t.root = m.node(m.t.root, src.root, rootSchema)
}

// node merges src into dst, the values of field f; nil is no value.
func (m *merger) node(dst, src *yaml.Node, f *field) *yaml.Node {
	if src == nil {
		return dst
	}
	if dst == nil {
		// The first value of a key: a structure's or a list's node is
		// adopted, its entries merged into it as into an empty one (so
		// lists in it lose their own duplicates); any other is taken.
		adopt := f.kind == kStruct || (f.kind == kStringList || f.kind == kStructList) && !f.replace
		if !adopt {
			return src
		}
		entries := src.Content
		dst, src = src, &yaml.Node{Kind: src.Kind, Content: entries}
		dst.Content = make([]*yaml.Node, 0, len(entries))
	}
	switch f.kind {
	case kStruct, kStringMap:
		return m.mapping(dst, src, f)
	case kStringList, kStructList:
		if f.replace {
			return src
		}
		return m.list(dst, src, f)
	}
	return src // scalars: the later source wins
}

// mapping merges the mapping src into dst key by key.
func (m *merger) mapping(dst, src *yaml.Node, f *field) *yaml.Node {
	at := m.keys[dst]
	if at == nil {
		at = make(map[string]int, len(dst.Content)/2)
		for j := 0; j+1 < len(dst.Content); j += 2 {
			at[dst.Content[j].Value] = j
			m.work++
		}
		m.keys[dst] = at
	}
	scalar := &field{kind: kString}
	for i := 0; i+1 < len(src.Content); i += 2 {
		m.work++
		k, v := src.Content[i], src.Content[i+1]
		c := scalar
		if f.kind == kStruct {
			c = f.lookup(k.Value)
		}
		if j, ok := at[k.Value]; ok {
			dst.Content[j+1] = m.node(dst.Content[j+1], v, c)
			continue
		}
		at[k.Value] = len(dst.Content)
		dst.Content = append(dst.Content, k, m.node(nil, v, c))
	}
	return dst
}

// list appends to dst the entries of src it does not hold yet.
func (m *merger) list(dst, src *yaml.Node, f *field) *yaml.Node {
	key := func(n *yaml.Node) string { return n.Value }
	if f.kind == kStructList {
		key = fingerprint
	}
	have := m.seen[dst]
	if have == nil {
		have = make(map[string]bool, len(dst.Content))
		for _, c := range dst.Content {
			have[key(c)] = true
			m.work++
		}
		m.seen[dst] = have
	}
	for _, c := range src.Content {
		m.work++
		if k := key(c); !have[k] {
			have[k] = true
			dst.Content = append(dst.Content, c)
		}
	}
	return dst
}

// fingerprint identifies a normalized mapping of scalars by its content: a
// SHA-256 of its length-prefixed keys and values, so that a list of entries
// sharing one large aliased content holds 32 bytes per entry, not a copy.
func fingerprint(n *yaml.Node) string {
	h := sha256.New()
	var size [8]byte
	for _, c := range n.Content {
		binary.LittleEndian.PutUint64(size[:], uint64(len(c.Value)))
		h.Write(size[:])
		io.WriteString(h, c.Value)
	}
	return string(h.Sum(nil))
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
