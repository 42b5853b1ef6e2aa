// Package takeover is the second half of a takeover install. bos-install
// copies Bhojpur OS onto the running root file system and writes a keep-list
// there as bos/takeover; at the next boot bos-init finds it on BOS_STATE,
// deletes everything on that partition that is not on the list (Prune),
// removes the marker and powers off when the list says so.
//
// The package imports the standard library and pkg/errors only, so that
// bos-init (and the initrd) can import it without pulling in the
// installer.
package takeover

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/pkg/errors"
)

// MarkerPath is where the keep-list lives, relative to the partition root.
// It is inside "bos", which every keep-list keeps.
const MarkerPath = "bos/takeover"

// KeepList says what survives the takeover.
type KeepList struct {
	// Keep are paths relative to the partition root, kept whole. Their
	// parent directories are kept (but emptied of everything else).
	Keep []string
	// PowerOff asks bos-init to power off once the partition is pruned
	// (to snapshot a cloud image), instead of booting on.
	PowerOff bool
}

// DefaultKeep is what a takeover keeps: Bhojpur OS's files (bos, and the
// /bhojpur spelling), the host's GRUB (its core image loads modules and
// grub.cfg from there) and lost+found.
var DefaultKeep = []string{"bos", "bhojpur", "boot/grub", "boot/grub2", "lost+found"}

// New returns the default keep-list.
func New(powerOff bool) KeepList {
	return KeepList{Keep: append([]string(nil), DefaultKeep...), PowerOff: powerOff}
}

// Marshal is the marker file's content: comment lines, "poweroff true|false"
// and one "keep PATH" line per kept path.
func (k KeepList) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString("# Bhojpur OS takeover: at the next boot bos-init deletes everything on this\n")
	b.WriteString("# partition except the paths below, then removes this file.\n")
	fmt.Fprintf(&b, "poweroff %t\n", k.PowerOff)
	for _, p := range k.Keep {
		fmt.Fprintf(&b, "keep %s\n", p)
	}
	return b.Bytes()
}

// Parse reads a marker file. Every kept path must be relative and clean;
// "bos" is always kept, so the system being taken over to survives a marker
// edited by hand.
func Parse(r io.Reader) (KeepList, error) {
	var k KeepList
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		if err := k.parseLine(strings.TrimSpace(sc.Text())); err != nil {
			return KeepList{}, errors.Wrapf(err, "%s:%d", MarkerPath, line)
		}
	}
	if err := sc.Err(); err != nil {
		return KeepList{}, errors.Wrap(err, "read "+MarkerPath)
	}
	if !slices.Contains(k.Keep, "bos") {
		k.Keep = append(k.Keep, "bos")
	}
	return k, nil
}

// parseLine reads one line of a marker, trimmed: a comment, a blank
// line, "poweroff true|false" or "keep PATH".
func (k *KeepList) parseLine(s string) error {
	if s == "" || strings.HasPrefix(s, "#") {
		return nil
	}
	word, arg, _ := strings.Cut(s, " ")
	arg = strings.TrimSpace(arg)
	switch word {
	case "poweroff":
		switch arg {
		case "true":
			k.PowerOff = true
		case "false":
			k.PowerOff = false
		default:
			return errors.Errorf("poweroff %q: want true or false", arg)
		}
	case "keep":
		p, err := cleanRel(arg)
		if err != nil {
			return err
		}
		k.Keep = append(k.Keep, p)
	default:
		return errors.Errorf("unknown word %q (want keep or poweroff)", word)
	}
	return nil
}

// cleanRel checks that p is a clean relative path inside the root.
func cleanRel(p string) (string, error) {
	c := path.Clean(p)
	if p == "" || path.IsAbs(p) || c == "." || c == ".." || strings.HasPrefix(c, "../") || c != p {
		return "", errors.Errorf("keep %q: want a clean relative path such as bos or boot/grub", p)
	}
	return c, nil
}

// Prune deletes everything under root that is not on keep. A kept path is
// kept whole; the directories leading to it are kept and emptied of
// everything else. Symbolic links are removed, never followed, so nothing
// outside root is touched; a directory on another file system (a mount
// point) is left alone. Prune goes on after an error and returns the first.
func Prune(root string, keep []string) error {
	keepSet := map[string]bool{}
	parents := map[string]bool{}
	for _, k := range keep {
		c, err := cleanRel(k)
		if err != nil {
			return err
		}
		keepSet[c] = true
		for d := path.Dir(c); d != "."; d = path.Dir(d) {
			parents[d] = true
		}
	}
	fi, err := os.Lstat(root)
	if err != nil {
		return errors.Wrap(err, "prune")
	}
	if !fi.IsDir() {
		return errors.Errorf("prune %s: not a directory", root)
	}
	p := &pruner{root: root, keep: keepSet, parents: parents, dev: devOf(fi)}
	p.dir("")
	return p.err
}

type pruner struct {
	root          string
	keep, parents map[string]bool
	dev           uint64
	err           error
}

func (p *pruner) fail(err error) {
	if p.err == nil {
		p.err = err
	}
}

// dir prunes the directory rel (relative to root).
func (p *pruner) dir(rel string) {
	full := filepath.Join(p.root, filepath.FromSlash(rel))
	entries, err := os.ReadDir(full)
	if err != nil {
		p.fail(errors.Wrapf(err, "prune %s", full))
		return
	}
	for _, e := range entries {
		r := path.Join(rel, e.Name())
		if p.keep[r] {
			continue
		}
		f := filepath.Join(full, e.Name())
		fi, err := os.Lstat(f)
		if err != nil {
			p.fail(errors.Wrapf(err, "prune %s", f))
			continue
		}
		if p.parents[r] && fi.IsDir() {
			if devOf(fi) == p.dev {
				p.dir(r)
			}
			continue
		}
		p.remove(f, fi)
	}
}

// remove deletes f (described by fi) and, for a directory on the same file
// system, everything in it. It never follows a symbolic link.
func (p *pruner) remove(f string, fi os.FileInfo) {
	if fi.IsDir() {
		if devOf(fi) != p.dev {
			return // a mount point: not ours to empty
		}
		entries, err := os.ReadDir(f)
		if err != nil {
			p.fail(errors.Wrapf(err, "prune %s", f))
			return
		}
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			names = append(names, e.Name())
		}
		sort.Strings(names)
		for _, n := range names {
			c := filepath.Join(f, n)
			cfi, err := os.Lstat(c)
			if err != nil {
				p.fail(errors.Wrapf(err, "prune %s", c))
				continue
			}
			p.remove(c, cfi)
		}
	}
	if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
		p.fail(errors.Wrapf(err, "prune %s", f))
	}
}

func devOf(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Dev)
	}
	return 0
}

// Pending reports whether root (the mounted BOS_STATE) holds a takeover
// marker.
func Pending(root string) bool {
	_, err := os.Lstat(filepath.Join(root, MarkerPath))
	return err == nil
}

// Finish completes a takeover on root, the mounted BOS_STATE partition: it
// reads the marker, prunes, syncs and removes the marker last, so a power
// cut in between prunes again at the next boot. It returns whether the
// marker asked to power off. With no marker it does nothing.
func Finish(root string, logf func(format string, args ...any)) (powerOff bool, err error) {
	f, err := os.Open(filepath.Join(root, MarkerPath))
	if os.IsNotExist(err) {
		return false, nil
	}
	if err != nil {
		return false, errors.Wrap(err, "takeover marker")
	}
	k, err := Parse(f)
	f.Close()
	if err != nil {
		return false, err
	}
	if logf != nil {
		logf("takeover: deleting everything on %s except %s", root, strings.Join(k.Keep, ", "))
	}
	if err := Prune(root, k.Keep); err != nil {
		return k.PowerOff, err
	}
	syscall.Sync()
	if err := os.Remove(filepath.Join(root, MarkerPath)); err != nil {
		return k.PowerOff, errors.Wrap(err, "remove takeover marker")
	}
	syscall.Sync()
	return k.PowerOff, nil
}
