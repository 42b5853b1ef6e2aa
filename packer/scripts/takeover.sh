#!/bin/sh
# takeover.sh: the one provisioning step of every takeover template
# (packer/aws, gcp, hetzner, openstack, digitalocean and qemu-takeover).
# Run as root on the builder's base system (a Debian or Ubuntu image), it
# installs Bhojpur OS over the running root file system:
#
#   install.sh --takeover --no-format --no-reboot [--poweroff] [--tty TTY] \
#       --config CONFIG ROOT_PARTITION ISO_URL
#
# and removes the uploaded config and installer. It does not reboot: each
# template says how the machine reboots. At that next boot Bhojpur OS
# deletes everything on the partition that is not its own and, with
# BOS_POWEROFF=1, powers off, so that the builder snapshots a clean disk.
#
# Environment, set by the template:
#   BOS_ISO_URL     the ISO, http:// or https://; install.sh checks it against
#                   the sha256sum-amd64.txt published beside it
#   BOS_CONFIG      the uploaded config.yaml (default /tmp/bos-config.yaml)
#   BOS_INSTALL_SH  the uploaded install.sh (default /tmp/bos-install.sh)
#   BOS_POWEROFF    1: the first boot of Bhojpur OS powers off after its
#                   clean-up (templates that wait for the machine to stop)
#   BOS_TTY         the serial console of the installed system (ttyS0), or empty
#   BOS_DEBUG       1: the installer logs every step
#
# Everything is checked before anything is written; exit codes are the
# installer's (2 usage, 3 bad input, 4 download or checksum, 5 disk).
set -eu

me=takeover.sh
die() {
	code=$1
	shift
	echo "$me: $*" >&2
	exit "$code"
}

iso_url=${BOS_ISO_URL:-}
config=${BOS_CONFIG:-/tmp/bos-config.yaml}
installer=${BOS_INSTALL_SH:-/tmp/bos-install.sh}
poweroff=${BOS_POWEROFF:-0}
tty=${BOS_TTY:-}
debug=${BOS_DEBUG:-0}

[ "$(id -u)" -eq 0 ] || die 2 "run me as root (the template's execute_command uses sudo)"
case $iso_url in
http://?* | https://?*) ;;
"") die 2 "BOS_ISO_URL is not set: the template passes the ISO's URL (variable bos_iso_url)" ;;
*) die 2 "BOS_ISO_URL=$iso_url: want an http:// or https:// URL of bos-amd64.iso" ;;
esac
case $poweroff in 0 | 1) ;; *) die 2 "BOS_POWEROFF=$poweroff: want 0 or 1" ;; esac
case $debug in 0 | 1) ;; *) die 2 "BOS_DEBUG=$debug: want 0 or 1" ;; esac
case $tty in
*[!A-Za-z0-9]*) die 2 "BOS_TTY=$tty: want a console name such as ttyS0" ;;
"" | tty?* | hvc?*) ;;
*) die 2 "BOS_TTY=$tty: want a console name such as ttyS0" ;;
esac
[ -f "$config" ] || die 3 "config $config: no such file (the template's file provisioner uploads it)"
[ -s "$config" ] || die 3 "config $config is empty"
[ -f "$installer" ] || die 3 "installer $installer: no such file (the template uploads install.sh)"

# The partition of /, from the kernel's own numbers for the mounted root:
# findmnt's SOURCE can be /dev/root or a by-uuid path.
fstype=$(awk '$2 == "/" {t = $3} END {print t}' /proc/mounts)
[ "$fstype" = ext4 ] || die 3 "/ is ${fstype:-unknown}, not ext4: the takeover installs onto an ext4 root partition"
majmin=$(mountpoint -d /) || die 3 "cannot tell which device holds /"
[ -f "/sys/dev/block/$majmin/partition" ] || die 3 "/ (device $majmin) is not on a disk partition"
devname=$(sed -n 's/^DEVNAME=//p' "/sys/dev/block/$majmin/uevent")
root=/dev/$devname
[ -b "$root" ] || die 3 "/ is on $root, which is not a block device here"

set -- --takeover --no-format --no-reboot --config "$config"
[ "$poweroff" = 0 ] || set -- "$@" --poweroff
[ -z "$tty" ] || set -- "$@" --tty "$tty"
[ "$debug" = 0 ] || set -- "$@" --debug
chmod 0600 "$config"
echo "$me: taking over $root (/, ext4) with $iso_url"
status=0
sh "$installer" "$@" "$root" "$iso_url" || status=$?
# The installer copied the config to /bos/system/config.yaml (0600); the
# upload may hold a cluster secret: it goes now, not at the clean-up.
rm -f "$config" "$installer"
[ "$status" -eq 0 ] || die "$status" "install.sh exited $status"
sync
echo "$me: done: Bhojpur OS takes $root over at the next boot"
