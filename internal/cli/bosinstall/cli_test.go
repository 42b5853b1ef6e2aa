package bosinstall

import (
	"strings"
	"testing"

	"github.com/bhojpur/os/internal/exitcode"
)

// run runs one command in-process and returns exit code, stdout, stderr.
func TestInstallRefusesBadInputEarly(t *testing.T) {
	// bos-install is implemented: a missing device is bad input (exit 3).
	code, _, errs := run(t, "bos-install", "--silent", "/dev/vdz")
	if code != exitcode.BadInput || !strings.Contains(errs, "/dev/vdz does not exist") {
		t.Errorf("bos-install /dev/vdz = %d, %q; want %d and the device named", code, errs, exitcode.BadInput)
	}
	code, _, errs = run(t, "bos-install", "--takeover", "/dev/vdz1")
	if code != exitcode.Usage || !strings.Contains(errs, "--no-format") {
		t.Errorf("bos-install --takeover without --no-format = %d, %q; want %d", code, errs, exitcode.Usage)
	}
}
