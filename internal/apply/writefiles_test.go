package apply

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/pkg/errors"
	"golang.org/x/sys/unix"

	"github.com/bhojpur/os/internal/config"
)

func gz(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestWriteFiles(t *testing.T) {
	text := "line one\nline two\n"
	b64 := base64.StdEncoding.EncodeToString([]byte(text))
	gzb64 := base64.StdEncoding.EncodeToString(gz(t, []byte(text)))
	bomb := base64.StdEncoding.EncodeToString(gz(t, make([]byte, MaxFileSize+1)))
	yamlDoc := `write_files:
- path: /bin/arch
  permissions: '0555'
  content: !!binary |
    f0VMRgIBAQAAAAAAAAAAAA==
- path: /etc/sysconfig/samba
  owner: bhojpur:shadow
  content: |
    # My new /etc/sysconfig/samba file
    SMDBOPTIONS="-D"
- path: /etc/crontab
  owner: "1000"
  content: |
    15 * * * * root ship_logs
`
	l, err := config.LoadFile("inline.yaml", strings.NewReader(yamlDoc))
	if err != nil || l.Err() != nil {
		t.Fatalf("load: %v %v", err, l.Err())
	}
	files := append(l.Config.WriteFiles,
		config.File{Path: "/etc/a/b64", Encoding: "b64", Content: b64},
		config.File{Path: "/etc/a/base64", Encoding: "base64", Content: b64[:10] + "\n" + b64[10:]},
		config.File{Path: "/etc/a/gzb64", Encoding: "gzip+base64", Content: gzb64, Permissions: "4750", Owner: "root:bhojpur"},
		config.File{Path: "/etc/a/plain", Encoding: "", Content: text},
	)
	root := newRoot(t)
	tt := newTarget(root, false)
	var steps []Step
	for _, f := range files {
		steps = append(steps, writeFileStep{File: f})
	}
	if err := Run(context.Background(), tt.Target, Boot, steps); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		data  string
		mode  os.FileMode
		owner [2]int
	}{
		{"bin/arch", "\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00", 0o555, [2]int{0, 0}},
		{"etc/sysconfig/samba", "# My new /etc/sysconfig/samba file\nSMDBOPTIONS=\"-D\"\n", 0o644, [2]int{1000, 42}},
		{"etc/crontab", "15 * * * * root ship_logs\n", 0o644, [2]int{1000, 1000}},
		{"etc/a/b64", text, 0o644, [2]int{0, 0}},
		{"etc/a/base64", text, 0o644, [2]int{0, 0}},
		{"etc/a/gzb64", text, 0o750 | os.ModeSetuid, [2]int{0, 1000}},
		{"etc/a/plain", text, 0o644, [2]int{0, 0}},
	} {
		if got := readRoot(t, root, tc.name); got != tc.data {
			t.Errorf("%s = %q, want %q", tc.name, got, tc.data)
		}
		if got := modeOf(t, root, tc.name); got != tc.mode {
			t.Errorf("%s: mode %v, want %v", tc.name, got, tc.mode)
		}
		if got := tt.chown.owner(t, root, tc.name); got != tc.owner {
			t.Errorf("%s: owner %v, want %v", tc.name, got, tc.owner)
		}
	}
	// no temporary file is left behind
	if m, _ := filepath.Glob(filepath.Join(root, "etc/a/.*")); len(m) != 0 {
		t.Errorf("left over: %v", m)
	}

	for _, tc := range []struct {
		file config.File
		want string
	}{
		{config.File{Path: "/etc/bomb", Encoding: "gz+b64", Content: bomb}, "over 64 MiB"},
		{config.File{Path: "/etc/x", Encoding: "rot13", Content: "x"}, `unknown encoding "rot13"`},
		// what validation refuses (cloud-init's spellings outside Encodings)
		{config.File{Path: "/etc/x", Encoding: "text/plain", Content: "x"}, `unknown encoding "text/plain"`},
		{config.File{Path: "/etc/x", Encoding: "gz", Content: "not gzip, long enough"}, "gzip: invalid header"},
		{config.File{Path: "/etc/x", Encoding: "b64", Content: "!!!"}, "base64"},
		{config.File{Path: "/etc/x", Owner: "nosuch"}, "user nosuch: not found"},
		{config.File{Path: "/etc/x", Permissions: "9"}, "not an octal mode"},
		{config.File{Path: "/", Content: "x"}, "not a file inside the root"},
	} {
		err := writeFileStep{File: tc.file}.Apply(context.Background(), tt.Target)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("write %+v: %v, want %q", tc.file.Path, err, tc.want)
		}
		if tc.want == "over 64 MiB" && !errors.Is(err, ErrTooLarge) {
			t.Errorf("bomb: %v is not ErrTooLarge", err)
		}
	}
	// paths cannot leave the root, even through a symlink
	if err := os.Symlink("/", filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "outside")
	if err := (writeFileStep{File: config.File{Path: "/escape" + outside, Content: "x"}}).Apply(context.Background(), tt.Target); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(outside); err == nil {
		t.Errorf("a write left the root through a symlink")
	}
}

func TestRewrites(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"hosts replace", "127.0.0.1 localhost\n127.0.1.1 old old.example\n# c\n127.0.1.1 dup\n", "127.0.0.1 localhost\n127.0.1.1\tnew.example.com new\n# c\n"},
		{"hosts append", "127.0.0.1 localhost", "127.0.0.1 localhost\n127.0.1.1\tnew.example.com new\n"},
	} {
		if got := string(SetHostsName([]byte(tc.in), "new.example.com")); got != tc.want {
			t.Errorf("%s: SetHostsName(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
	in := "# top\n[General]\nFallbackNameservers = 9.9.9.9\nFallbackNameservers=1.2.3.4\n\n[Other]\nX=1\n"
	want := "# top\n[General]\nFallbackNameservers=8.8.8.8\nFallbackTimeservers=ntp\n\n[Other]\nX=1\n"
	if got := string(SetKeyfileValues([]byte(in), "General", map[string]string{"FallbackNameservers": "8.8.8.8", "FallbackTimeservers": "ntp"})); got != want {
		t.Errorf("SetKeyfileValues = %q, want %q", got, want)
	}
	if got := string(SetKeyfileValues(nil, "General", map[string]string{"A": "1"})); got != "[General]\nA=1\n" {
		t.Errorf("SetKeyfileValues(empty) = %q", got)
	}
	env := map[string]string{"http_proxy": "http://p", "Q": "it's $HOME `x`"}
	got := string(SetEnvironment([]byte("PATH=/bin\nexport http_proxy=old\n"), env))
	if want := "PATH=/bin\nhttp_proxy='http://p'\nQ='it'\\''s $HOME `x`'\n"; got != want {
		t.Errorf("SetEnvironment = %q, want %q", got, want)
	}
	data, err := WifiConfig([]config.Wifi{{Name: " sp\\ace", Passphrase: "a\nb"}, {Name: "open"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "Name = \\ssp\\\\ace\nSecurity = psk\nPassphrase = a\\nb\n") || !strings.Contains(string(data), "Name = open\nSecurity = none\n") {
		t.Errorf("WifiConfig:\n%s", data)
	}
}

func TestShadowNeverWorldReadable(t *testing.T) {
	for _, password := range []string{"", "$1$tYtghCfK$QHa51MS6MVAcfUKuOzNKt0"} {
		root := newRoot(t)
		if err := os.Chmod(filepath.Join(root, "etc/shadow"), 0o666); err != nil {
			t.Fatal(err)
		}
		tt := newTarget(root, false)
		if err := (passwordStep{User: DefaultUser, Password: password}).Apply(context.Background(), tt.Target); err != nil {
			t.Fatal(err)
		}
		if got := modeOf(t, root, "etc/shadow"); got != 0o640 {
			t.Errorf("password %q: shadow mode %v, want 0640", password, got)
		}
		want := "root:*:19000:0:99999:7:::\nbhojpur:!:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n"
		if password != "" {
			want = strings.Replace(want, "bhojpur:!:", "bhojpur:"+password+":", 1)
		}
		if got := readRoot(t, root, "etc/shadow"); got != want {
			t.Errorf("password %q: shadow %q, want %q", password, got, want)
		}
	}
}

// TestConnmanProvisioningIsReportedModified watches /var/lib/connman with
// inotify as connman does: a provisioning file that write_files puts there
// must come with IN_MODIFY (connman loads the contents on it only); other
// files get no such event.
func TestConnmanProvisioningIsReportedModified(t *testing.T) {
	root := newRoot(t)
	dir := filepath.Join(root, "var/lib/connman")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_MODIFY|unix.IN_MOVED_TO); err != nil {
		t.Fatal(err)
	}
	content := "[service_peer]\nType = ethernet\nMAC = 52:54:00:4b:00:01\nIPv4 = 192.168.76.1/255.255.255.0\n"
	tt := newTarget(root, false)
	steps := []Step{
		writeFileStep{File: config.File{Path: "/var/lib/connman/peer.config", Content: content}},
		writeFileStep{File: config.File{Path: "/var/lib/connman/notes.txt", Content: "not connman's\n"}},
	}
	if err := Run(context.Background(), tt.Target, Boot, steps); err != nil {
		t.Fatal(err)
	}
	if got := readRoot(t, root, "var/lib/connman/peer.config"); got != content {
		t.Errorf("peer.config = %q, want %q", got, content)
	}
	modified := map[string]bool{}
	buf := make([]byte, 64<<10)
	n, err := unix.Read(fd, buf)
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off+unix.SizeofInotifyEvent <= n; {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
		name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)]), "\x00")
		if ev.Mask&unix.IN_MODIFY != 0 {
			modified[name] = true
		}
		off += unix.SizeofInotifyEvent + int(ev.Len)
	}
	if !modified["peer.config"] {
		t.Errorf("no IN_MODIFY for peer.config (events for %v): connman would leave its settings unapplied", modified)
	}
	if modified["notes.txt"] {
		t.Error("IN_MODIFY for notes.txt: only connman's .config files are poked")
	}
}
