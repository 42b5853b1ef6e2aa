package fetch

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/store"
)

// counter is a handler that serves data and counts its requests.
type counter struct {
	mu   sync.Mutex
	n    int
	data []byte
}

func (c *counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	w.Write(c.data)
}

func (c *counter) requests() int { c.mu.Lock(); defer c.mu.Unlock(); return c.n }

// redirector answers every request with a redirect to to+path.
func redirector(to func() string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, to()+r.URL.Path, http.StatusFound)
	})
}

// TestRedirectNeverLowersTheScheme: an https server that redirects to
// plain http (a key URL, a checksum file, an artifact) is refused, and
// the http server never sees a request; so is an http -> https -> http
// chain.
func TestRedirectNeverLowersTheScheme(t *testing.T) {
	data := []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE attacker\n")
	plain := &counter{data: data}
	plainSrv := httptest.NewServer(plain)
	t.Cleanup(plainSrv.Close)
	tlsSrv := httptest.NewTLSServer(redirector(func() string { return plainSrv.URL }))
	t.Cleanup(tlsSrv.Close)
	// http -> https -> http: the https hop redirects down again.
	startSrv := httptest.NewServer(redirector(func() string { return tlsSrv.URL }))
	t.Cleanup(startSrv.Close)

	for _, start := range []string{tlsSrv.URL, startSrv.URL} {
		f := &Fetcher{Client: tlsSrv.Client(), Retry: Retry{Attempts: 3, Base: time.Millisecond}}
		t.Run("Get from "+start[:strings.Index(start, ":")], func(t *testing.T) {
			before := plain.requests()
			_, _, err := f.Get(context.Background(), start+"/user.keys", 1<<10)
			if !errors.Is(err, ErrFetch) || !strings.Contains(err.Error(), "to http") {
				t.Errorf("Get(%s) = %v, want ErrFetch refusing the redirect to http", start, err)
			}
			if n := plain.requests() - before; n != 0 {
				t.Errorf("the http server got %d requests, want 0", n)
			}
		})
		t.Run("Download from "+start[:strings.Index(start, ":")], func(t *testing.T) {
			dir := t.TempDir()
			fsys, err := store.NewOSFS(dir)
			if err != nil {
				t.Fatal(err)
			}
			before := plain.requests()
			_, err = f.Download(context.Background(), start+"/a", fsys, "a.part", sum(data), nil)
			if !errors.Is(err, ErrFetch) || !strings.Contains(err.Error(), "to http") {
				t.Errorf("Download(%s) = %v, want ErrFetch refusing the redirect to http", start, err)
			}
			if n := plain.requests() - before; n != 0 {
				t.Errorf("the http server got %d requests, want 0", n)
			}
			if _, err := os.Stat(filepath.Join(dir, "a.part")); !os.IsNotExist(err) {
				t.Errorf("a.part exists after a refused redirect: %v", err)
			}
		})
	}
}

// TestRedirectIsLogged: the log names the URL actually fetched, and so
// does the Download result.
func TestRedirectIsLogged(t *testing.T) {
	data := payload(1000)
	final := &counter{data: data}
	mux := http.NewServeMux()
	mux.Handle("/real/", final)
	mux.Handle("/a", http.RedirectHandler("/real/a", http.StatusFound))
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	var logs strings.Builder
	f := &Fetcher{Client: srv.Client(), Log: func(format string, args ...any) { fmt.Fprintf(&logs, format+"\n", args...) }}
	fsys, err := store.NewOSFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.Download(context.Background(), srv.URL+"/a", fsys, "a.part", sum(data), nil)
	if err != nil {
		t.Fatalf("Download: %v", err)
	}
	if res.URL != srv.URL+"/real/a" {
		t.Errorf("Result.URL = %q, want %q", res.URL, srv.URL+"/real/a")
	}
	if want := srv.URL + "/a: redirected to " + srv.URL + "/real/a"; !strings.Contains(logs.String(), want) {
		t.Errorf("logs %q do not say %q", logs.String(), want)
	}
}
