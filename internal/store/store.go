package store

import (
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/pkg/errors"
)

// Components of the system tree.
const (
	OS     = "bos"
	DCP    = "dcp"
	Kernel = "kernel"
)

// Link names inside a component directory.
const (
	Current  = "current"
	Previous = "previous"
)

// Temporary names inside a component directory; Prune removes them.
const (
	tmpLinkPrefix = ".link-"  // a link being made, renamed over current or previous
	asidePrefix   = ".aside-" // an incomplete or stale version moved out of the way
)

// Store is the system tree (for example bos/system) inside an FS.
type Store struct {
	FS  FS
	Dir string
	Log func(format string, args ...any)
}

func (s *Store) logf(format string, args ...any) {
	if s.Log != nil {
		s.Log(format, args...)
	}
}

// Path is the path of an element of a component directory.
func (s *Store) Path(component string, elem ...string) string {
	return path.Join(append([]string{s.Dir, component}, elem...)...)
}

// Link reads current or previous of a component: the version it names, or
// "" when there is no such link. A link that does not name a version
// directory next to it is an error.
func (s *Store) Link(component, name string) (string, error) {
	p := s.Path(component, name)
	target, err := s.FS.Readlink(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", errors.Wrapf(err, "read %s", p)
	}
	v := path.Base(path.Clean(target))
	if !ValidVersion(v) {
		return "", errors.Errorf("%s points at %s, which is not a version", p, target)
	}
	return v, nil
}

// HasVersion says whether component has a version directory v.
func (s *Store) HasVersion(component, v string) (bool, error) {
	fi, err := s.FS.Lstat(s.Path(component, v))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return fi.IsDir(), nil
}

// Versions lists the version directories of a component.
func (s *Store) Versions(component string) ([]string, error) {
	ents, err := s.FS.ReadDir(s.Path(component))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, errors.Wrapf(err, "list %s", s.Path(component))
	}
	var vs []string
	for _, e := range ents {
		if e.IsDir() && ValidVersion(e.Name()) {
			vs = append(vs, e.Name())
		}
	}
	sort.Strings(vs)
	return vs, nil
}

// Commit moves a complete, synced directory staged (anywhere in the same
// FS) into place as version v of component. A stale directory of the same
// name that is not current (left by an earlier run, or an old previous) is
// moved aside first, so the name only ever holds a complete tree.
func (s *Store) Commit(component, v, staged string) error {
	if !ValidVersion(v) {
		return errors.Errorf("%q is not a valid version name", v)
	}
	dir := s.Path(component)
	final := s.Path(component, v)
	if err := s.FS.MkdirAll(dir, 0o755); err != nil {
		return errors.Wrapf(err, "create %s", dir)
	}
	cur, err := s.Link(component, Current)
	if err != nil {
		return err
	}
	if cur == v {
		return errors.Errorf("%s is current: it cannot be replaced", final)
	}
	if ok, err := Exists(s.FS, final); err != nil {
		return errors.Wrapf(err, "stat %s", final)
	} else if ok {
		aside := s.Path(component, asidePrefix+v)
		if err := s.FS.RemoveAll(aside); err != nil {
			return errors.Wrapf(err, "remove %s", aside)
		}
		if err := s.FS.Rename(final, aside); err != nil {
			return errors.Wrapf(err, "move %s aside", final)
		}
	}
	if err := s.FS.Rename(staged, final); err != nil {
		return errors.Wrapf(err, "rename %s to %s", staged, final)
	}
	if err := s.FS.SyncDir(dir); err != nil {
		return errors.Wrapf(err, "sync %s", dir)
	}
	if from := path.Dir(staged); from != dir {
		return errors.Wrapf(s.FS.SyncDir(from), "sync %s", from)
	}
	return nil
}

// SetLink points link name (current or previous) of component at version
// v: a temporary symlink renamed over the old link, then an fsync of the
// component directory.
func (s *Store) SetLink(component, name, v string) error {
	dir := s.Path(component)
	tmp := s.Path(component, tmpLinkPrefix+name)
	if err := s.FS.RemoveAll(tmp); err != nil {
		return errors.Wrapf(err, "remove %s", tmp)
	}
	if err := s.FS.Symlink(v, tmp); err != nil {
		return errors.Wrapf(err, "link %s to %s", tmp, v)
	}
	if err := s.FS.Rename(tmp, s.Path(component, name)); err != nil {
		return errors.Wrapf(err, "rename %s over %s", tmp, s.Path(component, name))
	}
	return errors.Wrapf(s.FS.SyncDir(dir), "sync %s", dir)
}

// Switch makes v, a committed version, the current one: previous := the
// old current, then current := v. A crash between the two leaves both on
// the old version, which is complete.
func (s *Store) Switch(component, v string) (old string, err error) {
	if ok, err := s.HasVersion(component, v); err != nil {
		return "", errors.Wrapf(err, "stat %s", s.Path(component, v))
	} else if !ok {
		return "", errors.Errorf("%s is not installed", s.Path(component, v))
	}
	old, err = s.Link(component, Current)
	if err != nil || old == v {
		return old, err
	}
	if old != "" {
		if err := s.SetLink(component, Previous, old); err != nil {
			return old, err
		}
	}
	return old, s.SetLink(component, Current, v)
}

// Rollback swaps current and previous of a component in one atomic
// rename (RENAME_EXCHANGE) and returns the versions it switched from and
// to.
func (s *Store) Rollback(component string) (from, to string, err error) {
	from, err = s.Link(component, Current)
	if err != nil {
		return "", "", err
	}
	to, err = s.Link(component, Previous)
	if err != nil {
		return "", "", err
	}
	if to == "" {
		return from, "", errors.Errorf("%s has no previous version to roll back to", s.Path(component))
	}
	if ok, err := s.HasVersion(component, to); err != nil || !ok {
		return from, to, errors.Errorf("%s/previous points at %s, which is not installed", s.Path(component), to)
	}
	if from == "" {
		return from, to, s.SetLink(component, Current, to)
	}
	dir := s.Path(component)
	if err := s.FS.Exchange(s.Path(component, Current), s.Path(component, Previous)); err != nil {
		return from, to, errors.Wrapf(err, "swap %s/current and previous", dir)
	}
	return from, to, errors.Wrapf(s.FS.SyncDir(dir), "sync %s", dir)
}

// Prune removes from a component directory everything but current,
// previous and the versions they name: older versions and the leftovers
// of interrupted runs. It returns what it removed.
func (s *Store) Prune(component string) ([]string, error) {
	dir := s.Path(component)
	ents, err := s.FS.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, errors.Wrapf(err, "list %s", dir)
	}
	keep := map[string]bool{Current: true, Previous: true}
	for _, l := range []string{Current, Previous} {
		v, err := s.Link(component, l)
		if err != nil {
			return nil, err
		}
		if v != "" {
			keep[v] = true
		}
	}
	var removed []string
	for _, e := range ents {
		if keep[e.Name()] {
			continue
		}
		p := s.Path(component, e.Name())
		if err := s.FS.RemoveAll(p); err != nil {
			return removed, errors.Wrapf(err, "remove %s", p)
		}
		removed = append(removed, e.Name())
	}
	if len(removed) > 0 {
		s.logf("removed from %s: %s", dir, strings.Join(removed, ", "))
		if err := s.FS.SyncDir(dir); err != nil {
			return removed, errors.Wrapf(err, "sync %s", dir)
		}
	}
	return removed, nil
}

// Plan says what Prune would remove after switching component to next,
// without changing anything.
func (s *Store) Plan(component, next string) ([]string, error) {
	cur, err := s.Link(component, Current)
	if err != nil {
		return nil, err
	}
	prev, err := s.Link(component, Previous)
	if err != nil {
		return nil, err
	}
	keep := map[string]bool{Current: true, Previous: true, next: true, cur: true}
	if cur == "" || cur == next {
		keep[prev] = true
	}
	ents, err := s.FS.ReadDir(s.Path(component))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, errors.Wrapf(err, "list %s", s.Path(component))
	}
	var out []string
	for _, e := range ents {
		if !keep[e.Name()] {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// RollBackFailed rolls component back after GRUB gave up on a trial of
// version v: only while its current is still v, so that a second call
// (after a crash between the rollback and recording it) changes nothing.
// OS takes DCP along when DCP is on v too. It returns what it did.
func (s *Store) RollBackFailed(component, v string) ([]string, error) {
	comps := []string{component}
	if component == OS {
		comps = []string{DCP, OS} // dcp first, as in an upgrade
	}
	var did []string
	for _, c := range comps {
		cur, err := s.Link(c, Current)
		if err != nil {
			return did, err
		}
		if cur != v {
			continue
		}
		from, to, err := s.Rollback(c)
		if err != nil {
			return did, err
		}
		did = append(did, c+" "+from+" -> "+to)
	}
	return did, nil
}
