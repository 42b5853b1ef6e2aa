package bosupgrade

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"

	"github.com/bhojpur/os/internal/cli"
	"github.com/bhojpur/os/internal/exitcode"
	"github.com/bhojpur/os/internal/layout"
	"github.com/bhojpur/os/internal/upgrade/lock"
)

// releaseServer serves release v2 (rootfs and kernel artifacts, with their
// sha256sum file) at /v2/<artifact>; corrupt flips a byte of the rootfs.
func releaseServer(t *testing.T, corrupt bool) *httptest.Server {
	t.Helper()
	var tgz bytes.Buffer
	zw := gzip.NewWriter(&tgz)
	tw := tar.NewWriter(zw)
	for _, e := range []struct{ name, body string }{
		{"./", ""}, {"./bos/system/bos/v2/", ""}, {"./bos/system/bos/v2/rootfs.squashfs", "root v2"},
		{"./bos/system/bos/v2/bos-init", "init v2"}, {"./bos/system/dcp/v2/", ""}, {"./bos/system/dcp/v2/dcp", "dcp v2"},
	} {
		h := &tar.Header{Name: e.name, Mode: 0o755, Typeflag: tar.TypeDir}
		if !strings.HasSuffix(e.name, "/") {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.body))
		}
		tw.WriteHeader(h)
		tw.Write([]byte(e.body))
	}
	tw.Close()
	zw.Close()
	files := map[string][]byte{
		"bos-rootfs-amd64.tar.gz":   tgz.Bytes(),
		"bos-vmlinuz-amd64":         []byte("vmlinuz v2"),
		"bos-initrd-amd64":          []byte("initrd v2"),
		"bos-kernel-amd64.squashfs": []byte("modules v2"),
		"bos-kernel-version-amd64":  []byte("6.1.0-v2\n"),
	}
	var sums strings.Builder
	for n, b := range files {
		s := sha256.Sum256(b)
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(s[:]), n)
	}
	files["sha256sum-amd64.txt"] = []byte(sums.String())
	if corrupt {
		b := append([]byte(nil), files["bos-rootfs-amd64.tar.gz"]...)
		b[len(b)/2] ^= 1
		files["bos-rootfs-amd64.tar.gz"] = b
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/latest" {
			http.Redirect(w, r, "/tag/v2", http.StatusFound)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/tag/") {
			fmt.Fprint(w, "<html>release v2</html>")
			return
		}
		b, ok := files[strings.TrimPrefix(r.URL.Path, "/v2/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// installedRoot is a root with v1 of bos, dcp and kernel installed.
func installedRoot(t *testing.T) string {
	root := t.TempDir()
	sys := filepath.Join(root, "bos/system")
	for _, c := range []string{"bos", "dcp", "kernel"} {
		writeFile(t, filepath.Join(sys, c, "v1", "file"), c+" v1")
		if err := os.Symlink("v1", filepath.Join(sys, c, "current")); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// upgradeArgs are the flags of a run against srv, a plain http server
// (the command's own client trusts only the system's roots).
func upgradeArgs(srv *httptest.Server, root string, extra ...string) []string {
	return append([]string{"--root", root, "--arch", "amd64", "--insecure-http", "--release-url", srv.URL + "/{version}/{artifact}", "--channel", srv.URL + "/latest"}, extra...)
}

func TestUpgradeCommands(t *testing.T) {
	srv := releaseServer(t, false)
	root := installedRoot(t)

	code, out, errs := run(t, "bos-upgrade-rootfs", upgradeArgs(srv, root)...)
	if code != 0 || !strings.Contains(out, "bos: v1 -> v2") || !strings.Contains(out, "dcp: v1 -> v2") {
		t.Fatalf("bos-upgrade-rootfs = %d\nstdout %s\nstderr %s", code, out, errs)
	}
	code, out, errs = run(t, "bos-upgrade-kernel", upgradeArgs(srv, root, "--release", "v2")...)
	if code != 0 || !strings.Contains(out, "kernel: v1 -> v2") {
		t.Fatalf("bos-upgrade-kernel = %d\nstdout %s\nstderr %s", code, out, errs)
	}
	for c, file := range map[string]string{"bos": "rootfs.squashfs", "dcp": "dcp", "kernel": "vmlinuz"} {
		if l, _ := os.Readlink(filepath.Join(root, "bos/system", c, "current")); l != "v2" {
			t.Errorf("%s/current = %q", c, l)
		}
		if l, _ := os.Readlink(filepath.Join(root, "bos/system", c, "previous")); l != "v1" {
			t.Errorf("%s/previous = %q", c, l)
		}
		if _, err := os.Stat(filepath.Join(root, "bos/system", c, "v2", file)); err != nil {
			t.Error(err)
		}
	}
	code, out, _ = run(t, "bos-upgrade-rootfs", upgradeArgs(srv, root, "--release", "v2")...)
	if code != 0 || !strings.Contains(out, "already current: nothing to do") {
		t.Errorf("same version again = %d, %q", code, out)
	}
	code, out, _ = run(t, "bos-upgrade-kernel", upgradeArgs(srv, root, "--rollback")...)
	if code != 0 || !strings.Contains(out, "rolled back kernel from v2 to v1") {
		t.Errorf("--rollback = %d, %q", code, out)
	}
}

func TestUpgradeExitCodes(t *testing.T) {
	t.Run("corrupted download: 4", func(t *testing.T) {
		srv := releaseServer(t, true)
		root := installedRoot(t)
		code, _, errs := run(t, "bos-upgrade-rootfs", upgradeArgs(srv, root, "--release", "v2")...)
		if code != exitcode.Download || !strings.Contains(errs, "checksum mismatch") || !strings.Contains(errs, "deleted") {
			t.Errorf("= %d, %q", code, errs)
		}
		if l, _ := os.Readlink(filepath.Join(root, "bos/system/bos/current")); l != "v1" {
			t.Errorf("bos/current = %q after a refused download", l)
		}
	})
	t.Run("locked: 7", func(t *testing.T) {
		srv := releaseServer(t, false)
		root := installedRoot(t)
		l, err := lock.Acquire(filepath.Join(root, "run/bos/upgrade.lock"), "pid 99: bos-upgrade-kernel")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Release()
		code, _, errs := run(t, "bos-upgrade-rootfs", upgradeArgs(srv, root, "--release", "v2")...)
		if code != exitcode.Locked || !strings.Contains(errs, "pid 99: bos-upgrade-kernel") {
			t.Errorf("= %d, %q", code, errs)
		}
	})
	t.Run("kernel on an overlay install: 0 and a warning", func(t *testing.T) {
		srv := releaseServer(t, false)
		root := installedRoot(t)
		writeFile(t, filepath.Join(root, "run/bos/mode"), "local\n")
		code, _, errs := run(t, "bos-upgrade-kernel", upgradeArgs(srv, root, "--release", "v2")...)
		if code != 0 || !strings.Contains(errs, "warning:") {
			t.Errorf("= %d, %q", code, errs)
		}
	})
	t.Run("bad version: 3", func(t *testing.T) {
		srv := releaseServer(t, false)
		code, _, errs := run(t, "bos-upgrade-rootfs", upgradeArgs(srv, installedRoot(t), "--release", "../x")...)
		if code != exitcode.BadInput {
			t.Errorf("= %d, %q", code, errs)
		}
	})
	t.Run("plain http without --insecure-http: 3", func(t *testing.T) {
		srv := releaseServer(t, false)
		root := installedRoot(t)
		args := []string{"--root", root, "--arch", "amd64", "--release", "v2", "--release-url", srv.URL + "/{version}/{artifact}"}
		code, _, errs := run(t, "bos-upgrade-rootfs", args...)
		if code != exitcode.BadInput || !strings.Contains(errs, "--insecure-http") {
			t.Errorf("= %d, %q; want %d naming --insecure-http", code, errs, exitcode.BadInput)
		}
		t.Setenv("BOS_INSECURE_HTTP", "1")
		code, _, errs = run(t, "bos-upgrade-rootfs", args...)
		if code != 0 || !strings.Contains(errs, "warning: --release-url "+srv.URL) {
			t.Errorf("with BOS_INSECURE_HTTP=1 = %d, %q; want 0 and a warning", code, errs)
		}
	})
	t.Run("dry run", func(t *testing.T) {
		srv := releaseServer(t, false)
		root := installedRoot(t)
		code, out, errs := run(t, "bos-upgrade-kernel", upgradeArgs(srv, root, "--dry-run")...)
		if code != 0 || !strings.Contains(out, "would download "+srv.URL+"/v2/bos-vmlinuz-amd64") || !strings.Contains(out, "would switch kernel/current from v1 to v2") {
			t.Errorf("= %d\nstdout %s\nstderr %s", code, out, errs)
		}
		if _, err := os.Stat(filepath.Join(root, "bos/system/kernel/v2")); err == nil {
			t.Error("dry run installed")
		}
	})
}

// TestDefaultsAreTheLayout: the flags' defaults are the layout's names.
func TestDefaultsAreTheLayout(t *testing.T) {
	c := NewCLI("bos")
	p, err := kong.New(c, cli.Vars("test"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if c.Destination != "/"+layout.SystemDir || c.LockFile != layout.UpgradeLock || c.GrubEnv != layout.GrubEnvFile {
		t.Errorf("defaults %q %q %q; want the layout's", c.Destination, c.LockFile, c.GrubEnv)
	}
}
