package install

import (
	"testing"
)

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
