package boot

import (
	"context"
	"io"
)

// Sys is the seam between bos-init's logic and the kernel: every mount,
// module load, loop device, process and the final switch_root go through
// it, so tests record them and the real thing lives in sys_linux.go.
type Sys interface {
	// Mount is mount(2).
	Mount(source, target, fstype string, flags uintptr, data string) error
	// LoadModule loads a kernel module from a file; already loaded is fine.
	LoadModule(path, params string) error
	// AttachLoop binds a file to a free read-only loop device and returns
	// the device's path. The device detaches itself when its last user
	// goes: the caller mounts it, then calls release.
	AttachLoop(file string) (dev string, release func(), err error)
	// Run runs a program to its end with the given output.
	Run(ctx context.Context, out io.Writer, name string, args ...string) error
	// Shell runs an interactive shell on the console and returns when it exits.
	Shell(ctx context.Context) error
	// SwitchRoot moves /dev, /proc, /sys and /run into newRoot, frees the
	// initramfs, makes newRoot the root and execs init. It returns only on
	// failure.
	SwitchRoot(newRoot, init string) error
	// PowerOff syncs and powers the machine off; it returns only on failure.
	PowerOff() error
	// Reboot syncs and restarts the machine; it returns only on failure.
	Reboot() error
}
