package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/bhojpur/os/internal/fetch"
	"github.com/bhojpur/os/internal/layout"
	"github.com/bhojpur/os/internal/store"
	"github.com/bhojpur/os/internal/upgrade"
)

func init() {
	register("bos-upgrade-rootfs: download + verify + install a 64 MiB rootfs from loopback HTTP", benchUpgrade)
}

// upgradeArtifact is a release tarball like the image build's: a 64 MiB
// rootfs.squashfs (random bytes: squashfs is compressed already, so gzip
// cannot shrink it) and the five binaries (small here).
func upgradeArtifact(version string) ([]byte, error) {
	rng := rand.NewChaCha8([32]byte{7})
	squash := make([]byte, 64<<20)
	rng.Read(squash)
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	base := "./bos/system/bos/" + version + "/"
	for _, d := range []string{"./", "./bos/", "./bos/system/", "./bos/system/bos/", base} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755}); err != nil {
			return nil, err
		}
	}
	files := map[string][]byte{"rootfs.squashfs": squash}
	for _, c := range layout.Commands {
		files[c] = []byte("#!" + c)
	}
	for name, b := range files {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: base + name, Mode: 0o755, Size: int64(len(b))}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(b); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func benchUpgrade() error {
	const version = "v2.0.0"
	art, err := upgradeArtifact(version)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(art)
	sums := hex.EncodeToString(sum[:]) + "  bos-rootfs-amd64.tar.gz\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/" + version + "/bos-rootfs-amd64.tar.gz":
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(art))
		case "/" + version + "/sha256sum-amd64.txt":
			fmt.Fprint(w, sums)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	url := srv.URL + "/" + version + "/bos-rootfs-amd64.tar.gz"

	// A root with v1 installed, made before the clock starts.
	newRoot := func() (string, error) {
		root, err := os.MkdirTemp(benchBase(), "bos-bench-upgrade-")
		if err != nil {
			return "", err
		}
		v1 := filepath.Join(root, "bos/system/bos/v1.0.0")
		if err := os.MkdirAll(v1, 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(v1, "rootfs.squashfs"), []byte("v1"), 0o644); err != nil {
			return "", err
		}
		return root, os.Symlink("v1.0.0", filepath.Join(root, "bos/system/bos/current"))
	}
	ours := func() (time.Duration, error) {
		root, err := newRoot()
		if err != nil {
			return 0, err
		}
		defer os.RemoveAll(root)
		fsys, err := store.NewOSFS(root)
		if err != nil {
			return 0, err
		}
		opt := upgrade.Options{Component: upgrade.OS, Release: version, URL: srv.URL + "/{version}/{artifact}",
			Arch: "amd64", Dest: "/bos/system", LockFile: filepath.Join(root, "run/bos/upgrade.lock"), InsecureHTTP: true}
		env := &upgrade.Env{Root: root, FS: fsys, Fetcher: &fetch.Fetcher{Client: srv.Client()}}
		start := time.Now()
		if err := upgrade.Run(context.Background(), opt, env); err != nil {
			return 0, err
		}
		d := time.Since(start)
		got, err := os.ReadFile(filepath.Join(root, "bos/system/bos/current/rootfs.squashfs"))
		if err != nil || len(got) != 64<<20 {
			return 0, fmt.Errorf("installed rootfs.squashfs: %d bytes, %v", len(got), err)
		}
		return d, nil
	}
	pipe := func() (time.Duration, error) {
		start := time.Now()
		out, err := exec.Command("sh", "-c", "curl -s "+url+" | sha256sum").Output()
		d := time.Since(start)
		if err != nil {
			return 0, fmt.Errorf("curl | sha256sum: %v", err)
		}
		if !strings.HasPrefix(string(out), hex.EncodeToString(sum[:])) {
			return 0, fmt.Errorf("curl | sha256sum = %q", out)
		}
		return d, nil
	}
	if _, err := exec.LookPath("curl"); err != nil {
		return fmt.Errorf("curl is needed for the baseline: %v", err)
	}
	// Warm up both, then interleave runs and keep each side's best.
	if _, err := ours(); err != nil {
		return err
	}
	if _, err := pipe(); err != nil {
		return err
	}
	var best, base time.Duration
	for i := 0; i < 5; i++ {
		d, err := ours()
		if err != nil {
			return err
		}
		if best == 0 || d < best {
			best = d
		}
		if d, err = pipe(); err != nil {
			return err
		}
		if base == 0 || d < base {
			base = d
		}
	}
	mb := float64(len(art)) / 1e6
	figure("bos-upgrade-rootfs throughput (into "+benchBase()+")", fmt.Sprintf("%7.0f MB/s", mb/best.Seconds()), ">= 0.8x the pipe")
	figure("curl -s URL | sha256sum throughput", fmt.Sprintf("%7.0f MB/s", mb/base.Seconds()), "baseline")
	ratio(fmt.Sprintf("time for %.0f MB, best of 5 (throughput ratio %.2fx)", mb, base.Seconds()/best.Seconds()), best, base, "<= 1.25x time, i.e. >= 0.8x throughput")
	return nil
}
