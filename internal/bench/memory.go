package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"gopkg.in/yaml.v3"

	"github.com/bhojpur/os/internal/config"
	"github.com/bhojpur/os/internal/config/configtest"
)

func init() {
	register("config memory: bytes Load allocates per adversarial 1 MiB source, vs yaml.Unmarshal", benchConfigMemory)
}

// allocated is what f allocates, as Go's TotalAlloc counts it.
func allocated(f func() error) (uint64, error) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err := f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, err
}

func mib(n uint64) string { return fmt.Sprintf("%7.1f MiB", float64(n)/(1<<20)) }

// benchConfigMemory loads each source of package configtest as a config.d
// file with config.Load, and the same bytes with yaml.Unmarshal into a
// yaml.Node (the parse the loader starts with). Not into config.Config:
// yaml.v3 checks a mapping's keys for duplicates pairwise, so 95,000
// labels take it about two minutes here. yaml.Unmarshal reads the first
// of several documents only; the loader reads the second to refuse it.
func benchConfigMemory() error {
	var worst uint64
	for _, in := range configtest.Adversarial() {
		root, err := os.MkdirTemp(benchBase(), "bos-bench-memory-")
		if err != nil {
			return err
		}
		p := filepath.Join(root, config.RuntimeConfigD, "10.yaml")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
			err = os.WriteFile(p, in.Data, 0o600)
		}
		if err != nil {
			os.RemoveAll(root)
			return err
		}
		load, err := allocated(func() error { _, err := config.Load(config.Options{Root: root}); return err })
		os.RemoveAll(root)
		if err != nil {
			return fmt.Errorf("%s: %v", in.Name, err)
		}
		plain, _ := allocated(func() error { var n yaml.Node; return yaml.Unmarshal(in.Data, &n) })
		worst = max(worst, load)
		r := "    -"
		if plain > 0 {
			r = fmt.Sprintf("%5.1fx", float64(load)/float64(plain))
		}
		fmt.Printf("  %-34s %8d B  Load %s  yaml.Unmarshal %s  ratio %s\n", in.Name, len(in.Data), mib(load), mib(plain), r)
	}
	figure("the most Load allocated for one source", mib(worst), fmt.Sprintf("<= config.MaxLoadAlloc, %s", mib(config.MaxLoadAlloc)))
	if worst > config.MaxLoadAlloc {
		return fmt.Errorf("Load allocated %d bytes, over config.MaxLoadAlloc", worst)
	}
	return nil
}
