package faultfs

import (
	"io"
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

// store.WriteFile goes through the FS step by step: a crash after any of
// them leaves the old contents or the new, never a part.
func TestWriteFileCrashAtEachStep(t *testing.T) {
	write := func(limit int) (*FS, string) {
		f := newFS(t, -1)
		if err := f.Inner.MkdirAll("d", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := store.WriteFile(f.Inner, "d/f", []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
		f.Limit = limit
		err := store.WriteFile(f, "d/f", []byte("new"), 0o644)
		if limit < 0 && err != nil || limit >= 0 && f.Crashed() != "" && !errors.Is(err, ErrCrash) {
			t.Fatalf("WriteFile crashing after %d ops = %v", limit, err)
		}
		r, err := f.Inner.Open("d/f")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		b, _ := io.ReadAll(r)
		return f, string(b)
	}
	f, got := write(-1)
	if got != "new" {
		t.Fatalf("d/f = %q after WriteFile, want new", got)
	}
	var kinds []string
	for _, op := range f.Log() {
		kinds = append(kinds, strings.Fields(op)[0])
	}
	if want := "open write fsync close rename fsync"; strings.Join(kinds, " ") != want {
		t.Errorf("WriteFile did %q, want %q", f.Log(), want)
	}
	const rename = 5 // the fifth operation
	for n := 0; n < f.Ops(); n++ {
		want := "old"
		if n >= rename {
			want = "new"
		}
		if g, got := write(n); got != want {
			t.Errorf("d/f = %q after a crash at %s, want %q", got, g.Crashed(), want)
		}
	}
}
