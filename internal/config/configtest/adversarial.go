// Package configtest holds config sources made to cost the loader as much
// as a source of at most 1 MiB can: the memory-bound test of package
// config and `make bench` load the same ones.
package configtest

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"strings"
)

// MaxSource is the size of a config source (config.MaxFileSize; not
// imported, so that config's own tests can use this package).
const MaxSource = 1 << 20

// Input is one adversarial source.
type Input struct {
	Name string
	Data []byte
}

// fill appends line(i) for i = 0, 1, ... while the result stays under
// MaxSource bytes with tail after it.
func fill(head string, line func(i int) string, tail string) []byte {
	var b strings.Builder
	b.WriteString(head)
	for i := 0; ; i++ {
		l := line(i)
		if b.Len()+len(l)+len(tail) > MaxSource {
			break
		}
		b.WriteString(l)
	}
	b.WriteString(tail)
	return []byte(b.String())
}

// gzipBase64 is n zero bytes, gzipped and base64-encoded.
func gzipBase64(n int) string {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(make([]byte, n))
	zw.Close()
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

// Adversarial returns the sources, each at most MaxSource bytes.
func Adversarial() []Input {
	big := strings.Repeat("x", MaxSource-4096)
	bomb := gzipBase64(64 << 20)
	return []Input{
		{"many map keys", fill("bos:\n  labels:\n", func(i int) string { return fmt.Sprintf("    k%d: v\n", i) }, "")},
		{"many list entries", fill("ssh_authorized_keys:\n", func(i int) string { return fmt.Sprintf("- github:u%d\n", i) }, "")},
		{"many write_files", fill("write_files:\n", func(i int) string { return fmt.Sprintf("- {path: /etc/f%d, content: x}\n", i) }, "")},
		{"one big write_files content", []byte("write_files:\n- path: /etc/big\n  content: " + big + "\n")},
		{"gzip bombs in write_files", fill("write_files:\n", func(i int) string {
			return fmt.Sprintf("- path: /etc/z%d\n  encoding: gz+b64\n  content: %s\n", i, bomb)
		}, "")},
		{"a big scalar", []byte("hostname: " + big + "\n")},
		{"a big key", []byte(big[:MaxSource/2] + ": 1\n" + "bos:\n  labels: {" + big[:MaxSource/3] + ": v}\n")},
		{"aliases of a big list", fill("ssh_authorized_keys: &k\n"+strings.Repeat("- github:someone-with-a-long-name\n", 2000)+"run_cmd: [",
			func(i int) string { return "*k, " }, "x]\n")},
		{"aliases of a big content", fill("write_files:\n- &f {path: /etc/a, content: "+big[:MaxSource/4]+"}\n", func(i int) string { return "- *f\n" }, "")},
		{"nested aliases (laughs)", laughs()},
		{"deep flow nesting", []byte("run_cmd: " + strings.Repeat("[", 9000) + strings.Repeat("]", 9000) + "\n")},
		{"deep block nesting", deepBlock()},
		{"many unknown keys", fill("", func(i int) string { return fmt.Sprintf("unknown_%d: x\n", i) }, "")},
		{"many wrong types", fill("bos:\n  modules:\n", func(i int) string { return "  - {a: b}\n" }, "")},
		{"many documents", fill("", func(i int) string { return "hostname: a\n---\n" }, "")},
	}
}

// laughs is the billion-laughs document: each anchor a list of ten
// aliases of the one before.
func laughs() []byte {
	var b strings.Builder
	b.WriteString("bos:\n  modules: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&b, "  x%d: &l%d [", i, i)
		for j := 0; j < 10; j++ {
			fmt.Fprintf(&b, "*l%d, ", i-1)
		}
		b.WriteString("lol]\n")
	}
	b.WriteString("run_cmd: *l9\nssh_authorized_keys: *l9\n")
	return []byte(b.String())
}

// deepBlock nests block mappings as deep as 1 MiB of indentation allows.
func deepBlock() []byte {
	var b strings.Builder
	for d := 0; ; d++ {
		line := strings.Repeat(" ", d) + "a:\n"
		if b.Len()+len(line)+64 > MaxSource {
			break
		}
		b.WriteString(line)
	}
	return []byte(b.String())
}
