package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/go-git/go-billy/v5/memfs"
	"github.com/go-git/go-billy/v5/util"
)

// loadSources loads the sources as config.d files of a root, in order.
func loadSources(t *testing.T, srcs ...[]byte) *Loaded {
	t.Helper()
	fs := memfs.New()
	for i, s := range srcs {
		if err := util.WriteFile(fs, fmt.Sprintf("%s/%02d.yaml", RuntimeConfigD, i), s, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	l, err := Load(Options{Root: "/", FS: fs})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(l.Sources) != len(srcs) {
		t.Fatalf("Load read %d sources, want %d: %v", len(l.Sources), len(srcs), l.Sources)
	}
	return l
}

// checkMerge checks merged against the merge rules (see the package doc) for a later
// source b into a (both decoded): a later scalar that is set wins (an
// unset one keeps the earlier value; an explicit empty one may clear it);
// maps merge key by key, b winning; lists are a's entries then b's, each
// once; dcp_args is b's when b sets it. It returns the first difference.
func checkMerge(a, b, merged reflect.Value, path string, replace bool) string {
	switch a.Kind() {
	case reflect.Struct:
		for i := 0; i < a.NumField(); i++ {
			f := a.Type().Field(i)
			if d := checkMerge(a.Field(i), b.Field(i), merged.Field(i), path+"."+f.Name, f.Tag.Get("merge") == "replace"); d != "" {
				return d
			}
		}
	case reflect.Map:
		for _, k := range merged.MapKeys() {
			if !a.MapIndex(k).IsValid() && !b.MapIndex(k).IsValid() {
				return fmt.Sprintf("%s[%v] is in neither source", path, k)
			}
		}
		for _, src := range []reflect.Value{a, b} {
			for _, k := range src.MapKeys() {
				want := b.MapIndex(k)
				if !want.IsValid() {
					want = a.MapIndex(k)
				}
				if got := merged.MapIndex(k); !got.IsValid() || got.Interface() != want.Interface() {
					return fmt.Sprintf("%s[%v] = %v, want %v", path, k, got, want)
				}
			}
		}
	case reflect.Slice:
		if replace {
			if b.Len() > 0 && !reflect.DeepEqual(merged.Interface(), b.Interface()) {
				return fmt.Sprintf("%s = %v, want the later source's %v", path, merged, b)
			}
			if b.Len() == 0 && merged.Len() > 0 && !reflect.DeepEqual(merged.Interface(), a.Interface()) {
				return fmt.Sprintf("%s = %v, want the earlier source's %v", path, merged, a)
			}
			return ""
		}
		// Entries are strings or structs of strings: comparable, so
		// sets of them are maps (the sources may hold 10,000 entries).
		var want []any
		in := map[any]bool{}
		for _, src := range []reflect.Value{a, b} {
			for i := 0; i < src.Len(); i++ {
				if e := src.Index(i).Interface(); !in[e] {
					in[e] = true
					want = append(want, e)
				}
			}
		}
		var got []any
		for i := 0; i < merged.Len(); i++ {
			got = append(got, merged.Index(i).Interface())
		}
		if a.Type().Elem().Kind() == reflect.String {
			if !reflect.DeepEqual(got, want) {
				return fmt.Sprintf("%s = %q, want %q", path, got, want)
			}
			return ""
		}
		// Entries that are mappings are the same entry when their YAML
		// is (keys in the same order), so two spellings of one entry
		// may both stay: each merged entry is one of the sources', and
		// each source entry is in the merged list.
		have := map[any]bool{}
		for _, g := range got {
			if !in[g] {
				return fmt.Sprintf("%s holds %+v, which is in neither source", path, g)
			}
			have[g] = true
		}
		for _, w := range want {
			if !have[w] {
				return fmt.Sprintf("%s lost %+v", path, w)
			}
		}
	default:
		set := !b.IsZero()
		switch {
		case set && merged.Interface() != b.Interface():
			return fmt.Sprintf("%s = %v, want the later source's %v", path, merged, b)
		case !set && !merged.IsZero() && merged.Interface() != a.Interface():
			return fmt.Sprintf("%s = %v, want the earlier source's %v (or nothing)", path, merged, a)
		}
	}
	return ""
}

// FuzzMerge loads three sources as config.d files and checks the merge
// against the rules, source by source: Load(a, b) against a and b, then
// Load(a, b, c) against Load(a, b) and c; and that merging a source again
// changes nothing.
func FuzzMerge(f *testing.F) {
	files, _ := filepath.Glob("testdata/valid/*.yaml")
	var seeds [][]byte
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	seeds = append(seeds,
		[]byte("hostname: a\nssh_authorized_keys: [github:a, github:b]\nbos:\n  labels: {x: '1', y: '2'}\n  dcp_args: [server, --a]\n"),
		[]byte("hostname: b\nssh_authorized_keys: [github:b, github:c, github:c]\nbos:\n  labels: {y: '3'}\n  dcp_args: [agent]\n"),
		[]byte("hostname: ''\nwrite_files:\n- {path: /etc/a, content: x}\n- {content: x, path: /etc/a}\nbos: {modules: [], debug: false}\n"),
	)
	for i := range seeds {
		f.Add(seeds[i], seeds[(i+1)%len(seeds)], seeds[(i+2)%len(seeds)])
	}
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		for _, s := range [][]byte{a, b, c} {
			if len(s) > 64<<10 || strings.Contains(string(s), "\x00") {
				return
			}
		}
		ab, abc := loadSources(t, a, b), loadSources(t, a, b, c)
		alone := make([]*Loaded, 3)
		for i, s := range [][]byte{a, b, c} {
			alone[i] = loadSources(t, s)
		}
		for _, l := range append(alone, ab, abc) {
			if len(l.Problems) > 0 {
				return // refused values are left out: the rules hold for what loads
			}
		}
		cfg := func(l *Loaded) reflect.Value { return reflect.ValueOf(l.Config) }
		if d := checkMerge(cfg(alone[0]), cfg(alone[1]), cfg(ab), "Config", false); d != "" {
			t.Fatalf("merging b into a: %s\na:\n%s\nb:\n%s", d, a, b)
		}
		if d := checkMerge(cfg(ab), cfg(alone[2]), cfg(abc), "Config", false); d != "" {
			t.Fatalf("merging c into a+b: %s\na:\n%s\nb:\n%s\nc:\n%s", d, a, b, c)
		}
		if again := loadSources(t, a, b, c, c); !reflect.DeepEqual(again.Config, abc.Config) {
			t.Fatalf("merging c again changed the config:\n%+v\nwant\n%+v", again.Config, abc.Config)
		}
	})
}
