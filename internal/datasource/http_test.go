package datasource

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pkg/errors"
)

// counting answers code to every request and counts them.
func counting(t *testing.T, code int) (url string, n *atomic.Int32) {
	n = new(atomic.Int32)
	s := server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(code)
	}))
	return s.URL, n
}

// TestClientRetriesOnly429And5xx: 429 and 5xx are tried Attempts times and
// end as a *StatusError; 404 is errNotFound and other statuses are final
// at once.
func TestClientRetriesOnly429And5xx(t *testing.T) {
	for _, tc := range []struct {
		code, requests int
	}{
		{http.StatusTooManyRequests, 3},
		{http.StatusInternalServerError, 3},
		{http.StatusServiceUnavailable, 3},
		{http.StatusBadRequest, 1},
		{http.StatusForbidden, 1},
		{http.StatusRequestTimeout, 1},
		{http.StatusNotFound, 1},
	} {
		url, n := counting(t, tc.code)
		c := newClientWith(testOpts(t, nil), http.DefaultTransport)
		_, err := c.get(context.Background(), url, nil, maxMetadata)
		if got := int(n.Load()); got != tc.requests {
			t.Errorf("HTTP %d: %d requests, want %d", tc.code, got, tc.requests)
		}
		if tc.code == http.StatusNotFound {
			if !errors.Is(err, errNotFound) {
				t.Errorf("HTTP 404: %v, want errNotFound", err)
			}
		} else if statusOf(err) != tc.code {
			t.Errorf("HTTP %d: %v, want a StatusError with the code", tc.code, err)
		}
	}
}

// TestClientBoundEndsTheBackoff: the probe's bound ending during a wait
// ends the request as ErrUnavailable, naming the last answer.
func TestClientBoundEndsTheBackoff(t *testing.T) {
	url, n := counting(t, http.StatusServiceUnavailable)
	o := testOpts(t, nil)
	o.Backoff = time.Minute
	c := newClientWith(o, http.DefaultTransport)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.get(ctx, url, nil, maxMetadata)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("get took %v: the wait outlived the bound", took)
	}
	if !errors.Is(err, ErrUnavailable) || !isBound(err) || !strings.Contains(err.Error(), "(last: GET "+url+": HTTP Service Unavailable (503))") {
		t.Errorf("get = %v, want the bound's error naming the last 503", err)
	}
	if got := n.Load(); got != 1 {
		t.Errorf("%d requests, want 1 before the bound", got)
	}
}
