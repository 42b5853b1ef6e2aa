package config

import (
	"reflect"
	"regexp"
	"sort"
	"strings"
)

// kind is the shape of a config value.
type kind int

const (
	kString     kind = iota // a scalar, kept as its text
	kBool                   // true or false
	kStringList             // a list of scalars (a lone scalar is a one-element list)
	kStringMap              // a map of scalars
	kStruct                 // a mapping with known keys
	kStructList             // a list of mappings (a lone mapping is a one-element list)
)

func (k kind) String() string {
	return [...]string{"a string", "true or false", "a list of strings", "a map of strings", "a mapping", "a list of mappings"}[k]
}

// field describes one key of the config, taken from the Go types so that
// loader, merger and JSON Schema agree.
type field struct {
	name    string
	aliases []string
	kind    kind
	replace bool     // a later source replaces the list whole (dcp_args)
	fields  []*field // for kStruct and kStructList
	doc     string
	index   int  // of the Go struct field, for decoding
	secret  bool // no message shows the value
}

// lookup finds a child field by canonical name or alias.
func (f *field) lookup(key string) *field {
	for _, c := range f.fields {
		if c.name == key {
			return c
		}
		for _, a := range c.aliases {
			if a == key {
				return c
			}
		}
	}
	return nil
}

// names are every spelling accepted under f, sorted.
func (f *field) names() []string {
	var out []string
	for _, c := range f.fields {
		out = append(out, c.name)
		out = append(out, c.aliases...)
	}
	sort.Strings(out)
	return out
}

// rootSchema is the schema of Config.
var rootSchema = structField("", reflect.TypeOf(Config{}))

func structField(name string, t reflect.Type) *field {
	f := &field{name: name, kind: kStruct}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag := strings.Split(sf.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		c := &field{name: tag, doc: sf.Tag.Get("doc"), replace: sf.Tag.Get("merge") == "replace", index: i, secret: sf.Tag.Get("secret") == "true"}
		if a := sf.Tag.Get("alias"); a != "" {
			c.aliases = strings.Split(a, ",")
		}
		switch ft := sf.Type; {
		case ft.Kind() == reflect.String:
			c.kind = kString
		case ft.Kind() == reflect.Bool:
			c.kind = kBool
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.String:
			c.kind = kStringList
		case ft.Kind() == reflect.Map:
			c.kind = kStringMap
		case ft.Kind() == reflect.Struct:
			sub := structField(tag, ft)
			c.kind, c.fields = kStruct, sub.fields
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			sub := structField(tag, ft.Elem())
			c.kind, c.fields = kStructList, sub.fields
		default:
			panic("config: unsupported field type " + ft.String())
		}
		f.fields = append(f.fields, c)
	}
	return f
}

// secretPaths are the key paths of the secret fields, list indices left
// out (bos.wifi.passphrase).
var secretPaths = func() []string {
	var out []string
	var walk func(f *field, path string)
	walk = func(f *field, path string) {
		for _, c := range f.fields {
			p := join(path, c.name)
			if c.secret {
				out = append(out, p)
			}
			walk(c, p)
		}
	}
	walk(rootSchema, "")
	return out
}()

var listIndex = regexp.MustCompile(`\[[0-9]+\]`)

// secret tells whether the value at a key path (bos.wifi[0].passphrase,
// bos.environment[HTTP_PROXY]) is one no message may show.
func secret(path string) bool {
	bare := listIndex.ReplaceAllString(path, "")
	for _, s := range secretPaths {
		if bare == s || strings.HasPrefix(bare, s+"[") {
			return true
		}
	}
	return false
}

// suggest returns the known name nearest to key, or "" when none is close.
func suggest(key string, names []string) string {
	best, bestD := "", -1
	for _, n := range names {
		d := editDistance(strings.ToLower(key), n)
		if bestD < 0 || d < bestD {
			best, bestD = n, d
		}
	}
	// Accept what is close relative to the length, and hyphen/case slips.
	if bestD >= 0 && (bestD <= 2 || bestD*3 <= len(key)) {
		return best
	}
	norm := strings.ReplaceAll(strings.ToLower(key), "-", "_")
	for _, n := range names {
		if n == norm {
			return n
		}
	}
	return ""
}

// editDistance is the Levenshtein distance of two short strings.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		if a == b {
			return 0
		}
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
