#!/bin/sh
# install.sh: install Bhojpur OS from its ISO onto a disk, a partition
# (--no-format) or the running root file system (--takeover), from any Linux.
#
# Usage: ./install.sh [--force-efi] [--debug] [--tty TTY] [--poweroff] [--takeover]
#                     [--no-format] [--config https://.../config.yaml] DEVICE ISO_URL
#
# It only gets the ISO (a URL, downloaded with retries, or a local file),
# checks it against the sha256sum-<arch>.txt published beside it when there
# is one, gets at its contents (a read-only loop mount, or an extraction with
# xorriso where the kernel cannot mount ISO9660) and runs the ISO's own
# bos-install with the same arguments, the ISO's local path and --silent.
# bos-install does all the checking and the work; its exit code is ours:
# 2 usage, 3 bad input, 4 download or checksum, 5 disk operation.
set -eu

me=${0##*/}

usage() {
	cat <<EOF
Usage: $me [--force-efi] [--debug] [--tty TTY] [--poweroff] [--takeover]
       [--no-format] [--config URL|PATH] [--dry-run] [--no-reboot] DEVICE ISO_URL

DEVICE is the disk to partition (/dev/vda), or with --no-format the partition
that becomes BOS_STATE (/dev/vda2); with --takeover, the partition of /.
ISO_URL is the Bhojpur OS ISO: an http(s) URL or a local file.
Example: $me /dev/vda https://github.com/bhojpur/os/releases/download/v0.10.0/bos-amd64.iso
EOF
}

die() {
	code=$1
	shift
	echo "$me: $*" >&2
	exit "$code"
}

# Arguments passed on to bos-install, kept as positional parameters at the
# end of the list: set -- "$@" ARG appends while the original ones are
# shifted off the front.
device=
iso_url=
n=$#
while [ "$n" -gt 0 ]; do
	arg=$1
	shift
	n=$((n - 1))
	case $arg in
	-h | --help)
		usage
		exit 0
		;;
	--force-efi | --debug | --poweroff | --takeover | --no-format | --silent | --dry-run | --no-reboot)
		set -- "$@" "$arg"
		;;
	--tty | --config)
		[ "$n" -gt 0 ] || die 2 "$arg needs a value"
		set -- "$@" "$arg" "$1"
		shift
		n=$((n - 1))
		;;
	--tty=* | --config=*)
		set -- "$@" "$arg"
		;;
	-*)
		usage >&2
		die 2 "unknown flag $arg"
		;;
	*)
		if [ -z "$device" ]; then
			device=$arg
		elif [ -z "$iso_url" ]; then
			iso_url=$arg
		else
			usage >&2
			die 2 "unexpected argument $arg"
		fi
		;;
	esac
done
if [ -z "$device" ] || [ -z "$iso_url" ]; then
	usage >&2
	die 2 "DEVICE and ISO_URL are required"
fi
[ "$(id -u)" -eq 0 ] || die 2 "run me as root: I mount the ISO and write to $device"

case $(uname -m) in
x86_64 | amd64) arch=amd64 ;;
aarch64 | arm64) arch=arm64 ;;
*) die 3 "unsupported machine $(uname -m)" ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/bos-install.XXXXXX")
mounted=
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	if [ -n "$mounted" ]; then
		umount "$work/iso" 2>/dev/null || true
	fi
	chmod -R u+w "$work" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# fetch URL FILE: download with retries; curl or wget.
fetch() {
	if command -v curl >/dev/null 2>&1; then
		curl -fL --retry 5 --retry-delay 2 --connect-timeout 30 -o "$2" "$1"
	elif command -v wget >/dev/null 2>&1; then
		wget --tries=5 --waitretry=2 --timeout=30 -O "$2" "$1"
	else
		die 4 "neither curl nor wget is installed"
	fi
}

name=${iso_url##*/}
name=${name%%\?*}
sums=sha256sum-$arch.txt
case $iso_url in
http://* | https://*)
	iso=$work/$name
	echo "$me: downloading $iso_url"
	fetch "$iso_url" "$iso" || die 4 "download $iso_url failed"
	# The checksum list beside the ISO; bos-install verifies against it.
	if ! fetch "${iso_url%/*}/$sums" "$work/$sums" 2>/dev/null; then
		rm -f "$work/$sums"
		echo "$me: no $sums published beside the ISO: not verified" >&2
	fi
	;;
file://*)
	iso=${iso_url#file://}
	;;
*)
	iso=$iso_url
	;;
esac
[ -f "$iso" ] || die 3 "ISO $iso_url: no such file"
case $iso in
/*) ;;
*) iso=$PWD/$iso ;;
esac

# Check the ISO before running anything from it.
if [ -f "${iso%/*}/$sums" ]; then
	sumfile=${iso%/*}/$sums
elif [ -f "$work/$sums" ]; then
	sumfile=$work/$sums
else
	sumfile=
fi
if [ -n "$sumfile" ]; then
	want=$(awk -v n="$name" '{f=$2; sub(/^\*/, "", f); sub(/.*\//, "", f)} f == n {print $1; exit}' "$sumfile")
	if [ -n "$want" ]; then
		got=$(sha256sum "$iso" | awk '{print $1}')
		[ "$got" = "$want" ] || die 4 "ISO $iso_url: sha256 $got does not match the published $want"
		echo "$me: $name: sha256 verified"
	else
		echo "$me: $sumfile does not list $name: not verified" >&2
	fi
fi

mkdir "$work/iso"
if mount -o loop,ro -t iso9660 "$iso" "$work/iso" 2>/dev/null; then
	mounted=1
elif command -v xorriso >/dev/null 2>&1; then
	echo "$me: cannot loop-mount the ISO here; extracting it with xorriso"
	xorriso -osirrox on -indev "$iso" -extract / "$work/iso" >/dev/null 2>&1 ||
		die 3 "ISO $iso_url: cannot extract it"
else
	die 3 "ISO $iso_url: cannot mount it, and xorriso is not installed to extract it"
fi

installer=$work/iso/bos/system/bos/current/bos-install
[ -x "$installer" ] || die 3 "ISO $iso_url holds no bos/system/bos/current/bos-install"

# Not exec: the trap unmounts the ISO and removes the download afterwards.
status=0
"$installer" --silent "$@" "$device" "$iso" || status=$?
exit "$status"
