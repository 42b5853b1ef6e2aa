package install

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/grubenv"
	"github.com/bhojpur/os/internal/layout"
)

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
	TTY   string // --tty; "" or "auto" for the default consoles
	Debug bool   // --debug adds bos.debug
}

// ttyPattern is a console TTY: a device name, optionally under /dev/,
// optionally with serial options after a comma (ttyS0,115200n8). It is the
// config's rule for bos.install.tty plus the /dev/ prefix; no space, quote
// or line break can pass, so a TTY is one kernel argument.
var ttyPattern = regexp.MustCompile(`^(/dev/)?[A-Za-z][A-Za-z0-9]*(,[0-9]+[A-Za-z0-9]*)?$`)

// CheckTTY refuses a TTY that is not one console name: it would reach the
// installed kernel cmdline (and grub.cfg) of every future boot.
func CheckTTY(tty string) error {
	if tty == "" || tty == "auto" || ttyPattern.MatchString(tty) {
		return nil
	}
	return errors.Errorf("tty %q is not a console TTY: give a name such as ttyS0, tty1 or ttyS0,115200n8 (letters and digits, then optionally a comma and the serial speed)", tty)
}

// DefaultConsoles are used when --tty is not given: the screen and the
// first serial port, serial last so that it is /dev/console (where bos-init
// prints and the QEMU tests read), while the screen still shows the kernel
// log and a login.
var DefaultConsoles = []string{"tty0", "ttyS0,115200"}

// Consoles are the console= values of the installed system. A serial TTY
// named without a speed gets 115200.
func (b Boot) Consoles() []string {
	if b.TTY == "" || b.TTY == "auto" {
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
		if n, ok := strings.CutPrefix(name, "ttyS"); ok && digits(n) == n && n != "" {
			unit = n
			if d := digits(sp); d != "" {
				speed = d
			}
		}
	}
	return unit, speed
}

// digits is the leading decimal digits of s.
func digits(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
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
	k := "/" + layout.SystemDir + "/kernel/"
	args := b.Args()
	return []GrubEntry{
		{Title: "Bhojpur OS", Kernel: k + "${bos_kernel}/vmlinuz", Initrd: k + "${bos_kernel}/initrd", Args: args},
		{Title: "Bhojpur OS (previous)", Kernel: k + "previous/vmlinuz", Initrd: k + "previous/initrd", Args: args, Guard: k + "previous/vmlinuz", Pre: grubenv.PreviousScript},
		{Title: "Bhojpur OS rescue shell", Kernel: k + "current/vmlinuz", Initrd: k + "current/initrd", Args: append(append([]string(nil), args...), "bos.mode=shell")},
	}
}

// GrubConfig renders grub.cfg: it finds BOS_STATE by label, speaks on the
// serial port and the screen, runs the trial-boot logic of upgrades and
// offers the entries. Every value is checked (CheckTTY) and written as one
// GRUB word (grubWord): a value cannot add a kernel argument or a command.
func (b Boot) GrubConfig() ([]byte, error) {
	if err := CheckTTY(b.TTY); err != nil {
		return nil, err
	}
	var w bytes.Buffer
	var bad error
	word := func(s string) string {
		q, err := grubWord(s)
		if err != nil && bad == nil {
			bad = err
		}
		return q
	}
	words := func(ss []string) string {
		out := make([]string, len(ss))
		for i, s := range ss {
			out[i] = word(s)
		}
		return strings.Join(out, " ")
	}
	unit, speed := b.serialUnit()
	fmt.Fprintf(&w, "# Bhojpur OS boot menu, written by bos-install.\n")
	fmt.Fprintf(&w, "set default=0\nset timeout=5\n")
	fmt.Fprintf(&w, "serial %s %s\n", word("--unit="+unit), word("--speed="+speed))
	fmt.Fprintf(&w, "terminal_input serial console\nterminal_output serial console\n")
	fmt.Fprintf(&w, "insmod part_gpt\ninsmod part_msdos\ninsmod ext2\n")
	// Without a video driver GRUB's EFI Linux loader says "no suitable
	// video mode found" on every boot (it goes on, but it reads as broken).
	fmt.Fprintf(&w, "insmod all_video\n")
	fmt.Fprintf(&w, "search --no-floppy --label %s --set=root\n", word(layout.LabelState))
	w.WriteString(grubenv.GrubScript)
	for _, e := range b.Entries() {
		indent := ""
		if e.Guard != "" {
			fmt.Fprintf(&w, "if [ -f %s ]; then\n", word(e.Guard))
			indent = "  "
		}
		fmt.Fprintf(&w, "%smenuentry %s {\n", indent, word(e.Title))
		for _, l := range strings.Split(strings.TrimSpace(e.Pre), "\n") {
			if l != "" {
				fmt.Fprintf(&w, "%s  %s\n", indent, l)
			}
		}
		fmt.Fprintf(&w, "%s  linux %s %s\n", indent, word(e.Kernel), words(e.Args))
		fmt.Fprintf(&w, "%s  initrd %s\n", indent, word(e.Initrd))
		fmt.Fprintf(&w, "%s}\n", indent)
		if e.Guard != "" {
			fmt.Fprintf(&w, "fi\n")
		}
	}
	if bad != nil {
		return nil, bad
	}
	return w.Bytes(), nil
}

// grubVar is a reference to one of grub.cfg's own variables inside a value
// (the default entry's /bos/system/kernel/${bos_kernel}/vmlinuz).
var grubVar = regexp.MustCompile(`\$\{bos_[a-z_]+\}`)

// grubWord writes s as one word of GRUB's script language: as it is when
// every byte is one that GRUB takes literally, else in single quotes (in
// which GRUB takes every byte literally; a single quote inside is closed,
// escaped with a backslash and reopened, as in sh). A
// ${bos_...} reference stays a variable, in double quotes so that its value
// is one word too. A line break, NUL or other control character is refused:
// GRUB reads grub.cfg a line at a time, and a kernel argument has none.
func grubWord(s string) (string, error) {
	if s == "" {
		return "''", nil
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return "", errors.Errorf("grub.cfg: value %q holds a control character (a line break?): refused", s)
		}
	}
	var b strings.Builder
	last := 0
	for _, m := range grubVar.FindAllStringIndex(s, -1) {
		b.WriteString(grubLiteral(s[last:m[0]]))
		b.WriteString(`"` + s[m[0]:m[1]] + `"`)
		last = m[1]
	}
	b.WriteString(grubLiteral(s[last:]))
	return b.String(), nil
}

// grubPlain are the bytes GRUB's lexer takes literally outside quotes.
var grubPlain = regexp.MustCompile(`^[A-Za-z0-9_./,=:+@%-]*$`)

func grubLiteral(s string) string {
	if grubPlain.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
