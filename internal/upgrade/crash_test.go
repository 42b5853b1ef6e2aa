package upgrade

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/store"
	"github.com/bhojpur/os/internal/store/faultfs"
)

// TestCrashAfterEveryOperation runs an upgrade once to count its
// file-system operations, then, for every n, runs it again on a fresh
// copy of the system with a crash after n operations (that one and every
// later one fail, without effect). After each crash, every component's
// current (and previous) must name a complete version, old or new; a
// second run, without faults, must complete the upgrade and leave
// nothing behind.
func TestCrashAfterEveryOperation(t *testing.T) {
	srcDir := t.TempDir()
	install(t, srcDir, v2)
	for _, tc := range []struct {
		name       string
		component  string
		source     bool
		components []string
	}{
		{"rootfs download", OS, false, []string{"bos", "dcp"}},
		{"kernel download", Kernel, false, []string{"kernel"}},
		{"rootfs from source", OS, true, []string{"bos", "dcp"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, v2)
			opt := func(f *fixture) Options {
				o := f.options(tc.component)
				o.Release = v2.version
				if tc.source {
					o.Source = srcDir
				}
				return o
			}
			runWith := func(f *fixture, limit int) (*faultfs.FS, error) {
				inner, err := store.NewOSFS(f.root)
				if err != nil {
					t.Fatal(err)
				}
				ffs := faultfs.New(inner, limit)
				return ffs, Run(context.Background(), opt(f), f.env(t, ffs))
			}

			// Count.
			f := newFixture(t, srv, v0, v1)
			counter, err := runWith(f, -1)
			if err != nil {
				t.Fatalf("upgrade without faults: %+v", err)
			}
			if v := counter.Violations(); len(v) > 0 {
				t.Errorf("write, sync, switch broken:\n%s", strings.Join(v, "\n"))
			}
			total := counter.Ops()
			want := snapshot(t, filepath.Join(f.root, "bos/system"))
			t.Logf("%s: %d file-system operations", tc.name, total)
			if total < 20 {
				t.Fatalf("only %d operations counted: the upgrade is not going through the FS", total)
			}

			// How the network splits a download varies a little from run
			// to run, and with it the number of writes: go on until a run
			// needs no more operations than allowed.
			for n := 0; ; n++ {
				f := newFixture(t, srv, v0, v1)
				ffs, err := runWith(f, n)
				if ffs.Crashed() == "" {
					if err != nil || n < total*9/10 {
						t.Fatalf("run with %d ops allowed (of %d counted) = %v, without a crash", n, total, err)
					}
					t.Logf("crashed after each of operations 0..%d", n-1)
					break
				}
				if !errors.Is(err, faultfs.ErrCrash) {
					t.Fatalf("crash after %d ops: run returned %v, want the crash", n, err)
				}
				for _, c := range tc.components {
					for _, l := range []string{"current", "previous"} {
						if err := completeVersion(t, f.root, c, l); err != nil {
							t.Fatalf("crash after %d ops (at %s): %s/%s: %v", n, ffs.Crashed(), c, l, err)
						}
					}
				}
				// A re-run completes the upgrade and cleans up.
				if _, err := runWith(f, -1); err != nil {
					t.Fatalf("re-run after a crash at %s: %+v", ffs.Crashed(), err)
				}
				got := snapshot(t, filepath.Join(f.root, "bos/system"))
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("re-run after a crash at %s left (-want +got):\n%s", ffs.Crashed(), diff)
				}
				os.RemoveAll(f.root)
			}
		})
	}
}

// completeVersion checks that link names a version whose directory holds
// exactly that release's files.
func completeVersion(t *testing.T, root, component, link string) error {
	v := readLink(root, component, link)
	for _, r := range []release{v0, v1, v2} {
		if r.version == v {
			return checkVersion(t, root, component, r)
		}
	}
	return fmt.Errorf("points at %q, not a known version", v)
}

// evilTarball is a release tarball with an entry that climbs out.
func evilTarball(t testing.TB) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, h := range []*tar.Header{
		{Typeflag: tar.TypeDir, Name: "./", Mode: 0o755},
		{Typeflag: tar.TypeReg, Name: "./bos/system/bos/v2.0.0/rootfs.squashfs", Mode: 0o644, Size: 1},
		{Typeflag: tar.TypeReg, Name: "./bos/system/../../../escaped", Mode: 0o644, Size: 1},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte("x"))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func sumLine(b []byte, name string) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]) + "  " + name + "\n"
}
