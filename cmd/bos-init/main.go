// Command bos-init is PID 1 of the Bhojpur OS initrd, built alone: as PID 1
// it boots (finds the media, assembles the root, switches to it); run by
// hand, --plan prints the steps and --mark-good ends a trial boot. The image
// carries the multi-call cmd/bos and the initrd cmd/bos-initrd instead.
package main

import (
	"os"

	"github.com/bhojpur/os/internal/cli"
	"github.com/bhojpur/os/internal/cli/bosinit"
)

func main() {
	if os.Getpid() == 1 {
		bosinit.PID1() // never returns
	}
	os.Exit(bosinit.Main(bosinit.Name, os.Args[1:], cli.StdIO()))
}
