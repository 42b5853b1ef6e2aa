package install

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/bhojpur/os/internal/execrun"
	"github.com/bhojpur/os/internal/exitcode"
	"github.com/bhojpur/os/internal/logger"
)

// Step is one action of an install. Steps are planned as data, printed by
// --dry-run and applied in order by Exec.
type Step interface {
	String() string
	Apply(ctx context.Context, x *Exec) error
}

// Exec applies steps through the seams and remembers what it mounted, so a
// failure unmounts on the way out.
type Exec struct {
	Run     execrun.Runner
	Sys     System
	Log     logger.Logger
	mounted []string
}

// Apply runs the steps in order. A failing step stops the install; what
// was mounted is unmounted; the error is a disk-operation error naming the
// step.
func (x *Exec) Apply(ctx context.Context, steps []Step) error {
	for i, s := range steps {
		x.Log.Printf("[%d/%d] %s", i+1, len(steps), s)
		if err := s.Apply(ctx, x); err != nil {
			x.unmountAll()
			return classify(exitcode.ErrDisk, err, "step %d/%d (%s)", i+1, len(steps), s)
		}
	}
	return nil
}

// run runs a program; its output is in the error when it fails.
func (x *Exec) run(ctx context.Context, c execrun.Cmd) error {
	_, err := x.Run.Run(ctx, c)
	return err
}

func (x *Exec) unmountAll() {
	for i := len(x.mounted) - 1; i >= 0; i-- {
		if err := x.run(context.Background(), execrun.Command("umount", x.mounted[i])); err != nil {
			x.Log.Printf("cleanup: %v", err)
		}
	}
	x.mounted = nil
}

// zeroStep overwrites byte ranges of a disk with zeros: old partition
// tables and file-system signatures (an ISO9660 volume at 32 KiB of a
// former live USB stick, a backup GPT at the end) must not survive.
type zeroStep struct {
	Path   string
	Ranges [][2]int64 // offset, length
}

func (s zeroStep) String() string {
	var rs []string
	for _, r := range s.Ranges {
		rs = append(rs, fmt.Sprintf("%s at %s", Size(r[1]), offset(r[0])))
	}
	return fmt.Sprintf("zero %s of %s", strings.Join(rs, ", "), s.Path)
}

// offset prints an offset exactly: in MiB when it is a whole number of
// them (all of the layout's are), else in bytes.
func offset(n int64) string {
	if n%MiB == 0 {
		return fmt.Sprintf("%d MiB", n/MiB)
	}
	return fmt.Sprintf("%d B", n)
}

func (s zeroStep) Apply(_ context.Context, _ *Exec) error {
	f, err := openDisk(s.Path)
	if err != nil {
		return err
	}
	zeros := make([]byte, MiB)
	for _, r := range s.Ranges {
		for off := r[0]; off < r[0]+r[1]; off += int64(len(zeros)) {
			n := min(int64(len(zeros)), r[0]+r[1]-off)
			if _, err := f.WriteAt(zeros[:n], off); err != nil {
				f.Close()
				return err
			}
		}
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// openDisk opens a disk for writing; a block device exclusively, which
// the kernel refuses while any of its partitions is mounted.
func openDisk(name string) (*os.File, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	flags := os.O_RDWR
	if fi.Mode()&os.ModeDevice != 0 {
		flags |= os.O_EXCL
	}
	return os.OpenFile(name, flags, 0)
}

// gptStep writes the partition table.
type gptStep struct {
	Path   string
	Layout Layout
}

func (s gptStep) String() string {
	var ps []string
	for _, p := range s.Layout.Parts {
		ps = append(ps, fmt.Sprintf("%d %s %s %s", p.Num, p.Name, p.Code, Size(p.Size)))
	}
	return fmt.Sprintf("write GPT on %s: %s", s.Path, strings.Join(ps, ", "))
}

func (s gptStep) Apply(_ context.Context, _ *Exec) error {
	f, err := openDisk(s.Path)
	if err != nil {
		return err
	}
	err = s.Layout.WriteTable(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// rereadStep makes the kernel see the new partitions.
type rereadStep struct {
	Disk  string
	Parts []string
}

func (s rereadStep) String() string {
	return fmt.Sprintf("re-read the partition table of %s and wait for %s", s.Disk, strings.Join(s.Parts, " "))
}

func (s rereadStep) Apply(_ context.Context, x *Exec) error {
	return x.Sys.RereadPartitions(s.Disk, s.Parts)
}

// cmdStep runs an external program.
type cmdStep struct{ Cmd execrun.Cmd }

// command is the step that runs name with args.
func command(name string, args ...string) cmdStep { return cmdStep{execrun.Command(name, args...)} }

func (s cmdStep) String() string { return s.Cmd.String() }

func (s cmdStep) Apply(ctx context.Context, x *Exec) error { return x.run(ctx, s.Cmd) }

// mountStep mounts a file system (creating the mount point).
type mountStep struct {
	Source, Dir, FSType, Options string
}

func (s mountStep) cmd() execrun.Cmd {
	var a []string
	if s.Options != "" {
		a = append(a, "-o", s.Options)
	}
	return execrun.Command("mount", append(a, "-t", s.FSType, s.Source, s.Dir)...)
}

func (s mountStep) String() string { return s.cmd().String() }

func (s mountStep) Apply(ctx context.Context, x *Exec) error {
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return err
	}
	if err := x.run(ctx, s.cmd()); err != nil {
		return err
	}
	x.mounted = append(x.mounted, s.Dir)
	return nil
}

// umountStep unmounts what a mountStep mounted.
type umountStep struct{ Dir string }

func (s umountStep) String() string { return "umount " + s.Dir }

func (s umountStep) Apply(ctx context.Context, x *Exec) error {
	if err := x.run(ctx, execrun.Command("umount", s.Dir)); err != nil {
		return err
	}
	for i := len(x.mounted) - 1; i >= 0; i-- {
		if x.mounted[i] == s.Dir {
			x.mounted = append(x.mounted[:i], x.mounted[i+1:]...)
			break
		}
	}
	return nil
}

// mkdirStep creates a directory and its parents.
type mkdirStep struct {
	Path string
	Mode fs.FileMode
}

func (s mkdirStep) String() string { return fmt.Sprintf("mkdir -p -m %04o %s", s.Mode, s.Path) }

func (s mkdirStep) Apply(context.Context, *Exec) error {
	if err := os.MkdirAll(s.Path, s.Mode); err != nil {
		return err
	}
	return os.Chmod(s.Path, s.Mode)
}

// copyStep copies the bos/system tree.
type copyStep struct {
	From, To string
	Files    int
	Bytes    int64
}

func (s copyStep) String() string {
	return fmt.Sprintf("copy %s to %s (%d files, %s; current links last)", s.From, s.To, s.Files, Size(s.Bytes))
}

func (s copyStep) Apply(context.Context, *Exec) error { return copyTree(s.From, s.To) }

// writeStep writes one file whole.
type writeStep struct {
	Path string
	Data []byte
	Mode fs.FileMode
	What string
}

func (s writeStep) String() string {
	return fmt.Sprintf("write %s (%s, %d bytes, mode %04o)", s.Path, s.What, len(s.Data), s.Mode)
}

func (s writeStep) Apply(context.Context, *Exec) error { return writeFile(s.Path, s.Data, s.Mode) }

// backupStep copies a file aside when it exists.
type backupStep struct{ From, To string }

func (s backupStep) String() string {
	return fmt.Sprintf("back up %s as %s (if it exists)", s.From, s.To)
}

func (s backupStep) Apply(context.Context, *Exec) error {
	b, err := os.ReadFile(s.From)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := os.Stat(s.To); err == nil {
		return nil // keep the first backup: the host's own
	}
	return writeFile(s.To, b, 0o644)
}

// syncStep flushes every file system.
type syncStep struct{}

func (syncStep) String() string { return "sync" }

func (syncStep) Apply(_ context.Context, x *Exec) error {
	x.Sys.Sync()
	return nil
}
