package apply

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestEnvironmentFileIsRootOnly: /etc/environment holds bos.environment
// (proxy URLs with credentials): 0600 root:root, whatever the image's file
// had, also when the content is already right.
func TestEnvironmentFileIsRootOnly(t *testing.T) {
	root := newRoot(t)
	file := filepath.Join(root, "etc/environment")
	if err := os.WriteFile(file, []byte("LANG=C.UTF-8\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	tt := newTarget(root, true)
	env := map[string]string{"https_proxy": "http://user:s3cret@proxy:3128"}
	for i := 0; i < 2; i++ {
		if err := Run(context.Background(), tt.Target, Boot, []Step{environmentStep{Env: env}}); err != nil {
			t.Fatal(err)
		}
		if got := modeOf(t, root, "etc/environment"); got != 0o600 {
			t.Errorf("apply %d: /etc/environment mode %04o, want 0600", i+1, got)
		}
		if got := tt.chown.owner(t, root, "etc/environment"); got != [2]int{0, 0} {
			t.Errorf("apply %d: /etc/environment owner %v, want root:root", i+1, got)
		}
		if got, want := readRoot(t, root, "etc/environment"), "LANG=C.UTF-8\nhttps_proxy='http://user:s3cret@proxy:3128'\n"; got != want {
			t.Errorf("apply %d: /etc/environment = %q, want %q", i+1, got, want)
		}
		if err := os.Chmod(file, 0o644); err != nil { // same content, open mode
			t.Fatal(err)
		}
	}
}
