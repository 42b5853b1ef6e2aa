package server

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestWALSegmentIsSmallOnlyOnTmpfs(t *testing.T) {
	var asked string
	defer func(f func(string) (int64, error)) { fsMagic = f }(fsMagic)
	for _, tc := range []struct {
		magic int64
		want  int64
	}{
		{unix.TMPFS_MAGIC, tmpfsWALSegment},
		{unix.EXT4_SUPER_MAGIC, 0},
	} {
		fsMagic = func(dir string) (int64, error) { asked = dir; return tc.magic, nil }
		if got := walSegmentBytes("/var/lib/bhojpur/dcp/server/db/etcd"); got != tc.want {
			t.Errorf("file system %#x: WAL segment %d, want %d", tc.magic, got, tc.want)
		}
		if asked != "/var/lib/bhojpur/dcp/server/db/etcd" {
			t.Errorf("asked about %q", asked)
		}
	}
}

// TestFSMagicOfADirectoryNotMadeYet: etcd's directory does not exist at
// the first start; its nearest parent decides.
func TestFSMagicOfADirectoryNotMadeYet(t *testing.T) {
	dir := t.TempDir()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	got, err := fsMagic(dir + "/db/etcd")
	if err != nil || got != int64(st.Type) {
		t.Errorf("fsMagic(%s/db/etcd) = %#x, %v; want %#x, the parent's", dir, got, err, st.Type)
	}
}
