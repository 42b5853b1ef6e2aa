package config

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/memfs"
	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-billy/v5/util"
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

// swapped reports the FIFO named fifo as a regular file when it is
// listed or stat'ed by name, as if a regular file had been replaced by a FIFO
// between the Stat and the open.
type swapped struct {
	billy.Filesystem
	fifo string
}

type regularInfo struct{ os.FileInfo }

func (regularInfo) Mode() os.FileMode { return 0o600 }

func (s swapped) Stat(name string) (os.FileInfo, error) {
	fi, err := s.Filesystem.Stat(name)
	if err == nil && filepath.Base(name) == s.fifo {
		return regularInfo{fi}, nil
	}
	return fi, err
}

func (s swapped) ReadDir(name string) ([]os.FileInfo, error) {
	infos, err := s.Filesystem.ReadDir(name)
	for i, fi := range infos {
		if fi.Name() == s.fifo {
			infos[i] = regularInfo{fi}
		}
	}
	return infos, err
}

func (s swapped) Chroot(p string) (billy.Filesystem, error) {
	c, err := s.Filesystem.Chroot(p)
	return swapped{c, s.fifo}, err
}

// TestAFIFOSwappedInAfterTheStatIsRefused: the open does not block on a
// FIFO (O_NONBLOCK) and the check of the opened file refuses it; regular
// files opened the same way read whole.
func TestAFIFOSwappedInAfterTheStatIsRefused(t *testing.T) {
	big := "hostname: big\nwrite_files:\n- path: /etc/big\n  content: " + strings.Repeat("x", 512<<10) + "\n"
	root := writeRoot(t, map[string]string{
		RuntimeConfigD + "/10-a.yaml": big,
		RuntimeConfigD + "/30-c.yaml": "bos:\n  modules: [loop]\n",
	})
	fifo := filepath.Join(root, RuntimeConfigD, "20-fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	unblockFIFO(t, fifo)
	fs := swapped{osfs.New(root, osfs.WithBoundOS()), "20-fifo.yaml"}
	done := make(chan struct{})
	var l *Loaded
	var err error
	go func() { l, err = Load(Options{Root: root, FS: fs}); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Load blocked on a FIFO that passed the Stat")
	}
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !strings.Contains(l.Warnings.Error(), "20-fifo.yaml: not a regular file: ignored") {
		t.Errorf("warnings = %q, want the FIFO ignored", l.Warnings.Error())
	}
	if l.Config.Hostname != "big" || len(l.Config.WriteFiles) != 1 || len(l.Config.WriteFiles[0].Content) != 512<<10 || len(l.Config.Bos.Modules) != 1 {
		t.Errorf("the regular files did not load whole: hostname %q, %d write_files", l.Config.Hostname, len(l.Config.WriteFiles))
	}
}

// TestLoadFromMemfs: sources on memfs (as tests of other packages use) are
// read: memfs refuses reads of a file opened with any flag but O_RDONLY,
// so it alone gets no O_NONBLOCK. osfs, plain, bound or chrooted, and any
// other file system keep it.
func TestLoadFromMemfs(t *testing.T) {
	fs := memfs.New()
	for rel, content := range map[string]string{
		SystemConfig:                  "hostname: from-system\n",
		RuntimeConfigD + "/10-a.yaml": "bos:\n  modules: [loop]\n",
	} {
		if err := util.WriteFile(fs, rel, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	l, err := Load(Options{Root: "/", FS: fs})
	if err != nil {
		t.Fatalf("Load from memfs: %v", err)
	}
	if l.Config.Hostname != "from-system" || len(l.Config.Bos.Modules) != 1 {
		t.Errorf("config from memfs = %+v, want both files' values", l.Config)
	}
	root := t.TempDir()
	bound, plain := osfs.New(root, osfs.WithBoundOS()), osfs.New(root)
	chrooted, err := bound.Chroot("var")
	if err != nil {
		t.Fatal(err)
	}
	for name, fs := range map[string]billy.Filesystem{"bound": bound, "plain": plain, "chrooted": chrooted, "wrapped": swapped{bound, ""}} {
		if openFlags(fs)&syscall.O_NONBLOCK == 0 {
			t.Errorf("osfs (%s): no O_NONBLOCK", name)
		}
	}
}
