package power

import (
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

// fake records the calls in order and fails reboot(2) with EPERM.
func fake(t *testing.T) *[]string {
	t.Helper()
	var calls []string
	oldSync, oldReboot := syncFS, reboot
	t.Cleanup(func() { syncFS, reboot = oldSync, oldReboot })
	syncFS = func() { calls = append(calls, "sync") }
	reboot = func(cmd int) error {
		calls = append(calls, fmt.Sprintf("reboot %#x", uint32(cmd)))
		return unix.EPERM
	}
	return &calls
}

func TestRebootSyncsThenRestarts(t *testing.T) {
	calls := fake(t)
	err := Reboot()
	want := fmt.Sprintf("[sync reboot %#x]", uint32(unix.LINUX_REBOOT_CMD_RESTART))
	if fmt.Sprint(*calls) != want {
		t.Errorf("calls = %v, want %s", *calls, want)
	}
	if err == nil || err.Error() != "reboot: operation not permitted" {
		t.Errorf("Reboot = %v, want the failure named", err)
	}
}

func TestOffSyncsThenPowersOff(t *testing.T) {
	calls := fake(t)
	err := Off()
	want := fmt.Sprintf("[sync reboot %#x]", uint32(unix.LINUX_REBOOT_CMD_POWER_OFF))
	if fmt.Sprint(*calls) != want {
		t.Errorf("calls = %v, want %s", *calls, want)
	}
	if err == nil || err.Error() != "power off: operation not permitted" {
		t.Errorf("Off = %v, want the failure named", err)
	}
}
