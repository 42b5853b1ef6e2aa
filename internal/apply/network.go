package apply

import (
	"context"
	"fmt"
	"strings"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/config"
)

// Connman files.
const (
	connmanMainConf = "etc/connman/main.conf"
	wifiConfig      = "var/lib/connman/bos-wifi.config"
)

// connmanStep sets the fallback DNS and NTP servers in connman's main.conf.
type connmanStep struct{ DNS, NTP []string }

func (s connmanStep) String() string { return "connman fallback DNS and NTP servers" }

func (s connmanStep) Apply(ctx context.Context, t *Target) error {
	set := map[string]string{}
	if len(s.DNS) > 0 {
		set["FallbackNameservers"] = strings.Join(s.DNS, ",")
	}
	if len(s.NTP) > 0 {
		set["FallbackTimeservers"] = strings.Join(s.NTP, ",")
	}
	for k, v := range set {
		if strings.ContainsAny(v, "\n\r") {
			return errors.Errorf("%s: a value holds a line break", k)
		}
	}
	_, err := t.updateFile(connmanMainConf, func(b []byte) []byte { return SetKeyfileValues(b, "General", set) }, 0o644, keepMode, 0, 0)
	return err
}

// SetKeyfileValues returns a key file (connman's main.conf format) with the
// given keys of one section set, every other line kept. Keys already there
// are replaced in place; new ones go at the end of the section, which is
// created if missing.
func SetKeyfileValues(data []byte, section string, values map[string]string) []byte {
	if len(values) == 0 {
		return data
	}
	text := strings.TrimSuffix(string(data), "\n")
	var lines []string
	if text != "" {
		lines = strings.Split(text, "\n")
	}
	header := "[" + section + "]"
	done := map[string]bool{}
	in, found, end := false, false, -1
	for i, line := range lines {
		trim := strings.TrimSpace(line)
		if strings.HasPrefix(trim, "[") {
			if in {
				end = i
			}
			in = trim == header
			if in {
				found = true
			}
			continue
		}
		if !in || trim == "" || strings.HasPrefix(trim, "#") {
			continue
		}
		key, _, ok := strings.Cut(trim, "=")
		key = strings.TrimSpace(key)
		if v, want := values[key]; ok && want {
			if done[key] {
				lines[i] = "\x00" // drop duplicates of a key we set
				continue
			}
			lines[i] = key + "=" + v
			done[key] = true
		}
	}
	var add []string
	for _, k := range sortedKeys(values) {
		if !done[k] {
			add = append(add, k+"="+values[k])
		}
	}
	switch {
	case !found:
		if len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) != "" {
			lines = append(lines, "")
		}
		lines = append(lines, header)
		lines = append(lines, add...)
	case len(add) > 0:
		if end < 0 {
			end = len(lines)
		}
		// insert before the blank lines that end the section
		for end > 0 && strings.TrimSpace(lines[end-1]) == "" {
			end--
		}
		lines = append(lines[:end], append(add, lines[end:]...)...)
	}
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		if l != "\x00" {
			out = append(out, l)
		}
	}
	return []byte(strings.Join(out, "\n") + "\n")
}

// wifiStep writes connman's provisioning file for bos.wifi (0600: it holds
// passphrases). With no networks configured, a file left from an earlier
// config is removed (/var persists).
type wifiStep struct{ Networks []config.Wifi }

func (s wifiStep) String() string { return fmt.Sprintf("wifi (%d networks)", len(s.Networks)) }

func (s wifiStep) Apply(ctx context.Context, t *Target) error {
	if len(s.Networks) == 0 {
		if !exists(t.FS, wifiConfig) {
			return nil
		}
		if err := t.FS.Remove(wifiConfig); err != nil {
			return errors.Wrapf(err, "remove %s", show(wifiConfig))
		}
		t.Writes++
		t.logf("removed %s", show(wifiConfig))
		return nil
	}
	data, err := WifiConfig(s.Networks)
	if err != nil {
		return err
	}
	_, err = t.writeFile(wifiConfig, data, 0o600, 0, 0)
	return err
}

// WifiConfig renders a connman provisioning file with one [service_...]
// section per network.
func WifiConfig(networks []config.Wifi) ([]byte, error) {
	var b strings.Builder
	b.WriteString("# Written by bos-config apply from bos.wifi; edits are lost.\n")
	for i, n := range networks {
		if n.Name == "" {
			return nil, errors.Errorf("wifi %d: no name", i+1)
		}
		fmt.Fprintf(&b, "\n[service_bos_wifi_%d]\nType = wifi\nName = %s\n", i, keyfileEscape(n.Name))
		if n.Passphrase != "" {
			fmt.Fprintf(&b, "Security = psk\nPassphrase = %s\n", keyfileEscape(n.Passphrase))
		} else {
			b.WriteString("Security = none\n")
		}
	}
	return []byte(b.String()), nil
}

// keyfileEscape escapes a value for a GLib key file (the format connman
// reads): backslash, line breaks, tabs and a leading space.
func keyfileEscape(v string) string {
	var b strings.Builder
	for i, r := range v {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == ' ' && i == 0:
			b.WriteString(`\s`)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// environmentStep writes bos.environment to etc/environment, mode 0600
// root:root whatever the image had: the values are often proxy URLs with
// credentials. Its readers run as root: pam_env in the login, sshd and sudo
// sessions (it sets the variables before the session drops to the user, so
// bhojpur's shells still get them), and bos-config. DCP and the config's
// commands get the variables from bos-config, not from the file.
type environmentStep struct{ Env map[string]string }

func (s environmentStep) String() string { return "environment (/etc/environment)" }

// checkEnv guards the line formats that carry variables (NAME=VALUE a
// line). The loader refuses invalid names and values (config.validate),
// so this fails only for a config that did not come through it.
func checkEnv(env map[string]string) error {
	for _, k := range sortedKeys(env) {
		if k == "" || strings.ContainsAny(k, "=\x00\n\r") {
			return errors.Errorf("environment: %q is not a variable name", k)
		}
		if strings.ContainsAny(env[k], "\x00\n\r") {
			return errors.Errorf("environment: the value of %s holds a line break or NUL", k)
		}
	}
	return nil
}

func (s environmentStep) Apply(ctx context.Context, t *Target) error {
	if err := checkEnv(s.Env); err != nil {
		return err
	}
	const name = "etc/environment"
	if _, err := t.updateFile(name, func(b []byte) []byte { return SetEnvironment(b, s.Env) }, EnvironmentMode, EnvironmentMode, 0, 0); err != nil {
		return err
	}
	fi, err := t.FS.Lstat(name)
	if err != nil || !fi.Mode().IsRegular() {
		return nil // nothing was written (no variables, no file)
	}
	_, err = t.fixAttrs(name, fi, EnvironmentMode, 0, 0)
	return err
}

// EnvironmentMode is the mode of /etc/environment.
const EnvironmentMode = 0o600

// ShellQuote quotes a value for a POSIX shell: single quotes, with each
// single quote written as '\”.
func ShellQuote(v string) string {
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}

// SetEnvironment returns etc/environment with NAME='value' lines for env
// (replacing lines that set the same names, keeping the others).
func SetEnvironment(data []byte, env map[string]string) []byte {
	text := strings.TrimSuffix(string(data), "\n")
	var lines []string
	if text != "" {
		lines = strings.Split(text, "\n")
	}
	done := map[string]bool{}
	out := lines[:0]
	for _, line := range lines {
		trim := strings.TrimPrefix(strings.TrimSpace(line), "export ")
		name, _, ok := strings.Cut(trim, "=")
		name = strings.TrimSpace(name)
		if v, ours := env[name]; ok && ours {
			if done[name] {
				continue
			}
			line, done[name] = name+"="+ShellQuote(v), true
		}
		out = append(out, line)
	}
	for _, k := range sortedKeys(env) {
		if !done[k] {
			out = append(out, k+"="+ShellQuote(env[k]))
		}
	}
	return []byte(strings.Join(out, "\n") + "\n")
}
