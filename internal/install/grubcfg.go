package install

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/bhojpur/os/internal/upgrade/grubenv"
)

// SystemDir is where the system files live on BOS_STATE (and on the ISO).
const SystemDir = "bos/system"

// GrubEntry is one menu entry of the installed grub.cfg.
type GrubEntry struct {
	Title  string
	Kernel string // path on BOS_STATE
	Initrd string
	Args   []string
	// Guard, when set, is a file that must exist for the entry to show.
	Guard string
	// Pre is GRUB script run first when the entry is chosen.
	Pre string
}

// Boot holds what the installed kernel cmdline depends on.
type Boot struct {
	TTY   string // --tty; "" for the default consoles
	Debug bool   // --debug adds bos.debug
}

// DefaultConsoles are used when --tty is not given: the screen and the
// first serial port, serial last so that it is /dev/console (where bos-init
// prints and the QEMU tests read), while the screen still shows the kernel
// log and a login.
var DefaultConsoles = []string{"tty0", "ttyS0,115200"}

// Consoles are the console= values of the installed system. A serial TTY
// named without a speed gets 115200.
func (b Boot) Consoles() []string {
	if b.TTY == "" {
		return append([]string(nil), DefaultConsoles...)
	}
	tty := strings.TrimPrefix(b.TTY, "/dev/")
	if isSerial(tty) && !strings.Contains(tty, ",") {
		tty += ",115200"
	}
	return []string{tty}
}

func isSerial(tty string) bool {
	return strings.HasPrefix(tty, "ttyS") || strings.HasPrefix(tty, "ttyAMA") || strings.HasPrefix(tty, "ttyUSB") || strings.HasPrefix(tty, "hvc")
}

// serialUnit is the GRUB serial unit and speed for the consoles (ttyS1 is
// unit 1); unit 0 at 115200 when none is a ttyS port.
func (b Boot) serialUnit() (unit, speed string) {
	unit, speed = "0", "115200"
	for _, c := range b.Consoles() {
		name, sp, _ := strings.Cut(c, ",")
		if n, ok := strings.CutPrefix(name, "ttyS"); ok && n != "" {
			unit = n
			if sp != "" {
				speed = strings.TrimRight(sp, "nNoOeE78")
			}
		}
	}
	return unit, speed
}

// PanicReboot is the kernel's panic= on an installed system: a panic
// reboots after that many seconds instead of hanging, so that a trial boot
// of an upgrade that panics falls back to the previous version unattended.
const PanicReboot = "panic=10"

// Args is the kernel cmdline after the kernel path.
func (b Boot) Args() []string {
	args := []string{PanicReboot}
	for _, c := range b.Consoles() {
		args = append(args, "console="+c)
	}
	if b.Debug {
		args = append(args, "bos.debug")
	}
	return args
}

// Entries are the menu entries: the default (the current kernel, or the
// previous one when GRUB falls back from a failed trial boot, see
// grubenv.GrubScript), previous (the previous kernel and, through
// bos_boot, the previous bos; shown only after an upgrade has made a
// previous kernel) and a rescue shell.
func (b Boot) Entries() []GrubEntry {
	k := "/" + SystemDir + "/kernel/"
	args := b.Args()
	return []GrubEntry{
		{Title: "Bhojpur OS", Kernel: k + "${bos_kernel}/vmlinuz", Initrd: k + "${bos_kernel}/initrd", Args: args},
		{Title: "Bhojpur OS (previous)", Kernel: k + "previous/vmlinuz", Initrd: k + "previous/initrd", Args: args, Guard: k + "previous/vmlinuz", Pre: grubenv.PreviousScript},
		{Title: "Bhojpur OS rescue shell", Kernel: k + "current/vmlinuz", Initrd: k + "current/initrd", Args: append(append([]string(nil), args...), "bos.mode=shell")},
	}
}

// GrubConfig renders grub.cfg: it finds BOS_STATE by label, speaks on the
// serial port and the screen, runs the trial-boot logic of upgrades and
// offers the entries.
func (b Boot) GrubConfig() []byte {
	var w bytes.Buffer
	unit, speed := b.serialUnit()
	fmt.Fprintf(&w, "# Bhojpur OS boot menu, written by bos-install.\n")
	fmt.Fprintf(&w, "set default=0\nset timeout=5\n")
	fmt.Fprintf(&w, "serial --unit=%s --speed=%s\n", unit, speed)
	fmt.Fprintf(&w, "terminal_input serial console\nterminal_output serial console\n")
	fmt.Fprintf(&w, "insmod part_gpt\ninsmod part_msdos\ninsmod ext2\n")
	// Without a video driver GRUB's EFI Linux loader says "no suitable
	// video mode found" on every boot (it goes on, but it reads as broken).
	fmt.Fprintf(&w, "insmod all_video\n")
	fmt.Fprintf(&w, "search --no-floppy --label %s --set=root\n", LabelState)
	w.WriteString(grubenv.GrubScript)
	for _, e := range b.Entries() {
		indent := ""
		if e.Guard != "" {
			fmt.Fprintf(&w, "if [ -f %s ]; then\n", e.Guard)
			indent = "  "
		}
		fmt.Fprintf(&w, "%smenuentry %q {\n", indent, e.Title)
		for _, l := range strings.Split(strings.TrimSpace(e.Pre), "\n") {
			if l != "" {
				fmt.Fprintf(&w, "%s  %s\n", indent, l)
			}
		}
		fmt.Fprintf(&w, "%s  linux %s %s\n", indent, e.Kernel, strings.Join(e.Args, " "))
		fmt.Fprintf(&w, "%s  initrd %s\n", indent, e.Initrd)
		fmt.Fprintf(&w, "%s}\n", indent)
		if e.Guard != "" {
			fmt.Fprintf(&w, "fi\n")
		}
	}
	return w.Bytes()
}
