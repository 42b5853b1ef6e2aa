package vmtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Key is an SSH key pair made for one test.
type Key struct {
	Private    string // path of the private key
	Authorized string // the public key line, "ssh-ed25519 AAAA... comment"
}

// NewKey makes an ed25519 key pair with the real ssh-keygen.
func NewKey(t TB) Key {
	t.Helper()
	p := filepath.Join(t.TempDir(), "id_ed25519")
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bos-vmtest", "-f", p).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(p + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return Key{Private: p, Authorized: strings.TrimSpace(string(pub))}
}

// SSHTimeout bounds one command run by SSH: long enough for an install
// or an upgrade of a release with DCP (hundreds of MB under TCG on a
// loaded machine).
const SSHTimeout = 10 * time.Minute

// SSH runs command as user in the guest with the real ssh client and
// returns its standard output; errors carry standard error.
func (vm *VM) SSH(key Key, user, command string) (string, error) {
	return vm.sshWithin(key, user, command, SSHTimeout)
}

func (vm *VM) sshWithin(key Key, user, command string, timeout time.Duration) (string, error) {
	if vm.SSHPort == 0 {
		return "", fmt.Errorf("%s has no SSH port (Options.SSH)", vm.Name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ssh", "-p", strconv.Itoa(vm.SSHPort), "-i", key.Private,
		"-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
		user+"@127.0.0.1", command)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("ssh %s@guest %q: %v: %s", user, command, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// WaitSSH retries until user can run a command over SSH.
func (vm *VM) WaitSSH(key Key, user string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if _, err = vm.sshWithin(key, user, "true", time.Minute); err == nil {
			return nil
		}
		select {
		case <-vm.exited:
			return fmt.Errorf("QEMU exited while waiting for SSH: %v", err)
		case <-time.After(2 * time.Second):
		}
	}
	return fmt.Errorf("no SSH as %s after %v: %v", user, timeout, err)
}
