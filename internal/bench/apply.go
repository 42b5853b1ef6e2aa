package main

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/apply"
	"github.com/bhojpur/os/internal/config"
	"github.com/bhojpur/os/internal/execrun"
)

func init() { register("bos-config apply", benchApply) }

// applyExample is the product document's full example config.
const applyExample = "internal/apply/testdata/full.yaml"

// benchImage is the part of a booted image that apply reads.
var benchImage = map[string]string{
	"etc/passwd":            "root:x:0:0:root:/root:/bin/sh\nbhojpur:x:1000:1000::/home/bhojpur:/bin/sh\n",
	"etc/group":             "root:x:0:\nshadow:x:42:\nbhojpur:x:1000:\n",
	"etc/shadow":            "root:*:19000:0:99999:7:::\nbhojpur:!:19000:0:99999:7:::\n",
	"etc/hosts":             "127.0.0.1\tlocalhost\n",
	"etc/connman/main.conf": "[General]\n",
}

// benchBase is where the temporary roots go: $BOS_BENCH_DIR, else tmpfs
// when there is one, as /etc is on a booted system.
func benchBase() string {
	if d := os.Getenv("BOS_BENCH_DIR"); d != "" {
		return d
	}
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		return "/dev/shm"
	}
	return os.TempDir()
}

func newBenchRoot(cfg []byte) (string, error) {
	root, err := os.MkdirTemp(benchBase(), "bos-bench-apply-")
	if err != nil {
		return "", err
	}
	files := map[string]string{"var/lib/bhojpur/os/config.yaml": string(cfg)}
	for k, v := range benchImage {
		files[k] = v
	}
	for name, data := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			return "", err
		}
	}
	return root, nil
}

// applyBoot applies the boot phase into a fresh root, as
// `bos-config --root ROOT apply --phase boot` does (non-file actions are
// skipped in a tree root).
func applyBoot(cfg []byte) (string, error) {
	root, err := newBenchRoot(cfg)
	if err != nil {
		return "", err
	}
	fsys := osfs.New(root, osfs.WithBoundOS())
	t := &apply.Target{
		FS: fsys, Root: root, Log: quiet{},
		Runner: execrun.Exec{}, Host: apply.SysHost{}, Chown: apply.RootChowner{Root: root},
		Modules: &apply.KernelModules{Root: root},
	}
	load := func() (apply.Input, error) {
		l, err := config.Load(config.Options{Root: root, FS: fsys})
		if err != nil {
			return apply.Input{}, err
		}
		if err := l.Err(); err != nil {
			return apply.Input{}, err
		}
		return apply.Input{Config: &l.Config, Script: l.Script}, nil
	}
	err = apply.Apply(context.Background(), t, apply.Options{Phase: apply.Boot, Version: "bench", Load: load})
	return root, err
}

type quiet struct{}

func (quiet) Printf(string, ...any) {}

func benchApply() error {
	cfg, err := os.ReadFile(applyExample)
	if err != nil {
		return errors.Wrap(err, "run from the repository root")
	}
	// What apply writes, to write the same with plain os.WriteFile.
	root, err := applyBoot(cfg)
	if err != nil {
		return err
	}
	outputs := map[string][]byte{}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if strings.HasPrefix(rel, "var/lib/bhojpur/os/config.yaml") {
			return nil
		}
		data, err := os.ReadFile(p)
		outputs[rel] = data
		return err
	})
	os.RemoveAll(root)
	if err != nil {
		return err
	}
	const n = 50
	got, err := timeN(n, func() error {
		root, err := applyBoot(cfg)
		defer os.RemoveAll(root)
		return err
	})
	if err != nil {
		return err
	}
	base, err := timeN(n, func() error {
		root, err := newBenchRoot(cfg)
		if err != nil {
			return err
		}
		defer os.RemoveAll(root)
		for rel, data := range outputs {
			p := filepath.Join(root, rel)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	ratio("apply --phase boot, full example, fresh root in "+benchBase(), got, base, "< 20 ms")
	return nil
}
