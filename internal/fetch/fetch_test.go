package fetch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/store"
)

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func TestParseSums(t *testing.T) {
	a, b := strings.Repeat("a", 64), strings.Repeat("B", 64)
	got, err := ParseSums(strings.NewReader(a + "  bos-amd64.iso\n" + b + " *bos-initrd-amd64\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Sums{"bos-amd64.iso": a, "bos-initrd-amd64": strings.ToLower(b)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseSums (-want +got):\n%s", diff)
	}
	for _, bad := range []string{
		"abc  short\n",
		a + "  dir/name\n",
		a + "\n",
		a + "  x\n" + b + "  x\n",
	} {
		if _, err := ParseSums(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseSums(%q) = nil error", bad)
		}
	}
}

func TestArtifactURL(t *testing.T) {
	for _, tc := range []struct{ tmpl, want string }{
		{DefaultURL, "https://github.com/bhojpur/os/releases/download/v1.0/bos-amd64.iso"},
		{"http://mirror/bos/", "http://mirror/bos/v1.0/bos-amd64.iso"},
		{"http://m/{artifact}?v={version}", "http://m/bos-amd64.iso?v=v1.0"},
	} {
		if got := ArtifactURL(tc.tmpl, "v1.0", "bos-amd64.iso"); got != tc.want {
			t.Errorf("ArtifactURL(%q) = %q, want %q", tc.tmpl, got, tc.want)
		}
	}
}

func TestLatest(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/releases/latest", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/releases/tag/v1.2.3", http.StatusFound)
	})
	mux.HandleFunc("/releases/tag/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "<html></html>") })
	mux.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"tag_name": "v2.0.0", "name": "x"}`) })
	mux.HandleFunc("/version-json", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"version": "v2.1.0"}`) })
	mux.HandleFunc("/text", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "v3.0.0\n") })
	mux.HandleFunc("/html", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "<html>v9</html>") })
	mux.HandleFunc("/evil", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "../../etc\n") })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	f := &Fetcher{Client: srv.Client(), Retry: Retry{Attempts: 1}}
	for path, want := range map[string]string{"/releases/latest": "v1.2.3", "/json": "v2.0.0", "/version-json": "v2.1.0", "/text": "v3.0.0", "/html": "", "/evil": "", "/missing": ""} {
		got, err := f.Latest(context.Background(), srv.URL+path)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("Latest(%s) = %q, %v; want %q", path, got, err, want)
		}
		if want == "" && !errors.Is(err, ErrFetch) {
			t.Errorf("Latest(%s) error %v is not ErrFetch", path, err)
		}
	}
}

// flaky serves one artifact and misbehaves as told.
type flaky struct {
	data      []byte
	mu        sync.Mutex
	fail5xx   int   // answer 503 this many times first
	cutAt     int64 // cut the first answer after this many bytes (0: never)
	noRanges  bool  // ignore Range headers
	chunked   bool  // with noRanges: no Content-Length
	requests  []string
	slowFirst time.Duration
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.Header.Get("Range"))
	fail := f.fail5xx > 0
	if fail {
		f.fail5xx--
	}
	cut := f.cutAt
	f.cutAt = 0
	slow := f.slowFirst
	f.slowFirst = 0
	f.mu.Unlock()
	switch {
	case fail:
		http.Error(w, "busy", http.StatusServiceUnavailable)
	case slow > 0:
		w.Header().Set("Content-Length", fmt.Sprint(len(f.data)))
		w.Write(f.data[:10])
		w.(http.Flusher).Flush()
		time.Sleep(slow)
	case cut > 0:
		w.Header().Set("Content-Length", fmt.Sprint(len(f.data)))
		w.Write(f.data[:cut])
		w.(http.Flusher).Flush()
		conn, _, _ := http.NewResponseController(w).Hijack()
		conn.Close()
	case f.noRanges && f.chunked:
		for b := f.data; len(b) > 0; b = b[min(len(b), 10000):] {
			w.Write(b[:min(len(b), 10000)])
			w.(http.Flusher).Flush()
		}
	case f.noRanges:
		w.Write(f.data)
	default:
		http.ServeContent(w, r, "a", time.Time{}, bytes.NewReader(f.data))
	}
}

func setup(t *testing.T, h http.Handler) (*httptest.Server, store.FS, string) {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	fsys, err := store.NewOSFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	return srv, fsys, dir
}

func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestDownloadCases(t *testing.T) {
	data := payload(3<<20 + 17)
	for _, tc := range []struct {
		name     string
		server   *flaky
		part     []byte // already on disk
		requests []string
	}{
		{"fresh", &flaky{}, nil, []string{""}},
		{"retry after 503s", &flaky{fail5xx: 2}, nil, []string{"", "", ""}},
		{"resume after a cut", &flaky{cutAt: 1 << 20}, nil, []string{"", "bytes=1048576-"}},
		{"resume a part from an earlier run", &flaky{}, data[:12345], []string{"bytes=12345-"}},
		{"a whole part: 416", &flaky{}, data, []string{fmt.Sprintf("bytes=%d-", len(data))}},
		{"server ignores Range: start over", &flaky{noRanges: true}, data[:999], []string{"bytes=999-"}},
		{"a part larger than the artifact", &flaky{}, append(append([]byte(nil), data...), 'x'), []string{fmt.Sprintf("bytes=%d-", len(data)+1), ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.server.data = data
			srv, fsys, dir := setup(t, tc.server)
			if tc.part != nil {
				os.WriteFile(filepath.Join(dir, "a.part"), tc.part, 0o644)
			}
			f := &Fetcher{Client: srv.Client(), Retry: Retry{Attempts: 3, Base: time.Millisecond}}
			res, err := f.Download(context.Background(), srv.URL+"/a", fsys, "a.part", sum(data), nil)
			if err != nil {
				t.Fatalf("Download: %+v", err)
			}
			if res.Size != int64(len(data)) || res.Sum != sum(data) {
				t.Errorf("result %+v", res)
			}
			got, _ := os.ReadFile(filepath.Join(dir, "a.part"))
			if !bytes.Equal(got, data) {
				t.Errorf("file on disk: %d bytes, differs", len(got))
			}
			if diff := cmp.Diff(tc.requests, tc.server.requests); diff != "" {
				t.Errorf("Range headers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDownloadFailures(t *testing.T) {
	data := payload(100000)
	t.Run("checksum mismatch deletes the download", func(t *testing.T) {
		srv, fsys, dir := setup(t, &flaky{data: data})
		f := &Fetcher{Client: srv.Client()}
		_, err := f.Download(context.Background(), srv.URL+"/a", fsys, "a.part", strings.Repeat("0", 64), nil)
		if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "deleted") {
			t.Fatalf("Download = %v, want a checksum error that says the file was deleted", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "a.part")); !os.IsNotExist(err) {
			t.Errorf("the bad download is still there: %v", err)
		}
	})
	t.Run("404 is not retried", func(t *testing.T) {
		n := 0
		srv, fsys, _ := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { n++; http.NotFound(w, r) }))
		f := &Fetcher{Client: srv.Client(), Retry: Retry{Attempts: 5, Base: time.Millisecond}}
		_, err := f.Download(context.Background(), srv.URL+"/a", fsys, "a.part", sum(data), nil)
		if !errors.Is(err, ErrFetch) || !strings.Contains(err.Error(), "404") || n != 1 {
			t.Errorf("Download = %v after %d requests", err, n)
		}
	})
	t.Run("503 forever gives up", func(t *testing.T) {
		h := &flaky{data: data, fail5xx: 100}
		srv, fsys, _ := setup(t, h)
		f := &Fetcher{Client: srv.Client(), Retry: Retry{Attempts: 3, Base: time.Millisecond}}
		_, err := f.Download(context.Background(), srv.URL+"/a", fsys, "a.part", sum(data), nil)
		if !errors.Is(err, ErrFetch) || !strings.Contains(err.Error(), "gave up after 3 attempts") || len(h.requests) != 3 {
			t.Errorf("Download = %v after %d requests", err, len(h.requests))
		}
	})
	t.Run("a stalled answer is cut and resumed", func(t *testing.T) {
		h := &flaky{data: data, slowFirst: 2 * time.Second}
		srv, fsys, _ := setup(t, h)
		f := &Fetcher{Client: srv.Client(), Retry: Retry{Attempts: 3, Base: time.Millisecond, Stall: 100 * time.Millisecond}}
		start := time.Now()
		if _, err := f.Download(context.Background(), srv.URL+"/a", fsys, "a.part", sum(data), nil); err != nil {
			t.Fatalf("Download: %v", err)
		}
		if d := time.Since(start); d > 1500*time.Millisecond {
			t.Errorf("took %v: the stall was not cut", d)
		}
		if diff := cmp.Diff([]string{"", "bytes=10-"}, h.requests); diff != "" {
			t.Errorf("requests (-want +got):\n%s", diff)
		}
	})
}

func TestGet(t *testing.T) {
	quick := Retry{Attempts: 3, Base: time.Millisecond, Timeout: 200 * time.Millisecond}
	t.Run("retries 503s on a flaky server", func(t *testing.T) {
		h := &flaky{data: []byte("hostname: n1\n"), fail5xx: 2}
		srv, _, _ := setup(t, h)
		f := &Fetcher{Client: srv.Client(), Retry: quick}
		b, _, err := f.Get(context.Background(), srv.URL+"/c.yaml", 1<<10)
		if err != nil || string(b) != "hostname: n1\n" || len(h.requests) != 3 {
			t.Errorf("Get = %q, %v after %d requests; want the document after 3", b, err, len(h.requests))
		}
	})
	t.Run("404 is ErrNotFound and not retried", func(t *testing.T) {
		n := 0
		srv, _, _ := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { n++; http.NotFound(w, r) }))
		f := &Fetcher{Client: srv.Client(), Retry: quick}
		_, _, err := f.Get(context.Background(), srv.URL+"/c.yaml", 1<<10)
		if !errors.Is(err, ErrNotFound) || !errors.Is(err, ErrFetch) || n != 1 {
			t.Errorf("Get = %v after %d requests; want ErrNotFound (and ErrFetch) after 1", err, n)
		}
	})
	t.Run("more than the limit", func(t *testing.T) {
		srv, _, _ := setup(t, &flaky{data: payload(2000)})
		f := &Fetcher{Client: srv.Client(), Retry: quick}
		_, _, err := f.Get(context.Background(), srv.URL+"/c.yaml", 1000)
		if !errors.Is(err, ErrFetch) || !strings.Contains(err.Error(), "more than 1000 bytes") {
			t.Errorf("Get = %v, want ErrFetch for more than 1000 bytes", err)
		}
	})
	t.Run("a server that accepts and never answers", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		var conns []net.Conn // held open, never answered
		var mu sync.Mutex
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		}()
		t.Cleanup(func() {
			mu.Lock()
			defer mu.Unlock()
			for _, c := range conns {
				c.Close()
			}
		})
		f := &Fetcher{Retry: Retry{Attempts: 2, Base: time.Millisecond, Timeout: 100 * time.Millisecond}}
		start := time.Now()
		_, _, err = f.Get(context.Background(), "http://"+ln.Addr().String()+"/c.yaml", 1<<10)
		if !errors.Is(err, ErrFetch) || !strings.Contains(err.Error(), "no answer in 100ms") || !strings.Contains(err.Error(), "gave up after 2 attempts") {
			t.Errorf("Get = %v; want ErrFetch after 2 attempts cut at 100ms", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Get took %v: the attempts were not cut", d)
		}
	})
}

func TestDownloadWithoutWantedSum(t *testing.T) {
	data := payload(5000)
	srv, fsys, dir := setup(t, &flaky{data: data})
	f := &Fetcher{Client: srv.Client()}
	res, err := f.Download(context.Background(), srv.URL+"/a.iso", fsys, "a.iso", "", nil)
	if err != nil || res.Sum != sum(data) || res.Size != int64(len(data)) {
		t.Fatalf("Download(want \"\") = %+v, %v; want size %d and sum %s", res, err, len(data), sum(data))
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "a.iso")); !bytes.Equal(got, data) {
		t.Errorf("file on disk: %d bytes, differs", len(got))
	}
	if _, err := f.Download(context.Background(), srv.URL+"/a.iso", fsys, "a.iso", strings.ToUpper(sum(data)), nil); err != nil {
		t.Errorf("Download with an upper-case sum: %v", err)
	}
}

func TestTerminalProgress(t *testing.T) {
	var out bytes.Buffer
	p := TerminalProgress(&out)("bos-amd64.iso", 2000, 1000)
	p.Write(make([]byte, 1000))
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !strings.Contains(s, "bos-amd64.iso") || !strings.Contains(s, "100%") || !strings.HasSuffix(s, "\n") {
		t.Errorf("TerminalProgress drew %q; want the name, 100%% and a final newline", s)
	}
}

func TestProgressSeesEveryByte(t *testing.T) {
	data := payload(1 << 20)
	srv, fsys, dir := setup(t, &flaky{data: data})
	os.WriteFile(filepath.Join(dir, "a.part"), data[:1000], 0o644)
	var got struct {
		size, done, n int64
		closed        bool
	}
	f := &Fetcher{Client: srv.Client(), Progress: func(name string, size, done int64) io.WriteCloser {
		got.size, got.done = size, done
		return progressFunc(func(p []byte) { got.n += int64(len(p)) }, &got.closed)
	}}
	if _, err := f.Download(context.Background(), srv.URL+"/a", fsys, "a.part", sum(data), nil); err != nil {
		t.Fatal(err)
	}
	if got.size != int64(len(data)) || got.done != 1000 || got.done+got.n != int64(len(data)) || !got.closed {
		t.Errorf("progress saw size %d, done %d, +%d bytes, closed %v", got.size, got.done, got.n, got.closed)
	}
}

type progressWriter struct {
	fn     func([]byte)
	closed *bool
}

func (p progressWriter) Write(b []byte) (int, error) { p.fn(b); return len(b), nil }
func (p progressWriter) Close() error                { *p.closed = true; return nil }

func progressFunc(fn func([]byte), closed *bool) io.WriteCloser { return progressWriter{fn, closed} }

func FuzzParseSums(f *testing.F) {
	f.Add(strings.Repeat("a", 64) + "  x\n")
	f.Fuzz(func(t *testing.T, s string) {
		sums, err := ParseSums(strings.NewReader(s))
		if err != nil {
			return
		}
		for name, h := range sums {
			if len(h) != 64 || name == "" || strings.Contains(name, "/") {
				t.Fatalf("ParseSums(%q) accepted %q %q", s, name, h)
			}
		}
	})
}

// TestDownloadBoundsMax: a size the server gives above Bounds.Max is refused
// before the body is read; without a size the stream is cut at Max.
// Either way nothing of it stays, and it is not retried.
func TestDownloadBoundsMax(t *testing.T) {
	data := payload(1 << 20)
	for _, tc := range []struct {
		name    string
		chunked bool
		max     int64
		wantErr bool
	}{
		{"Content-Length above the bound", false, 1<<20 - 1, true},
		{"no size given, the stream passes the bound", true, 1<<20 - 1, true},
		{"exactly the bound", false, 1 << 20, false},
		{"no size given, within the bound", true, 1 << 20, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			requests, sent := 0, 0
			srv, fsys, dir := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				requests++
				mu.Unlock()
				if !tc.chunked {
					w.Header().Set("Content-Length", fmt.Sprint(len(data)))
				}
				for i := 0; i < len(data); i += 64 << 10 {
					n, err := w.Write(data[i : i+64<<10])
					mu.Lock()
					sent += n
					mu.Unlock()
					if err != nil {
						return
					}
					w.(http.Flusher).Flush()
				}
			}))
			f := &Fetcher{Client: srv.Client(), Retry: Retry{Attempts: 3, Base: time.Millisecond}}
			_, err := f.Download(context.Background(), srv.URL+"/bos-amd64.iso", fsys, "a.part", sum(data), &Bounds{Max: tc.max})
			if tc.wantErr != (err != nil) || (err != nil && !errors.Is(err, ErrTooLarge)) {
				t.Fatalf("Download with Bounds.Max %d = %v, want ErrTooLarge %v", tc.max, err, tc.wantErr)
			}
			if !tc.wantErr {
				return
			}
			if requests != 1 {
				t.Errorf("%d requests, want 1 (never retried)", requests)
			}
			if _, err := os.Stat(filepath.Join(dir, "a.part")); !os.IsNotExist(err) {
				t.Errorf("the part file stayed: %v", err)
			}
			if !strings.Contains(err.Error(), fmt.Sprint(tc.max)) {
				t.Errorf("%q does not name the bound", err)
			}
		})
	}
}

func TestSumsURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"http://10.0.2.2:8080/bos/bos-amd64.iso", "http://10.0.2.2:8080/bos/sha256sum-amd64.txt"},
		{"https://h/r/v1/bos-amd64.iso?token=x#frag", "https://h/r/v1/sha256sum-amd64.txt"},
		{"https://h/bos-amd64.iso", "https://h/sha256sum-amd64.txt"},
	} {
		got, err := SumsURL(tc.in, "amd64")
		if err != nil || got != tc.want {
			t.Errorf("SumsURL(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if got := ArtifactName("https://h/r/bos-amd64.iso?x=1"); got != "bos-amd64.iso" {
		t.Errorf("ArtifactName = %q", got)
	}
}

func TestPublishedSum(t *testing.T) {
	iso := strings.Repeat("a", 64)
	mux := http.NewServeMux()
	mux.HandleFunc("/good/sha256sum-amd64.txt", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s  bos-amd64.iso\n%s  bos-initrd-amd64\n", iso, strings.Repeat("b", 64))
	})
	mux.HandleFunc("/other/sha256sum-amd64.txt", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s  bos-initrd-amd64\n", iso)
	})
	mux.HandleFunc("/bad/sha256sum-amd64.txt", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "<html>nope</html>\n") })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	f := &Fetcher{Client: srv.Client(), Retry: Retry{Attempts: 1}}
	got, list, err := f.PublishedSum(context.Background(), srv.URL+"/good/bos-amd64.iso", "amd64")
	if err != nil || got != iso || list != srv.URL+"/good/sha256sum-amd64.txt" {
		t.Errorf("PublishedSum(good) = %q, %q, %v", got, list, err)
	}
	for dir, want := range map[string]error{"/other": ErrNotListed, "/missing": ErrNotFound, "/bad": ErrFetch} {
		if _, _, err := f.PublishedSum(context.Background(), srv.URL+dir+"/bos-amd64.iso", "amd64"); !errors.Is(err, want) {
			t.Errorf("PublishedSum(%s) = %v, want %v", dir, err, want)
		}
	}
}
