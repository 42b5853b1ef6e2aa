package lock

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pkg/errors"
)

func TestSecondAcquireFailsAndNamesTheHolder(t *testing.T) {
	p := filepath.Join(t.TempDir(), "run/bos/upgrade.lock")
	first, err := Acquire(p, "pid 1: bos-upgrade-rootfs --release v2")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(p, "pid 2: bos-upgrade-kernel")
	if !errors.Is(err, ErrHeld) || !strings.Contains(err.Error(), "pid 1: bos-upgrade-rootfs --release v2") {
		t.Fatalf("second Acquire = %v, want ErrHeld naming the holder", err)
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	second, err := Acquire(p, Holder())
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	defer second.Release()
	b, _ := os.ReadFile(p)
	if !strings.HasPrefix(string(b), "pid "+itoa(os.Getpid())+": ") {
		t.Errorf("lock file holds %q", b)
	}
}

func itoa(n int) string {
	s := ""
	for ; n > 0; n /= 10 {
		s = string(rune('0'+n%10)) + s
	}
	return s
}
