package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	raw, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("config.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("config.schema.json")
	if err != nil {
		t.Fatalf("schema does not compile: %v", err)
	}
	return s
}

// asJSON reads YAML the way an editor does and converts it to JSON values.
// Like a syntax error, a second document is a YAML matter, not the schema's.
func asJSON(data []byte) (any, error) {
	var v any
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&v); err != nil && err != io.EOF {
		return nil, err
	}
	var extra any
	if err := dec.Decode(&extra); err != io.EOF {
		return nil, fmt.Errorf("more than one document")
	}
	if v == nil {
		v = map[string]any{}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(b))
}

// TestSchemaAgreesWithValidator: for every file under testdata/, the JSON
// Schema and the loader agree on valid or invalid.
func TestSchemaAgreesWithValidator(t *testing.T) {
	s := compileSchema(t)
	files, _ := filepath.Glob("testdata/*/*.yaml")
	if len(files) < 20 {
		t.Fatalf("only %d testdata files", len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		l, err := LoadFile(f, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		loaderOK := len(l.Problems) == 0
		wantOK := strings.Contains(f, "/valid/")
		if loaderOK != wantOK {
			t.Errorf("%s: loader says valid=%v, but it is under %s", f, loaderOK, filepath.Dir(f))
		}
		inst, perr := asJSON(data)
		schemaOK := perr == nil && s.Validate(inst) == nil
		if schemaOK != loaderOK {
			var why string
			if perr != nil {
				why = perr.Error()
			} else if err := s.Validate(inst); err != nil {
				why = err.Error()
			}
			t.Errorf("%s: schema says valid=%v, loader says valid=%v (%s) [%s]", f, schemaOK, loaderOK, l.Problems.Error(), why)
		}
	}
}

// TestStructuralSchema: the CRD form of the schema has every key (and
// alias) of the config, one type per node, and the rules translated.
func TestStructuralSchema(t *testing.T) {
	b, err := StructuralSchema()
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	var walk func(f *field, node map[string]any, path string)
	walk = func(f *field, node map[string]any, path string) {
		props, _ := node["properties"].(map[string]any)
		for _, c := range f.fields {
			for _, name := range append([]string{c.name}, c.aliases...) {
				p, ok := props[name].(map[string]any)
				if !ok {
					t.Errorf("%s%s: not in the structural schema", path, name)
					continue
				}
				if _, ok := p["type"].(string); !ok {
					t.Errorf("%s%s: type %v, want one type", path, name, p["type"])
				}
				switch c.kind {
				case kStruct:
					walk(c, p, path+name+".")
				case kStructList:
					walk(c, p["items"].(map[string]any), path+name+"[].")
				}
			}
		}
	}
	walk(rootSchema, s, "")
	bos := s["properties"].(map[string]any)["bos"].(map[string]any)["properties"].(map[string]any)
	if r, _ := bos["sysctls"].(map[string]any)["x-kubernetes-validations"].([]any); len(r) != 1 || !strings.Contains(r[0].(map[string]any)["rule"].(string), "k.matches(") {
		t.Errorf("bos.sysctls key rule: %v", r)
	}
	if p := s["properties"].(map[string]any)["hostname"].(map[string]any)["pattern"]; p != patHostname {
		t.Errorf("hostname pattern %v, want %s", p, patHostname)
	}
}
