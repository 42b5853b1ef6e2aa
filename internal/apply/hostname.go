package apply

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"

	"github.com/pkg/errors"
)

// hostnameFile keeps a generated hostname across reboots.
const hostnameFile = "var/lib/bhojpur/os/hostname"

// hostnameStep sets the hostname: etc/hostname, the 127.0.1.1 line of
// etc/hosts and the running kernel's name.
type hostnameStep struct{ Name string }

func (s hostnameStep) String() string {
	if s.Name == "" {
		return "hostname (generated)"
	}
	return "hostname " + s.Name
}

var validHostname = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)

func (s hostnameStep) Apply(ctx context.Context, t *Target) error {
	name := s.Name
	if name == "" {
		var err error
		if name, err = t.defaultHostname(); err != nil {
			return err
		}
	}
	if len(name) > 64 || !validHostname.MatchString(name) {
		return errors.Errorf("%q is not a valid hostname", name)
	}
	var errs []string
	if _, err := t.writeFile("etc/hostname", []byte(name+"\n"), 0o644, 0, 0); err != nil {
		errs = append(errs, err.Error())
	}
	if _, err := t.updateFile("etc/hosts", func(b []byte) []byte { return SetHostsName(b, name) }, 0o644, keepMode, 0, 0); err != nil {
		errs = append(errs, err.Error())
	}
	if !t.Live {
		t.skipped("sethostname %s", name)
	} else if cur, err := t.Host.Hostname(); err != nil || cur != name {
		if err := t.Host.Sethostname(name); err != nil {
			errs = append(errs, errors.Wrapf(err, "sethostname %s", name).Error())
		} else {
			t.logf("set hostname to %s", name)
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// defaultHostname is the name used when the config has none (the config
// loader already turns a cloud's run/config/local_hostname into hostname):
// a name generated once and kept under /var/lib/bhojpur/os.
func (t *Target) defaultHostname() (string, error) {
	if data, err := readFile(t.FS, hostnameFile); err == nil {
		if n := strings.TrimSpace(string(data)); validHostname.MatchString(n) {
			return n, nil
		}
	}
	name := GeneratedHostname(t.machineID())
	if _, err := t.writeFile(hostnameFile, []byte(name+"\n"), 0o644, 0, 0); err != nil {
		return "", err
	}
	return name, nil
}

func (t *Target) machineID() string {
	for _, p := range []string{"etc/machine-id", "var/lib/dbus/machine-id"} {
		if data, err := readFile(t.FS, p); err == nil {
			if id := strings.TrimSpace(string(data)); id != "" {
				return id
			}
		}
	}
	return ""
}

// GeneratedHostname is "bos-" and 8 hex digits derived from the machine id,
// or random ones when there is no machine id. A name needs to be unique,
// not secret: the digits come from math/rand, which never waits, where
// crypto/rand in the initrd waits for the kernel's entropy pool.
func GeneratedHostname(machineID string) string {
	if machineID == "" {
		return fmt.Sprintf("bos-%08x", rand.Uint32())
	}
	sum := sha256.Sum256([]byte("bhojpur-os-hostname:" + machineID))
	return "bos-" + hex.EncodeToString(sum[:4])
}

// SetHostsName returns etc/hosts with the 127.0.1.1 line naming name (and
// its short form), every other line kept. A missing file gets the loopback
// lines too.
func SetHostsName(hosts []byte, name string) []byte {
	entry := "127.0.1.1\t" + name
	if short, _, ok := strings.Cut(name, "."); ok {
		entry += " " + short
	}
	if len(hosts) == 0 {
		return []byte("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" + entry + "\n")
	}
	text := string(hosts)
	trailing := strings.HasSuffix(text, "\n")
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	out := lines[:0]
	done := false
	for _, line := range lines {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "127.0.1.1" {
			if done {
				continue
			}
			line, done = entry, true
		}
		out = append(out, line)
	}
	if !done {
		out = append(out, entry)
		trailing = true
	}
	res := strings.Join(out, "\n")
	if trailing {
		res += "\n"
	}
	return []byte(res)
}
