// Package store keeps the versioned system tree of Bhojpur OS, bos/system
// on the state file system (and, read-only, on the ISO):
//
//	bos/system/bos/<version>/      rootfs.squashfs and the bos-* programs
//	bos/system/dcp/<version>/      DCP, when the release bundles it
//	bos/system/kernel/<version>/   vmlinuz, initrd, kernel.squashfs, version
//	bos/system/<component>/current   -> <version>
//	bos/system/<component>/previous  -> <version>
//
// One directory per version of each component, and two relative symlinks
// beside them: current is what boots, previous what a rollback goes back
// to and what GRUB boots when a trial of current fails. Nothing else
// stays in a component directory: Prune removes older versions and the
// leftovers of interrupted runs.
//
// # Write, hash, sync, switch
//
// Every change is made in this order. A version is built under a
// temporary name (its downloads hashed against the release's checksums
// before they are used), its files and directories are fsynced, it is
// renamed into place (Commit), and only then are the links switched
// (Switch), each by creating a temporary symlink and renaming it over the
// old one, with an fsync of the component directory after each step. A
// crash at any point leaves current naming a complete version, the old or
// the new one. Rollback swaps current and previous in one rename
// (RENAME_EXCHANGE). WriteFile replaces a single file (the GRUB
// environment block) the same way, through package atomicfile.
//
// # Two file-system seams
//
// The store works through FS; configuration works through
// billy.Filesystem. The rule:
//
//   - FS for whatever must survive a crash at any point: this tree, the
//     staging of an upgrade, downloads (fetch), unpacking (archive), the
//     GRUB environment block (grubenv). It has what billy lacks: every
//     operation acts on a final symlink itself (billy's bound OS follows
//     it, so a rename onto current would land in the version it names),
//     fsync of files and directories with their errors, RENAME_EXCHANGE,
//     hard links and free space (Spacer). And faultfs wraps it to crash
//     after any single operation and to audit the order above.
//   - billy.Filesystem for trees of configuration (config, apply,
//     datasource, cli.Env): whole files replaced with atomicfile.Write,
//     tests on memfs, a best-effort fsync of directories.
//
// A package that needs both (install) uses each for its own part; the one
// way to replace a file, atomicfile, works on both. Moving configuration
// onto FS would lose memfs in many tests for no gain in safety; moving the
// store onto billy would lose the symlink semantics and the fault
// injection the crash tests rely on.
package store
