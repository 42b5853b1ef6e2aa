package execrun

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/pkg/errors"
)

func TestCmdStringQuotesLikeAShell(t *testing.T) {
	c := Command("mkfs.ext4", "-L", "BOS_STATE", "a b", "it's", "", "--x=$HOME")
	want := `mkfs.ext4 -L BOS_STATE 'a b' 'it'\''s' '' '--x=$HOME'`
	if got := c.String(); got != want {
		t.Errorf("String() = %s, want %s", got, want)
	}
}

func TestRunReturnsStdoutAndStderrTogether(t *testing.T) {
	out, err := Exec{}.Run(context.Background(), Command("/bin/sh", "-c", "echo out; echo err >&2"))
	if err != nil || string(out) != "out\nerr\n" {
		t.Errorf("Run = %q, %v; want both streams", out, err)
	}
}

func TestRunPassesEnvAndDir(t *testing.T) {
	dir := t.TempDir()
	out, err := Exec{}.Run(context.Background(), Cmd{Name: "/bin/sh", Args: []string{"-c", `echo "$X"; pwd`}, Env: []string{"X=set"}, Dir: dir})
	if err != nil || string(out) != "set\n"+dir+"\n" {
		t.Errorf("Run = %q, %v; want X and the directory", out, err)
	}
}

func TestFailureNamesTheCommandAndItsOutput(t *testing.T) {
	c := Command("/bin/sh", "-c", "echo no space left; exit 3")
	out, err := Exec{}.Run(context.Background(), c)
	var e *Error
	if !errors.As(err, &e) || e.ExitCode() != 3 {
		t.Fatalf("Run = %v, want an *Error with exit status 3", err)
	}
	if string(out) != "no space left\n" {
		t.Errorf("output %q not returned with the error", out)
	}
	if want := "/bin/sh -c 'echo no space left; exit 3' (no space left): exit status 3"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}

func TestProgramNotFoundHasNoExitStatus(t *testing.T) {
	_, err := Exec{}.Run(context.Background(), Command("/nonexistent/prog", "x"))
	var e *Error
	if !errors.As(err, &e) || e.ExitCode() != -1 || !strings.HasPrefix(err.Error(), "/nonexistent/prog x: ") {
		t.Errorf("Run = %v, want an *Error naming the command with exit code -1", err)
	}
}

func TestOutputIsBoundedToItsTail(t *testing.T) {
	script := "i=0; while [ $i -lt 3000 ]; do echo line$i; i=$((i+1)); done; exit 1"
	out, err := Exec{MaxOutput: 100}.Run(context.Background(), Command("/bin/sh", "-c", script))
	if len(out) != 100 || !bytes.HasSuffix(out, []byte("line2999\n")) {
		t.Errorf("output = %d bytes ending %q, want the last 100", len(out), out[max(0, len(out)-20):])
	}
	if err == nil || !strings.Contains(err.Error(), "line2999): exit status 1") {
		t.Errorf("error = %v, want the tail of the output", err)
	}
}

func TestErrorMessageQuotesOnlyTheEndOfLongOutput(t *testing.T) {
	e := &Error{Cmd: Command("p"), Output: bytes.Repeat([]byte("x"), 5000), Err: errors.New("failed")}
	if got, want := e.Error(), "p (..."+strings.Repeat("x", maxMessage)+"): failed"; got != want {
		t.Errorf("message is %d bytes, want %d", len(got), len(want))
	}
}

func TestTailBufferKeepsTheLastBytes(t *testing.T) {
	b := &tailBuffer{max: 10}
	var all strings.Builder
	for i := range 100 {
		s := fmt.Sprint(i, ",")
		all.WriteString(s)
		b.Write([]byte(s))
		want := all.String()[max(0, all.Len()-10):]
		if string(b.Bytes()) != want {
			t.Fatalf("after %q: %q, want %q", all.String(), b.Bytes(), want)
		}
		if cap(b.b) > 64 {
			t.Fatalf("buffer grew to %d bytes", cap(b.b))
		}
	}
	b.Write([]byte("0123456789abcdef"))
	if string(b.Bytes()) != "6789abcdef" {
		t.Errorf("after a long write: %q", b.Bytes())
	}
}

type logLines []string

func (l *logLines) Printf(format string, args ...any) { *l = append(*l, fmt.Sprintf(format, args...)) }

func TestDebugLogsTheCommandLineAndOutput(t *testing.T) {
	var log logLines
	if _, err := (Exec{Log: &log, Debug: true}).Run(context.Background(), Command("/bin/echo", "hello world")); err != nil {
		t.Fatal(err)
	}
	if want := []string{"run /bin/echo 'hello world'", "/bin/echo: hello world"}; fmt.Sprint(log) != fmt.Sprint(want) {
		t.Errorf("log = %q, want %q", log, want)
	}
	log = nil
	if _, err := (Exec{Log: &log}).Run(context.Background(), Command("/bin/echo", "quiet")); err != nil || len(log) != 0 {
		t.Errorf("without Debug: log %q, err %v", log, err)
	}
}
