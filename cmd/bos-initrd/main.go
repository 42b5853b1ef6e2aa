// Command bos-initrd is the initrd's /init: bos-init's boot alone, without
// the toolkit's other commands (see package initrd). The system's
// bos-init (the multi-call binary) does the rest: --plan, --mark-good.
// Run as bos-dhcp-event (a link to /init) it is udhcpc's script in a
// netboot: it writes the lease for bos-init to apply.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/bhojpur/os/internal/boot"
	"github.com/bhojpur/os/internal/initrd"
)

func main() {
	if filepath.Base(os.Args[0]) == filepath.Base(boot.DHCPScript) {
		os.Exit(boot.DHCPEventMain(os.Args))
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "bos-init (initrd build): boots only as PID 1 of the initrd; run the system's bos-init for --plan or --mark-good")
		os.Exit(2)
	}
	initrd.PID1() // never returns
}
