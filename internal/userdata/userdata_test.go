package userdata

import (
	"bytes"
	"compress/gzip"
	"strings"
	"testing"

	"github.com/pkg/errors"
)

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name       string
		in         []byte
		kind       Kind
		compressed bool
		problem    string // a substring of Problem; "" means none
	}{
		{"cloud-config", []byte("#cloud-config\nhostname: a\n"), KindCloudConfig, false, ""},
		{"cloud-config with BOM", []byte("\xef\xbb\xbf#cloud-config\nhostname: a\n"), KindCloudConfig, false, ""},
		{"cloud-config header only", []byte("#cloud-config\n"), KindCloudConfig, false, ""},
		{"cloud-config bad YAML", []byte("#cloud-config\nhostname: [a\n"), KindCloudConfig, false, "line"},
		{"plain YAML mapping", []byte("hostname: a\nbos:\n  labels: {a: b}\n"), KindYAML, false, ""},
		{"script", []byte("#!/bin/sh\necho hi\n"), KindScript, false, ""},
		{"gzip cloud-config", gz(t, []byte("#cloud-config\nhostname: a\n")), KindCloudConfig, true, ""},
		{"gzip script", gz(t, []byte("#!/bin/sh\ntrue\n")), KindScript, true, ""},
		{"empty", []byte("  \n"), KindNone, false, ""},
		{"plain text", []byte("just some words"), KindUnknown, false, "not a #cloud-config"},
		{"YAML list", []byte("- a\n- b\n"), KindUnknown, false, "not a mapping"},
		{"MIME", []byte("Content-Type: multipart/mixed; boundary=x\n\n--x\n"), KindUnknown, false, "MIME"},
		{"gzip in gzip", gz(t, gz(t, []byte("#cloud-config\n"))), KindUnknown, true, "gzip inside gzip"},
		{"binary", []byte{0, 1, 2, 3, 0xff}, KindUnknown, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := Classify(tc.in, 1<<20)
			if err != nil {
				t.Fatalf("Classify: %v", err)
			}
			if u.Kind != tc.kind || u.Compressed != tc.compressed {
				t.Errorf("Classify = %v (compressed %v), want %v (compressed %v)", u.Kind, u.Compressed, tc.kind, tc.compressed)
			}
			if tc.problem != "" && !strings.Contains(u.Problem, tc.problem) {
				t.Errorf("Problem = %q, want it to mention %q", u.Problem, tc.problem)
			}
			if tc.problem == "" && tc.kind != KindUnknown && u.Problem != "" {
				t.Errorf("Problem = %q, want none", u.Problem)
			}
		})
	}
}

func TestClassifyNeverQuotesTheUserdata(t *testing.T) {
	secret := "hunter2-secret-token"
	for _, in := range []string{
		"#cloud-config\nbos:\n  token: " + secret + "\n  x: [\n",
		"token " + secret,
		"- " + secret,
	} {
		u, err := Classify([]byte(in), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(u.Problem, secret) {
			t.Errorf("Problem %q quotes the userdata", u.Problem)
		}
	}
}

func TestGzipBomb(t *testing.T) {
	bomb := gz(t, bytes.Repeat([]byte{'a'}, 64<<20)) // 64 MiB of 'a' in ~64 KiB
	if len(bomb) > 1<<20 {
		t.Fatalf("bomb is %d bytes", len(bomb))
	}
	_, err := Classify(bomb, 1<<20)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Classify(bomb) = %v, want ErrTooLarge", err)
	}
}

func TestUserdataOverBound(t *testing.T) {
	_, err := Classify(make([]byte, 11), 10)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Classify(11 bytes, max 10) = %v, want ErrTooLarge", err)
	}
}

func FuzzClassify(f *testing.F) {
	f.Add([]byte("#cloud-config\nhostname: a\n"))
	f.Add([]byte("#!/bin/sh\n"))
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte("a: [b"))
	f.Fuzz(func(t *testing.T, in []byte) {
		u, err := Classify(in, 4096)
		if err == nil && int64(len(u.Data)) > 4096 {
			t.Fatalf("Data is %d bytes, over the bound", len(u.Data))
		}
	})
}
