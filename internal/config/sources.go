package config

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/memfs"
	"github.com/go-git/go-billy/v5/osfs"
	"github.com/pkg/errors"
	"gopkg.in/yaml.v3"

	"github.com/bhojpur/os/internal/userdata"
)

// Paths of the config sources, relative to the root, lowest priority first.
const (
	SystemConfig    = "bos/system/config.yaml"
	BhojpurConfig   = "bhojpur/system/config.yaml"
	Cmdline         = "proc/cmdline"
	RuntimeConfig   = "var/lib/bhojpur/os/config.yaml"
	CloudSSHKeys    = "run/config/ssh/authorized_keys"
	CloudHostname   = "run/config/local_hostname"
	Userdata        = "run/config/userdata"
	RuntimeConfigD  = "var/lib/bhojpur/os/config.d"
	maxConfigDFiles = 1000
)

// Options say where to load from.
type Options struct {
	// Root is the target root directory ("/" on a running system).
	Root string
	// FS is the file system rooted at Root; default osfs on Root.
	FS billy.Filesystem
}

// Loaded is the merged config of every source.
type Loaded struct {
	Config Config
	// Script is the path (under the root) of a userdata "#!" script to run
	// at runtime, or "".
	Script string
	// Warnings never fail anything (unknown cmdline keys, odd userdata).
	Warnings Issues
	// Problems are invalid input: unknown keys, wrong types, bad values.
	Problems Issues
	// Sources are the files that were read, in merge order.
	Sources []string

	tree *tree
}

// Err returns the problems as an error, or nil.
func (l *Loaded) Err() error {
	if len(l.Problems) == 0 {
		return nil
	}
	return l.Problems
}

// source is one parsed input before merging.
type source struct {
	name string
	tree *tree
}

// Load reads, merges and validates every config source under the root.
// Missing files are fine; an unreadable one is an error. Invalid content is
// reported in Problems with file, line and column, and the rest still loads.
func Load(opts Options) (*Loaded, error) {
	r := &loader{fs: opts.FS, root: opts.Root, l: &Loaded{}, prov: provenance{}}
	if r.root == "" {
		r.root = "/"
	}
	if r.fs == nil {
		r.fs = osfs.New(r.root, osfs.WithBoundOS())
	}
	if err := r.readAll(); err != nil {
		return nil, err
	}
	return r.merge()
}

// loader gathers the sources of one Load, parsed, in merge order.
type loader struct {
	fs   billy.Filesystem
	root string
	l    *Loaded
	prov provenance // the positions of every source's nodes
	srcs []source
}

// readAll reads and parses the sources, lowest priority first.
func (r *loader) readAll() error {
	if err := r.readSystem(); err != nil {
		return err
	}
	for _, s := range []struct {
		rel string
		add func(rel string, data []byte)
	}{
		{Cmdline, r.addCmdline},
		{RuntimeConfig, r.addYAML},
		// Cloud data: metadata first, so userdata wins (as in cloud-init).
		{CloudSSHKeys, r.addLines("ssh_authorized_keys")},
		{CloudHostname, r.addLines("hostname")},
		{Userdata, r.addUserdata},
	} {
		data, err := readFile(r.fs, s.rel)
		if err != nil {
			return err
		}
		if data != nil {
			s.add(s.rel, data)
		}
	}
	return r.readConfigD()
}

// display is how messages and Sources name the source rel.
func (r *loader) display(rel string) string { return filepath.Join(r.root, rel) }

func (r *loader) warn(rel, msg string) {
	r.l.Warnings = append(r.l.Warnings, Issue{Pos: Pos{File: r.display(rel)}, Msg: msg})
}

// readSystem reads the system config, then the bhojpur one unless it is
// the same file or holds the same bytes.
func (r *loader) readSystem() error {
	sys, err := readFile(r.fs, SystemConfig)
	if err != nil {
		return err
	}
	if sys != nil {
		r.addYAML(SystemConfig, sys)
	}
	bh, err := readFile(r.fs, BhojpurConfig)
	if err != nil || bh == nil || sameFile(r.fs, SystemConfig, BhojpurConfig) || bytes.Equal(bh, sys) {
		return err
	}
	r.addYAML(BhojpurConfig, bh)
	return nil
}

// readConfigD reads the regular files of config.d in lexical order;
// anything else there is skipped with a warning.
func (r *loader) readConfigD() error {
	names, skipped, err := readDirNames(r.fs, RuntimeConfigD)
	if err != nil {
		return err
	}
	for _, n := range skipped {
		r.warn(path.Join(RuntimeConfigD, n), "not a regular file: ignored")
	}
	if len(names) == 0 {
		return nil
	}
	// One chroot: each file then resolves one path component, not seven.
	dfs, err := r.fs.Chroot(RuntimeConfigD)
	if err != nil {
		return errors.Wrapf(err, "open %s", RuntimeConfigD)
	}
	for _, n := range names {
		rel := path.Join(RuntimeConfigD, n)
		switch data, err := readFile(dfs, n); {
		case errors.Is(err, errNotRegular): // replaced since it was listed
			r.warn(rel, "not a regular file: ignored")
		case err != nil:
			return err
		case data != nil:
			r.addYAML(rel, data)
		}
	}
	return nil
}

// addYAML parses a YAML source and adds it. It is parsed with a
// provenance map of its own, copied into the shared one: a document over
// the bounds leaves none of its nodes behind.
func (r *loader) addYAML(rel string, data []byte) {
	t, issues := parseYAML(r.display(rel), data, nil)
	r.l.Problems = append(r.l.Problems, issues...)
	for n, file := range t.src {
		r.prov[n] = file
	}
	r.srcs = append(r.srcs, source{rel, t})
}

func (r *loader) addCmdline(rel string, data []byte) {
	t, warns := parseCmdline(r.display(rel), bytes.NewReader(data), r.prov)
	r.l.Warnings = append(r.l.Warnings, warns...)
	r.srcs = append(r.srcs, source{rel, t})
}

// addLines returns the adder of a file of lines setting key (cloud
// metadata).
func (r *loader) addLines(key string) func(rel string, data []byte) {
	return func(rel string, data []byte) {
		r.srcs = append(r.srcs, source{rel, linesTree(r.display(rel), data, key, r.prov)})
	}
}

// addUserdata adds cloud userdata as its kind says: a cloud-config or
// plain YAML is a source, a script is run at runtime, anything else is
// ignored with a warning.
func (r *loader) addUserdata(rel string, data []byte) {
	u, err := userdata.Classify(data, MaxFileSize)
	switch {
	case err != nil:
		r.warn(rel, err.Error()+": ignored")
	case u.Kind == userdata.KindScript:
		r.l.Script = "/" + rel
	case u.Kind == userdata.KindCloudConfig || u.Kind == userdata.KindYAML:
		r.addYAML(rel, u.Data)
	case u.Kind == userdata.KindUnknown:
		r.warn(rel, "userdata "+u.Problem+": ignored")
	}
}

// merge folds the sources into one tree, in order, and validates it.
func (r *loader) merge() (*Loaded, error) {
	merged := newTree(r.prov)
	m := newMerger(merged)
	for _, s := range r.srcs {
		m.merge(s.tree)
		r.l.Sources = append(r.l.Sources, r.display(s.name))
	}
	r.l.tree = merged
	if err := r.l.finish(); err != nil {
		return nil, err
	}
	return r.l, nil
}

// finish decodes the merged tree and validates the values. A value with a
// problem is refused: it is reported, then left out of the tree and of
// Config, so that what validation refuses no phase applies (a list entry,
// a map entry, a scalar; a write_files or wifi entry whole; dcp_args
// whole).
func (l *Loaded) finish() error {
	cfg, err := l.tree.decode()
	if err != nil {
		return err
	}
	l.Config = cfg
	probs := validate(&cfg)
	if len(probs) == 0 {
		return nil
	}
	idx := l.tree.index()
	refused := map[*yaml.Node]bool{}
	for _, p := range probs {
		n := idx[p.path]
		if p.key {
			n = idx[p.path+"#key"]
		}
		l.Problems = append(l.Problems, Issue{Pos: l.tree.pos(n), Key: p.path, Msg: p.msg})
		if u := idx[unit(p.path)]; u != nil {
			refused[u] = true
		}
	}
	l.tree.root = prune(l.tree.root, refused)
	l.Config, err = l.tree.decode()
	return err
}

// Refused lists the key paths of the problems: the values left out
// (bos.labels[x], write_files[2].path), and "" for a source that was left
// out whole (a syntax error, a file too large).
func (l *Loaded) Refused() []string {
	out := make([]string, len(l.Problems))
	for i, p := range l.Problems {
		out[i] = p.Key
	}
	return out
}

// Paths of the lists whose entries are mappings (left out whole) and of the
// lists a later source replaces (an argv, left out whole).
var structLists, wholeLists = func() (sl, wl []string) {
	var walk func(f *field, path string)
	walk = func(f *field, path string) {
		for _, c := range f.fields {
			p := join(path, c.name)
			switch {
			case c.kind == kStructList:
				sl = append(sl, p)
			case c.replace:
				wl = append(wl, p)
			case c.kind == kStruct:
				walk(c, p)
			}
		}
	}
	walk(rootSchema, "")
	return sl, wl
}()

// unit is the key path of what a problem at path refuses.
func unit(path string) string {
	for _, l := range wholeLists {
		if path == l || strings.HasPrefix(path, l+"[") {
			return l
		}
	}
	for _, l := range structLists {
		if strings.HasPrefix(path, l+"[") {
			if end := strings.IndexByte(path[len(l):], ']'); end >= 0 {
				return path[:len(l)+end+1]
			}
		}
	}
	return path
}

// prune returns n without the refused nodes (and without a list or
// mapping that became empty: no value).
func prune(n *yaml.Node, refused map[*yaml.Node]bool) *yaml.Node {
	empty := func(c *yaml.Node) bool {
		return (c.Kind == yaml.SequenceNode || c.Kind == yaml.MappingNode) && len(c.Content) == 0
	}
	switch n.Kind {
	case yaml.MappingNode:
		out := n.Content[:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if refused[v] {
				continue
			}
			if v = prune(v, refused); !empty(v) {
				out = append(out, k, v)
			}
		}
		n.Content = out
	case yaml.SequenceNode:
		out := n.Content[:0]
		for _, c := range n.Content {
			if refused[c] {
				continue
			}
			if c = prune(c, refused); !empty(c) {
				out = append(out, c)
			}
		}
		n.Content = out
	}
	return n
}

// LoadFile loads one config file on its own (bos-config validate); name is
// what messages call it.
func LoadFile(name string, r io.Reader) (*Loaded, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, errors.Wrapf(err, "read %s", name)
	}
	t, issues := parseYAML(name, data, nil)
	l := &Loaded{Problems: issues, Sources: []string{name}, tree: alone(t)}
	if err := l.finish(); err != nil {
		return nil, err
	}
	return l, nil
}

// ParseCmdline reads the bos.* settings of a kernel cmdline on their own
// (bos-init, before any file system is mounted).
func ParseCmdline(name string, r io.Reader) (*Loaded, error) {
	t, warns := parseCmdline(name, r, nil)
	l := &Loaded{Warnings: warns, Sources: []string{name}, tree: alone(t)}
	if err := l.finish(); err != nil {
		return nil, err
	}
	return l, nil
}

// alone merges one source into an empty tree, so it follows the merge
// rules (no duplicate list entries) as it would among other sources.
func alone(t *tree) *tree {
	merged := newTree(t.src)
	newMerger(merged).merge(t)
	return merged
}

// errNotRegular marks a source that is not a regular file (a FIFO, a
// device node, a socket): it is never opened for reading.
var errNotRegular = errors.New("not a regular file")

// readFile reads a source of at most MaxFileSize+1 bytes; a missing file is
// (nil, nil). Only regular files are read: the type is checked before the
// open, so a device node is never opened, and again on the opened file,
// since the name may have been replaced in between. The open does not
// block on a FIFO (O_NONBLOCK; see openFlags).
func readFile(fs billy.Filesystem, rel string) ([]byte, error) {
	fi, err := fs.Stat(rel)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, errors.Wrapf(err, "stat %s", rel)
	}
	if err := regular(rel, fi); err != nil {
		return nil, err
	}
	f, err := fs.OpenFile(rel, openFlags(fs), 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, errors.Wrapf(err, "open %s", rel)
	}
	defer f.Close()
	if st, ok := f.(interface{ Stat() (os.FileInfo, error) }); ok {
		fi, err := st.Stat()
		if err != nil {
			return nil, errors.Wrapf(err, "stat %s", rel)
		}
		if err := regular(rel, fi); err != nil {
			return nil, err
		}
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if errors.Is(err, syscall.EISDIR) {
		return nil, errors.Errorf("%s: is a directory, not a config file", rel)
	}
	if err != nil {
		return nil, errors.Wrapf(err, "read %s", rel)
	}
	if data == nil {
		data = []byte{}
	}
	return data, nil
}

// openFlags are the flags of a source's open: O_NONBLOCK, so that a FIFO
// swapped in after the Stat does not block the open (regular files do not
// care), and O_NOCTTY; but plain O_RDONLY on memfs, which has no FIFOs and
// refuses reads of a file opened with any other flags.
func openFlags(fs billy.Filesystem) int {
	var b billy.Basic = fs
	for {
		switch x := b.(type) {
		case *memfs.Memory:
			return os.O_RDONLY
		case interface{ Underlying() billy.Basic }: // billy's chroot helper
			b = x.Underlying()
		default:
			return os.O_RDONLY | syscall.O_NONBLOCK | syscall.O_NOCTTY
		}
	}
}

// regular refuses what is not a regular file.
func regular(rel string, fi os.FileInfo) error {
	switch {
	case fi.IsDir():
		return errors.Errorf("%s: is a directory, not a config file", rel)
	case !fi.Mode().IsRegular():
		return errors.Wrapf(errNotRegular, "%s", rel)
	}
	return nil
}

func sameFile(fs billy.Filesystem, a, b string) bool {
	fa, err1 := fs.Stat(a)
	fb, err2 := fs.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

// readDirNames lists the regular, non-hidden files of a directory in
// lexical order (following symlinks); a missing directory is empty.
// Directories are skipped; other entries that are not regular files (FIFOs,
// device nodes, sockets) are skipped with a warning.
func readDirNames(fs billy.Filesystem, dir string) ([]string, []string, error) {
	infos, err := fs.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, nil
		}
		return nil, nil, errors.Wrapf(err, "read directory %s", dir)
	}
	var names, skipped []string
	for _, fi := range infos {
		if strings.HasPrefix(fi.Name(), ".") {
			continue
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			target, err := fs.Stat(path.Join(dir, fi.Name()))
			if err != nil {
				continue // dangling: as if missing
			}
			fi = target
		}
		switch {
		case fi.IsDir():
		case fi.Mode().IsRegular():
			names = append(names, fi.Name())
		default:
			skipped = append(skipped, fi.Name())
		}
	}
	sort.Strings(names)
	if len(names) > maxConfigDFiles {
		return nil, nil, errors.Errorf("%s: %d files; at most %d are read", dir, len(names), maxConfigDFiles)
	}
	return names, skipped, nil
}

// linesTree turns a file of lines into a config tree setting key: a list
// for ssh_authorized_keys, the first line for hostname.
func linesTree(file string, data []byte, key string, src provenance) *tree {
	t := newTree(src)
	f := rootSchema.lookup(key)
	var vals []*yaml.Node
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), MaxFileSize)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Line: line, Column: 1}
		t.src[n] = file
		vals = append(vals, n)
	}
	if len(vals) == 0 {
		return t
	}
	var v *yaml.Node
	if f.kind == kStringList {
		v = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: vals, Line: 1, Column: 1}
		t.src[v] = file
	} else {
		v = vals[0]
	}
	keyed{}.set(t.root, f.name, v, t, file)
	return t
}

// Report prints the warnings and problems of a load, sorted, one a line.
func (l *Loaded) Report(w io.Writer) {
	for _, x := range SortedIssues(l.Warnings) {
		fmt.Fprintf(w, "warning: %s\n", x)
	}
	for _, x := range SortedIssues(l.Problems) {
		fmt.Fprintf(w, "%s\n", x)
	}
}
