package install

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bhojpur/os/internal/account"
	"github.com/bhojpur/os/internal/config"
	"github.com/bhojpur/os/internal/exitcode"
)

// converse runs an interactive install with stdin and stdout on pipes:
// each answer is written when its question has been printed.
func converse(t *testing.T, m *machine, o Options, script [][2]string) (error, string) {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	in := m.installer()
	in.Stdin, in.Stdout, in.Terminal = inR, outW, true
	m.secrets = nil
	in.ReadSecret = func() (string, error) {
		a, err := in.readLine()
		m.secrets = append(m.secrets, strings.TrimSpace(a))
		return a, err
	}

	done := make(chan error, 1)
	go func() {
		err := in.Install(context.Background(), o)
		outW.Close()
		done <- err
	}()
	var seen strings.Builder
	buf := make([]byte, 4096)
	for _, qa := range script {
		for !strings.Contains(seen.String(), qa[0]) {
			n, err := outR.Read(buf)
			seen.Write(buf[:n])
			if err != nil {
				t.Fatalf("the installer stopped before asking %q:\n%s", qa[0], seen.String())
			}
		}
		// Consume the question so the next one is looked for after it.
		rest := seen.String()[strings.Index(seen.String(), qa[0])+len(qa[0]):]
		m.out.WriteString(seen.String()[:len(seen.String())-len(rest)])
		seen.Reset()
		seen.WriteString(rest)
		if _, err := io.WriteString(inW, qa[1]+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	inW.Close()
	rest, _ := io.ReadAll(outR)
	m.out.WriteString(seen.String() + string(rest))
	err := <-done
	return err, m.out.String()
}

func TestInteractiveInstallThroughPipes(t *testing.T) {
	m := newMachine(t)
	m.disk("vda", 4*GiB, "QEMU HARDDISK")
	m.disk("vdb", 8*GiB, "BIG DISK")
	m.disk("vdc", 8*GiB, "LIVE USB")
	m.partition("vdc", 1, GiB, false, "")
	m.mounts("/dev/vdc1 /run/bos/media iso9660 ro 0 0")
	systemTree(t, m.root)
	m.run = &fakeRunner{}

	err, out := converse(t, m, Options{NoReboot: true}, [][2]string{
		{"Disk to install to [1-2]: ", "7"},
		{"Disk to install to [1-2]: ", "vdb"},
		{"Config URL or path (leave empty to answer a few questions instead): ", m.path("missing.yaml")},
		{"Config URL or path (leave empty to answer a few questions instead): ", ""},
		{"may log in as bhojpur (space separated, empty for none): ", "alice github:bob"},
		{"Password for bhojpur (empty for none): ", "s3cret"},
		{"The password again: ", "typo"},
		{"Password for bhojpur (empty for none): ", "s3cret"},
		{"The password again: ", "s3cret"},
		{"Configure wifi? [y/N]: ", "y"},
		{"Wifi network name (SSID): ", "home"},
		{"Wifi passphrase (empty for an open network): ", "short"},
		{"[server/agent] (server): ", "agent"},
		{"Server URL (https://HOST:6443): ", "https://10.0.0.1:6443"},
		{"Cluster secret or node token: ", "K10abc::node:secret"},
		// The passphrase did not validate: the questions start again.
		{"may log in as bhojpur (space separated, empty for none): ", "alice github:bob"},
		{"Password for bhojpur (empty for none): ", "s3cret"},
		{"The password again: ", "s3cret"},
		{"Configure wifi? [y/N]: ", "y"},
		{"Wifi network name (SSID): ", "home"},
		{"Wifi passphrase (empty for an open network): ", "long enough"},
		{"[server/agent] (server): ", "agent"},
		{"Server URL (https://HOST:6443): ", "https://10.0.0.1:6443"},
		{"Cluster secret or node token: ", "K10abc::node:secret"},
		{"Erase everything on /dev/vdb and install Bhojpur OS? [y/N]: ", "yes"},
	})
	if err != nil {
		t.Fatalf("Install = %v\n%s", err, out)
	}
	for _, s := range []string{
		"1)  /dev/vda  4 GiB  QEMU HARDDISK",
		"2)  /dev/vdb  8 GiB  BIG DISK",
		`"7" is not one of the disks above.`,
		"missing.yaml",
		"The passwords differ.",
		"answers:", "bos.wifi[0].passphrase",
		"Bhojpur OS install plan: erase the disk and install",
		"config:    answers (",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("conversation lacks %q:\n%s", s, out)
		}
	}
	secrets := []string{"s3cret", "typo", "s3cret", "s3cret", "short", "K10abc::node:secret", "s3cret", "s3cret", "long enough", "K10abc::node:secret"}
	if diff := cmp.Diff(secrets, m.secrets); diff != "" {
		t.Errorf("answers read as secrets (-want +got):\n%s", diff)
	}
	if strings.Contains(out, "/dev/vdc") {
		t.Errorf("the live medium /dev/vdc was offered:\n%s", out)
	}
	data, err := os.ReadFile(m.path("run/bos/install/state/bos/system/config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := config.LoadFile("config.yaml", strings.NewReader(string(data)))
	if err != nil || l.Err() != nil {
		t.Fatalf("installed config: %v %v\n%s", err, l.Err(), data)
	}
	c := l.Config
	if diff := cmp.Diff([]string{"github:alice", "github:bob"}, c.SSHAuthorizedKeys); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	if !account.IsCryptHash(c.Bos.Password) || !account.MatchesSHA(c.Bos.Password, "s3cret") {
		t.Errorf("password = %q, want a crypt hash of the answer", c.Bos.Password)
	}
	if c.Bos.ServerURL != "https://10.0.0.1:6443" || c.Bos.Token != "K10abc::node:secret" || len(c.Bos.Wifi) != 1 || c.Bos.Wifi[0].Passphrase != "long enough" {
		t.Errorf("config = %+v", c.Bos)
	}
	if len(m.run.cmds) == 0 || !strings.Contains(m.run.cmds[0], filepath.Join(m.root, "dev/vdb2")) {
		t.Errorf("commands = %v, want the install on vdb", m.run.cmds)
	}
}

func TestInteractiveOnlyDiskAndNoConfirmation(t *testing.T) {
	m := newMachine(t)
	m.disk("vda", 4*GiB, "QEMU HARDDISK")
	iso := filepath.Join(t.TempDir(), "iso")
	systemTree(t, iso)
	m.write("good.yaml", goodConfig)
	before := sha(t, m.path("dev/vda"))
	err, out := converse(t, m, Options{ISO: iso}, [][2]string{
		{"Config URL or path (leave empty to answer a few questions instead): ", m.path("good.yaml")},
		{"Erase everything on /dev/vda and install Bhojpur OS? [y/N]: ", "n"},
	})
	if exitcode.Of(err) != exitcode.BadInput || !strings.Contains(err.Error(), "not confirmed") {
		t.Errorf("Install = %v, want not confirmed", err)
	}
	if !strings.Contains(out, "Installing to the only disk: /dev/vda  4 GiB  QEMU HARDDISK") {
		t.Errorf("the only disk was not announced:\n%s", out)
	}
	if sha(t, m.path("dev/vda")) != before || len(m.run.cmds) > 0 || len(m.sys.calls) > 0 {
		t.Errorf("something changed without a confirmation: %v %v", m.run.cmds, m.sys.calls)
	}
}

func TestSilentWithoutDeviceIsBadInput(t *testing.T) {
	m := newMachine(t)
	in := m.installer()
	in.Terminal = true
	err := in.Install(context.Background(), Options{Silent: true})
	if exitcode.Of(err) != exitcode.BadInput || !strings.Contains(err.Error(), "no DEVICE") {
		t.Errorf("Install(silent, no device) = %v", err)
	}
}
