// Command mkupgradeimage writes the upgrade image of a release, an OCI image
// layout in a tar archive, from the built artifacts and the static
// binaries, without a container runtime:
//
//	go run ./internal/tools/mkupgradeimage --artifacts dist/artifacts --bin dist/bin --out dist/artifacts/bos-upgrade-amd64.oci.tar
//
// Time stamps come from SOURCE_DATE_EPOCH. See internal/upgrade/ociimage.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/alecthomas/kong"
	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/layout"
	"github.com/bhojpur/os/internal/upgrade/ociimage"
)

type cli struct {
	Artifacts string `help:"Directory of the release artifacts (bos-rootfs-ARCH.tar.gz, kernel)." default:"dist/artifacts" type:"existingdir"`
	Bin       string `help:"Directory of the static binaries." default:"dist/bin" type:"existingdir"`
	Arch      string `help:"Architecture of the artifacts and binaries." default:"amd64"`
	Work      string `help:"Scratch directory (emptied)." default:"build/upgrade-image" type:"path"`
	Out       string `help:"The image archive to write." required:"" type:"path"`
	Epoch     int64  `help:"Time stamp of everything in the image, in seconds since 1970." env:"SOURCE_DATE_EPOCH" default:"1704067200"`
}

func (c *cli) Run() error {
	if err := os.RemoveAll(c.Work); err != nil {
		return err
	}
	if err := os.MkdirAll(c.Work, 0o755); err != nil {
		return err
	}
	sys := filepath.Join(c.Work, "system")
	v, err := ociimage.StageSystem(sys, ociimage.ArtifactsIn(c.Artifacts, c.Arch))
	if err != nil {
		return err
	}
	spec := ociimage.Spec{
		System:     sys,
		Entrypoint: []string{ociimage.BinDir + "/bos-upgrade-rootfs"},
		Arch:       c.Arch,
		Version:    v,
		Created:    time.Unix(c.Epoch, 0),
		Work:       c.Work,
	}
	for _, b := range append([]string{"bos"}, layout.Commands...) {
		spec.Bins = append(spec.Bins, filepath.Join(c.Bin, b))
	}
	tmp := c.Out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	img, err := ociimage.Write(f, spec)
	if err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return errors.Wrapf(err, "sync %s", tmp)
	}
	if err := f.Close(); err != nil {
		return errors.Wrapf(err, "close %s", tmp)
	}
	if err := os.Rename(tmp, c.Out); err != nil {
		return err
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%s: bos-upgrade %s %s %s (epoch %d)\n", c.Out, v, c.Arch, d, c.Epoch)
	return os.RemoveAll(c.Work)
}

func main() {
	var c cli
	ctx := kong.Parse(&c, kong.Name("mkupgradeimage"), kong.Description("Write the Bhojpur OS upgrade image (OCI layout tar)."), kong.UsageOnError())
	ctx.FatalIfErrorf(ctx.Run())
}
