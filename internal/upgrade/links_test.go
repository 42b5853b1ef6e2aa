package upgrade

import (
	"archive/tar"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bhojpur/os/internal/exitcode"
)

// TestReleaseLinksStayInTheirVersion: a version directory is committed
// on its own, so a link in it may not point out of it, even to a place
// that is inside the tarball (bos/<v>/etc -> ../../../../etc is the
// tarball's top, and the host's /etc once committed), nor through a chain
// of links.
func TestReleaseLinksStayInTheirVersion(t *testing.T) {
	sys := "./bos/system/"
	for _, tc := range []struct {
		name  string
		links [][2]string // name under bos/system, target
	}{
		{"to the top of the tarball", [][2]string{{"bos/v2.0.0/etc", "../../../../etc"}}},
		{"x -> . and a chain", [][2]string{{"bos/v2.0.0/x", "."}, {"bos/v2.0.0/x/x/x/etc", "../../../../etc"}}},
		{"into another component", [][2]string{{"dcp/v2.0.0/bos", "../../bos/v2.0.0"}}},
		{"through a link made later", [][2]string{{"bos/v2.0.0/esc", "r/../.."}, {"bos/v2.0.0/r", "."}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rel := newRelease(v2.version)
			for _, l := range tc.links {
				rel.extra = append(rel.extra, tar.Header{Typeflag: tar.TypeSymlink, Name: sys + l[0], Linkname: l[1]})
			}
			srv := newServer(t, rel)
			f := newFixture(t, srv, v1)
			before := snapshot(t, f.root)
			opt := f.options(OS)
			opt.Release = v2.version
			err := f.run(t, opt)
			if exitcode.Of(err) != exitcode.BadInput || !strings.Contains(err.Error(), "leave") {
				t.Fatalf("release with %v = %v (exit %d), want exit %d: the link leaves", tc.links, err, exitcode.Of(err), exitcode.BadInput)
			}
			if diff := cmp.Diff(before, withoutStaging(withoutRun(snapshot(t, f.root)))); diff != "" {
				t.Errorf("a refused release changed the tree (-before +after):\n%s", diff)
			}
		})
	}
}

// TestSourceLinksStayInTheirVersion: the same for --source: esc -> x/..
// with x -> . is the version's parent, though "x/.." looks like ".".
func TestSourceLinksStayInTheirVersion(t *testing.T) {
	src := t.TempDir()
	install(t, src, v2)
	dir := filepath.Join(src, "bos/system/bos", v2.version)
	mustSymlink(t, ".", filepath.Join(dir, "x"))
	mustSymlink(t, "x/..", filepath.Join(dir, "esc"))
	f := newFixture(t, nil, v1)
	before := snapshot(t, f.root)
	opt := f.options(OS)
	opt.Source = src
	err := f.run(t, opt)
	if exitcode.Of(err) != exitcode.BadInput || !strings.Contains(err.Error(), "esc") {
		t.Fatalf("--source with esc -> x/.. = %v (exit %d), want exit %d naming esc", err, exitcode.Of(err), exitcode.BadInput)
	}
	if diff := cmp.Diff(before, withoutStaging(withoutRun(snapshot(t, f.root)))); diff != "" {
		t.Errorf("a refused source changed the tree (-before +after):\n%s", diff)
	}
	if _, err := os.Lstat(filepath.Join(f.root, "bos/system/bos", v2.version)); !os.IsNotExist(err) {
		t.Errorf("bos/%s was committed: %v", v2.version, err)
	}
}
