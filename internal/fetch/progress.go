package fetch

import (
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// TerminalProgress returns a Fetcher Progress that draws a bar on w
// (a terminal: the caller checks). progressbar/v3 is maintained, handles
// unknown sizes, resumed downloads (the bar starts at the bytes already
// on disk) and throttles redraws, so a fast loopback download does not
// spend its time painting.
func TerminalProgress(w io.Writer) func(name string, size, done int64) io.WriteCloser {
	return func(name string, size, done int64) io.WriteCloser {
		bar := progressbar.NewOptions64(size,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(name),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionShowCount(),
			progressbar.OptionOnCompletion(func() { io.WriteString(w, "\n") }),
			progressbar.OptionSpinnerType(14),
			progressbar.OptionUseANSICodes(true),
		)
		if done > 0 {
			_ = bar.Set64(done)
		}
		return barWriter{bar}
	}
}

type barWriter struct{ bar *progressbar.ProgressBar }

func (b barWriter) Write(p []byte) (int, error) { return b.bar.Write(p) }
func (b barWriter) Close() error                { return b.bar.Finish() }
