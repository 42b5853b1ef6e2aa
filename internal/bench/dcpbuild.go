package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/bhojpur/os/internal/vmtest"
)

// dcp's build time (issue 13): a warm build (the build cache holds every
// package; the link is most of it) next to the warm build of the toolkit's
// multi-call binary, measured in the same run. BOS_BENCH_DCP_COLD=1 adds a
// build from an empty build cache (Kubernetes, about a quarter of an hour
// on 2 cores), next to the warm one.
func init() {
	register("dcp: build time", benchDCPBuild)
}

func benchDCPBuild() error {
	root, err := vmtest.RepoRoot()
	if err != nil {
		return err
	}
	out := filepath.Join(os.TempDir(), fmt.Sprintf("bench-dcp-%d", os.Getpid()))
	defer os.Remove(out)
	build := func(dir, pkg string, env ...string) (time.Duration, error) {
		cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
		cmd.Dir = dir
		cmd.Env = append(append(os.Environ(), "CGO_ENABLED=0"), env...)
		start := time.Now()
		if b, err := cmd.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("go build %s in %s: %v\n%s", pkg, dir, err, b)
		}
		return time.Since(start), nil
	}
	dcpDir := filepath.Join(root, "dcp")
	// The first builds fill the cache; the second ones are the warm figures.
	for _, b := range [][2]string{{dcpDir, "./cmd/dcp"}, {root, "./cmd/bos"}} {
		if _, err := build(b[0], b[1]); err != nil {
			return err
		}
	}
	warm, err := build(dcpDir, "./cmd/dcp")
	if err != nil {
		return err
	}
	bos, err := build(root, "./cmd/bos")
	if err != nil {
		return err
	}
	ratio("dcp warm build (go build ./cmd/dcp, cache full) vs the toolkit's bos", warm, bos, "none")
	if os.Getenv("BOS_BENCH_DCP_COLD") != "1" {
		figure("dcp cold build", "not measured (BOS_BENCH_DCP_COLD=1 measures it)", "none")
		return nil
	}
	cache, err := os.MkdirTemp("", "bench-gocache-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(cache)
	cold, err := build(dcpDir, "./cmd/dcp", "GOCACHE="+cache)
	if err != nil {
		return err
	}
	ratio("dcp cold build (empty build cache, modules downloaded) vs warm", cold, warm, "none")
	return nil
}
