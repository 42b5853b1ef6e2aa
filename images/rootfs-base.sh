#!/bin/sh
# rootfs-base.sh DIR: the Debian bookworm userland of Bhojpur OS, made with
# mmdebstrap (no Docker). rootfs.sh adds our files on top of a copy.
# mmdebstrap converts to merged /usr with usrmerge, which drags in perl
# (45 MB); the tree is merged already, so both are purged again.
set -eu
dir=$1
: "${SOURCE_DATE_EPOCH:?SOURCE_DATE_EPOCH must be set}"
pkgs="busybox-static openrc connman wpasupplicant openssh-server sudo e2fsprogs dosfstools
grub-pc-bin grub-efi-amd64-bin grub2-common kmod iproute2 ca-certificates util-linux fdisk gdisk
iptables procps less runc usr-is-merged"
rm -rf "$dir"
# shellcheck disable=SC2086 # $pkgs is a word list
# shellcheck disable=SC2016 # $1 is the hook's argument, expanded by mmdebstrap
mmdebstrap --variant=minbase --mode=root --format=directory \
	--include="$(printf '%s\n' $pkgs | paste -sd, -)" \
	--aptopt='APT::Install-Recommends "false"' \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-include=/usr/share/doc/*/copyright' \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/info/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--dpkgopt='path-exclude=/usr/share/lintian/*' \
	--customize-hook='chroot "$1" dpkg --purge usrmerge libfile-find-rule-perl libnumber-compare-perl libtext-glob-perl perl perl-modules-5.36 libperl5.36' \
	bookworm "$dir"
