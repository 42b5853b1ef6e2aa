package config

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// MaxCmdline bounds what is read of a kernel cmdline.
const MaxCmdline = 64 << 10

// word is one word of the cmdline with quotes removed and its column.
type word struct {
	text string
	col  int
}

// splitCmdline splits like the kernel does: white space separates words,
// double quotes group white space and are dropped.
func splitCmdline(s string) []word {
	var out []word
	var b strings.Builder
	start, inQuote, inWord := 0, false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			inQuote = !inQuote
			if !inWord {
				inWord, start = true, i
			}
		case !inQuote && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			if inWord {
				out = append(out, word{b.String(), start + 1})
				b.Reset()
				inWord = false
			}
		default:
			if !inWord {
				inWord, start = true, i
			}
			b.WriteByte(c)
		}
	}
	if inWord {
		out = append(out, word{b.String(), start + 1})
	}
	return out
}

// CmdlineWords splits a kernel cmdline into words as the kernel does; for
// the words that are not config (console=, root=).
func CmdlineWords(s string) []string {
	ws := splitCmdline(s)
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.text
	}
	return out
}

// cmdlineKeys are every key settable on the cmdline, for suggestions.
var cmdlineKeys = func() []string {
	var keys []string
	var walk func(f *field, prefix string)
	walk = func(f *field, prefix string) {
		for _, c := range f.fields {
			switch c.kind {
			case kStruct:
				walk(c, prefix+c.name+".")
			case kStructList:
			default:
				keys = append(keys, prefix+c.name)
			}
		}
	}
	for _, c := range rootSchema.fields {
		if c.name == "bos" {
			walk(c, "bos.")
		} else if c.kind != kStructList {
			keys = append(keys, "bos."+c.name)
		}
	}
	sort.Strings(keys)
	return keys
}()

// parseCmdline reads a kernel cmdline and returns its bos.* settings as a
// tree. Nothing on a cmdline fails a boot: every problem is a warning. Each
// word goes through three steps: split from the line (splitCmdline), read
// as a setting of a key in the schema (setting), put in the tree (insert).
func parseCmdline(file string, r io.Reader, src provenance) (*tree, Issues) {
	p := &cmdlineParser{file: file, t: newTree(src), ks: keyed{}}
	data, err := io.ReadAll(io.LimitReader(r, MaxCmdline+1))
	if err != nil {
		p.warn(1, "", "read: %v", err)
		return p.t, p.warns
	}
	if len(data) > MaxCmdline {
		p.warn(MaxCmdline, "", "cmdline longer than %d bytes: the rest is ignored", MaxCmdline)
		data = data[:MaxCmdline]
	}
	for _, w := range splitCmdline(string(data)) {
		if s, ok := p.setting(w); ok {
			p.insert(s)
		}
	}
	return p.t, p.warns
}

// cmdlineParser builds the tree of one cmdline and collects its warnings.
type cmdlineParser struct {
	file  string
	t     *tree
	ks    keyed
	warns Issues
}

func (p *cmdlineParser) warn(col int, key, format string, args ...any) {
	p.warns = append(p.warns, Issue{Pos: Pos{File: p.file, Line: 1, Col: col}, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// setting is one bos.* word resolved against the schema.
type setting struct {
	col      int
	f        *field   // the field it sets
	path     []string // canonical key names from the root: bos, install, device
	canon    string   // the key as messages name it: bos.install.device
	value    string   // after the =
	hasValue bool
	sub      string // the map key of bos.MAP[KEY]=VALUE
	hasSub   bool
}

// setting reads the word w as bos.KEY, bos.KEY=VALUE or bos.MAP[KEY]=VALUE
// with KEY a key of the schema. Other words are not settings: those not
// starting with bos. silently, the rest with a warning.
func (p *cmdlineParser) setting(w word) (setting, bool) {
	if !strings.HasPrefix(w.text, "bos.") {
		return setting{}, false
	}
	if !utf8.ValidString(w.text) {
		p.warn(w.col, "", "ignored: not valid UTF-8")
		return setting{}, false
	}
	key, value, hasValue := cutAssign(w.text)
	base, sub, hasSub, ok := splitSub(key)
	if !ok {
		// Only the part before the [ is named: the rest may run into the
		// value (bos.environment[A=secret).
		p.warn(w.col, base, "ignored: malformed [key] (write %s[KEY]=VALUE)", base)
		return setting{}, false
	}
	s := setting{col: w.col, value: value, hasValue: hasValue, sub: sub, hasSub: hasSub}
	if s.f, s.path = cmdlineField(base); s.f == nil {
		msg := fmt.Sprintf("unknown key %s: ignored", base)
		if sg := suggest(base, cmdlineKeys); sg != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", sg)
		}
		p.warn(w.col, base, "%s", msg)
		return setting{}, false
	}
	s.canon = "bos." + strings.Join(s.path, ".")
	if s.path[0] == "bos" {
		s.canon = "bos." + strings.Join(s.path[1:], ".")
	}
	if s.hasSub && s.f.kind != kStringMap {
		p.warn(w.col, s.canon, "ignored: [%s] only goes with map keys", s.sub)
		return setting{}, false
	}
	return s, true
}

// splitSub splits bos.MAP[KEY] into bos.MAP and KEY; a key without [ is
// base whole. false for a malformed [KEY] (base is then the part before
// the [).
func splitSub(key string) (base, sub string, hasSub, ok bool) {
	i := strings.IndexByte(key, '[')
	switch {
	case i < 0:
		return key, "", false, true
	case !strings.HasSuffix(key, "]") || i == len(key)-2:
		return key[:i], "", false, false
	}
	return key[:i], key[i+1 : len(key)-1], true, true
}

// cmdlineField resolves bos.A.B to its field and canonical path from the
// root. bos.KEY names a key under bos:, or a top-level key (bos.hostname)
// that bos: does not have. nil for an unknown key, or one naming a
// mapping of keys rather than a value.
func cmdlineField(base string) (*field, []string) {
	segs := strings.Split(strings.TrimPrefix(base, "bos."), ".")
	parent, path := rootSchema, []string{}
	if f := rootSchema.lookup(segs[0]); f == nil || f.name == "bos" {
		parent, path = rootSchema.lookup("bos"), []string{"bos"}
	}
	var f *field
	for i, s := range segs {
		f = parent.lookup(s)
		if f == nil || (f.kind == kStruct) != (i < len(segs)-1) {
			return nil, nil
		}
		path = append(path, f.name)
		parent = f
	}
	return f, path
}

// insert puts the setting s in the tree: a later value of a scalar or map
// key wins, list values append.
func (p *cmdlineParser) insert(s setting) {
	parent := p.t.mapAt(p.ks, s.path[:len(s.path)-1], &yaml.Node{Line: 1, Column: s.col}, p.file)
	name := s.path[len(s.path)-1]
	switch s.f.kind {
	case kString:
		if !s.hasValue {
			p.warn(s.col, s.canon, "ignored: needs a value (%s=VALUE)", s.canon)
			return
		}
		p.ks.set(parent, name, p.scalar(s, "!!str", s.value), p.t, p.file)
	case kBool:
		p.setBool(parent, name, s)
	case kStringList:
		if !s.hasValue {
			p.warn(s.col, s.canon, "ignored: needs a value (%s=VALUE)", s.canon)
			return
		}
		seq := p.child(parent, name, yaml.SequenceNode, "!!seq", s.col)
		seq.Content = append(seq.Content, p.scalar(s, "!!str", s.value))
	case kStringMap:
		if !s.hasSub {
			p.warn(s.col, s.canon, "ignored: a map key is set as %s[KEY]=VALUE", s.canon)
			return
		}
		m := p.child(parent, name, yaml.MappingNode, "!!map", s.col)
		p.ks.set(m, s.sub, p.scalar(s, "!!str", s.value), p.t, p.file)
	default:
		p.warn(s.col, s.canon, "ignored: %s cannot be set on the kernel cmdline; put it in config.yaml", s.canon)
	}
}

// setBool sets a boolean: a bare bos.KEY is true, and the value may be
// true, 1, yes, false, 0 or no.
func (p *cmdlineParser) setBool(parent *yaml.Node, name string, s setting) {
	v := "true"
	if s.hasValue {
		switch strings.ToLower(s.value) {
		case "true", "1", "yes":
		case "false", "0", "no":
			v = "false"
		default:
			p.warn(s.col, s.canon, "ignored: %q is not true or false", s.value)
			return
		}
	}
	p.ks.set(parent, name, p.scalar(s, "!!bool", v), p.t, p.file)
}

// scalar makes a value node of the setting s.
func (p *cmdlineParser) scalar(s setting, tag, v string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: v, Line: 1, Column: s.col}
	p.t.src[n] = p.file
	return n
}

// child returns the list or mapping name of m, creating it at column col.
func (p *cmdlineParser) child(m *yaml.Node, name string, kind yaml.Kind, tag string, col int) *yaml.Node {
	c := p.ks.get(m, name)
	if c == nil {
		c = &yaml.Node{Kind: kind, Tag: tag, Line: 1, Column: col}
		p.t.src[c] = p.file
		p.ks.set(m, name, c, p.t, p.file)
	}
	return c
}

// cutAssign splits KEY=VALUE, where KEY may hold [ ... ] with any bytes.
func cutAssign(s string) (key, value string, ok bool) {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
		case ']':
			depth--
		case '=':
			if depth <= 0 {
				return s[:i], s[i+1:], true
			}
		}
	}
	return s, "", false
}

// mapAt returns the mapping at path under t.root, creating it.
func (t *tree) mapAt(ks keyed, path []string, at *yaml.Node, file string) *yaml.Node {
	m := t.root
	for _, p := range path {
		c := ks.get(m, p)
		if c == nil {
			c = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: at.Line, Column: at.Column}
			t.src[c] = file
			ks.set(m, p, c, t, file)
		}
		m = c
	}
	return m
}

// keyed indexes the keys of the mappings a parser builds (key -> index in
// Content), so a cmdline setting thousands of map entries stays linear.
type keyed map[*yaml.Node]map[string]int

func (ks keyed) of(m *yaml.Node) map[string]int {
	at := ks[m]
	if at == nil {
		at = make(map[string]int, len(m.Content)/2)
		for i := 0; i+1 < len(m.Content); i += 2 {
			at[m.Content[i].Value] = i
		}
		ks[m] = at
	}
	return at
}

func (ks keyed) get(m *yaml.Node, key string) *yaml.Node {
	if i, ok := ks.of(m)[key]; ok {
		return m.Content[i+1]
	}
	return nil
}

func (ks keyed) set(m *yaml.Node, key string, v *yaml.Node, t *tree, file string) {
	at := ks.of(m)
	if i, ok := at[key]; ok {
		m.Content[i+1] = v
		return
	}
	k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key, Line: v.Line, Column: v.Column}
	t.src[k] = file
	at[key] = len(m.Content)
	m.Content = append(m.Content, k, v)
}
