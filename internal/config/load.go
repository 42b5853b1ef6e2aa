package config

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pkg/errors"
	"gopkg.in/yaml.v3"
)

// MaxFileSize bounds every config source, compressed or not.
const MaxFileSize = 1 << 20

// MaxLoadAlloc bounds what loading one source of at most MaxFileSize
// bytes allocates in all (Go's TotalAlloc, so its peak heap too), whatever
// the source holds: TestLoadMemoryBound checks it with Load and LoadFile
// on the adversarial sources of package configtest. The worst of those
// (30,000 write_files entries, or 95,000 labels) allocate about 115 MiB;
// the rest is headroom for other Go and yaml.v3 versions.
const MaxLoadAlloc = 160 << 20

// Bounds of the work on one document. Aliases count after expansion: a
// value reached through five aliases counts five times. A document over
// either bound is ignored whole, with one problem saying so.
const (
	maxNodes    = 200000  // values, list items and mapping keys visited
	maxExpanded = 4 << 20 // bytes of scalar values and keys visited
	maxIssues   = 100     // problems kept per document; the rest are counted
)

// Pos is where a value came from.
type Pos struct {
	File      string
	Line, Col int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Issue is one problem or warning, with its position and key path.
type Issue struct {
	Pos Pos
	Key string // the key path, such as bos.taints[1]; empty for whole-file issues
	Msg string
}

func (i Issue) String() string {
	if i.Key == "" {
		return i.Pos.String() + ": " + i.Msg
	}
	return i.Pos.String() + ": " + i.Key + ": " + i.Msg
}

// Issues is a list of problems; as an error it prints one per line.
type Issues []Issue

func (is Issues) Error() string {
	lines := make([]string, len(is))
	for i, x := range is {
		lines[i] = x.String()
	}
	return strings.Join(lines, "\n")
}

// tree is a normalized document: canonical key names, lists where lists
// belong, scalars as strings or booleans. src remembers the file of every
// node, so merged trees still know where each value came from.
type tree struct {
	root *yaml.Node // a mapping node
	src  provenance
}

// provenance maps every node to the file it came from; the trees of one load
// share one, so merging them copies nothing.
type provenance map[*yaml.Node]string

// newTree makes an empty tree recording positions in src (a new map if nil).
func newTree(src provenance) *tree {
	if src == nil {
		src = provenance{}
	}
	return &tree{root: &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}, src: src}
}

func (t *tree) pos(n *yaml.Node) Pos {
	if n == nil {
		return Pos{}
	}
	return Pos{File: t.src[n], Line: n.Line, Col: n.Column}
}

// normalizer turns one parsed document into a tree, collecting issues.
type normalizer struct {
	file   string
	t      *tree
	issues Issues
	errs   int // problems found, kept in issues or not
	hidden Pos // where the first problem not kept is
	nodes  int // work done, as maxNodes counts it
	bytes  int // work done, as maxExpanded counts it
	over   *Issue
}

// full tells whether no further problem is kept (only counted), so that
// callers can skip composing a costly message.
func (z *normalizer) full() bool { return len(z.issues) >= maxIssues }

func (z *normalizer) errorf(n *yaml.Node, key, format string, args ...any) {
	p := Pos{File: z.file}
	if n != nil {
		p.Line, p.Col = n.Line, n.Column
	}
	if z.errs++; z.full() {
		if z.errs == maxIssues+1 {
			z.hidden = p
		}
		return
	}
	z.issues = append(z.issues, Issue{Pos: p, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// spend counts the visit of n (a value, list item or mapping key, reached
// directly or through aliases) and tells whether the document is still
// within its bounds.
func (z *normalizer) spend(n *yaml.Node, _ string) bool {
	if z.over != nil {
		return false
	}
	z.nodes++
	if n != nil {
		z.bytes += len(n.Value)
	}
	msg := ""
	switch {
	case z.nodes > maxNodes:
		msg = fmt.Sprintf("document too large: over %d nodes once aliases are expanded: the file is ignored", maxNodes)
	case z.bytes > maxExpanded:
		msg = fmt.Sprintf("document too large: over %d MiB of values once aliases are expanded: the file is ignored", maxExpanded>>20)
	default:
		return true
	}
	z.over = &Issue{Pos: Pos{File: z.file}, Msg: msg} // no key: the file is refused whole
	if n != nil {
		z.over.Pos.Line, z.over.Pos.Col = n.Line, n.Column
	}
	return false
}

// node makes a fresh node at the position of from.
func (z *normalizer) node(from *yaml.Node, kind yaml.Kind, tag, value string) *yaml.Node {
	n := &yaml.Node{Kind: kind, Tag: tag, Value: value, Line: from.Line, Column: from.Column}
	z.t.src[n] = z.file
	return n
}

// parseYAML parses one YAML document into a tree. A document over the
// bounds (maxNodes, maxExpanded) gives an empty tree and that one problem.
func parseYAML(file string, data []byte, src provenance) (*tree, Issues) {
	z := &normalizer{file: file, t: newTree(src)}
	root, issue := decodeOne(file, data)
	if issue != nil {
		return z.t, Issues{*issue}
	}
	if root == nil { // an empty document
		return z.t, nil
	}
	if m := z.value(root, rootSchema, ""); m != nil {
		z.t.root = m
	}
	if z.over != nil {
		// What was read before the bound is an arbitrary part: none of it
		// is applied.
		return newTree(src), Issues{*z.over}
	}
	if z.errs > len(z.issues) {
		z.issues = append(z.issues, Issue{Pos: z.hidden, Msg: fmt.Sprintf("%d more problems in this file are not shown", z.errs-len(z.issues))})
	}
	return z.t, z.issues
}

// decodeOne parses data, a text file, as one YAML document and returns its
// root node: nil for an empty document, or the reason it is not one.
func decodeOne(file string, data []byte) (*yaml.Node, *Issue) {
	if err := checkText(data); err != nil {
		return nil, err.issue(file)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err == io.EOF {
		return nil, nil
	} else if err != nil {
		is := yamlIssue(file, data, err)
		return nil, &is
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		line := extra.Line
		if err != nil {
			line = 0
		}
		return nil, &Issue{Pos: Pos{File: file, Line: max(line, 1), Col: 1}, Msg: "more than one YAML document: a config is one document (remove the second ---)"}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	return root, nil
}

type textError struct {
	offset int // where the problem is; -1 for the whole file
	msg    string
	data   []byte
}

func (e *textError) Error() string { return e.msg }

func (e *textError) issue(file string) *Issue {
	if e.offset < 0 {
		return &Issue{Pos: Pos{File: file}, Msg: e.msg}
	}
	line, col := 1, 1
	for _, b := range e.data[:e.offset] {
		if b == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return &Issue{Pos: Pos{File: file, Line: line, Col: col}, Msg: e.msg}
}

// checkText refuses what is not a text file of reasonable size.
func checkText(data []byte) *textError {
	if len(data) > MaxFileSize {
		return &textError{offset: -1, msg: fmt.Sprintf("file is %d bytes; a config may be at most %d (1 MiB)", len(data), MaxFileSize), data: data}
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return &textError{offset: i, msg: "NUL byte: this is a binary file, not YAML", data: data}
	}
	if !utf8.Valid(data) {
		i := 0
		for i < len(data) {
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			i += size
		}
		return &textError{offset: i, msg: "invalid UTF-8: save the file as UTF-8", data: data}
	}
	return nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlIssue turns a yaml.v3 syntax error into an issue with a position.
func yamlIssue(file string, data []byte, err error) Issue {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		col := 1
		lines := bytes.Split(data, []byte("\n"))
		if line >= 1 && line <= len(lines) {
			col = len(lines[line-1]) - len(bytes.TrimLeft(lines[line-1], " \t")) + 1
		}
		return Issue{Pos: Pos{File: file, Line: line, Col: col}, Msg: "YAML syntax: " + m[2]}
	}
	return Issue{Pos: Pos{File: file, Line: 1, Col: 1}, Msg: "YAML syntax: " + strings.TrimPrefix(msg, "yaml: ")}
}

// deref follows aliases, counting nodes so alias bombs stop early.
func (z *normalizer) deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if i > 100 {
			return nil
		}
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!bool":
			return "a boolean"
		case "!!int", "!!float":
			return "a number"
		}
		return fmt.Sprintf("%q", clip(n.Value))
	}
	return "something else"
}

// describeAt is describe for the value at path: for a secret, only what
// kind of value it is.
func describeAt(n *yaml.Node, path string) string {
	if secret(path) && n.Kind == yaml.ScalarNode && describe(n)[0] == '"' {
		return "a string"
	}
	return describe(n)
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// value normalizes n against field f; nil means absent. An empty list or
// mapping is no value, like null.
func (z *normalizer) value(n *yaml.Node, f *field, path string) *yaml.Node {
	v := z.value1(n, f, path)
	if v != nil && (v.Kind == yaml.SequenceNode || v.Kind == yaml.MappingNode) && len(v.Content) == 0 {
		return nil
	}
	return v
}

// value1 is value before the empty-is-absent rule: it counts n against the
// document's bounds and normalizes it by the kind of f.
func (z *normalizer) value1(n *yaml.Node, f *field, path string) *yaml.Node {
	if n = z.deref(n); n == nil || !z.spend(n, path) || isNull(n) {
		return nil
	}
	switch f.kind {
	case kString:
		return z.str(n, f, path)
	case kBool:
		return z.boolean(n, path)
	case kStringList:
		return z.stringList(n, f, path)
	case kStringMap:
		return z.stringMap(n, f, path)
	case kStruct:
		return z.structure(n, f, path)
	case kStructList:
		return z.structList(n, f, path)
	}
	return nil
}

// str normalizes a string; !!binary stays tagged so (binaryContent turns
// it into base64 text).
func (z *normalizer) str(n *yaml.Node, f *field, path string) *yaml.Node {
	if !z.isString(n, f, path) {
		return nil
	}
	tag := "!!str"
	if n.Tag == "!!binary" {
		tag = "!!binary"
	}
	out := z.node(n, yaml.ScalarNode, tag, n.Value)
	out.Style = n.Style &^ (yaml.TaggedStyle)
	return out
}

// isString tells whether n is a string where f wants one, reporting why not:
// a number or boolean is refused, not turned into text, and !!binary is
// only for write_files content.
func (z *normalizer) isString(n *yaml.Node, f *field, path string) bool {
	text := n.Tag == "!!str" || n.Tag == "!!binary"
	switch {
	case n.Kind != yaml.ScalarNode:
		z.errorf(n, path, "expected %s, got %s", f.kind, describeAt(n, path))
	case n.Tag == "!!binary" && f.name != "content":
		z.errorf(n, path, "!!binary is only allowed for write_files content")
	case !text && secret(path):
		z.errorf(n, path, "expected a string, got %s: quote it", describeAt(n, path))
	case !text:
		z.errorf(n, path, "expected a string, got %s: quote it (\"%s\")", describe(n), clip(n.Value))
	default:
		return true
	}
	return false
}

// boolean normalizes an unquoted true or false.
func (z *normalizer) boolean(n *yaml.Node, path string) *yaml.Node {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!bool" {
		switch v := strings.ToLower(n.Value); v {
		case "true", "false":
			return z.node(n, yaml.ScalarNode, "!!bool", v)
		}
	}
	z.errorf(n, path, "expected true or false (unquoted), got %s", describe(n))
	return nil
}

// stringList normalizes a list of strings; a lone string is a list of one.
// A bad entry is left out, except from an argv (f.replace: dcp_args),
// which is taken whole or not at all.
func (z *normalizer) stringList(n *yaml.Node, f *field, path string) *yaml.Node {
	if n.Kind == yaml.ScalarNode {
		return z.single(n, z.value(n, &field{name: f.name, kind: kString}, path+"[0]"))
	}
	if n.Kind != yaml.SequenceNode {
		z.errorf(n, path, "expected %s, got %s", f.kind, describeAt(n, path))
		return nil
	}
	seq := z.node(n, yaml.SequenceNode, "!!seq", "")
	errs := z.errs
	for i, c := range n.Content {
		if z.over != nil {
			break
		}
		el, ok := z.listItem(c, f, fmt.Sprintf("%s[%d]", path, i))
		if !ok {
			break
		}
		if el != nil {
			seq.Content = append(seq.Content, el)
		}
	}
	if f.replace && z.errs > errs {
		return nil
	}
	return seq
}

// listItem normalizes the entry c of a list of strings; nil if it has a
// problem, and false once the document is over its bounds.
func (z *normalizer) listItem(c *yaml.Node, f *field, path string) (*yaml.Node, bool) {
	item := z.deref(c)
	if item == nil || item.Kind != yaml.ScalarNode || isNull(item) {
		// value counts the strings; what it never sees is counted here.
		if !z.spend(item, path) {
			return nil, false
		}
	}
	if item == nil || isNull(item) {
		z.errorf(c, path, "empty list item")
		return nil, true
	}
	if item.Kind != yaml.ScalarNode {
		z.errorf(item, path, "expected a string, got %s", describeAt(item, path))
		return nil, true
	}
	return z.value(item, &field{name: f.name, kind: kString}, path), true
}

// stringMap normalizes a mapping of string keys to string values.
func (z *normalizer) stringMap(n *yaml.Node, f *field, path string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		z.errorf(n, path, "expected %s (key: value), got %s", f.kind, describe(n))
		return nil
	}
	m := z.node(n, yaml.MappingNode, "!!map", "")
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := z.deref(n.Content[i]), z.deref(n.Content[i+1])
		if k == nil || v == nil {
			continue
		}
		if !z.spend(k, path) || !z.spend(v, path) {
			break
		}
		z.mapEntry(m, n.Content[i], k, v, path, seen)
	}
	return m
}

// mapEntry adds k: v (aliases followed) to the map m, or reports why not;
// at is the key as written, seen the keys so far.
func (z *normalizer) mapEntry(m, at, k, v *yaml.Node, path string, seen map[string]*yaml.Node) {
	if k.Kind != yaml.ScalarNode || k.Value == "" {
		z.errorf(at, path, "map keys must be non-empty strings")
		return
	}
	p := path + "[" + k.Value + "]"
	if prev, ok := seen[k.Value]; ok {
		z.errorf(k, p, "key given twice (first at line %d)", prev.Line)
		return
	}
	seen[k.Value] = k
	if isNull(v) || v.Kind != yaml.ScalarNode || v.Tag != "!!str" {
		what := "no value"
		if !isNull(v) {
			what = describeAt(v, p)
		}
		z.errorf(v, p, "expected a string value, got %s (quote it: %s: \"...\")", what, k.Value)
		return
	}
	m.Content = append(m.Content, z.node(k, yaml.ScalarNode, "!!str", k.Value), z.node(v, yaml.ScalarNode, "!!str", v.Value))
}

// structList normalizes a list of mappings (write_files, bos.wifi); a lone
// mapping is a list of one.
func (z *normalizer) structList(n *yaml.Node, f *field, path string) *yaml.Node {
	if n.Kind == yaml.MappingNode {
		return z.single(n, z.element(n, f, path+"[0]"))
	}
	if n.Kind != yaml.SequenceNode {
		z.errorf(n, path, "expected %s, got %s", f.kind, describeAt(n, path))
		return nil
	}
	seq := z.node(n, yaml.SequenceNode, "!!seq", "")
	for i, c := range n.Content {
		if z.over != nil {
			break
		}
		if el := z.element(z.deref(c), f, fmt.Sprintf("%s[%d]", path, i)); el != nil {
			seq.Content = append(seq.Content, el)
		}
	}
	return seq
}

// single wraps one normalized element into a list at the position of n;
// nil stays nil.
func (z *normalizer) single(n, el *yaml.Node) *yaml.Node {
	if el == nil {
		return nil
	}
	seq := z.node(n, yaml.SequenceNode, "!!seq", "")
	seq.Content = []*yaml.Node{el}
	return seq
}

// element normalizes one entry of a list of mappings (write_files,
// bos.wifi). An entry with any problem is left out whole: a file written
// without its misspelt permissions would get the default mode.
func (z *normalizer) element(n *yaml.Node, f *field, path string) *yaml.Node {
	errs := z.errs
	el := z.structure(n, f, path)
	if z.errs > errs {
		return nil
	}
	return el
}

// structure normalizes a mapping with known keys.
func (z *normalizer) structure(n *yaml.Node, f *field, path string) *yaml.Node {
	if n == nil || isNull(n) {
		return nil
	}
	if !z.spend(n, path) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		z.errorf(n, path, "expected a mapping of %s keys, got %s", orTop(f.name), describe(n))
		return nil
	}
	m := z.node(n, yaml.MappingNode, "!!map", "")
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !z.spend(k, path) {
			break
		}
		c := z.schemaKey(k, f, path, seen)
		if c == nil {
			continue
		}
		if nv := z.value(v, c, join(path, c.name)); nv != nil {
			m.Content = append(m.Content, z.node(k, yaml.ScalarNode, "!!str", c.name), nv)
		}
	}
	if f.name == "write_files" {
		z.binaryContent(m, path)
	}
	return m
}

// schemaKey is the field of f that the key k names, or nil with a problem:
// a key that is not a string, a merge key, an unknown key, or a key given
// twice (seen holds the keys so far, by canonical name).
func (z *normalizer) schemaKey(k *yaml.Node, f *field, path string, seen map[string]*yaml.Node) *field {
	if k.Kind != yaml.ScalarNode {
		z.errorf(k, path, "keys must be strings, got %s", describe(k))
		return nil
	}
	if k.Tag == "!!merge" || k.Value == "<<" {
		z.errorf(k, path, "merge keys (<<) are not supported: write the keys out")
		return nil
	}
	c := f.lookup(k.Value)
	if c == nil {
		z.unknownKey(k, f, join(path, k.Value))
		return nil
	}
	if prev, ok := seen[c.name]; ok {
		z.errorf(k, join(path, c.name), "given twice: %q here and %q at line %d (singular and plural are the same key)", k.Value, prev.Value, prev.Line)
		return nil
	}
	seen[c.name] = k
	return c
}

// unknownKey reports the key k, not one of f's, with the key it is likely
// a typo of, or else the valid ones; once no more problems are kept, the
// message is not composed.
func (z *normalizer) unknownKey(k *yaml.Node, f *field, path string) {
	if z.full() {
		z.errorf(k, path, "unknown key")
		return
	}
	msg := fmt.Sprintf("unknown key %q", k.Value)
	if s := suggest(k.Value, f.names()); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	} else {
		msg += " (valid keys: " + strings.Join(f.names(), ", ") + ")"
	}
	z.errorf(k, path, "%s", msg)
}

func orTop(name string) string {
	if name == "" {
		return "top-level"
	}
	return name
}

// binaryContent turns a !!binary content into base64 text with a matching
// encoding, so Content is always text.
func (z *normalizer) binaryContent(m *yaml.Node, path string) {
	var content, encoding *yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		switch m.Content[i].Value {
		case "content":
			content = m.Content[i+1]
		case "encoding":
			encoding = m.Content[i+1]
		}
	}
	if content == nil || content.Tag != "!!binary" {
		return
	}
	content.Tag = "!!str"
	text := strings.Join(strings.Fields(content.Value), "")
	if _, err := base64.StdEncoding.DecodeString(text); err != nil {
		z.errorf(content, join(path, "content"), "!!binary content is not valid base64: %v", err)
		return
	}
	content.Value = text
	enc := ""
	if encoding != nil {
		enc = encoding.Value
	}
	switch enc {
	case "":
		enc = "b64"
	case "gz", "gzip":
		enc = enc + "+b64"
	default:
		z.errorf(encoding, join(path, "encoding"), "encoding %q together with !!binary content: use one of them", enc)
		return
	}
	if encoding == nil {
		m.Content = append(m.Content, z.node(content, yaml.ScalarNode, "!!str", "encoding"), z.node(content, yaml.ScalarNode, "!!str", enc))
	} else {
		encoding.Value = enc
	}
}

// decode turns a normalized tree into a Config. It walks the tree once
// (yaml.v3's own decoder compares every key of a mapping with every other:
// quadratic in the keys of bos.labels).
func (t *tree) decode() (Config, error) {
	var cfg Config
	err := decodeNode(t.root, rootSchema, reflect.ValueOf(&cfg).Elem(), "")
	return cfg, err
}

func decodeNode(n *yaml.Node, f *field, v reflect.Value, path string) error {
	want := yaml.ScalarNode
	switch f.kind {
	case kStringList, kStructList:
		want = yaml.SequenceNode
	case kStringMap, kStruct:
		want = yaml.MappingNode
	}
	if n.Kind != want {
		return errors.Errorf("decode normalized config: %s is not %s (a bug)", orTop(path), f.kind)
	}
	switch f.kind {
	case kString:
		v.SetString(n.Value)
	case kBool:
		v.SetBool(n.Value == "true")
	case kStringList:
		if len(n.Content) == 0 {
			return nil
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			s.Index(i).SetString(c.Value)
		}
		v.Set(s)
	case kStringMap:
		if len(n.Content) == 0 {
			return nil
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			m.SetMapIndex(reflect.ValueOf(n.Content[i].Value), reflect.ValueOf(n.Content[i+1].Value))
		}
		v.Set(m)
	case kStruct:
		for i := 0; i+1 < len(n.Content); i += 2 {
			c := f.lookup(n.Content[i].Value)
			if c == nil {
				return errors.Errorf("decode normalized config: unknown key %s (a bug)", join(path, n.Content[i].Value))
			}
			if err := decodeNode(n.Content[i+1], c, v.Field(c.index), join(path, c.name)); err != nil {
				return err
			}
		}
	case kStructList:
		if len(n.Content) == 0 {
			return nil
		}
		el := &field{kind: kStruct, fields: f.fields}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			if err := decodeNode(c, el, s.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		v.Set(s)
	}
	return nil
}
