package faultfs

import (
	"os"
	"strings"
	"testing"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/store"
)

func newFS(t *testing.T, limit int) *FS {
	inner, err := store.NewOSFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return New(inner, limit)
}

// install writes a version and switches current to it, with or without
// the syncs.
func install(f *FS, sync bool) error {
	steps := []func() error{
		func() error { return f.MkdirAll("sys/bos/.new", 0o755) },
		func() error {
			w, err := f.OpenFile("sys/bos/.new/rootfs", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			if _, err := w.Write([]byte("data")); err != nil {
				return err
			}
			if sync {
				if err := w.Sync(); err != nil {
					return err
				}
			}
			return w.Close()
		},
		func() error {
			if sync {
				return f.SyncDir("sys/bos/.new")
			}
			return nil
		},
		func() error { return f.Rename("sys/bos/.new", "sys/bos/v1") },
		func() error {
			if sync {
				return f.SyncDir("sys/bos")
			}
			return nil
		},
		func() error { return f.Symlink("v1", "sys/bos/.link-current") },
		func() error { return f.Rename("sys/bos/.link-current", "sys/bos/current") },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	return nil
}

func TestAuditFindsASwitchBeforeSync(t *testing.T) {
	f := newFS(t, -1)
	if err := install(f, false); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(f.Violations(), "\n")
	for _, want := range []string{
		"file /sys/bos/v1/rootfs not fsynced",
		"directory /sys/bos/v1 not fsynced",
		"directory /sys/bos not fsynced since v1 changed",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("violations lack %q:\n%s", want, got)
		}
	}
	g := newFS(t, -1)
	if err := install(g, true); err != nil {
		t.Fatal(err)
	}
	if v := g.Violations(); len(v) != 0 {
		t.Errorf("violations with every sync: %q", v)
	}
}

func TestCrashStopsEveryLaterOperation(t *testing.T) {
	f := newFS(t, 3)
	err := install(f, true)
	if !errors.Is(err, ErrCrash) {
		t.Fatalf("install with a crash after 3 ops = %v", err)
	}
	if f.Crashed() != "#4 fsync sys/bos/.new/rootfs" {
		t.Errorf("Crashed() = %q", f.Crashed())
	}
	if err := f.MkdirAll("x", 0o755); !errors.Is(err, ErrCrash) {
		t.Errorf("an operation after the crash = %v", err)
	}
	if ok, _ := store.Exists(f.Inner, "x"); ok {
		t.Error("an operation after the crash took effect")
	}
}
