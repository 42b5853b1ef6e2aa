package config

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// loadWithin runs Load and fails the test if it does not return within d:
// a regression that blocks fails instead of hanging the test binary.
func loadWithin(t *testing.T, d time.Duration, root string) (*Loaded, error) {
	t.Helper()
	type result struct {
		l   *Loaded
		err error
	}
	done := make(chan result, 1)
	go func() {
		l, err := Load(Options{Root: root})
		done <- result{l, err}
	}()
	select {
	case r := <-done:
		return r.l, r.err
	case <-time.After(d):
		t.Fatalf("Load(%s) still blocked after %v", root, d)
		return nil, nil
	}
}

// unblockFIFO opens a FIFO for writing and closes it, so a reader blocked
// in open(2) by a regression gets EOF and the test binary can exit.
func unblockFIFO(t *testing.T, p string) {
	t.Cleanup(func() {
		if fd, err := syscall.Open(p, syscall.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			syscall.Close(fd)
		}
	})
}

func TestConfigDSkipsWhatIsNotARegularFile(t *testing.T) {
	root := writeRoot(t, map[string]string{
		RuntimeConfigD + "/10-a.yaml": "hostname: from-a\n",
		RuntimeConfigD + "/30-c.yaml": "bos:\n  modules: [loop]\n",
	})
	dir := filepath.Join(root, RuntimeConfigD)
	fifo := filepath.Join(dir, "20-fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	unblockFIFO(t, fifo)
	specials := []string{"20-fifo.yaml"}
	if os.Geteuid() == 0 { // a device node needs root
		if err := syscall.Mknod(filepath.Join(dir, "25-zero.yaml"), syscall.S_IFCHR|0o600, 1<<8|5); err != nil {
			t.Fatal(err)
		}
		specials = append(specials, "25-zero.yaml")
	} else {
		t.Log("not root: no device node tested")
	}
	l, err := loadWithin(t, 10*time.Second, root)
	if err != nil {
		t.Fatalf("Load with a FIFO in config.d: %v", err)
	}
	if l.Config.Hostname != "from-a" || len(l.Config.Bos.Modules) != 1 {
		t.Errorf("config = %+v, want the regular files' values", l.Config)
	}
	for _, s := range l.Sources {
		for _, name := range specials {
			if strings.HasSuffix(s, name) {
				t.Errorf("sources = %v: %s was read", l.Sources, name)
			}
		}
	}
	for _, name := range specials {
		if !strings.Contains(l.Warnings.Error(), name+": not a regular file: ignored") {
			t.Errorf("warnings = %q, want one for %s", l.Warnings.Error(), name)
		}
	}
}

func TestSourceThatIsAFIFOIsAnError(t *testing.T) {
	root := writeRoot(t, map[string]string{})
	p := filepath.Join(root, RuntimeConfig)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	unblockFIFO(t, p)
	_, err := loadWithin(t, 10*time.Second, root)
	if err == nil || !strings.Contains(err.Error(), RuntimeConfig+": not a regular file") {
		t.Errorf("Load with a FIFO as %s: err = %v, want 'not a regular file'", RuntimeConfig, err)
	}
}
