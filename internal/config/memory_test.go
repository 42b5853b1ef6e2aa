package config_test

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/bhojpur/os/internal/config"
	"github.com/bhojpur/os/internal/config/configtest"
)

// allocated is what f allocates, as Go's TotalAlloc counts it.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestLoadMemoryBound: no source of at most MaxFileSize bytes makes a
// load allocate more than MaxLoadAlloc, whether it is loaded alone
// (LoadFile) or as a config.d file of a root (Load).
func TestLoadMemoryBound(t *testing.T) {
	if configtest.MaxSource != config.MaxFileSize {
		t.Fatalf("configtest.MaxSource = %d, config.MaxFileSize = %d", configtest.MaxSource, config.MaxFileSize)
	}
	for _, in := range configtest.Adversarial() {
		t.Run(in.Name, func(t *testing.T) {
			if len(in.Data) > config.MaxFileSize {
				t.Fatalf("the source has %d bytes, over MaxFileSize", len(in.Data))
			}
			root := t.TempDir()
			p := filepath.Join(root, config.RuntimeConfigD, "10-adversarial.yaml")
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, in.Data, 0o600); err != nil {
				t.Fatal(err)
			}
			var err error
			file := allocated(func() { _, err = config.LoadFile("adversarial.yaml", bytes.NewReader(in.Data)) })
			if err != nil {
				t.Fatalf("LoadFile: %v", err)
			}
			load := allocated(func() { _, err = config.Load(config.Options{Root: root}) })
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			t.Logf("%d bytes: LoadFile allocated %.1f MiB, Load %.1f MiB", len(in.Data), float64(file)/(1<<20), float64(load)/(1<<20))
			for what, n := range map[string]uint64{"LoadFile": file, "Load": load} {
				if n > config.MaxLoadAlloc {
					t.Errorf("%s allocated %d bytes, over MaxLoadAlloc (%d)", what, n, config.MaxLoadAlloc)
				}
			}
		})
	}
}
