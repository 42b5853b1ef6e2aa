package main

import (
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"

	"github.com/bhojpur/os/internal/config"
)

const fullExample = "internal/config/testdata/valid/full-example.yaml"

func init() {
	register("config: load + merge + validate (full example + 100 config.d files)", benchConfig)
}

// configRoot builds a root holding the full example as the system config and
// n config.d files, and returns it with every file's bytes.
func configRoot(n int) (string, [][]byte, error) {
	full, err := os.ReadFile(fullExample)
	if err != nil {
		return "", nil, err
	}
	root, err := os.MkdirTemp("", "bos-bench-config-")
	if err != nil {
		return "", nil, err
	}
	files := map[string][]byte{config.SystemConfig: full}
	for i := 0; i < n; i++ {
		files[filepath.Join(config.RuntimeConfigD, fmt.Sprintf("%03d.yaml", i))] = []byte(fmt.Sprintf(`hostname: node-%d
ssh_authorized_keys: [github:user%d]
write_files:
- path: /etc/bench/%d.conf
  permissions: '0644'
  content: |
    line one %d
bos:
  modules: [mod%d]
  labels: {bench.example.com/l%d: v%d}
  sysctls: {net.ipv4.conf.all.arp_ignore%d: "1"}
  taints: ["k%d=v:NoSchedule"]
`, i, i, i, i, i, i, i, i, i))
	}
	var all [][]byte
	for rel, data := range files {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", nil, err
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			return "", nil, err
		}
		all = append(all, data)
	}
	return root, all, nil
}

func benchConfig() error {
	root, files, err := configRoot(100)
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	load, err := timeN(200, func() error {
		l, err := config.Load(config.Options{Root: root})
		if err != nil {
			return err
		}
		if l.Err() != nil {
			return l.Err()
		}
		if len(l.Config.Bos.Modules) != 102 {
			return fmt.Errorf("merged %d modules, want 102", len(l.Config.Bos.Modules))
		}
		return nil
	})
	if err != nil {
		return err
	}
	plain, err := timeN(200, func() error {
		for _, data := range files {
			var c config.Config
			if err := yaml.Unmarshal(data, &c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	ratio("per operation, vs plain yaml.v3 unmarshal of the same bytes", load, plain, "< 5ms and < 3x")
	return nil
}
