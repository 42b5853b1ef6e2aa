package config

import (
	"fmt"
	"strings"
	"testing"
)

// labelsYAML is a config setting n labels, from k<first> on.
func labelsYAML(first, n int) string {
	var b strings.Builder
	b.WriteString("bos:\n  labels:\n")
	for i := first; i < first+n; i++ {
		fmt.Fprintf(&b, "    k%06d: v%d\n", i, i)
	}
	b.WriteString("  modules:\n")
	for i := first; i < first+n; i++ {
		fmt.Fprintf(&b, "  - m%06d\n", i)
	}
	return b.String()
}

// TestMergeIsLinear merges three sources of 30,000 map keys and list entries each,
// half of them shared: the merger handles each key and entry a bounded
// number of times (it once compared every key with every key before it:
// two sources of 60,000 labels took over two minutes).
func TestMergeIsLinear(t *testing.T) {
	const n = 30000
	prov := provenance{}
	merged := newTree(prov)
	m := newMerger(merged)
	entries := 0
	for i, first := range []int{0, n / 2, n} {
		src, issues := parseYAML(fmt.Sprintf("s%d.yaml", i), []byte(labelsYAML(first, n)), prov)
		if len(issues) > 0 {
			t.Fatal(issues)
		}
		m.merge(src)
		entries += 2 * n
	}
	if max := 2*entries + 100; m.work > max {
		t.Errorf("merging %d entries took %d steps, want at most %d", entries, m.work, max)
	}
	cfg, err := merged.decode()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(cfg.Bos.Labels), 2*n; got != want {
		t.Errorf("merged %d labels, want %d", got, want)
	}
	if got, want := len(cfg.Bos.Modules), 2*n; got != want {
		t.Errorf("merged %d modules, want %d", got, want)
	}
	if cfg.Bos.Labels["k000000"] != "v0" || cfg.Bos.Labels[fmt.Sprintf("k%06d", 2*n-1)] != fmt.Sprintf("v%d", 2*n-1) {
		t.Errorf("labels lost their values")
	}
}
