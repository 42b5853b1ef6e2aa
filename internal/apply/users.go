package apply

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"

	"github.com/pkg/errors"
	"golang.org/x/crypto/ssh"

	"github.com/bhojpur/os/internal/account"
)

// DefaultUser is the one user that gets the password and the SSH keys.
const DefaultUser = "bhojpur"

// passwordStep sets bos.password as the user's shadow entry and keeps root
// locked.
type passwordStep struct {
	User     string
	Password string
}

func (s passwordStep) String() string {
	if s.Password == "" {
		return "root stays locked"
	}
	return "password of " + s.User
}

func (s passwordStep) Apply(ctx context.Context, t *Target) error {
	shadow, err := readFile(t.FS, "etc/shadow")
	if err != nil && !isNotExist(err) {
		return errors.Wrap(err, "read /etc/shadow")
	}
	if err != nil && s.Password == "" {
		return nil // nothing to lock, nothing to set
	}
	next := shadow
	if field, ok := account.ShadowField(next, "root"); ok && !account.Locked(field) {
		lock := "*"
		if field != "" {
			lock = "!" + field
		}
		next = account.SetShadowField(next, "root", lock)
		t.logf("locked root in /etc/shadow")
	}
	if s.Password != "" {
		passwd, _ := readFile(t.FS, "etc/passwd")
		if _, err := account.LookupUser(account.ParsePasswd(passwd), s.User); err != nil {
			return errors.Wrap(err, "/etc/passwd")
		}
		cur, _ := account.ShadowField(next, s.User)
		want := s.Password
		switch {
		case account.IsCryptHash(s.Password):
		case account.MatchesSHA(cur, s.Password):
			want = cur
		default:
			salt, err := t.Salt()
			if err != nil {
				return err
			}
			if want, err = account.HashSHA512(s.Password, salt); err != nil {
				return err
			}
		}
		if want != cur {
			next = account.SetShadowField(next, s.User, want)
			t.logf("set the password of %s in /etc/shadow", s.User)
		}
	}
	if bytes.Equal(next, shadow) {
		return t.closeShadow()
	}
	gid := 0
	if group, err := readFile(t.FS, "etc/group"); err == nil {
		if g, err := account.LookupGroup(account.ParseGroup(group), "shadow"); err == nil {
			gid = g.GID
		}
	}
	// never more open than 0640, whatever the image had
	_, err = t.updateFile("etc/shadow", func([]byte) []byte { return next }, 0o640, 0o640, 0, gid)
	return err
}

// closeShadow takes group write and every "other" bit off etc/shadow.
func (t *Target) closeShadow() error {
	fi, err := t.FS.Stat("etc/shadow")
	if err != nil || fi.Mode()&0o027 == 0 {
		return nil
	}
	uid, gid, ok := ownerOf(fi)
	if !ok {
		uid, gid = 0, 0
	}
	_, err = t.fixAttrs("etc/shadow", fi, fi.Mode()&modeBits&0o640, uid, gid)
	return err
}

// authorizedKeysStep writes ssh_authorized_keys into the user's
// ~/.ssh/authorized_keys as a block between two marker lines that every
// apply rewrites (see RewriteKeys), so a key removed from the config is
// revoked; the user's own lines outside the block are kept. Remote entries
// (github:USER, gitlab:USER, https://...) are fetched only when Fetch is
// set (the runtime phase); until then, or when a fetch fails, the keys last
// fetched for an entry still in the config stay.
type authorizedKeysStep struct {
	User  string
	Keys  []string
	Fetch bool
}

func (s authorizedKeysStep) String() string {
	return fmt.Sprintf("ssh_authorized_keys of %s (%d entries)", s.User, len(s.Keys))
}

func isRemoteKey(k string) bool {
	return strings.HasPrefix(k, "github:") || strings.HasPrefix(k, "gitlab:") ||
		strings.HasPrefix(k, "https://") || strings.HasPrefix(k, "http://")
}

func (s authorizedKeysStep) Apply(ctx context.Context, t *Target) error {
	var errs []string
	srcs := []KeySource{{}} // the literal keys first
	for _, k := range s.Keys {
		k = strings.TrimSpace(k)
		switch {
		case k == "":
		case isRemoteKey(k):
			src := KeySource{Ref: keyRefLabel(k), Keep: true}
			if s.Fetch {
				got, answered, err := t.fetchKeys(ctx, k)
				if err != nil {
					errs = append(errs, err.Error())
				}
				if answered {
					src.Keys, src.Keep = got, false
				}
			}
			srcs = append(srcs, src)
		default:
			if err := checkKey(k); err != nil {
				errs = append(errs, fmt.Sprintf("%.40q: %v", k, err))
				continue
			}
			srcs[0].Keys = append(srcs[0].Keys, k)
		}
	}
	if err := t.writeKeys(s.User, srcs); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// keyRefLabel is how a remote key entry is named in the block: the entry
// itself, without the credentials of a URL (the file is the user's).
func keyRefLabel(ref string) string {
	if u, err := url.Parse(ref); err == nil && u.User != nil {
		u.User = nil
		return u.String()
	}
	return ref
}

// writeKeys rewrites the config's block of the user's authorized_keys.
// Nothing to write and no file yet: no file (and no home directory) is made.
func (t *Target) writeKeys(user string, srcs []KeySource) error {
	passwd, err := readFile(t.FS, "etc/passwd")
	if err != nil {
		return errors.Wrap(err, "read /etc/passwd")
	}
	u, err := account.LookupUser(account.ParsePasswd(passwd), user)
	if err != nil {
		return errors.Wrap(err, "/etc/passwd")
	}
	have := false
	for _, s := range srcs {
		have = have || len(s.Keys) > 0 || s.Ref != ""
	}
	home := fsPath(u.Home)
	sshDir := path.Join(home, ".ssh")
	file := path.Join(sshDir, "authorized_keys")
	if u.UID == 0 {
		if !have {
			return nil
		}
		return errors.Errorf("user %s has uid 0: root never gets an SSH key", user)
	}
	if u.Home == "" || u.Home == "/" {
		if !have {
			return nil
		}
		return errors.Errorf("user %s has no home directory in /etc/passwd", user)
	}
	old, err := readFile(t.FS, file)
	if err != nil && !isNotExist(err) {
		return errors.Wrapf(err, "read %s", show(file))
	}
	next := RewriteKeys(old, srcs)
	if old == nil && len(next) == 0 {
		return nil // no file and nothing to write (a remote entry not fetched yet)
	}
	if !exists(t.FS, home) {
		if err := t.ensureDir(home, 0o755, u.UID, u.GID); err != nil {
			return err
		}
	}
	if err := t.ensureDir(sshDir, 0o700, u.UID, u.GID); err != nil {
		return err
	}
	_, err = t.writeFile(file, next, 0o600, u.UID, u.GID)
	return err
}

// The marker lines of the config's block in authorized_keys.
const (
	KeysBegin = "# BEGIN bos-config ssh_authorized_keys: rewritten at every boot from the config; add your own keys outside this block"
	KeysEnd   = "# END bos-config ssh_authorized_keys"
	keysFrom  = "# from "
)

// KeySource is one group of keys in the block: the config's literal keys
// (Ref "") or those of a remote entry (Ref github:USER ...). Keep says the
// entry was not fetched this time: the keys the block holds for it stay.
type KeySource struct {
	Ref  string
	Keys []string
	Keep bool
}

// RewriteKeys returns authorized_keys contents whose block (between
// KeysBegin and KeysEnd) holds exactly the keys of srcs: a key no longer in
// the config is gone, a remote entry kept (Keep) has the keys the old block
// had for it. Lines outside the block are the user's and stay as they are,
// except when the file has no block yet (written before keys were managed
// as a block): lines there that are keys of the block move into it. A
// BEGIN without an END is dropped, the lines after it are kept. No keys,
// no block.
func RewriteKeys(old []byte, srcs []KeySource) []byte {
	lines := strings.SplitAfter(string(old), "\n")
	if n := len(lines); n > 0 && lines[n-1] == "" {
		lines = lines[:n-1]
	}
	begin, end := -1, -1
	for i, l := range lines {
		switch strings.TrimRight(l, "\r\n") {
		case KeysBegin:
			if begin < 0 {
				begin = i
			}
		case KeysEnd:
			if begin >= 0 && end < 0 {
				end = i
			}
		}
	}
	var before, after, block []string
	switch {
	case begin >= 0 && end > begin:
		before, block, after = lines[:begin], lines[begin+1:end], lines[end+1:]
	case begin >= 0:
		before = append(append(before, lines[:begin]...), lines[begin+1:]...)
	default:
		before = lines
	}
	// What the old block had for each remote entry.
	had := map[string][]string{}
	ref := ""
	for _, l := range block {
		l = strings.TrimSpace(l)
		if r, ok := strings.CutPrefix(l, keysFrom); ok {
			ref = r
			continue
		}
		if ref != "" && l != "" && !strings.HasPrefix(l, "#") {
			had[ref] = append(had[ref], l)
		}
	}
	seen := map[string]bool{}
	var b strings.Builder
	for _, s := range srcs {
		keys := s.Keys
		if s.Keep {
			keys = had[s.Ref]
		}
		header := s.Ref != ""
		for _, k := range keys {
			id, ok := keyID(k)
			if !ok || seen[id] {
				continue
			}
			seen[id] = true
			if header {
				b.WriteString(keysFrom + s.Ref + "\n")
				header = false
			}
			b.WriteString(k + "\n")
		}
	}
	var out bytes.Buffer
	keep := func(ls []string) {
		for _, l := range ls {
			if end < 0 {
				if id, ok := keyID(strings.TrimSpace(l)); ok && seen[id] {
					continue // a key an older apply appended: now in the block
				}
			}
			out.WriteString(l)
			if !strings.HasSuffix(l, "\n") {
				out.WriteByte('\n')
			}
		}
	}
	keep(before)
	if len(seen) > 0 {
		out.WriteString(KeysBegin + "\n" + b.String() + KeysEnd + "\n")
	}
	keep(after)
	return out.Bytes()
}

func keyID(line string) (string, bool) {
	pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return "", false
	}
	return string(pk.Marshal()), true
}

func checkKey(line string) error {
	if strings.ContainsAny(line, "\n\r") {
		return errors.New("more than one line")
	}
	if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line)); err != nil {
		return errors.New("not an SSH public key")
	}
	return nil
}

// keyLines returns the non-empty, non-comment lines.
func keyLines(data []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, line)
	}
	return out
}

var keyUser = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$`)

// keyURL turns a remote key entry into a URL.
func (t *Target) keyURL(ref string) (string, error) {
	for prefix, base := range map[string]string{"github:": t.GitHubURL, "gitlab:": t.GitLabURL} {
		if user, ok := strings.CutPrefix(ref, prefix); ok {
			if !keyUser.MatchString(user) {
				return "", errors.Errorf("%s: %q is not a user name", ref, user)
			}
			return strings.TrimRight(base, "/") + "/" + url.PathEscape(user) + ".keys", nil
		}
	}
	u, err := url.Parse(ref)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return "", errors.Errorf("%s: only https:// key URLs are fetched", ref)
	}
	return ref, nil
}

// maxKeysBody bounds a key service answer.
const maxKeysBody = 1 << 20

// fetchKeys downloads a key list through t.Get and returns the lines that
// are SSH public keys; bad lines are reported. answered says the service
// gave a list (perhaps with no key: the keys there were removed).
func (t *Target) fetchKeys(ctx context.Context, ref string) (keys []string, answered bool, err error) {
	u, err := t.keyURL(ref)
	if err != nil {
		return nil, false, err
	}
	if t.Get == nil {
		return nil, false, errors.Errorf("fetch %s: no network client here", ref)
	}
	body, err := t.Get(ctx, u, maxKeysBody)
	if err != nil {
		return nil, false, errors.Wrapf(err, "fetch %s", ref)
	}
	var bad []string
	for i, line := range keyLines(body) {
		if err := checkKey(line); err != nil {
			bad = append(bad, fmt.Sprint(i+1))
			continue
		}
		keys = append(keys, line)
	}
	if len(keys) > 0 {
		t.logf("fetched %d SSH keys from %s", len(keys), ref)
	}
	if len(bad) > 0 {
		return keys, true, errors.Errorf("%s: line %s not an SSH public key (dropped)", ref, strings.Join(bad, ", "))
	}
	if len(keys) == 0 {
		return nil, true, errors.Errorf("%s: no SSH keys", ref)
	}
	return keys, true, nil
}
