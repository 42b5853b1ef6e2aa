package boot

import (
	"strings"
)

// Params are the kernel cmdline words bos-init itself acts on. The whole
// config (hostname, keys, ...) is the config engine's business; bos-init only
// needs to know how to boot.
type Params struct {
	Mode         string    // bos.mode
	FallbackMode string    // bos.fallback_mode
	Debug        bool      // bos.debug
	Consoles     []Console // console=, in cmdline order; the last one is /dev/console
}

// Console is one console= word: a device (ttyS0, tty0, hvc0) and its speed.
type Console struct {
	Name string
	Baud string
}

// parseCmdline reads the words bos-init needs from a kernel cmdline. It is
// the one place to switch over to config.ParseCmdline once that exists:
// only Mode, FallbackMode and Debug come from the config; console= is the
// kernel's own word.
func parseCmdline(s string) Params {
	var p Params
	for _, w := range splitCmdline(s) {
		key, value, hasValue := strings.Cut(w, "=")
		switch key {
		case "bos.mode":
			p.Mode = value
		case "bos.fallback_mode":
			p.FallbackMode = value
		case "bos.debug":
			p.Debug = !hasValue || isTrue(value)
		case "console":
			name, opts, _ := strings.Cut(value, ",")
			baud := opts // 115200n8: the speed is the leading digits
			if i := strings.IndexFunc(opts, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
				baud = opts[:i]
			}
			if name != "" {
				p.Consoles = append(p.Consoles, Console{Name: name, Baud: baud})
			}
		}
	}
	return p
}

func isTrue(v string) bool {
	switch strings.ToLower(v) {
	case "", "1", "true", "yes", "on":
		return true
	}
	return false
}

// splitCmdline splits a cmdline into words the way the kernel does: spaces
// separate words, double quotes group spaces and are removed.
func splitCmdline(s string) []string {
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
			inWord = true
		case !quoted && (r == ' ' || r == '\t' || r == '\n'):
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}
