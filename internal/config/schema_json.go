package config

import (
	"encoding/json"
	"strings"
)

// obj is a JSON Schema object under construction.
type obj = map[string]any

// constraints are the value rules of validate.go, by key path ("[]" stands
// for any list index), in JSON Schema form.
var constraints = map[string]obj{
	"ssh_authorized_keys[]":     {"pattern": patSSHKey},
	"write_files[].path":        {"pattern": patAbsPath, "not": obj{"pattern": `(^|/)\.\.(/|$)`}},
	"write_files[].permissions": {"pattern": patPermissions},
	"write_files[].owner":       {"pattern": patOwner},
	"write_files[].encoding":    {"enum": Encodings},
	"hostname":                  {"pattern": patHostname, "maxLength": 64},
	"bos.data_sources[]":        {"enum": DataSources},
	"bos.modules[]":             {"pattern": patModule},
	"bos.sysctls{}":             {"propertyNames": obj{"pattern": patSysctl}},
	"bos.ntp_servers[]":         {"anyOf": []obj{{"pattern": patHostname}, {"format": "ipv6"}}},
	"bos.dns_nameservers[]":     {"anyOf": []obj{{"format": "ipv4"}, {"format": "ipv6"}}},
	"bos.wifi[].passphrase":     {"pattern": patPassphrase},
	"bos.wifi[].name":           {"minLength": 1},
	"bos.server_url":            {"pattern": patURL},
	"bos.labels{}":              {"propertyNames": obj{"pattern": patLabelKey, "maxLength": 317}},
	"bos.labels[]":              {"pattern": patLabelValue},
	"bos.dcp_args":              {"prefixItems": []obj{{"enum": DCPCommands}}},
	"bos.environment{}":         {"propertyNames": obj{"pattern": patEnvName}},
	"bos.taints[]":              {"pattern": patTaint},
	"bos.install.device":        {"pattern": patDevice},
	"bos.install.config_url":    {"pattern": patLocation},
	"bos.install.iso_url":       {"pattern": patLocation},
	"bos.install.tty":           {"anyOf": []obj{{"const": "auto"}, {"pattern": patTTY}}},
	"bos.mode":                  {"enum": Modes},
	"bos.fallback_mode":         {"enum": []string{"install"}},
	"write_files[]#required":    {"required": []string{"path"}},
	"bos.wifi[]#required":       {"required": []string{"name"}},
}

// Schema returns the JSON Schema (draft 2020-12) of the config, generated
// from the same types and rules as the loader; editors use it through
// yaml-language-server.
func Schema() ([]byte, error) {
	s := structSchema(rootSchema, "")
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	s["$id"] = "https://github.com/bhojpur/os/config.schema.json"
	s["title"] = "Bhojpur OS config.yaml"
	out, err := json.MarshalIndent(s, "", "  ")
	return append(out, '\n'), err
}

func with(base obj, extra obj) obj {
	for k, v := range extra {
		base[k] = v
	}
	return base
}

func structSchema(f *field, path string) obj {
	props := obj{}
	var exclusive []any
	for _, c := range f.fields {
		p := join(path, c.name)
		s := fieldSchema(c, p)
		props[c.name] = s
		for _, a := range c.aliases {
			props[a] = s
			exclusive = append(exclusive, obj{"not": obj{"type": "object", "required": []string{c.name, a}}})
		}
	}
	s := obj{"type": "object", "properties": props, "additionalProperties": false}
	if f.doc != "" {
		s["description"] = f.doc
	}
	if len(exclusive) > 0 {
		s["allOf"] = exclusive
	}
	return with(s, constraints[strings.TrimSuffix(path, "[]")+"[]#required"])
}

func fieldSchema(f *field, path string) obj {
	var s obj
	switch f.kind {
	case kString:
		s = with(obj{"type": []string{"string", "null"}}, constraints[path])
	case kBool:
		s = obj{"type": []string{"boolean", "null"}}
	case kStringList:
		item := with(obj{"type": "string"}, constraints[path+"[]"])
		arr := with(obj{"type": "array", "items": item}, constraints[path])
		s = obj{"anyOf": []obj{{"type": "null"}, item, arr}}
	case kStringMap:
		values := with(obj{"type": "string"}, constraints[path+"[]"])
		s = with(obj{"type": []string{"object", "null"}, "additionalProperties": values}, constraints[path+"{}"])
	case kStruct:
		s = structSchema(f, path)
		s["type"] = []string{"object", "null"}
	case kStructList:
		item := structSchema(&field{fields: f.fields}, path+"[]")
		s = obj{"anyOf": []obj{{"type": "null"}, item, {"type": "array", "items": item}}}
	}
	if f.doc != "" {
		s["description"] = f.doc
	}
	return s
}
