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

// ParseCmdline reads a kernel cmdline and returns its bos.* settings as a
// tree. Nothing on a cmdline fails a boot: every problem is a warning.
func parseCmdline(file string, r io.Reader, src provenance) (*tree, Issues) {
	t := newTree(src)
	var warns Issues
	warn := func(col int, key, format string, args ...any) {
		warns = append(warns, Issue{Pos: Pos{File: file, Line: 1, Col: col}, Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxCmdline+1))
	if err != nil {
		warn(1, "", "read: %v", err)
		return t, warns
	}
	if len(data) > MaxCmdline {
		warn(MaxCmdline, "", "cmdline longer than %d bytes: the rest is ignored", MaxCmdline)
		data = data[:MaxCmdline]
	}
	bos := rootSchema.lookup("bos")
	ks := keyed{}
	for _, w := range splitCmdline(string(data)) {
		if !strings.HasPrefix(w.text, "bos.") {
			continue
		}
		if !utf8.ValidString(w.text) {
			warn(w.col, "", "ignored: not valid UTF-8")
			continue
		}
		key, value, hasValue := cutAssign(w.text)
		base, sub, hasSub := key, "", false
		if i := strings.IndexByte(key, '['); i >= 0 {
			if !strings.HasSuffix(key, "]") || i == len(key)-2 {
				// key[i:] may run into the value (bos.environment[A=secret).
				warn(w.col, key[:i], "ignored: malformed [key] (write %s[KEY]=VALUE)", key[:i])
				continue
			}
			base, sub, hasSub = key[:i], key[i+1:len(key)-1], true
		}
		segs := strings.Split(strings.TrimPrefix(base, "bos."), ".")
		parent, f := rootSchema, rootSchema.lookup(segs[0])
		path := []string{}
		if f == nil || f.name == "bos" {
			parent, f, path = bos, nil, []string{"bos"}
		}
		ok := true
		for i, s := range segs {
			f = parent.lookup(s)
			if f == nil || (f.kind == kStruct) != (i < len(segs)-1) {
				ok = false
				break
			}
			path = append(path, f.name)
			parent = f
		}
		if !ok {
			msg := fmt.Sprintf("unknown key %s: ignored", base)
			if s := suggest(base, cmdlineKeys); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			}
			warn(w.col, base, "%s", msg)
			continue
		}
		canon := "bos." + strings.Join(path, ".")
		if path[0] == "bos" {
			canon = "bos." + strings.Join(path[1:], ".")
		}
		if hasSub && f.kind != kStringMap {
			warn(w.col, canon, "ignored: [%s] only goes with map keys", sub)
			continue
		}
		at := &yaml.Node{Line: 1, Column: w.col}
		scalar := func(tag, v string) *yaml.Node {
			n := &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: v, Line: 1, Column: w.col}
			t.src[n] = file
			return n
		}
		parentMap := t.mapAt(ks, path[:len(path)-1], at, file)
		name := path[len(path)-1]
		switch f.kind {
		case kString:
			if !hasValue {
				warn(w.col, canon, "ignored: needs a value (%s=VALUE)", canon)
				continue
			}
			ks.set(parentMap, name, scalar("!!str", value), t, file)
		case kBool:
			v := "true"
			if hasValue {
				switch strings.ToLower(value) {
				case "true", "1", "yes":
				case "false", "0", "no":
					v = "false"
				default:
					warn(w.col, canon, "ignored: %q is not true or false", value)
					continue
				}
			}
			ks.set(parentMap, name, scalar("!!bool", v), t, file)
		case kStringList:
			if !hasValue {
				warn(w.col, canon, "ignored: needs a value (%s=VALUE)", canon)
				continue
			}
			seq := ks.get(parentMap, name)
			if seq == nil {
				seq = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: 1, Column: w.col}
				t.src[seq] = file
				ks.set(parentMap, name, seq, t, file)
			}
			seq.Content = append(seq.Content, scalar("!!str", value))
		case kStringMap:
			if !hasSub {
				warn(w.col, canon, "ignored: a map key is set as %s[KEY]=VALUE", canon)
				continue
			}
			m := ks.get(parentMap, name)
			if m == nil {
				m = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: 1, Column: w.col}
				t.src[m] = file
				ks.set(parentMap, name, m, t, file)
			}
			ks.set(m, sub, scalar("!!str", value), t, file)
		default:
			warn(w.col, canon, "ignored: %s cannot be set on the kernel cmdline; put it in config.yaml", canon)
		}
	}
	return t, warns
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
