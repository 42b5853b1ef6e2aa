package boot

import (
	"strings"

	"github.com/bhojpur/os/internal/config"
)

// Params are the kernel cmdline words bos-init itself acts on. The whole
// config (hostname, keys, ...) is the config engine's business; bos-init only
// needs to know how to boot.
type Params struct {
	Mode         string    // bos.mode
	FallbackMode string    // bos.fallback_mode
	Debug        bool      // bos.debug
	ISOURL       string    // bos.install.iso_url: the ISO to download when there are no media
	Consoles     []Console // console=, in cmdline order; the last one is /dev/console
}

// Console is one console= word: a device (ttyS0, tty0, hvc0) and its speed.
type Console struct {
	Name string
	Baud string
}

// parseCmdline reads what bos-init needs from a kernel cmdline: the bos.*
// words through the config engine (whose warnings, such as an unknown key,
// it returns for the console), console= itself.
func parseCmdline(s string) (Params, []string) {
	var p Params
	var warnings []string
	if l, err := config.ParseCmdline("/proc/cmdline", strings.NewReader(s)); err != nil {
		warnings = append(warnings, err.Error())
	} else {
		for _, w := range append(l.Warnings, l.Problems...) {
			warnings = append(warnings, w.String())
		}
		p.Mode, p.FallbackMode, p.Debug = l.Config.Bos.Mode, l.Config.Bos.FallbackMode, l.Config.Bos.Debug
		p.ISOURL = l.Config.Bos.Install.ISOURL
	}
	for _, w := range config.CmdlineWords(s) {
		value, ok := strings.CutPrefix(w, "console=")
		if !ok {
			continue
		}
		name, opts, _ := strings.Cut(value, ",")
		baud := opts // 115200n8: the speed is the leading digits
		if i := strings.IndexFunc(opts, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
			baud = opts[:i]
		}
		if name != "" {
			p.Consoles = append(p.Consoles, Console{Name: name, Baud: baud})
		}
	}
	return p, warnings
}
