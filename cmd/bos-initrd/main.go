// Command bos-initrd is the initrd's /init: bos-init's boot alone, without
// the toolkit's other commands (see package initrd). The system's
// bos-init (the multi-call binary) does the rest: --plan, --mark-good.
package main

import (
	"fmt"
	"os"

	"github.com/bhojpur/os/internal/initrd"
)

func main() {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "bos-init (initrd build): boots only as PID 1 of the initrd; run the system's bos-init for --plan or --mark-good")
		os.Exit(2)
	}
	initrd.PID1() // never returns
}
