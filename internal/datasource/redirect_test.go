package datasource

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestRedirectNeverLowersTheScheme: once a request is on https, no
// redirect takes it back to http, whichever hop it comes from (the first
// request of an http -> https -> http chain is http), and the refusal is
// not retried.
func TestRedirectNeverLowersTheScheme(t *testing.T) {
	var plainHits, tlsHits atomic.Int32
	plain := server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		plainHits.Add(1)
		w.Write([]byte("#cloud-config\nhostname: attacker\n"))
	}))
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tlsHits.Add(1)
		http.Redirect(w, r, plain.URL+"/userdata", http.StatusFound)
	}))
	t.Cleanup(tlsSrv.Close)
	start := server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, tlsSrv.URL+"/hop", http.StatusFound)
	}))
	for _, u := range []string{tlsSrv.URL + "/userdata", start.URL + "/userdata"} {
		tlsHits.Store(0)
		c := newClientWith(testOpts(t, nil), tlsSrv.Client().Transport)
		r, err := c.get(context.Background(), u, nil, maxMetadata)
		if err == nil || !strings.Contains(err.Error(), "refusing redirect from https to http") {
			t.Errorf("get(%s) = %v, %v; want the redirect to http refused", u, r, err)
		}
		if n := tlsHits.Load(); n != 1 {
			t.Errorf("get(%s): the https hop was asked %d times, want 1 (a refused redirect is not retried)", u, n)
		}
	}
	if n := plainHits.Load(); n != 0 {
		t.Errorf("the http server got %d requests, want 0", n)
	}
}
