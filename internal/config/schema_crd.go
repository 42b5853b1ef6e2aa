package config

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// CRDMaxKeys bounds the maps of a config in a Kubernetes object (labels,
// sysctls, environment) so that the apiserver can bound the cost of their
// key rules.
const CRDMaxKeys = 512

// StructuralSchema is the config's schema as a Kubernetes structural
// OpenAPI v3 schema (the schema of a CustomResourceDefinition field), from
// the same types and rules as Schema and the loader: every key known, so
// that the apiserver refuses a typo; the value rules that OpenAPI and CEL
// can say (patterns, enums, formats, key patterns, the first dcp_args
// item, one spelling of a key and its alias). It is stricter than the
// file's syntax in one way: a list is a list (a file also takes a lone
// string or mapping for a one-item list). The loader judges the rest.
func StructuralSchema() ([]byte, error) {
	s := crdStruct(rootSchema, "")
	s["description"] = "A Bhojpur OS config.yaml fragment, as a file of config.d holds it."
	return json.MarshalIndent(s, "", "  ")
}

func crdStruct(f *field, path string) obj {
	props := obj{}
	var rules []obj
	for _, c := range f.fields {
		p := join(path, c.name)
		s := crdField(c, p)
		props[c.name] = s
		for _, a := range c.aliases {
			props[a] = s
			rules = append(rules, obj{
				"rule":    fmt.Sprintf("!(has(self.%s) && has(self.%s))", c.name, a),
				"message": fmt.Sprintf("%s and %s are one key: give one of them", c.name, a),
			})
		}
	}
	s := obj{"type": "object", "properties": props}
	if f.doc != "" {
		s["description"] = f.doc
	}
	if r := constraints[strings.TrimSuffix(path, "[]")+"[]#required"]; r != nil {
		s["required"] = r["required"]
	}
	if len(rules) > 0 {
		s["x-kubernetes-validations"] = rules
	}
	return s
}

func crdField(f *field, path string) obj {
	var s obj
	switch f.kind {
	case kString:
		s = crdValue(obj{"type": "string"}, constraints[path])
	case kBool:
		s = obj{"type": "boolean"}
	case kStringList:
		s = obj{"type": "array", "items": crdValue(obj{"type": "string"}, constraints[path+"[]"])}
		if c := constraints[path]; c["prefixItems"] != nil {
			first := c["prefixItems"].([]obj)[0]
			s["x-kubernetes-validations"] = []obj{{
				"rule":    "size(self) == 0 || self[0] in " + celList(first["enum"].([]string)),
				"message": "the first item is one of " + strings.Join(first["enum"].([]string), ", "),
			}}
		}
	case kStringMap:
		s = obj{"type": "object", "additionalProperties": crdValue(obj{"type": "string"}, constraints[path+"[]"]), "maxProperties": CRDMaxKeys}
		if c := constraints[path+"{}"]; c != nil {
			names := c["propertyNames"].(obj)
			rule := fmt.Sprintf("self.all(k, k.matches(%s))", celString(names["pattern"].(string)))
			if n, ok := names["maxLength"].(int); ok {
				rule = fmt.Sprintf("self.all(k, size(k) <= %d && k.matches(%s))", n, celString(names["pattern"].(string)))
			}
			s["x-kubernetes-validations"] = []obj{{"rule": rule, "message": "a key that " + f.name + " does not take (" + names["pattern"].(string) + ")"}}
		}
	case kStruct:
		s = crdStruct(f, path)
	case kStructList:
		s = obj{"type": "array", "items": crdStruct(&field{fields: f.fields}, path+"[]")}
	}
	s["nullable"] = true
	if f.doc != "" {
		s["description"] = f.doc
	}
	return s
}

// crdValue adds a value's rules to base: those OpenAPI says as they are,
// const as a one-value enum.
func crdValue(base obj, c obj) obj {
	for k, v := range c {
		switch k {
		case "pattern", "maxLength", "minLength", "enum", "format":
			base[k] = v
		case "not":
			base[k] = crdValue(obj{}, v.(obj))
		case "anyOf":
			var alts []obj
			for _, a := range v.([]obj) {
				alts = append(alts, crdValue(obj{}, a))
			}
			base[k] = alts
		case "const":
			base["enum"] = []any{v}
		default:
			panic("config: no structural form of the schema keyword " + k)
		}
	}
	return base
}

func celString(s string) string {
	b, _ := json.Marshal(s) // a JSON string is a CEL string literal
	return string(b)
}

func celList(items []string) string {
	quoted := make([]string, len(items))
	for i, it := range items {
		quoted[i] = celString(it)
	}
	sort.Strings(quoted)
	return "[" + strings.Join(quoted, ", ") + "]"
}
