package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/bhojpur/os/internal/userdata"

	"github.com/go-git/go-billy/v5/osfs"

	"github.com/bhojpur/os/internal/datasource"
	"github.com/bhojpur/os/internal/datasource/fake"
)

func init() {
	register("datasource: probe of every provider (loopback servers, cidata image)", benchDatasourceFull)
	register("datasource: probe with every provider absent (refused, or hanging past the bound)", benchDatasourceAbsent)
}

// imageDevices is the cdrom seam over image files.
type imageDevices []string

func (im imageDevices) List() ([]string, error) {
	names := make([]string, len(im))
	for i := range im {
		names[i] = fmt.Sprint(i)
	}
	return names, nil
}

func (im imageDevices) Open(name string) (datasource.Device, int64, error) {
	var i int
	if _, err := fmt.Sscan(name, &i); err != nil || i < 0 || i >= len(im) {
		return nil, 0, os.ErrNotExist
	}
	f, err := os.Open(im[i])
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

// seedISO builds a NoCloud ISO without userdata with xorriso, or returns
// "" when xorriso is missing.
func seedISO(dir string) (string, error) {
	if _, err := exec.LookPath("xorriso"); err != nil {
		return "", nil
	}
	src := filepath.Join(dir, "seed")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	meta := "instance-id: bench\nlocal-hostname: cdrom-host\npublic-keys: [ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBENCH bench]\n"
	if err := os.WriteFile(filepath.Join(src, "meta-data"), []byte(meta), 0o644); err != nil {
		return "", err
	}
	img := filepath.Join(dir, "seed.iso")
	if out, err := exec.Command("xorriso", "-abort_on", "FAILURE", "-outdev", img, "-volid", "cidata", "-map", src, "/").CombinedOutput(); err != nil {
		return "", fmt.Errorf("xorriso: %v\n%s", err, out)
	}
	return img, nil
}

// bareGET is one GET of url with a fresh connection, body read: the cost a
// provider cannot go below.
func bareGET(url string) error {
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

func benchDatasourceFull() error {
	dir, err := os.MkdirTemp("", "bos-bench-datasource-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBENCH bench@example"
	meta := fake.Instance{Hostname: "bench-node", SSHKeys: []string{key, key + "2"}}
	with := meta
	with.Userdata = []byte("#cloud-config\nhostname: bench\nbos:\n  labels: {a: b}\n")
	// Every provider answers; only the last in the order has userdata, so
	// the choice needs every answer.
	handlers := map[string]http.Handler{
		"aws":          &fake.AWS{Instance: meta},
		"gcp":          &fake.GCP{Instance: meta},
		"digitalocean": fake.DigitalOcean(meta),
		"hetzner":      fake.Hetzner(meta),
		"openstack":    fake.OpenStack(meta),
		"packet":       fake.Packet(meta),
		"scaleway":     &fake.Scaleway{Instance: meta, AnyPort: os.Geteuid() != 0},
		"vultr":        fake.Vultr(with),
	}
	urls := map[string]string{}
	for name, h := range handlers {
		s := httptest.NewServer(h)
		defer s.Close()
		urls[name] = s.URL
	}
	img, err := seedISO(dir)
	if err != nil {
		return err
	}
	var devs imageDevices
	if img != "" {
		devs = imageDevices{img}
	}
	order := []string{"cdrom", "aws", "gcp", "digitalocean", "hetzner", "openstack", "packet", "scaleway", "vultr"}
	// The files land in /run, a tmpfs, on a real system: write them to
	// /dev/shm when it is there, so fsync costs what it costs in /run.
	root, where := filepath.Join(dir, "root"), "disk"
	if shm, err := os.MkdirTemp("/dev/shm", "bos-bench-datasource-"); err == nil {
		defer os.RemoveAll(shm)
		root, where = shm, "tmpfs"
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	fsys := osfs.New(root, osfs.WithBoundOS())
	opts := datasource.Options{URLs: urls, Devices: devs, Timeout: 10 * time.Second}
	probe, err := timeN(30, func() error {
		res, err := datasource.Probe(context.Background(), fsys, order, opts)
		if err != nil {
			return err
		}
		if res.Source != "vultr" || res.Userdata != userdata.KindCloudConfig {
			return fmt.Errorf("probe chose %q (%v), want vultr with #cloud-config", res.Source, res.Userdata)
		}
		return nil
	})
	if err != nil {
		return err
	}
	base, err := timeN(200, func() error { return bareGET(urls["vultr"] + "/v1.json") })
	if err != nil {
		return err
	}
	what := "full probe, 9 providers, files written to " + where
	if img == "" {
		what += " (no xorriso: cdrom has no image)"
	}
	ratio(what, probe, base, "< 0.1 s on loopback; baseline: one bare loopback GET")
	return nil
}

func benchDatasourceAbsent() error {
	dir, err := os.MkdirTemp("", "bos-bench-datasource-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fsys := osfs.New(dir, osfs.WithBoundOS())
	names := datasource.Names()

	// Refused: a port where nothing listens, for every provider.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	urls := map[string]string{}
	for _, n := range names {
		urls[n] = closed
	}
	opts := datasource.Options{URLs: urls, Devices: imageDevices{}, Timeout: 5 * time.Second}
	refused, err := timeN(50, func() error {
		res, err := datasource.Probe(context.Background(), fsys, names, opts)
		if err == nil && res.Source != "" {
			err = fmt.Errorf("probe chose %q, want none", res.Source)
		}
		return err
	})
	if err != nil {
		return err
	}
	base, err := timeN(200, func() error {
		if bareGET(closed) == nil {
			return fmt.Errorf("GET %s answered", closed)
		}
		return nil
	})
	if err != nil {
		return err
	}
	ratio("all absent (connection refused)", refused, base, "a few ms; baseline: one refused loopback GET")

	// Hanging: every server accepts and never answers. The probe must end
	// at its bound; the baseline is a bare wait of the same bound.
	for _, n := range names {
		s := httptest.NewServer(fake.Hang)
		defer s.Close()
		urls[n] = s.URL
	}
	const bound = 500 * time.Millisecond
	opts = datasource.Options{URLs: urls, Devices: imageDevices{}, Timeout: bound, AttemptTimeout: 2 * time.Second}
	hung, err := timeN(3, func() error {
		res, err := datasource.Probe(context.Background(), fsys, names, opts)
		if err == nil && res.Source != "" {
			err = fmt.Errorf("probe chose %q, want none", res.Source)
		}
		return err
	})
	if err != nil {
		return err
	}
	wait, err := timeN(3, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), bound)
		defer cancel()
		<-ctx.Done()
		return nil
	})
	if err != nil {
		return err
	}
	ratio(fmt.Sprintf("all hanging, bound %v", bound), hung, wait, "<= 1.1x: the bound holds")
	return nil
}
