// Package account reads the user database of a root (etc/passwd, etc/group)
// and rewrites etc/shadow entries. Everything here is pure: functions take
// file contents and return new contents, so the callers decide how files are
// read and written.
package account

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"

	"github.com/pkg/errors"
)

// User is one etc/passwd entry.
type User struct {
	Name  string
	UID   int
	GID   int
	Home  string
	Shell string
}

// Group is one etc/group entry.
type Group struct {
	Name string
	GID  int
}

// ErrNotFound is returned when a user or group is not in the database.
var ErrNotFound = errors.New("not found")

// ParsePasswd parses etc/passwd. Malformed lines are skipped, as libc does.
func ParsePasswd(data []byte) []User {
	var users []User
	for _, f := range records(data, 7) {
		uid, err1 := strconv.Atoi(f[2])
		gid, err2 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil {
			continue
		}
		users = append(users, User{Name: f[0], UID: uid, GID: gid, Home: f[5], Shell: f[6]})
	}
	return users
}

// ParseGroup parses etc/group. Malformed lines are skipped.
func ParseGroup(data []byte) []Group {
	var groups []Group
	for _, f := range records(data, 4) {
		gid, err := strconv.Atoi(f[2])
		if err != nil {
			continue
		}
		groups = append(groups, Group{Name: f[0], GID: gid})
	}
	return groups
}

// records splits a colon-separated database into lines of at least n fields,
// skipping comments, blank lines and NIS "+"/"-" entries.
func records(data []byte, n int) [][]string {
	var out [][]string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || line[0] == '+' || line[0] == '-' {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) < n || f[0] == "" {
			continue
		}
		out = append(out, f)
	}
	return out
}

// LookupUser finds a user by name.
func LookupUser(users []User, name string) (User, error) {
	for _, u := range users {
		if u.Name == name {
			return u, nil
		}
	}
	return User{}, errors.Wrapf(ErrNotFound, "user %s", name)
}

// LookupGroup finds a group by name.
func LookupGroup(groups []Group, name string) (Group, error) {
	for _, g := range groups {
		if g.Name == name {
			return g, nil
		}
	}
	return Group{}, errors.Wrapf(ErrNotFound, "group %s", name)
}

// ResolveOwner turns a write_files owner ("user", "user:group", names or
// numbers, empty for root:root) into numeric ids. A user without a group gets
// the user's primary group.
func ResolveOwner(owner string, users []User, groups []Group) (uid, gid int, err error) {
	if owner == "" {
		return 0, 0, nil
	}
	userPart, groupPart, hasGroup := strings.Cut(owner, ":")
	if userPart == "" {
		return 0, 0, errors.Errorf("owner %q: empty user", owner)
	}
	primary := -1
	if n, err := strconv.Atoi(userPart); err == nil && n >= 0 {
		uid = n
		for _, u := range users {
			if u.UID == n {
				primary = u.GID
				break
			}
		}
	} else {
		u, err := LookupUser(users, userPart)
		if err != nil {
			return 0, 0, errors.Wrapf(err, "owner %q", owner)
		}
		uid, primary = u.UID, u.GID
	}
	switch {
	case hasGroup && groupPart != "":
		if n, err := strconv.Atoi(groupPart); err == nil && n >= 0 {
			return uid, n, nil
		}
		g, err := LookupGroup(groups, groupPart)
		if err != nil {
			return 0, 0, errors.Wrapf(err, "owner %q", owner)
		}
		return uid, g.GID, nil
	case primary >= 0:
		return uid, primary, nil
	default:
		return uid, uid, nil
	}
}

// Locked tells whether a shadow password field allows no password login:
// "*", "!" and anything starting with "!" are locked. An empty field is NOT
// locked: it means "no password needed".
func Locked(field string) bool {
	return field == "*" || strings.HasPrefix(field, "!")
}

// ShadowField returns the password field of user in etc/shadow contents.
func ShadowField(shadow []byte, user string) (string, bool) {
	for _, line := range strings.Split(string(shadow), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) >= 2 && f[0] == user {
			return f[1], true
		}
	}
	return "", false
}

// SetShadowField returns shadow with user's password field replaced by field,
// keeping every other field and line byte for byte. A user without an entry
// gets one appended (no aging, as useradd writes it).
func SetShadowField(shadow []byte, user, field string) []byte {
	lines := strings.Split(string(shadow), "\n")
	found := false
	for i, line := range lines {
		f := strings.SplitN(line, ":", 3)
		if len(f) >= 2 && f[0] == user {
			f[1] = field
			lines[i] = strings.Join(f, ":")
			found = true
		}
	}
	out := strings.Join(lines, "\n")
	if !found {
		if out != "" && !strings.HasSuffix(out, "\n") {
			out += "\n"
		}
		out += user + ":" + field + ":::::::\n"
	}
	return []byte(out)
}
