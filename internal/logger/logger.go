// Package logger is the toolkit's one logging seam: a Printf-shaped
// Logger, a Writer that prints lines to an io.Writer, and Discard. Every
// package that logs takes a Logger, so tests capture what it says and
// bos-init's console, the commands' stderr and the bench share the shape.
package logger

import (
	"fmt"
	"io"
)

// Logger logs one line per call, Printf-shaped.
type Logger interface {
	Printf(format string, args ...any)
}

// Writer logs lines to W, each with Prefix and a newline.
type Writer struct {
	W      io.Writer
	Prefix string
}

// Printf writes one log line.
func (l Writer) Printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if n := len(msg); n == 0 || msg[n-1] != '\n' {
		msg += "\n"
	}
	fmt.Fprint(l.W, l.Prefix+msg)
}

// Discard is a Logger that says nothing.
var Discard Logger = discard{}

type discard struct{}

func (discard) Printf(string, ...any) {}
