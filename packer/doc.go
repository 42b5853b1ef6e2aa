// Package packer holds no code: it is the tests of the Packer templates in
// the directories beside it (one per target), run by `make test`. They
// validate every template with Packer, check the plugin pins, the shipped
// configs and the shared takeover script, and build the qemu and
// qemu-takeover templates with Packer under QEMU and boot what they made.
package packer
