package boot

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bhojpur/os/internal/grubenv"
	"github.com/bhojpur/os/internal/layout"
	"github.com/bhojpur/os/internal/store"
)

// trialMachine is a disk machine whose BOS_STATE holds v1 and v2 of bos,
// dcp and the kernel (current v2, previous v1, v2's rootfs missing when
// broken) and the GRUB environment block env.
func trialMachine(t *testing.T, env *grubenv.Env, broken bool) (string, *fakeSys) {
	t.Helper()
	ext4 := blank(t, 16<<20)
	mkimage(t, "mkfs.ext4", "-q", "-F", "-L", layout.LabelState, ext4)
	root, fs := fakeMachine(t, "", map[string]string{"vda1": ext4})
	fs.onMount[layout.StateDir] = func(dir string) {
		if _, err := os.Lstat(dir + "/" + layout.SystemDir); err == nil {
			return // booted before: keep what the first boot did
		}
		sys := dir + "/" + layout.SystemDir
		for _, v := range []string{"v1", "v2"} {
			if v == "v1" || !broken {
				write(t, sys+"/bos/"+v+"/rootfs.squashfs", "")
			} else {
				os.MkdirAll(sys+"/bos/"+v, 0o755)
			}
			write(t, sys+"/dcp/"+v+"/dcp", "")
			write(t, sys+"/kernel/"+v+"/kernel.squashfs", "")
		}
		for _, c := range []string{"bos", "dcp", "kernel"} {
			os.Symlink("v2", sys+"/"+c+"/current")
			os.Symlink("v1", sys+"/"+c+"/previous")
		}
		b, err := env.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		write(t, dir+grubenv.Path, string(b))
	}
	return root, fs
}

func readEnv(t *testing.T, root string) grubenv.Trial {
	t.Helper()
	fsys, err := store.NewOSFS(root + layout.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	e, err := grubenv.Read(fsys, grubenv.Path)
	if err != nil {
		t.Fatal(err)
	}
	return e.State()
}

func link(t *testing.T, root, component, name string) string {
	t.Helper()
	v, err := os.Readlink(root + layout.StateDir + "/" + layout.SystemDir + "/" + component + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestBootRollsBackAFailedTrial: GRUB fell back from a trial of v2 (bos
// and kernel): bos-init switches bos, dcp and kernel back to v1, records
// it, says so on the console and in /run/bos, boots v1; the next boot does
// not switch again.
func TestBootRollsBackAFailedTrial(t *testing.T) {
	env := grubenv.New()
	env.Arm(grubenv.PartBos, "v2", 0)
	env.Arm(grubenv.PartKernel, "v2", 0)
	env.Set(grubenv.VarFallback, "v2") // what GRUB's script does ...
	env.Set(grubenv.VarTrial, "")      // ... on the boot after an unmarked trial
	root, fs := trialMachine(t, env, false)
	for boot := 1; boot <= 2; boot++ {
		b, log := newTestBoot(t, root, fs)
		if err := b.Boot(context.Background()); !errors.Is(err, errSwitched) {
			t.Fatalf("boot %d: Boot = %v", boot, err)
		}
		for _, c := range []string{"bos", "dcp", "kernel"} {
			if cur, prev := link(t, root, c, "current"), link(t, root, c, "previous"); cur != "v1" || prev != "v2" {
				t.Errorf("boot %d: %s current %s previous %s, want v1 v2", boot, c, cur, prev)
			}
		}
		if b.Layout.Version != "v1" || b.Layout.Kernel != "v1" {
			t.Errorf("boot %d booted bos %s kernel %s, want v1", boot, b.Layout.Version, b.Layout.Kernel)
		}
		said := strings.Contains(strings.Join(log.lines, "\n"), "FALLBACK: the trial boot of v2 did not come up")
		if said != (boot == 1) {
			t.Errorf("boot %d: console says FALLBACK: %v\n%s", boot, said, strings.Join(log.lines, "\n"))
		}
		if got, _ := os.ReadFile(root + layout.FallbackFile); string(got) != "v2\n" {
			t.Errorf("boot %d: %s = %q, want v2", boot, layout.FallbackFile, got)
		}
		if got, _ := os.ReadFile(root + layout.VersionFile); string(got) != "v1\n" {
			t.Errorf("boot %d: %s = %q, want v1", boot, layout.VersionFile, got)
		}
		if st := readEnv(t, root); st.RollbackDue() || st.Fallback != "v2" {
			t.Errorf("boot %d: GRUB environment after the rollback: %+v", boot, st)
		}
		if b.Trial != "" {
			t.Errorf("boot %d: a fallback boot counted as a trial of %q", boot, b.Trial)
		}
	}
}

// TestTrialBootFailureIsATrial: on the trial boot of v2 (GRUB used the
// try) bos-init records the trial; when v2 cannot be assembled the boot
// fails with Trial set, so that PID 1 reboots instead of opening the
// rescue shell.
func TestTrialBootFailureIsATrial(t *testing.T) {
	env := grubenv.New()
	env.Arm(grubenv.PartBos, "v2", 90*time.Second)
	env.Set(grubenv.VarTries, "0")
	root, fs := trialMachine(t, env, true)
	b, log := newTestBoot(t, root, fs)
	err := b.Boot(context.Background())
	if err == nil || errors.Is(err, errSwitched) || !strings.Contains(err.Error(), "rootfs.squashfs") {
		t.Fatalf("Boot of a broken v2 = %v, want a failure to mount its rootfs", err)
	}
	if b.Trial != "v2" {
		t.Errorf("Trial = %q, want v2", b.Trial)
	}
	if got, _ := os.ReadFile(root + layout.TrialFile); string(got) != "v2\n" {
		t.Errorf("%s = %q", layout.TrialFile, got)
	}
	if !strings.Contains(strings.Join(log.lines, "\n"), "trial boot of v2: it must come up (bos-init --mark-good) within 1m30s") {
		t.Errorf("console does not announce the trial:\n%s", strings.Join(log.lines, "\n"))
	}
	// The fake machine has no softdog: the boot goes on without it, and says so.
	if !strings.Contains(strings.Join(log.lines, "\n"), "no watchdog for the trial boot") {
		t.Errorf("console does not say the watchdog is missing:\n%s", strings.Join(log.lines, "\n"))
	}
}

// TestMarkGood ends a trial whose versions run, stops the watchdog, and
// leaves a trial alone that is not what runs.
func TestMarkGood(t *testing.T) {
	for _, tc := range []struct {
		name, running string
		wantSaid      string
		wantTrial     string
		wantGood      string
	}{
		{"trial came up", "v2", "bos: boot of v2 marked good: the trial of v2 is over; watchdog stopped", "", "v2"},
		{"someone else runs", "v1", "is not the trial of v2: the trial stays failed; watchdog stopped", "v2", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			env := grubenv.New()
			env.Arm(grubenv.PartBos, "v2", 0)
			env.Arm(grubenv.PartKernel, "v2", 0)
			env.Set(grubenv.VarTries, "0")
			b, _ := env.Bytes()
			write(t, root+layout.StateDir+grubenv.Path, string(b))
			write(t, root+layout.VersionFile, tc.running+"\n")
			write(t, root+layout.KernelVersionFile, tc.running+"\n")
			write(t, root+layout.WatchdogFile, "600\n")
			write(t, root+"/dev/watchdog", "")
			said, err := MarkGood(root)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(said, tc.wantSaid) {
				t.Errorf("MarkGood said %q, want %q", said, tc.wantSaid)
			}
			if st := readEnv(t, root); st.Version != tc.wantTrial || st.Good != tc.wantGood {
				t.Errorf("after MarkGood: %+v, want trial %q good %q", st, tc.wantTrial, tc.wantGood)
			}
			if got, _ := os.ReadFile(root + "/dev/watchdog"); string(got) != "V" {
				t.Errorf("watchdog got %q, want the magic close V", got)
			}
			if _, err := os.Stat(root + layout.WatchdogFile); !os.IsNotExist(err) {
				t.Errorf("%s still there (%v)", layout.WatchdogFile, err)
			}
		})
	}
	if _, err := MarkGood(t.TempDir()); err == nil || !strings.Contains(err.Error(), layout.VersionFile) {
		t.Errorf("MarkGood without %s = %v", layout.VersionFile, err)
	}
}

// TestBootPreviousEntry: the boot menu's previous entry (bos_boot=previous
// in the GRUB environment) boots the previous bos and kernel, without
// touching the links.
func TestBootPreviousEntry(t *testing.T) {
	env := grubenv.New()
	env.Set(grubenv.VarBoot, "previous")
	root, fs := trialMachine(t, env, false)
	b, _ := newTestBoot(t, root, fs)
	if err := b.Boot(context.Background()); !errors.Is(err, errSwitched) {
		t.Fatalf("Boot = %v", err)
	}
	if b.Layout.Version != "v1" || b.Layout.Kernel != "v1" {
		t.Errorf("booted bos %s kernel %s, want the previous v1", b.Layout.Version, b.Layout.Kernel)
	}
	if cur := link(t, root, "bos", "current"); cur != "v2" {
		t.Errorf("bos/current = %s: the previous entry must not switch links", cur)
	}
}
