package install

import (
	"strings"
	"testing"
)

func FuzzParseSums(f *testing.F) {
	f.Add(strings.Repeat("a", 64)+"  bos-amd64.iso\n", "bos-amd64.iso")
	f.Add(strings.Repeat("A", 64)+" *x/bos.iso\n", "bos.iso")
	f.Fuzz(func(t *testing.T, data, name string) {
		if sum := ParseSums([]byte(data), name); sum != "" && len(sum) != 64 {
			t.Fatalf("ParseSums = %q, want 64 hex digits or nothing", sum)
		}
	})
}

func FuzzUnescapeMount(f *testing.F) {
	f.Add(`/mnt/with\040space`)
	f.Add(`\`)
	f.Add(`\12`)
	f.Fuzz(func(t *testing.T, s string) {
		if got := unescapeMount(s); len(got) > len(s) {
			t.Fatalf("unescapeMount(%q) = %q grew", s, got)
		}
	})
}
