package apply

import (
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pkg/errors"
	"golang.org/x/crypto/ssh"
)

// keysBlock is the config's block of authorized_keys holding lines.
func keysBlock(lines ...string) string {
	return KeysBegin + "\n" + strings.Join(lines, "\n") + "\n" + KeysEnd + "\n"
}

// newKey makes an SSH public key line, seeded so that it is the same on
// every run.
func newKey(t *testing.T, seed byte, comment string) string {
	t.Helper()
	priv := ed25519.NewKeyFromSeed([]byte(strings.Repeat(string(rune('a'+seed)), ed25519.SeedSize)))
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " " + comment
}

const authorizedKeys = "home/bhojpur/.ssh/authorized_keys"

// applyKeys runs the keys step of a phase with the given entries.
func applyKeys(t *testing.T, tt *testTarget, phase Phase, keys ...string) error {
	t.Helper()
	return Run(context.Background(), tt.Target, phase, []Step{authorizedKeysStep{User: DefaultUser, Keys: keys, Fetch: phase == Runtime}})
}

// TestRemovedKeyIsRevoked: /home persists, so a key taken out of the
// config must leave authorized_keys at the next apply; the user's own
// lines, before and after the block, stay.
func TestRemovedKeyIsRevoked(t *testing.T) {
	a, b, own := newKey(t, 0, "a@config"), newKey(t, 1, "b@config"), newKey(t, 2, "mine")
	root := newRoot(t)
	tt := newTarget(root, true)
	if err := applyKeys(t, tt, Boot, a, b); err != nil {
		t.Fatal(err)
	}
	if got, want := readRoot(t, root, authorizedKeys), keysBlock(a, b); got != want {
		t.Fatalf("first boot (-want +got):\n%s", cmp.Diff(want, got))
	}
	// The user adds a key of their own and a comment, around the block.
	file := filepath.Join(root, authorizedKeys)
	if err := os.WriteFile(file, []byte("# my laptop\n"+readRoot(t, root, authorizedKeys)+own+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := applyKeys(t, tt, Boot, a); err != nil { // b is taken out of the config
		t.Fatal(err)
	}
	if got, want := readRoot(t, root, authorizedKeys), "# my laptop\n"+keysBlock(a)+own+"\n"; got != want {
		t.Errorf("after b left the config (-want +got):\n%s", cmp.Diff(want, got))
	}
	if err := applyKeys(t, tt, Boot); err != nil { // no keys in the config at all
		t.Fatal(err)
	}
	if got, want := readRoot(t, root, authorizedKeys), "# my laptop\n"+own+"\n"; got != want {
		t.Errorf("with no keys in the config (-want +got):\n%s", cmp.Diff(want, got))
	}
}

// TestNoKeysWritesNoFile: a config without keys, or whose only entry is
// not fetched yet (the boot phase), creates no authorized_keys.
func TestNoKeysWritesNoFile(t *testing.T) {
	for _, keys := range [][]string{nil, {"github:someone"}} {
		root := newRoot(t)
		if err := applyKeys(t, newTarget(root, true), Boot, keys...); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(filepath.Join(root, authorizedKeys)); !os.IsNotExist(err) {
			t.Errorf("keys %q: authorized_keys: %v, want none", keys, err)
		}
	}
}

// TestRemoteKeysStayUntilTheEntryGoes: the keys of github:USER are
// fetched at runtime; a boot (no network yet) or a failed fetch keeps the
// keys last fetched, a list without a key revokes them, and taking the
// entry out of the config removes them.
func TestRemoteKeysStayUntilTheEntryGoes(t *testing.T) {
	a, g1, g2 := newKey(t, 0, "a@config"), newKey(t, 3, "g1"), newKey(t, 4, "g2")
	answer := g1 + "\n" + g2 + "\n"
	var fail error
	root := newRoot(t)
	tt := newTarget(root, true)
	tt.GitHubURL = "https://github.test"
	tt.Get = func(ctx context.Context, url string, limit int64) ([]byte, error) {
		if url != "https://github.test/someone.keys" {
			return nil, errors.Errorf("unexpected %s", url)
		}
		return []byte(answer), fail
	}
	step := func(phase Phase, keys ...string) string {
		t.Helper()
		err := applyKeys(t, tt, phase, keys...)
		if (err != nil) != (fail != nil || answer == "") {
			t.Fatalf("apply %s = %v", phase, err)
		}
		return readRoot(t, root, authorizedKeys)
	}
	if got, want := step(Runtime, a, "github:someone"), keysBlock(a, "# from github:someone", g1, g2); got != want {
		t.Fatalf("runtime (-want +got):\n%s", cmp.Diff(want, got))
	}
	if got, want := step(Boot, a, "github:someone"), keysBlock(a, "# from github:someone", g1, g2); got != want {
		t.Errorf("the next boot, before the network (-want +got):\n%s", cmp.Diff(want, got))
	}
	fail = errors.New("network is unreachable")
	if got, want := step(Runtime, a, "github:someone"), keysBlock(a, "# from github:someone", g1, g2); got != want {
		t.Errorf("a failed fetch (-want +got):\n%s", cmp.Diff(want, got))
	}
	fail, answer = nil, g2+"\n" // g1 was removed on GitHub
	if got, want := step(Runtime, a, "github:someone"), keysBlock(a, "# from github:someone", g2); got != want {
		t.Errorf("g1 gone upstream (-want +got):\n%s", cmp.Diff(want, got))
	}
	if got, want := step(Boot, a), keysBlock(a); got != want {
		t.Errorf("the entry taken out of the config (-want +got):\n%s", cmp.Diff(want, got))
	}
}

func TestRewriteKeys(t *testing.T) {
	a, b, own := newKey(t, 0, "a"), newKey(t, 1, "b"), newKey(t, 2, "mine")
	for _, tc := range []struct {
		name, old string
		srcs      []KeySource
		want      string
	}{
		{"an older apply's appended keys move into the block; others stay",
			own + "\n" + a + "\n" + b + "\n", []KeySource{{Keys: []string{a}}}, own + "\n" + b + "\n" + keysBlock(a)},
		{"after the block exists, a user line equal to a config key is the user's",
			keysBlock(a) + a + "\n", []KeySource{{}}, a + "\n"},
		{"a BEGIN without END is dropped, the lines after it kept",
			KeysBegin + "\n" + own + "\n", []KeySource{{Keys: []string{a}}}, own + "\n" + keysBlock(a)},
		{"a missing last line break is added", own, []KeySource{{Keys: []string{a}}}, own + "\n" + keysBlock(a)},
		{"duplicates are written once", "", []KeySource{{Keys: []string{a, a}}, {Ref: "github:x", Keys: []string{a, b}}},
			keysBlock(a, "# from github:x", b)},
		{"a kept entry without old keys writes nothing", "", []KeySource{{}, {Ref: "github:x", Keep: true}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(RewriteKeys([]byte(tc.old), tc.srcs)); got != tc.want {
				t.Errorf("RewriteKeys (-want +got):\n%s", cmp.Diff(tc.want, got))
			}
		})
	}
}

func TestKeyRefLabelDropsCredentials(t *testing.T) {
	if got := keyRefLabel("https://u:hunter2@keys.example/me.keys"); got != "https://keys.example/me.keys" {
		t.Errorf("keyRefLabel = %q", got)
	}
	if got := keyRefLabel("github:me"); got != "github:me" {
		t.Errorf("keyRefLabel = %q", got)
	}
}
