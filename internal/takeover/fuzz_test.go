package takeover

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParse: any marker either fails or parses to a list that survives a
// round trip and keeps bos.
func FuzzParse(f *testing.F) {
	f.Add(string(New(true).Marshal()))
	f.Add("keep etc\npoweroff maybe\n")
	f.Add("keep ../x\n")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := Parse(strings.NewReader(s))
		if err != nil {
			return
		}
		back, err := Parse(bytes.NewReader(k.Marshal()))
		if err != nil {
			t.Fatalf("Parse(Marshal(%+v)) = %v", k, err)
		}
		hasBos := false
		for _, p := range back.Keep {
			hasBos = hasBos || p == "bos"
			if _, err := cleanRel(p); err != nil {
				t.Fatalf("kept path %q: %v", p, err)
			}
		}
		if !hasBos || back.PowerOff != k.PowerOff {
			t.Fatalf("round trip of %q = %+v", s, back)
		}
	})
}
