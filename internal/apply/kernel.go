package apply

import (
	"context"
	"os"
	"strings"
	"sync"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/kmod"
)

// moduleStep loads one bos.modules entry: "name [param=value ...]".
type moduleStep struct{ Spec string }

func (s moduleStep) String() string { return "module " + strings.TrimSpace(s.Spec) }

func (s moduleStep) Apply(ctx context.Context, t *Target) error {
	f := strings.Fields(s.Spec)
	if len(f) == 0 {
		return nil
	}
	name, params := f[0], strings.Join(f[1:], " ")
	if moduleLoaded(t, name) {
		return nil
	}
	if !t.Live {
		t.skipped("load module %s", strings.Join(f, " "))
		return nil
	}
	if err := t.Modules.Load(name, params); err != nil {
		return errors.Wrapf(err, "load module %s", name)
	}
	t.logf("loaded module %s", name)
	return nil
}

// moduleLoaded tells whether proc/modules lists the module; names compare
// with "-" and "_" alike, as the kernel does.
func moduleLoaded(t *Target, name string) bool {
	data, err := readFile(t.FS, "proc/modules")
	if err != nil {
		return false
	}
	want := strings.ReplaceAll(name, "-", "_")
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.ReplaceAll(f[0], "-", "_") == want {
			return true
		}
	}
	return false
}

// KernelModules loads modules with internal/kmod: the index of the
// running kernel's modules directory under Root (lib/modules/<release>,
// or usr/lib/modules/<release>), read at the first Load; dependencies
// first, built-in ones skipped, a loaded one no error.
type KernelModules struct {
	Root string

	once   sync.Once
	loader *kmod.Loader
	err    error
}

// Load loads name with params, after what it depends on.
func (k *KernelModules) Load(name, params string) error {
	k.once.Do(func() { k.loader, k.err = openLoader(k.Root) })
	if k.err != nil {
		return k.err
	}
	_, err := k.loader.Load(name, params)
	return err
}

func openLoader(root string) (*kmod.Loader, error) {
	dir, err := kmod.Dir(root, "")
	if err != nil {
		return nil, err
	}
	ix, err := kmod.Open(dir)
	if err != nil {
		return nil, err
	}
	return &kmod.Loader{Index: ix}, nil
}

// sysctlStep writes one bos.sysctls entry to proc/sys.
type sysctlStep struct{ Key, Value string }

func (s sysctlStep) String() string { return "sysctl " + s.Key }

// SysctlPath is the proc/sys file of a key: dots become slashes unless the
// key is already written with slashes.
func SysctlPath(key string) (string, error) {
	k := strings.Trim(key, "./")
	if !strings.Contains(k, "/") {
		k = strings.ReplaceAll(k, ".", "/")
	}
	for _, part := range strings.Split(k, "/") {
		if part == "" || part == "." || part == ".." {
			return "", errors.Errorf("sysctl %q is not a valid key", key)
		}
	}
	return "proc/sys/" + k, nil
}

func (s sysctlStep) Apply(ctx context.Context, t *Target) error {
	p, err := SysctlPath(s.Key)
	if err != nil {
		return err
	}
	cur, err := readFile(t.FS, p)
	switch {
	case isNotExist(err) && !t.Live:
		t.skipped("sysctl %s (no /%s under the root)", s.Key, p)
		return nil
	case isNotExist(err):
		return errors.Errorf("unknown sysctl %s (no /%s)", s.Key, p)
	case err != nil:
		return errors.Wrapf(err, "read /%s", p)
	}
	if strings.Join(strings.Fields(string(cur)), " ") == strings.Join(strings.Fields(s.Value), " ") {
		return nil
	}
	// proc files are written in place: no temporary file, no rename.
	f, err := t.FS.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return errors.Wrapf(err, "open /%s", p)
	}
	if _, err := f.Write([]byte(s.Value + "\n")); err != nil {
		f.Close()
		return errors.Wrapf(err, "set sysctl %s", s.Key)
	}
	if err := f.Close(); err != nil {
		return errors.Wrapf(err, "set sysctl %s", s.Key)
	}
	t.Writes++
	t.logf("set sysctl %s = %s", s.Key, s.Value)
	return nil
}
