package upgrade

import (
	"context"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/exitcode"
	"github.com/bhojpur/os/internal/grubenv"
	"github.com/bhojpur/os/internal/store"
	"github.com/bhojpur/os/internal/upgrade/lock"
)

var (
	v0 = newRelease("v0.9.0")
	v1 = newRelease("v1.0.0")
	v2 = newRelease("v2.0.0")
)

// wantSystem checks links and contents after an upgrade from `from` to
// `to` of the given components, and that nothing else is left.
func wantSystem(t *testing.T, root string, from, to release, components ...string) {
	t.Helper()
	for _, c := range components {
		if got := readLink(root, c, "current"); got != to.version {
			t.Errorf("%s/current = %q, want %q", c, got, to.version)
		}
		if got := readLink(root, c, "previous"); got != from.version {
			t.Errorf("%s/previous = %q, want %q", c, got, from.version)
		}
		for _, r := range []release{from, to} {
			if err := checkVersion(t, root, c, r); err != nil {
				t.Errorf("%s %s: %v", c, r.version, err)
			}
		}
		ents, _ := os.ReadDir(filepath.Join(root, "bos/system", c))
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if diff := cmp.Diff([]string{"current", "previous", from.version, to.version}, sortStrings(names)); diff != "" {
			t.Errorf("%s holds (-want +got):\n%s", c, diff)
		}
	}
	if _, err := os.Lstat(filepath.Join(root, "bos/system/.upgrade")); !os.IsNotExist(err) {
		t.Errorf("staging left behind: %v", err)
	}
}

func readLink(root, component, name string) string {
	s, _ := os.Readlink(filepath.Join(root, "bos/system", component, name))
	return s
}

func sortStrings(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestUpgradeFromHTTP(t *testing.T) {
	srv := newServer(t, v2)
	f := newFixture(t, srv, v0, v1)
	opt := f.options(OS)
	opt.Release = v2.version
	if err := f.run(t, opt); err != nil {
		t.Fatalf("rootfs upgrade: %+v\nlogs:\n%s", err, f.logs.String())
	}
	wantSystem(t, f.root, v1, v2, "bos", "dcp")
	if !strings.Contains(f.out.String(), "bos: v1.0.0 -> v2.0.0") {
		t.Errorf("output %q does not say what changed", f.out.String())
	}

	kopt := f.options(Kernel)
	kopt.Release = v2.version
	if err := f.run(t, kopt); err != nil {
		t.Fatalf("kernel upgrade: %+v\nlogs:\n%s", err, f.logs.String())
	}
	wantSystem(t, f.root, v1, v2, "bos", "dcp", "kernel")
	if len(srv.ranges) != 0 {
		t.Errorf("a fresh download sent Range headers: %v", srv.ranges)
	}
}

func TestLatestFromChannel(t *testing.T) {
	srv := newServer(t, v2)
	f := newFixture(t, srv, v1)
	if err := f.run(t, f.options(OS)); err != nil {
		t.Fatalf("upgrade to latest: %+v", err)
	}
	if got := f.link(t, "bos", "current"); got != v2.version {
		t.Errorf("bos/current = %q, want %q (the channel's latest)", got, v2.version)
	}
	if !strings.Contains(f.logs.String(), "latest release of "+srv.URL+"/latest: "+v2.version) {
		t.Errorf("logs do not name the latest release:\n%s", f.logs.String())
	}
}

func TestSameVersionIsANoOp(t *testing.T) {
	srv := newServer(t, v1)
	f := newFixture(t, srv, v0, v1)
	before := snapshot(t, f.root)
	opt := f.options(OS)
	opt.Release = v1.version
	opt.Reboot = true
	if err := f.run(t, opt); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.out.String(), "bos v1.0.0 is already current: nothing to do") {
		t.Errorf("output %q does not say it is a no-op", f.out.String())
	}
	if diff := cmp.Diff(before, withoutRun(snapshot(t, f.root))); diff != "" {
		t.Errorf("a no-op changed the tree (-before +after):\n%s", diff)
	}
	if len(srv.gets) != 0 || len(f.rec.calls) != 0 {
		t.Errorf("a no-op downloaded %v and ran %v", srv.gets, f.rec.calls)
	}
}

func TestCorruptedArtifactIsRefusedAndNothingChanges(t *testing.T) {
	for _, tc := range []struct {
		component, artifact string
	}{
		{OS, "bos-rootfs-amd64.tar.gz"},
		{Kernel, "bos-initrd-amd64"},
	} {
		t.Run(tc.artifact, func(t *testing.T) {
			srv := newServer(t, v2)
			p := "/" + v2.version + "/" + tc.artifact
			b := append([]byte(nil), srv.files[p]...)
			b[len(b)/2] ^= 0xff
			srv.set(p, b)
			f := newFixture(t, srv, v0, v1)
			before := snapshot(t, f.root)
			opt := f.options(tc.component)
			opt.Release = v2.version
			err := f.run(t, opt)
			if exitcode.Of(err) != exitcode.Download || !strings.Contains(err.Error(), "checksum mismatch") ||
				!strings.Contains(err.Error(), "the download was deleted") || !strings.Contains(err.Error(), tc.artifact) {
				t.Fatalf("corrupted %s: %v (exit %d); want exit %d naming the artifact and the deletion", tc.artifact, err, exitcode.Of(err), exitcode.Download)
			}
			if diff := cmp.Diff(before, withoutRun(snapshot(t, f.root))); diff != "" {
				t.Errorf("a refused upgrade changed the tree (-before +after):\n%s", diff)
			}
		})
	}
}

func TestResumeAfterTheServerCutsTheConnection(t *testing.T) {
	srv := newServer(t, v2)
	name := "bos-rootfs-amd64.tar.gz"
	size := int64(len(srv.files["/"+v2.version+"/"+name]))
	srv.cut[name] = size / 2
	f := newFixture(t, srv, v1)
	opt := f.options(OS)
	opt.Release = v2.version
	if err := f.run(t, opt); err != nil {
		t.Fatalf("upgrade over a cut connection: %+v\nlogs:\n%s", err, f.logs.String())
	}
	if want := []string{name + " bytes=" + itoa(size/2) + "-"}; !cmp.Equal(srv.ranges, want) {
		t.Errorf("Range requests = %q, want %q", srv.ranges, want)
	}
	if !strings.Contains(f.logs.String(), "resuming at "+itoa(size/2)+" bytes") {
		t.Errorf("logs do not say it resumed:\n%s", f.logs.String())
	}
	if got := f.link(t, "bos", "current"); got != v2.version {
		t.Errorf("bos/current = %q after a resumed download", got)
	}
	if err := checkVersion(t, f.root, "bos", v2); err != nil {
		t.Error(err)
	}
}

func TestResumeInTheNextRun(t *testing.T) {
	srv := newServer(t, v2)
	name := "bos-initrd-amd64"
	size := int64(len(srv.files["/"+v2.version+"/"+name]))
	srv.cut[name] = size / 2
	f := newFixture(t, srv, v1)
	opt := f.options(Kernel)
	opt.Release = v2.version
	env := f.env(t, nil)
	env.Fetcher.Retry.Attempts = 1 // give up at the first cut
	err := Run(context.Background(), opt, env)
	if exitcode.Of(err) != exitcode.Download {
		t.Fatalf("first run = %v, want a download error", err)
	}
	part := filepath.Join(f.root, "bos/system/.upgrade", v2.version, name+".part")
	if fi, err := os.Stat(part); err != nil || fi.Size() != size/2 {
		t.Fatalf("partial download %s: %v, want %d bytes kept", part, err, size/2)
	}
	if got := f.link(t, "kernel", "current"); got != v1.version {
		t.Fatalf("kernel/current = %q after a failed download", got)
	}
	if err := f.run(t, opt); err != nil {
		t.Fatalf("second run: %+v", err)
	}
	// vmlinuz was whole already: its Range is answered 416 and the part
	// is used as it is.
	vmlinuz := int64(len(srv.files["/"+v2.version+"/bos-vmlinuz-amd64"]))
	want := []string{"bos-vmlinuz-amd64 bytes=" + itoa(vmlinuz) + "-", name + " bytes=" + itoa(size/2) + "-"}
	if !cmp.Equal(srv.ranges, want) {
		t.Errorf("Range requests = %q, want %q", srv.ranges, want)
	}
	if err := checkVersion(t, f.root, "kernel", v2); err != nil {
		t.Error(err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestSecondRunIsRefusedByTheLock(t *testing.T) {
	srv := newServer(t, v2)
	f := newFixture(t, srv, v1)
	opt := f.options(OS)
	opt.Release = v2.version
	held, err := lock.Acquire(opt.LockFile, "pid 4242: bos-upgrade-rootfs --release v9")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	before := snapshot(t, f.root)
	err = f.run(t, opt)
	if exitcode.Of(err) != exitcode.Locked || !strings.Contains(err.Error(), "pid 4242: bos-upgrade-rootfs --release v9") {
		t.Fatalf("second run = %v (exit %d), want exit %d naming the holder", err, exitcode.Of(err), exitcode.Locked)
	}
	if diff := cmp.Diff(before, snapshot(t, f.root)); diff != "" {
		t.Errorf("a locked-out run changed the tree:\n%s", diff)
	}
	held.Release()
	if err := f.run(t, opt); err != nil {
		t.Fatalf("run after the lock is released: %v", err)
	}
	b, _ := os.ReadFile(opt.LockFile)
	if len(b) != 0 {
		t.Errorf("lock file after release holds %q", b)
	}
}

func TestRollback(t *testing.T) {
	srv := newServer(t, v2)
	f := newFixture(t, srv, v1)
	opt := f.options(OS)
	opt.Release = v2.version
	if err := f.run(t, opt); err != nil {
		t.Fatal(err)
	}
	rb := f.options(OS)
	rb.Rollback = true
	f.out.Reset()
	if err := f.run(t, rb); err != nil {
		t.Fatalf("rollback: %+v", err)
	}
	for _, c := range []string{"bos", "dcp"} {
		if cur, prev := f.link(t, c, "current"), f.link(t, c, "previous"); cur != v1.version || prev != v2.version {
			t.Errorf("%s after rollback: current %q previous %q, want %q %q", c, cur, prev, v1.version, v2.version)
		}
	}
	if want := "rolled back bos from v2.0.0 to v1.0.0"; !strings.Contains(f.out.String(), want) {
		t.Errorf("output %q does not say %q", f.out.String(), want)
	}
	// And back again: rollback swaps.
	if err := f.run(t, rb); err != nil {
		t.Fatal(err)
	}
	if cur := f.link(t, "bos", "current"); cur != v2.version {
		t.Errorf("second rollback: bos/current = %q, want %q", cur, v2.version)
	}
	// Nothing to roll back to.
	g := newFixture(t, nil, v1)
	if err := g.run(t, rb); exitcode.Of(err) != exitcode.BadInput || !strings.Contains(err.Error(), "no previous version") {
		t.Errorf("rollback without previous = %v", err)
	}
}

func TestSourceInstall(t *testing.T) {
	src := t.TempDir()
	install(t, filepath.Join(src), v2) // src/bos/system/{bos,dcp,kernel}/v2.0.0 + current
	f := newFixture(t, nil, v0, v1)
	for _, c := range []string{OS, Kernel} {
		opt := f.options(c)
		opt.Source = src
		if err := f.run(t, opt); err != nil {
			t.Fatalf("%s from source: %+v", c, err)
		}
	}
	wantSystem(t, f.root, v1, v2, "bos", "dcp", "kernel")

	// The source given as the bos/system directory itself works too.
	g := newFixture(t, nil, v1)
	opt := g.options(OS)
	opt.Source = filepath.Join(src, "bos/system")
	opt.Release = v2.version
	if err := g.run(t, opt); err != nil {
		t.Fatal(err)
	}
	if cur := g.link(t, "bos", "current"); cur != v2.version {
		t.Errorf("bos/current = %q", cur)
	}
}

func TestKernelOnAnOverlayInstallDoesNothing(t *testing.T) {
	for name, setup := range map[string]func(root string){
		"mode local": func(root string) { writeFile(t, filepath.Join(root, "run/bos/mode"), "local\n") },
		"no kernel directory": func(root string) {
			os.RemoveAll(filepath.Join(root, "bos/system/kernel"))
		},
	} {
		t.Run(name, func(t *testing.T) {
			srv := newServer(t, v2)
			f := newFixture(t, srv, v1)
			setup(f.root)
			before := snapshot(t, f.root)
			opt := f.options(Kernel)
			opt.Release = v2.version
			if err := f.run(t, opt); err != nil {
				t.Fatalf("kernel upgrade on an overlay install = %v, want success", err)
			}
			if !strings.Contains(f.logs.String(), "warning:") || !strings.Contains(f.logs.String(), "does nothing") {
				t.Errorf("no warning: %q", f.logs.String())
			}
			if diff := cmp.Diff(before, snapshot(t, f.root)); diff != "" {
				t.Errorf("changed the tree:\n%s", diff)
			}
			if len(srv.gets) != 0 {
				t.Errorf("downloaded %v", srv.gets)
			}
		})
	}
}

func TestDryRunSaysAndChangesNothing(t *testing.T) {
	srv := newServer(t, v2)
	f := newFixture(t, srv, v0, v1)
	before := snapshot(t, f.root)
	opt := f.options(OS)
	opt.DryRun, opt.Remount, opt.Reboot = true, true, true
	if err := f.run(t, opt); err != nil {
		t.Fatal(err)
	}
	out := f.out.String()
	for _, want := range []string{
		"would download " + srv.URL + "/v2.0.0/bos-rootfs-amd64.tar.gz",
		"would verify them against " + srv.URL + "/v2.0.0/sha256sum-amd64.txt",
		"would install bos/v2.0.0",
		"would switch bos/current from v1.0.0 to v2.0.0 and bos/previous from v0.9.0 to v1.0.0",
		"would remove /bos/system/bos/v0.9.0",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if diff := cmp.Diff(before, snapshot(t, f.root)); diff != "" {
		t.Errorf("dry run changed the tree:\n%s", diff)
	}
	if len(f.rec.calls) != 0 || srv.gets["bos-rootfs-amd64.tar.gz"] != 0 {
		t.Errorf("dry run ran %v, downloaded %v", f.rec.calls, srv.gets)
	}
}

func TestRemountSyncAndRebootThroughSeams(t *testing.T) {
	srv := newServer(t, v2)
	f := newFixture(t, srv, v1)
	opt := f.options(OS)
	opt.Release = v2.version
	opt.Remount, opt.Sync, opt.Reboot = true, true, true
	env := f.env(t, nil)
	env.Root = "/" // as on a running system; the FS stays the temp root
	if err := Run(context.Background(), opt, env); err != nil {
		t.Fatal(err)
	}
	want := []string{"mount -o remount,bind,rw /bos", "reboot", "mount -o remount,bind,ro /bos"}
	if diff := cmp.Diff(want, f.rec.calls); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
	if f.rec.syncs == 0 {
		t.Error("--sync did not sync")
	}

	// With another root, remount and reboot are skipped and said so.
	g := newFixture(t, srv, v1)
	if err := g.run(t, opt); err != nil {
		t.Fatal(err)
	}
	if len(g.rec.calls) != 0 || !strings.Contains(g.logs.String(), "--remount: skipped") || !strings.Contains(g.logs.String(), "--reboot: skipped") {
		t.Errorf("with --root %s: ran %v; logs %q", g.root, g.rec.calls, g.logs.String())
	}
}

func TestUnsafeReleaseIsRefused(t *testing.T) {
	srv := newServer(t, v2)
	evil := evilTarball(t)
	srv.set("/"+v2.version+"/bos-rootfs-amd64.tar.gz", evil)
	srv.set("/"+v2.version+"/sha256sum-amd64.txt", []byte(sumLine(evil, "bos-rootfs-amd64.tar.gz")))
	f := newFixture(t, srv, v1)
	before := snapshot(t, f.root)
	opt := f.options(OS)
	opt.Release = v2.version
	err := f.run(t, opt)
	if exitcode.Of(err) != exitcode.BadInput || !strings.Contains(err.Error(), "leaves the target") {
		t.Fatalf("escaping tar = %v (exit %d), want exit %d", err, exitcode.Of(err), exitcode.BadInput)
	}
	if diff := cmp.Diff(before, withoutRun(snapshot(t, f.root))); diff != "" {
		t.Errorf("a refused release changed the tree:\n%s", diff)
	}
	if _, err := os.Lstat(filepath.Join(filepath.Dir(f.root), "escaped")); err == nil {
		t.Error("a file escaped the target")
	}
}

func TestErrorClasses(t *testing.T) {
	f := newFixture(t, newServer(t, v2), v1)
	opt := f.options(OS)
	opt.Release = "../etc"
	if err := f.run(t, opt); exitcode.Of(err) != exitcode.BadInput {
		t.Errorf("--release ../etc = %v", err)
	}
	opt.Release = "v404"
	err := f.run(t, opt)
	if exitcode.Of(err) != exitcode.Download || !strings.Contains(err.Error(), "404") {
		t.Errorf("missing release = %v (exit %d)", err, exitcode.Of(err))
	}
	if !errors.Is(err, exitcode.ErrDownload) {
		t.Errorf("errors.Is(%v, exitcode.ErrDownload) = false", err)
	}
}

// withoutRun drops /run (the lock file) from a snapshot.
func withoutRun(snap map[string]string) map[string]string {
	for k := range snap {
		if k == "run" || strings.HasPrefix(k, "run/") {
			delete(snap, k)
		}
	}
	return snap
}

// TestTrialBootIsArmedAndDisarmed: with a GRUB environment block in the
// root, an upgrade of the rootfs and then of the kernel arm one trial of
// both; a rollback by hand cancels it; without the block nothing is armed
// and the run says so.
func TestTrialBootIsArmedAndDisarmed(t *testing.T) {
	const envFile = "/run/bos/state/boot/grub/grubenv"
	srv := newServer(t, v2)
	f := newFixture(t, srv, v1)
	fsys, err := store.NewOSFS(f.root)
	if err != nil {
		t.Fatal(err)
	}
	if err := fsys.MkdirAll(path.Dir(envFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := grubenv.Write(fsys, envFile, grubenv.New()); err != nil {
		t.Fatal(err)
	}
	state := func() grubenv.Trial {
		t.Helper()
		e, err := grubenv.Read(fsys, envFile)
		if err != nil {
			t.Fatal(err)
		}
		return e.State()
	}
	for _, c := range []string{OS, Kernel} {
		opt := f.options(c)
		opt.Release, opt.GrubEnv, opt.TrialTimeout = v2.version, envFile, 90*time.Second
		if err := f.run(t, opt); err != nil {
			t.Fatalf("%s upgrade: %+v", c, err)
		}
	}
	if got, want := state(), (grubenv.Trial{Version: v2.version, Tries: "1", Kernel: v2.version, Bos: v2.version, Timeout: "90"}); got != want {
		t.Errorf("after the upgrades: %+v, want %+v", got, want)
	}
	if !strings.Contains(f.out.String(), "the next boot is a trial of kernel "+v2.version) {
		t.Errorf("output %q does not announce the trial", f.out.String())
	}
	rb := f.options(OS)
	rb.Rollback, rb.GrubEnv = true, envFile
	if err := f.run(t, rb); err != nil {
		t.Fatal(err)
	}
	if got := state(); got != (grubenv.Trial{}) {
		t.Errorf("after a rollback by hand: %+v, want no trial", got)
	}

	g := newFixture(t, srv, v1)
	opt := g.options(OS)
	opt.Release, opt.GrubEnv = v2.version, envFile
	if err := g.run(t, opt); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(g.logs.String(), "no trial boot: "+envFile+" does not exist") {
		t.Errorf("logs %q do not say that no trial was armed", g.logs.String())
	}
}

// TestFallenBackVersionIsRefused: after GRUB fell back from a trial boot
// of v2 (/run/bos/fallback says v2), v2 is not installed again (the
// Kubernetes upgrade Job reruns after that boot), nothing is downloaded
// or changed, and the error says why and what to do; another version
// goes ahead.
func TestFallenBackVersionIsRefused(t *testing.T) {
	srv := newServer(t, v2)
	f := newFixture(t, srv, v0, v1)
	fallback := filepath.Join(f.root, "run/bos/fallback")
	if err := os.MkdirAll(filepath.Dir(fallback), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fallback, []byte(v2.version+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := withoutRun(snapshot(t, f.root))
	opt := f.options(OS)
	opt.Release, opt.Reboot, opt.FallbackFile = v2.version, true, "/run/bos/fallback"
	err := f.run(t, opt)
	if exitcode.Of(err) != exitcode.BadInput || err == nil || !strings.Contains(err.Error(), "v2.0.0 failed its trial boot on this system, which fell back to v1.0.0") || !strings.Contains(err.Error(), "reboot first") {
		t.Fatalf("upgrade to the version that fell back: %v (exit %d), want exit 3 saying why", err, exitcode.Of(err))
	}
	if diff := cmp.Diff(before, withoutRun(snapshot(t, f.root))); diff != "" {
		t.Errorf("the refused upgrade changed the tree (-before +after):\n%s", diff)
	}
	if len(srv.gets) != 0 || len(f.rec.calls) != 0 {
		t.Errorf("the refused upgrade downloaded %v and ran %v", srv.gets, f.rec.calls)
	}
	if err := os.WriteFile(fallback, []byte("v1.5.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.run(t, opt); err != nil {
		t.Fatalf("a fallback from another version: %v", err)
	}
	wantSystem(t, f.root, v1, v2, "bos", "dcp")
}
