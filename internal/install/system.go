package install

import (
	"os"
	"time"

	"github.com/pkg/errors"
	"golang.org/x/sys/unix"

	"github.com/bhojpur/os/internal/power"
)

// System is the kernel seam: sync, partition re-reading and the final
// reboot or power-off. Tests record calls instead.
type System interface {
	Sync()
	// RereadPartitions asks the kernel to re-read a disk's partition
	// table and waits for the partition device nodes to appear.
	RereadPartitions(disk string, parts []string) error
	Reboot() error
	PowerOff() error
}

// LinuxSystem is the real System.
type LinuxSystem struct{}

// Sync flushes every file system.
func (LinuxSystem) Sync() { unix.Sync() }

// RereadPartitions issues BLKRRPART (retrying while the disk is busy
// settling) and waits up to 10 s for the nodes.
func (LinuxSystem) RereadPartitions(disk string, parts []string) error {
	f, err := os.OpenFile(disk, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	for i := 0; ; i++ {
		err = unix.IoctlSetInt(int(f.Fd()), unix.BLKRRPART, 0)
		if err == nil || i == 10 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		return errors.Wrapf(err, "re-read the partition table of %s", disk)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, p := range parts {
		for {
			if _, err := os.Stat(p); err == nil {
				break
			}
			if time.Now().After(deadline) {
				return errors.Errorf("%s did not appear after re-reading the partition table of %s", p, disk)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

// Reboot syncs and restarts the machine.
func (LinuxSystem) Reboot() error { return power.Reboot() }

// PowerOff syncs and powers the machine off.
func (LinuxSystem) PowerOff() error { return power.Off() }
