package faultfs

import (
	"fmt"
	"path"
	"sort"
	"strings"
)

// audit checks the order "write, sync, switch": when a link named current
// or previous is switched (a rename onto it), every file of the version it
// will name must have been fsynced since its last write, every directory
// of that version fsynced since its last change, and the component
// directory fsynced since anything but the new link changed in it. It
// models a file system that may lose whatever was not synced.
type audit struct {
	dirtyFiles map[string]bool
	dirtyDirs  map[string]map[string]bool // dir: names changed since its last fsync
	violations []string
}

func clean(name string) string { return path.Clean("/" + name) }

func (a *audit) init() {
	if a.dirtyFiles == nil {
		a.dirtyFiles = map[string]bool{}
		a.dirtyDirs = map[string]map[string]bool{}
	}
}

func (a *audit) changed(name string) {
	a.init()
	name = clean(name)
	dir, base := path.Split(name)
	dir = clean(dir)
	if a.dirtyDirs[dir] == nil {
		a.dirtyDirs[dir] = map[string]bool{}
	}
	a.dirtyDirs[dir][base] = true
}

func (a *audit) written(name string) { a.init(); a.dirtyFiles[clean(name)] = true }
func (a *audit) synced(name string)  { a.init(); delete(a.dirtyFiles, clean(name)) }
func (a *audit) syncedDir(dir string) {
	a.init()
	delete(a.dirtyDirs, clean(dir))
}

func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

// moved carries the state of what was under from to under to.
func (a *audit) moved(from, to string) {
	a.init()
	from, to = clean(from), clean(to)
	for f := range a.dirtyFiles {
		if under(f, from) {
			delete(a.dirtyFiles, f)
			a.dirtyFiles[to+strings.TrimPrefix(f, from)] = true
		}
	}
	for d, names := range a.dirtyDirs {
		if under(d, from) {
			delete(a.dirtyDirs, d)
			a.dirtyDirs[to+strings.TrimPrefix(d, from)] = names
		}
	}
}

func (a *audit) removed(name string) {
	a.init()
	name = clean(name)
	for f := range a.dirtyFiles {
		if under(f, name) {
			delete(a.dirtyFiles, f)
		}
	}
	for d := range a.dirtyDirs {
		if under(d, name) {
			delete(a.dirtyDirs, d)
		}
	}
}

// switching checks a rename of the link tmp (naming target) onto link.
func (a *audit) switching(tmp, link, target string) {
	a.init()
	tmp, link = clean(tmp), clean(link)
	comp := path.Dir(link)
	version := clean(path.Join(comp, target))
	var bad []string
	for f := range a.dirtyFiles {
		if under(f, version) {
			bad = append(bad, "file "+f+" not fsynced")
		}
	}
	for d := range a.dirtyDirs {
		if under(d, version) {
			bad = append(bad, "directory "+d+" not fsynced")
		}
	}
	for n := range a.dirtyDirs[comp] {
		if n != path.Base(tmp) {
			bad = append(bad, "directory "+comp+" not fsynced since "+n+" changed")
		}
	}
	sort.Strings(bad)
	for _, b := range bad {
		a.violations = append(a.violations, fmt.Sprintf("switching %s to %s: %s", link, target, b))
	}
}
