// Package clitest runs a command's CLI in-process for the commands' tests
// and writes the files their fake roots need.
package clitest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bhojpur/os/internal/cli"
)

// Main is a command's entry point: bosconfig.Main and the like.
type Main func(name string, args []string, streams cli.IO) int

// Run runs main as name on args, with empty stdin, and returns the exit
// code, stdout and stderr.
func Run(t testing.TB, main Main, name string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := main(name, args, cli.IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb})
	return code, out.String(), errb.String()
}

// WriteFile writes content to path (0600), making its directories.
func WriteFile(t testing.TB, path, content string) {
	t.Helper()
	writeFile(t, path, content, 0o600)
}

// WriteTree writes each file of files (0644) under root.
func WriteTree(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		writeFile(t, filepath.Join(root, name), data, 0o644)
	}
}

func writeFile(t testing.TB, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}
