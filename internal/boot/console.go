package boot

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
)

// What the consoles of the booted system get: busybox init's table, with
// a getty on each console of the cmdline, and on a live system a login
// without a password.

// Getty is the getty of the inittab: busybox's, whose login prompt comes
// sooner than agetty's after OpenRC's boot runlevel (same /etc/issue, same
// login).
const Getty = "/bin/busybox getty"

// InittabHead is the image's start of busybox init's table: what runs
// before OpenRC (the boot config phase). Images without it leave the boot
// phase to OpenRC's boot runlevel.
const InittabHead = "/usr/lib/bos/inittab"

// inittabStep writes /etc/inittab of the new root from the image's head,
// the mode and the consoles of the cmdline.
type inittabStep struct {
	mode     Mode
	consoles []Console
}

func (s inittabStep) String() string {
	return "write " + NewRoot + "/etc/inittab (init and gettys on " + consoleNames(s.consoles) + ")"
}

func (s inittabStep) Apply(_ context.Context, b *Boot) error {
	head, err := os.ReadFile(b.path(NewRoot + InittabHead))
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	return writeFileAtomic(b.path(NewRoot+"/etc/inittab"), inittab(s.mode, s.consoles, head), 0o644)
}

// inittab is busybox init's table. bos-init did what OpenRC's sysinit
// would; then come the image's head (the boot config phase, run by init
// itself, which brings the login prompt sooner than `openrc boot` and an
// OpenRC service for the phase) and OpenRC's default runlevel, which
// starts the boot runlevel's services too ("once": not waited for), beside
// a getty on each console of the cmdline, so that the login prompt does
// not wait for the network and the services. Without a head (an older
// image) OpenRC's boot runlevel runs first and holds the boot phase. In
// install mode the default runlevel is waited for: the installer's
// questions own the console until it is done, and a getty beside it would
// read the answers.
func inittab(mode Mode, cs []Console, head []byte) []byte {
	var w bytes.Buffer
	w.WriteString("# Written by bos-init at each boot from " + InittabHead + " and the console= words of the kernel cmdline.\n")
	action := "once"
	if mode == ModeInstall {
		action = "wait"
	}
	w.WriteString(inittabHead(head))
	fmt.Fprintf(&w, "::%s:/sbin/openrc default\n", action)
	for _, c := range gettyConsoles(cs) {
		w.WriteString(gettyLine(c))
	}
	w.WriteString("::ctrlaltdel:/sbin/reboot\n::shutdown:/sbin/openrc shutdown\n")
	return w.Bytes()
}

// inittabHead is the image's head without comments and blank lines, or
// OpenRC's boot runlevel when the image has none.
func inittabHead(head []byte) string {
	if len(head) == 0 {
		return "::sysinit:/sbin/openrc boot\n"
	}
	var w strings.Builder
	for _, l := range strings.SplitAfter(string(head), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			w.WriteString(l + "\n")
		}
	}
	return w.String()
}

// gettyLine is the inittab line of a console's getty: a virtual terminal
// (tty1) as linux, anything else (a serial line) as vt100 at its baud rate.
func gettyLine(c Console) string {
	if strings.HasPrefix(c.Name, "tty") && len(c.Name) > 3 && c.Name[3] >= '0' && c.Name[3] <= '9' {
		return fmt.Sprintf("%s::respawn:%s 38400 %s linux\n", c.Name, Getty, c.Name)
	}
	baud := c.Baud
	if baud == "" {
		baud = "115200"
	}
	return fmt.Sprintf("%s::respawn:%s -L %s %s vt100\n", c.Name, Getty, baud, c.Name)
}

func consoleNames(cs []Console) string {
	var n []string
	for _, c := range gettyConsoles(cs) {
		n = append(n, c.Name)
	}
	return strings.Join(n, " ")
}

// gettyConsoles maps console= words to terminals with a login: tty0 (the
// current virtual terminal) means tty1; no console= at all means tty1.
func gettyConsoles(cs []Console) []Console {
	var out []Console
	seen := map[string]bool{}
	for _, c := range cs {
		if c.Name == "tty0" || c.Name == "tty" {
			c.Name = "tty1"
		}
		if strings.HasPrefix(c.Name, "/dev/") {
			c.Name = strings.TrimPrefix(c.Name, "/dev/")
		}
		if c.Name == "" || seen[c.Name] {
			continue
		}
		seen[c.Name] = true
		out = append(out, c)
	}
	if len(out) == 0 {
		out = []Console{{Name: "tty1"}}
	}
	return out
}

// liveLoginStep lets bhojpur log in on the console of a live or install
// boot without a password.
func liveLoginStep() Step {
	return writeStep{NewRoot + "/etc/shadow", "console login as bhojpur without a password", 0o640,
		func(b []byte) []byte { return emptyPassword(b, "bhojpur") }}
}

// emptyPassword clears the password field of user in a shadow file, so
// that the console of a live system lets bhojpur in (sshd still asks for
// a key: it refuses passwords).
func emptyPassword(shadow []byte, user string) []byte {
	lines := strings.SplitAfter(string(shadow), "\n")
	for i, l := range lines {
		f := strings.SplitN(l, ":", 3)
		if len(f) == 3 && f[0] == user {
			lines[i] = f[0] + "::" + f[2]
		}
	}
	return []byte(strings.Join(lines, ""))
}
