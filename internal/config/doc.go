// Package config loads, merges and validates the Bhojpur OS config: the
// cloud-init style config.yaml files, the kernel cmdline's bos.* words and
// cloud userdata, with positions kept for every value so that errors name
// file, line and column. The boot phases, apply, install and bos-config
// all read the config through it (Load, LoadFile, ParseCmdline), so they
// see the same values and refuse the same ones.
//
// Sources, lowest priority first (the path constants in sources.go): the
// system config (and the bhojpur one, unless it is the same file), the
// kernel cmdline, the runtime config, the cloud metadata (SSH keys, then
// hostname), the cloud userdata, and the files of config.d in lexical
// order. A missing source is fine; an unreadable one is an error.
//
// Each source is normalized into a tree (load.go, cmdline.go): keys take
// their canonical spelling (singular and plural are one key), a lone value
// where a list belongs is a list of one, every value is a string or a
// boolean. The trees are merged in order (merge.go):
//
//   - a later scalar wins;
//   - maps merge key by key, a later value winning;
//   - lists append, keeping order and dropping an entry equal to one
//     already in the list, within one source too (write_files and wifi
//     entries are equal when all their keys and values are);
//   - a list marked replace (bos.dcp_args, an argv) is replaced whole by a
//     later source, and keeps repeated entries;
//   - an empty list or map is no value.
//
// Strictness: an unknown key, a wrong type or an invalid value is a
// problem naming file, line, column and key, with the nearest valid key
// when there is one. A value with a problem is refused, left out of the
// tree and of Config (a write_files or wifi entry whole, dcp_args whole),
// and the rest still loads. A YAML source that is not text, is over
// MaxFileSize, or whose aliases expand past the bounds of load.go is
// refused whole. Nothing on the cmdline fails a boot: its problems are
// warnings. Messages never show a secret's value (the secret tag).
package config
