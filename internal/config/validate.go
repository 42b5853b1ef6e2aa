package config

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Value rules. The patterns are shared with the JSON Schema (schema_json.go),
// so they stay in the subset that Go's RE2 and ECMA-262 read alike.
const (
	patHostname    = `^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`
	patPermissions = `^(0o?)?[0-7]{3,4}$`
	patOwner       = `^([a-z_][a-z0-9_.-]*[$]?|[0-9]+)(:([a-z_][a-z0-9_.-]*[$]?|[0-9]+))?$`
	patAbsPath     = `^/`
	patLabelKey    = `^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`
	patLabelValue  = `^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$`
	patTaint       = `^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?(=(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?)?:(NoSchedule|PreferNoSchedule|NoExecute)$`
	patModule      = `^[A-Za-z0-9_-]+( +[A-Za-z0-9_.-]+(=[!-~]*)?)*$`
	patSysctl      = `^[A-Za-z0-9_-]+([./][A-Za-z0-9_-]+)*$`
	patEnvName     = `^[A-Za-z_][A-Za-z0-9_]*$`
	patDevice      = `^/dev/[^ ]+$`
	patTTY         = `^[A-Za-z][A-Za-z0-9]*(,[0-9]+[A-Za-z0-9]*)?$`
	patSSHRef      = `^(github|gitlab):[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$`
	patURL         = `^https?://[^\s/]+`
	patLocation    = `^(https?://[^\s/]+|file:///|/)`
	patSSHKey      = `^((ssh|ecdsa|sk)-[A-Za-z0-9@.-]+ [A-Za-z0-9+/]+=*( .*)?|(github|gitlab):[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?|https://[^\s/]+.*)$`
	patPassphrase  = `^(.{8,63}|[0-9A-Fa-f]{64})?$`
)

// Enumerations shared with the JSON Schema.
var (
	Encodings   = []string{"", "b64", "base64", "gz", "gzip", "gz+b64", "gz+base64", "gzip+b64", "gzip+base64"}
	DataSources = []string{"aws", "cdrom", "digitalocean", "gcp", "hetzner", "openstack", "packet", "scaleway", "vultr"}
	Modes       = []string{"live", "install", "disk", "local", "shell"}
	DCPCommands = []string{"server", "agent"}
)

var re = map[string]*regexp.Regexp{}

func rx(p string) *regexp.Regexp {
	if r, ok := re[p]; ok {
		return r
	}
	r := regexp.MustCompile(p)
	re[p] = r
	return r
}

func init() {
	for _, p := range []string{patHostname, patPermissions, patOwner, patAbsPath, patLabelKey, patLabelValue, patTaint,
		patModule, patSysctl, patEnvName, patDevice, patTTY, patSSHRef, patURL, patLocation, patSSHKey, patPassphrase} {
		rx(p)
	}
}

// unsafeInLine are the bytes a value written as one line of a settings
// file cannot hold.
const unsafeInLine = "\x00\n\r"

type problem struct {
	path, msg string
	key       bool // the problem is the key, not the value
}

type checker struct{ probs []problem }

func (c *checker) add(path, format string, args ...any) {
	c.probs = append(c.probs, problem{path: path, msg: fmt.Sprintf(format, args...)})
}

// addKey adds a problem with the key at path, not with its value.
func (c *checker) addKey(path, format string, args ...any) {
	c.probs = append(c.probs, problem{path: path, key: true, msg: fmt.Sprintf(format, args...)})
}

func (c *checker) match(path, pattern, value, what string) bool {
	if !rx(pattern).MatchString(value) {
		c.add(path, "%s is not %s", shown(path, value), what)
		return false
	}
	return true
}

// shown is how a message quotes a value: clipped, and never a secret (see
// secret) nor a URL's credentials.
func shown(path, value string) string {
	if secret(path) {
		return "the value"
	}
	if strings.Contains(value, "@") && strings.Contains(value, "://") {
		if u, err := url.Parse(value); err != nil || u.User != nil {
			return "the URL (its credentials not shown)"
		}
	}
	return fmt.Sprintf("%q", clip(value))
}

func (c *checker) oneOf(path, value string, allowed []string) bool {
	for _, a := range allowed {
		if value == a {
			return true
		}
	}
	shown := make([]string, len(allowed))
	for i, a := range allowed {
		shown[i] = fmt.Sprintf("%q", a)
	}
	msg := fmt.Sprintf("%q is not one of %s", clip(value), strings.Join(shown, ", "))
	if s := suggest(value, allowed); s != "" && s != value {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	c.add(path, "%s", msg)
	return false
}

// validate checks values; it returns problems by key path.
func validate(cfg *Config) []problem {
	c := &checker{}
	for i, k := range cfg.SSHAuthorizedKeys {
		checkSSHKey(c, fmt.Sprintf("ssh_authorized_keys[%d]", i), k)
	}
	c.writeFiles(cfg.WriteFiles)
	if cfg.Hostname != "" {
		c.hostname(cfg.Hostname)
	}
	c.bos(&cfg.Bos)
	return c.probs
}

// writeFiles checks the write_files entries; their contents together may
// decode to at most MaxWriteFiles bytes.
func (c *checker) writeFiles(files []File) {
	var content decoder
	budget := int64(MaxWriteFiles) // what the entries may still decode to
	for i, f := range files {
		p := fmt.Sprintf("write_files[%d]", i)
		c.filePath(p, f.Path)
		if f.Permissions != "" {
			c.match(p+".permissions", patPermissions, f.Permissions, "an octal mode such as '0644' (quote it)")
		}
		if f.Owner != "" {
			c.match(p+".owner", patOwner, f.Owner, "an owner as user or user:group")
		}
		if c.oneOf(p+".encoding", f.Encoding, Encodings) {
			budget = c.fileContent(p, f, &content, budget)
		}
	}
}

// filePath checks the path of the write_files entry p: required, absolute
// and clean, with no .. and no NUL.
func (c *checker) filePath(p, name string) {
	if name == "" {
		c.add(p, "path is required")
		return
	}
	if !c.match(p+".path", patAbsPath, name, "an absolute path (start it with /)") {
		return
	}
	clean := path.Clean(name)
	switch {
	case slices.Contains(strings.Split(name, "/"), ".."):
		c.add(p+".path", "%q must not contain ..", clip(name))
	case strings.ContainsRune(name, 0):
		c.add(p+".path", "holds a NUL byte")
	case clean == "/":
		c.add(p+".path", "%q names no file", clip(name))
	case clean != name:
		c.add(p+".path", "%q is not a clean path: write %q", clip(name), clip(clean))
	}
}

// fileContent checks that the content of the write_files entry p decodes
// as its encoding says to at most budget bytes, and returns the budget
// left. The content is decoded as a stream and counted, never held: at
// most budget plus one byte is read.
func (c *checker) fileContent(p string, f File, d *decoder, budget int64) int64 {
	switch n, err := d.size(f, budget); {
	case err != nil:
		c.add(p+".content", "not valid for encoding %q: %v", f.Encoding, err)
	case n > budget:
		c.add(p+".content", "decodes to more than the %d MiB that all write_files together may hold", MaxWriteFiles>>20)
	default:
		return budget - n
	}
	return budget
}

func (c *checker) hostname(h string) {
	if len(h) > 64 {
		c.add("hostname", "%q is longer than 64 characters", clip(h))
		return
	}
	c.match("hostname", patHostname, h, "a valid hostname (letters, digits, hyphens, dots)")
}

// bos checks the keys under bos:.
func (c *checker) bos(b *Bos) {
	for i, d := range b.DataSources {
		c.oneOf(fmt.Sprintf("bos.data_sources[%d]", i), d, DataSources)
	}
	for i, m := range b.Modules {
		c.match(fmt.Sprintf("bos.modules[%d]", i), patModule, m, "a module as 'name [param=value ...]'")
	}
	for k := range b.Sysctls {
		if !rx(patSysctl).MatchString(k) {
			c.addKey("bos.sysctls["+k+"]", "%q is not a sysctl name such as kernel.printk", clip(k))
		}
	}
	c.network(b)
	if b.ServerURL != "" {
		checkURL(c, "bos.server_url", b.ServerURL, false)
	}
	c.labels(b.Labels)
	c.dcp(b)
	for i, t := range b.Taints {
		c.match(fmt.Sprintf("bos.taints[%d]", i), patTaint, t, "a taint as key=value:Effect (NoSchedule, PreferNoSchedule or NoExecute)")
	}
	c.install(&b.Install)
	if b.Mode != "" {
		c.oneOf("bos.mode", b.Mode, Modes)
	}
	if b.FallbackMode != "" {
		c.oneOf("bos.fallback_mode", b.FallbackMode, []string{"install"})
	}
}

// network checks the NTP and DNS servers and the wifi networks.
func (c *checker) network(b *Bos) {
	for i, s := range b.NTPServers {
		if net.ParseIP(s) == nil && !rx(patHostname).MatchString(s) {
			c.add(fmt.Sprintf("bos.ntp_servers[%d]", i), "%q is not a host name or IP address", clip(s))
		}
	}
	for i, s := range b.DNSNameservers {
		if net.ParseIP(s) == nil {
			c.add(fmt.Sprintf("bos.dns_nameservers[%d]", i), "%q is not an IP address", clip(s))
		}
	}
	for i, w := range b.Wifi {
		p := fmt.Sprintf("bos.wifi[%d]", i)
		if w.Name == "" {
			c.add(p, "name is required")
		}
		c.match(p+".passphrase", patPassphrase, w.Passphrase, "a WPA passphrase (8 to 63 characters, or 64 hex digits)")
	}
}

// labels checks Kubernetes label keys and values.
func (c *checker) labels(labels map[string]string) {
	for k, v := range labels {
		p := "bos.labels[" + k + "]"
		if !rx(patLabelKey).MatchString(k) || len(k) > 253+1+63 {
			c.addKey(p, "%q is not a Kubernetes label key ([prefix/]name, name up to 63 characters)", clip(k))
		}
		c.match(p, patLabelValue, v, "a Kubernetes label value (up to 63 letters, digits, -, _, .)")
	}
}

// dcp checks what DCP is started with: its argv, token and environment.
// DCP gets its argv and environment from a file of lines (dcp-exec), and
// /etc/environment is one too: a line break or NUL cannot be carried.
func (c *checker) dcp(b *Bos) {
	if len(b.DCPArgs) > 0 && b.DCPArgs[0] != "server" && b.DCPArgs[0] != "agent" {
		c.add("bos.dcp_args[0]", "dcp_args must start with server or agent")
	}
	for i, a := range b.DCPArgs {
		if strings.ContainsAny(a, unsafeInLine) {
			c.add(fmt.Sprintf("bos.dcp_args[%d]", i), "holds a line break or NUL: DCP's arguments are passed one a line")
		}
	}
	if strings.ContainsAny(b.Token, unsafeInLine) {
		c.add("bos.token", "holds a line break or NUL: DCP's environment is passed one variable a line")
	}
	for k, v := range b.Environment {
		if !rx(patEnvName).MatchString(k) {
			c.addKey("bos.environment["+k+"]", "%q is not an environment variable name", clip(k))
		} else if strings.ContainsAny(v, unsafeInLine) {
			c.add("bos.environment["+k+"]", "the value holds a line break or NUL: /etc/environment and DCP's environment hold one variable a line")
		}
	}
}

// install checks the bos.install keys.
func (c *checker) install(in *Install) {
	if in.Device != "" {
		c.match("bos.install.device", patDevice, in.Device, "an absolute device path such as /dev/vda")
	}
	if in.ConfigURL != "" {
		checkURL(c, "bos.install.config_url", in.ConfigURL, true)
	}
	if in.ISOURL != "" {
		checkURL(c, "bos.install.iso_url", in.ISOURL, true)
	}
	if in.TTY != "" && in.TTY != "auto" {
		c.match("bos.install.tty", patTTY, in.TTY, "a console TTY such as ttyS0 or ttyS0,115200")
	}
}

func checkURL(c *checker, path, s string, pathOK bool) {
	if pathOK && strings.HasPrefix(s, "/") {
		return
	}
	u, err := url.Parse(s)
	ok := err == nil && u.Host != "" && (u.Scheme == "http" || u.Scheme == "https") && rx(patURL).MatchString(s)
	if pathOK && err == nil && u.Scheme == "file" && strings.HasPrefix(u.Path, "/") && rx(patLocation).MatchString(s) {
		ok = true
	}
	if !ok {
		what := "an http:// or https:// URL"
		if pathOK {
			what += " or an absolute path"
		}
		c.add(path, "%s is not %s", shown(path, s), what)
	}
}

// maxKeyUser bounds the USER of github:USER (apply fetches USER.keys).
const maxKeyUser = 255

// checkSSHKey accepts a public key that parses, or a github:, gitlab: or
// https:// reference fetched at runtime.
func checkSSHKey(c *checker, path, k string) {
	switch {
	case strings.HasPrefix(k, "github:") || strings.HasPrefix(k, "gitlab:"):
		if c.match(path, patSSHRef, k, "a github:USER or gitlab:USER reference") && len(k) > len("github:")+maxKeyUser {
			c.add(path, "the user name is longer than %d characters", maxKeyUser)
		}
	case strings.HasPrefix(k, "https://"):
		checkURL(c, path, k, false)
	default:
		if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k)); err != nil {
			c.add(path, "not an SSH public key (%v): give 'TYPE BASE64 [comment]', github:USER, gitlab:USER or an https:// URL", err)
		} else if !rx(patSSHKey).MatchString(k) {
			c.add(path, "SSH key options are not supported: give 'TYPE BASE64 [comment]'")
		}
	}
}
