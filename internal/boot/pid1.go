package boot

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bhojpur/os/internal/logger"
)

// consoleLog writes each line to the console and, at debug priority (not
// echoed to the console again), to the kernel log.
type consoleLog struct {
	console io.Writer
	kmsg    io.Writer
}

func (l consoleLog) Printf(format string, args ...any) {
	logger.Writer{W: l.console, Prefix: "bos-init: "}.Printf(format, args...)
	if l.kmsg != nil {
		logger.Writer{W: l.kmsg, Prefix: "<7>bos-init: "}.Printf(format, args...)
	}
}

// PID1 is bos-init as the initrd's init. It ignores its arguments (the
// kernel passes stray cmdline words) and never returns.
func PID1(initrd InitrdPhase) {
	env := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "TERM=linux"}
	os.Clearenv()
	for _, e := range env {
		k, v, _ := cutEnv(e)
		_ = os.Setenv(k, v)
	}
	// The kernel gives init /dev/console when the initramfs has the node;
	// once devtmpfs is up reopen it, in case it did not.
	b := &Boot{Root: "/", Log: consoleLog{console: os.Stdout}, Now: time.Now, Sleep: time.Sleep, Wait: MediaWait, Initrd: initrd}
	sys := LinuxSys{Console: "/dev/console", Env: env}
	b.Sys = &sys
	b.OnKernelFS = func() {
		reopenConsole()
		b.Log = consoleLog{console: os.Stdout, kmsg: openKmsg()}
		sys.Console = ConsoleDevice("/")
	}
	b.Log.Printf("starting (pid 1)")
	b.Main(context.Background())
}

// Main is what PID 1 runs: the boot and, when the boot returns, its end:
// a trial boot reboots for GRUB to fall back, any other boot opens the
// rescue shell with the reason. It never returns. PID 1 must never die
// (the kernel panics when it does), so a panic anywhere in it is logged
// with its stack and becomes the reason for the rescue shell, as a failed
// required step is. Only the goroutines a step starts are beyond this:
// each must recover its own panics.
func (b *Boot) Main(ctx context.Context) {
	b.defaults()
	why := b.guard("the boot", func() error { return b.Boot(ctx) })
	if b.Trial != "" {
		if err := b.guard("the end of the trial boot", func() error { b.FailTrial(ctx, why); return nil }); err != nil {
			why = err
		}
	}
	for {
		if err := b.guard("the rescue shell", func() error { b.Rescue(ctx, why); return nil }); err != nil {
			why = err
		}
		b.Sleep(5 * time.Second)
	}
}

// PanicError is a panic that bos-init recovered.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// guard runs fn and returns its error; a panic in fn is logged with its
// stack and returned as a *PanicError. what names fn for the log.
func (b *Boot) guard(what string, fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			p := &PanicError{Value: r, Stack: debug.Stack()}
			b.logf("PANIC in %s: %v\n%s", what, r, p.Stack)
			err = p
		}
	}()
	return fn()
}

func cutEnv(e string) (string, string, bool) {
	for i := 0; i < len(e); i++ {
		if e[i] == '=' {
			return e[:i], e[i+1:], true
		}
	}
	return e, "", false
}

func reopenConsole() {
	var st unix.Stat_t
	if unix.Fstat(1, &st) == nil {
		return // the kernel opened the console for us
	}
	fd, err := unix.Open("/dev/console", unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return
	}
	for i := 0; i < 3; i++ {
		_ = unix.Dup2(fd, i)
	}
	if fd > 2 {
		unix.Close(fd)
	}
}

func openKmsg() io.Writer {
	f, err := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0)
	if err != nil {
		return nil
	}
	return f
}
