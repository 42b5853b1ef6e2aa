package boot

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pkg/errors"
)

// OpenRC's paths, in the new root.
const (
	OpenRCCache = "/usr/lib/rc/cache" // built with the image (images/rootfs.sh)
	OpenRCState = "/run/openrc"
	RunLock     = "/run/lock"
)

// openrcStep does for OpenRC what its sysinit would: bos-init has mounted
// /proc, /sys, /dev, /run and the cgroup2 hierarchy already, so what is left
// is OpenRC's state directory, seeded with the dependency tree computed when
// the image was built, its softlevel, and /run/lock. The inittab then starts
// OpenRC past its sysinit (see inittab). `openrc sysinit` would recompute the
// dependency tree at every boot whatever the cache (OpenRC 0.45 forces it):
// a shell sourcing every service script, and init.sh after it, which the
// boot waits for. OpenRC still recomputes the tree when a file under
// /etc/init.d, /etc/conf.d or /etc/rc.conf is newer than it (a config that
// writes there).
type openrcStep struct{ root string }

func (s openrcStep) String() string {
	return "seed " + OpenRCState + " from " + s.root + OpenRCCache + " (OpenRC starts past its sysinit)"
}

func (s openrcStep) Apply(_ context.Context, b *Boot) error {
	state := b.path(OpenRCState)
	if err := os.MkdirAll(state, 0o755); err != nil {
		return err
	}
	if err := seedOpenRCState(b.path(s.root+OpenRCCache), state); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(state, "softlevel"), []byte("sysinit\n"), 0o644); err != nil {
		return err
	}
	return makeRunLock(b.path(RunLock), b.path(s.root+"/etc/group"))
}

// seedOpenRCState copies the regular files of the image's OpenRC cache
// but softlevel into the state directory, with the image's time stamps:
// OpenRC trusts the tree while it is not older than the service scripts.
func seedOpenRCState(cache, state string) error {
	entries, err := os.ReadDir(cache)
	if err != nil {
		return errors.Wrap(err, "the image has no OpenRC cache; OpenRC computes the dependency tree")
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || e.Name() == "softlevel" {
			continue
		}
		from, to := filepath.Join(cache, e.Name()), filepath.Join(state, e.Name())
		fi, err := e.Info()
		if err != nil {
			return err
		}
		if err := copyFile(from, to, 0o644); err != nil {
			return err
		}
		if err := os.Chtimes(to, fi.ModTime(), fi.ModTime()); err != nil {
			return err
		}
	}
	return nil
}

// makeRunLock makes /run/lock as OpenRC does: 0775 root:uucp, the group
// looked up in the new root's group file.
func makeRunLock(lock, groupFile string) error {
	if err := os.MkdirAll(lock, 0o775); err != nil {
		return err
	}
	if err := os.Chmod(lock, 0o775); err != nil {
		return err
	}
	if gid, ok := groupID(groupFile, "uucp"); ok && os.Geteuid() == 0 {
		return os.Chown(lock, 0, gid)
	}
	return nil
}

// groupID looks a group up in a group file.
func groupID(file, name string) (int, bool) {
	f, err := os.Open(file)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Split(s.Text(), ":")
		if len(fields) >= 3 && fields[0] == name {
			gid, err := strconv.Atoi(fields[2])
			return gid, err == nil
		}
	}
	return 0, false
}

// enableControllers delegates every cgroup v2 controller of the root to its
// children (OpenRC's cgroups service did it in its sysinit; containerd and
// the kubelet of DCP expect cpu, memory, io and pids there).
func (b *Boot) enableControllers(_ context.Context) error {
	dir := b.path(CgroupDir)
	data, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return err
	}
	var failed []string
	for _, c := range strings.Fields(string(data)) {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+"+c), 0o644); err != nil {
			failed = append(failed, c)
		}
	}
	if len(failed) > 0 {
		return errors.Errorf("could not enable the cgroup controllers %s", strings.Join(failed, ", "))
	}
	return nil
}
