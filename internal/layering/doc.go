// Package layering holds the rule of the toolkit's imports, as a test:
// the imports point down. A shared package (store, fetch, config, layout,
// blockdev ...) imports no command's package and no command line; the
// package doing one command's work (apply, boot, install, upgrade) imports
// no other command's; only the assembly (cli/*, multicall, initrd, the
// tools, bench, vmtest) puts commands together.
package layering
