package config

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

// zeros is a gz+b64 content of n zero bytes.
func zeros(t *testing.T, n int) string {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

// TestWriteFilesTotalIsCapped: five 16 MiB files, from two sources, in
// 100 KB of config; together they may decode to MaxWriteFiles (64 MiB),
// so the fifth is refused, the first four are not.
func TestWriteFilesTotalIsCapped(t *testing.T) {
	z := zeros(t, 16<<20)
	entries := func(from, to int) string {
		var b strings.Builder
		b.WriteString("write_files:\n")
		for i := from; i < to; i++ {
			fmt.Fprintf(&b, "- {path: /z/%d, encoding: gz+b64, content: %s}\n", i, z)
		}
		return b.String()
	}
	root := writeRoot(t, map[string]string{
		SystemConfig:                  entries(0, 3),
		RuntimeConfigD + "/50-z.yaml": entries(3, 5),
	})
	l, err := Load(Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	got := l.Problems.Error()
	want := "write_files[4].content: decodes to more than the 64 MiB that all write_files together may hold"
	if len(l.Problems) != 1 || !strings.Contains(got, want) {
		t.Errorf("problems = %q, want one: %q", got, want)
	}
}

func TestWriteFilesContentIsChecked(t *testing.T) {
	for _, tc := range []struct{ encoding, content, want string }{
		{"gz+b64", base64.StdEncoding.EncodeToString([]byte("this is not gzip data")), `write_files[0].content: not valid for encoding "gz+b64": gzip: invalid header`},
		{"b64", "!!!!", `write_files[0].content: not valid for encoding "b64": base64: illegal base64 data at input byte 0`},
		{"gzip", "plain text", `write_files[0].content: not valid for encoding "gzip": gzip: invalid header`},
	} {
		l, err := LoadFile("f.yaml", strings.NewReader(fmt.Sprintf("write_files: [{path: /x, encoding: %q, content: %q}]\n", tc.encoding, tc.content)))
		if err != nil {
			t.Fatal(err)
		}
		if got := l.Problems.Error(); !strings.Contains(got, tc.want) {
			t.Errorf("encoding %s: problems = %q, want %q", tc.encoding, got, tc.want)
		}
	}
	// Base64 may be wrapped on several lines and indented.
	l, err := LoadFile("f.yaml", strings.NewReader("write_files:\n- path: /x\n  encoding: b64\n  content: |\n    aGVs\n    bG8K\n"))
	if err != nil || l.Err() != nil {
		t.Fatalf("wrapped base64: %v %v", err, l.Err())
	}
	data, err := l.Config.WriteFiles[0].Decode(1 << 20)
	if err != nil || string(data) != "hello\n" {
		t.Errorf("Decode = %q, %v, want hello", data, err)
	}
	if _, err := l.Config.WriteFiles[0].Decode(5); err == nil || !strings.Contains(err.Error(), "over 5 bytes once decoded") {
		t.Errorf("Decode(limit 5) = %v, want over 5 bytes", err)
	}
}
