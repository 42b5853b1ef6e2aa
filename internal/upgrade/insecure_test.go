package upgrade

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bhojpur/os/internal/exitcode"
)

// TestPlainHTTPReleaseNeedsTheFlag: an http:// release URL or channel is
// bad input unless --insecure-http is given, and nothing is fetched.
func TestPlainHTTPReleaseNeedsTheFlag(t *testing.T) {
	plain := newPlainServer(t, v2)
	for _, tc := range []struct {
		name    string
		release string
		want    string
	}{
		{"release URL", v2.version, "--release-url " + plain.URL},
		{"channel", "", "--channel " + plain.URL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, plain, v1)
			before := snapshot(t, f.root)
			opt := f.options(OS)
			opt.Release = tc.release
			if tc.release == "" {
				opt.URL = "https://127.0.0.1:1/{version}/{artifact}"
			}
			err := f.run(t, opt)
			if exitcode.Of(err) != exitcode.BadInput || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--insecure-http") {
				t.Fatalf("upgrade from %s = %v (exit %d), want exit %d naming %q and --insecure-http", plain.URL, err, exitcode.Of(err), exitcode.BadInput, tc.want)
			}
			if len(plain.gets) != 0 {
				t.Errorf("fetched %v from the http server", plain.gets)
			}
			if diff := cmp.Diff(before, withoutRun(snapshot(t, f.root))); diff != "" {
				t.Errorf("a refused upgrade changed the tree (-before +after):\n%s", diff)
			}
		})
	}
}

// TestInsecureHTTPUpgradesAndWarns: with the flag, a plain http release
// installs and the log warns.
func TestInsecureHTTPUpgradesAndWarns(t *testing.T) {
	plain := newPlainServer(t, v2)
	f := newFixture(t, plain, v1)
	opt := f.options(OS)
	opt.InsecureHTTP = true
	if err := f.run(t, opt); err != nil {
		t.Fatalf("upgrade with InsecureHTTP: %+v\nlogs:\n%s", err, f.logs.String())
	}
	wantSystem(t, f.root, v1, v2, "bos", "dcp")
	for _, flag := range []string{"--release-url", "--channel"} {
		if want := "warning: " + flag + " " + plain.URL; !strings.Contains(f.logs.String(), want) {
			t.Errorf("logs do not say %q:\n%s", want, f.logs.String())
		}
	}
}

// TestRedirectToHTTPIsRefused: the checksum file or an artifact on an
// https release server redirecting to http is a download error, and
// nothing changes.
func TestRedirectToHTTPIsRefused(t *testing.T) {
	for _, tc := range []struct{ component, artifact string }{
		{OS, "sha256sum-amd64.txt"},
		{OS, "bos-rootfs-amd64.tar.gz"},
		{Kernel, "bos-initrd-amd64"},
	} {
		t.Run(tc.artifact, func(t *testing.T) {
			plain := newPlainServer(t, v2)
			srv := newServer(t, v2)
			redirected := "/" + v2.version + "/" + tc.artifact
			srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == redirected {
					http.Redirect(w, r, plain.URL+r.URL.Path, http.StatusFound)
					return
				}
				srv.serve(w, r)
			})
			f := newFixture(t, srv, v1)
			before := snapshot(t, f.root)
			opt := f.options(tc.component)
			opt.Release = v2.version
			err := f.run(t, opt)
			if exitcode.Of(err) != exitcode.Download || !strings.Contains(err.Error(), "redirects to "+plain.URL) {
				t.Fatalf("redirect of %s to http = %v (exit %d), want exit %d naming the redirect", tc.artifact, err, exitcode.Of(err), exitcode.Download)
			}
			if len(plain.gets) != 0 {
				t.Errorf("fetched %v from the http server", plain.gets)
			}
			// Verified downloads before the refused one stay staged, to
			// be resumed; nothing else changes.
			if diff := cmp.Diff(before, withoutStaging(withoutRun(snapshot(t, f.root)))); diff != "" {
				t.Errorf("a refused upgrade changed the tree (-before +after):\n%s", diff)
			}
		})
	}
}

// withoutStaging drops bos/system/.upgrade from a snapshot.
func withoutStaging(snap map[string]string) map[string]string {
	for k := range snap {
		if k == "bos/system/.upgrade" || strings.HasPrefix(k, "bos/system/.upgrade/") {
			delete(snap, k)
		}
	}
	return snap
}
