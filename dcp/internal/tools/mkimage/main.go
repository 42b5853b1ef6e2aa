// Command mkimage writes a container image as a docker-archive tar (what
// `ctr images import` and `docker load` take) from files on this machine,
// without a container runtime. DCP's air-gapped images are made with it:
//
//	go run ./internal/tools/mkimage --ref bhojpur.net/dcp/pause:3.10 \
//	  --file /pause=dist/bin/pause --entrypoint /pause --out pause.tar
//
// Every file is owned by root with the mode it has here; time stamps come
// from SOURCE_DATE_EPOCH, so that the same inputs give the same image.
package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/pkg/errors"
)

type cli struct {
	Ref        string   `help:"The image's name and tag." required:""`
	File       []string `help:"DEST=SRC: a file of the image and the file here it is copied from (repeatable)." sep:"none"`
	Link       []string `help:"DEST=TARGET: a symbolic link in the image (repeatable)." sep:"none"`
	Dir        []string `help:"An empty directory in the image (repeatable)." sep:"none"`
	Entrypoint []string `help:"The entrypoint's argv (repeat for each word)." sep:"none"`
	User       string   `help:"The user the entrypoint runs as (uid[:gid])."`
	Arch       string   `help:"The image's architecture." default:"amd64"`
	Out        string   `help:"The archive to write." required:"" type:"path"`
	Epoch      int64    `help:"Time stamp of everything in the image." env:"SOURCE_DATE_EPOCH" default:"1704067200"`
}

type entry struct {
	hdr  tar.Header
	body []byte
}

func (c *cli) entries() ([]entry, error) {
	mtime := time.Unix(c.Epoch, 0)
	var es []entry
	dirs := map[string]bool{}
	addDirs := func(p string) {
		for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	for _, f := range c.File {
		dst, src, ok := strings.Cut(f, "=")
		if !ok || !path.IsAbs(dst) {
			return nil, errors.Errorf("--file %q: want /DEST=SRC", f)
		}
		fi, err := os.Stat(src)
		if err != nil {
			return nil, errors.WithStack(err)
		}
		if !fi.Mode().IsRegular() {
			return nil, errors.Errorf("--file %q: %s is not a regular file", f, src)
		}
		b, err := os.ReadFile(src)
		if err != nil {
			return nil, errors.WithStack(err)
		}
		es = append(es, entry{tar.Header{Typeflag: tar.TypeReg, Name: dst[1:], Mode: int64(fi.Mode().Perm()), Size: int64(len(b)), ModTime: mtime}, b})
		addDirs(dst)
	}
	for _, l := range c.Link {
		dst, target, ok := strings.Cut(l, "=")
		if !ok || !path.IsAbs(dst) {
			return nil, errors.Errorf("--link %q: want /DEST=TARGET", l)
		}
		es = append(es, entry{tar.Header{Typeflag: tar.TypeSymlink, Name: dst[1:], Linkname: target, Mode: 0o777, ModTime: mtime}, nil})
		addDirs(dst)
	}
	for _, d := range c.Dir {
		if !path.IsAbs(d) {
			return nil, errors.Errorf("--dir %q: want an absolute path", d)
		}
		dirs[path.Clean(d)] = true
		addDirs(d)
	}
	for d := range dirs {
		es = append(es, entry{tar.Header{Typeflag: tar.TypeDir, Name: d[1:] + "/", Mode: 0o755, ModTime: mtime}, nil})
	}
	sort.Slice(es, func(i, j int) bool { return es[i].hdr.Name < es[j].hdr.Name })
	return es, nil
}

func (c *cli) Run() error {
	ref, err := name.NewTag(c.Ref)
	if err != nil {
		return errors.Wrapf(err, "--ref %q", c.Ref)
	}
	es, err := c.entries()
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := e.hdr
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			return errors.WithStack(err)
		}
		if _, err := tw.Write(e.body); err != nil {
			return errors.WithStack(err)
		}
	}
	if err := tw.Close(); err != nil {
		return errors.WithStack(err)
	}
	layerBytes := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
	})
	if err != nil {
		return errors.WithStack(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return errors.WithStack(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return errors.WithStack(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", c.Arch
	cf.Created = v1.Time{Time: time.Unix(c.Epoch, 0).UTC()}
	cf.Config.Entrypoint = c.Entrypoint
	cf.Config.User = c.User
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return errors.WithStack(err)
	}
	tmp := c.Out + ".tmp"
	if err := tarball.MultiRefWriteToFile(tmp, map[name.Reference]v1.Image{ref: img}); err != nil {
		os.Remove(tmp)
		return errors.Wrapf(err, "write %s", tmp)
	}
	if err := os.Rename(tmp, c.Out); err != nil {
		return errors.WithStack(err)
	}
	d, err := img.Digest()
	if err != nil {
		return errors.WithStack(err)
	}
	fmt.Fprintf(os.Stderr, "%s: %s %s\n", c.Out, ref, d)
	return nil
}

func main() {
	var c cli
	ctx := kong.Parse(&c, kong.Name("mkimage"), kong.Description("Write a container image (docker-archive tar) from local files."), kong.UsageOnError())
	ctx.FatalIfErrorf(ctx.Run())
}
