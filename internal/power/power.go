// Package power reboots and powers off the machine, for bos-init (after a
// takeover, after a failed trial boot) and bos-install (when it is done).
// Both sync every file system, then call reboot(2) themselves, without
// asking an init system to shut down (bos-init is PID 1); they return only
// when the call fails, with an error that says which it was.
package power

import (
	"github.com/pkg/errors"
	"golang.org/x/sys/unix"
)

// The system calls, replaced in tests.
var (
	syncFS = unix.Sync
	reboot = unix.Reboot
)

// Reboot syncs and restarts the machine; it returns only on failure.
func Reboot() error {
	syncFS()
	return errors.Wrap(reboot(unix.LINUX_REBOOT_CMD_RESTART), "reboot")
}

// Off syncs and powers the machine off; it returns only on failure.
func Off() error {
	syncFS()
	return errors.Wrap(reboot(unix.LINUX_REBOOT_CMD_POWER_OFF), "power off")
}
