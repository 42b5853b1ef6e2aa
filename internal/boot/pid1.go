package boot

import (
	"context"
	"io"
	"os"
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
	ctx := context.Background()
	b.OnKernelFS = func() {
		reopenConsole()
		b.Log = consoleLog{console: os.Stdout, kmsg: openKmsg()}
		sys.Console = ConsoleDevice("/")
	}
	b.Log.Printf("starting (pid 1)")
	err := b.Boot(ctx)
	if b.Trial != "" {
		b.FailTrial(ctx, err)
	}
	b.Rescue(ctx, err)
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
