#!/bin/sh
# debian-disk.sh OUT WORK: a small Debian bookworm system on a raw GPT disk
# image that boots from its own GRUB (BIOS), for the takeover test
# (images/takeover_e2e_test.go) and for packer/qemu-takeover, where it
# stands in for a cloud's base image: systemd with root logged in on ttyS0,
# DHCP by systemd-networkd, curl, sshd, and the Debian kernel. root's SSH
# key is not on the disk: QEMU hands it over at boot through fw_cfg
# (-fw_cfg name=opt/net.bhojpur/authorized_keys,file=KEY.pub), and sshd's
# host keys are made at the first boot.
#
# The host kernel cannot scan partitions of loop devices and grub-install
# misbehaves on the host, so: mmdebstrap a tree, write a GPT (a BIOS boot
# partition and an ext4 root) into an image file, fill the root with
# mkfs.ext4 -d at its offset, then boot the image once in QEMU with the
# tree's own kernel and initrd and init=a script that runs grub-install and
# update-grub inside and powers off. WORK holds the tree while building.
set -eu
out=$1
work=$2
: "${SOURCE_DATE_EPOCH:?SOURCE_DATE_EPOCH must be set}"
accel=${BOS_QEMU_ACCEL:-tcg}
size_mib=3072       # the root partition must hold a 2 GiB BOS_STATE
uuid=6b0f1d2e-5a1c-4c3e-9d27-0b05da7a4e01
pkgs="systemd systemd-sysv udev linux-image-amd64 initramfs-tools grub-pc e2fsprogs kmod curl openssh-server"

hook=$(cd "$(dirname "$0")" && pwd)/debian-disk-hook.sh
rm -rf "$work"
mkdir -p "$work"
# shellcheck disable=SC2016 # $1 is the hooks' argument, expanded by mmdebstrap
mmdebstrap --variant=minbase --mode=root --format=directory \
	--include="$(echo "$pkgs" | tr ' ' ,)" \
	--aptopt='APT::Install-Recommends "false"' \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/info/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--customize-hook="$hook"' "$1" '"$uuid" \
	bookworm "$work/root"

kernel=$(find "$work/root/boot" -name 'vmlinuz-*' | sort | tail -n 1)
initrd=$(find "$work/root/boot" -name 'initrd.img-*' | sort | tail -n 1)
if [ ! -f "$kernel" ] || [ ! -f "$initrd" ]; then
	echo "$0: no kernel or initrd in the tree" >&2
	exit 1
fi

# GPT: 1 MiB BIOS boot partition at 1 MiB, the root from 2 MiB, 1 MiB
# spare at the end for the backup table.
img=$out.tmp
rm -f "$img"
truncate -s $(((size_mib + 3) * 1024 * 1024)) "$img"
# mkfs.ext4 first: it wipes what looks like a partition table at the
# start of the image; sgdisk writes only the first and last 17 KiB.
mkfs.ext4 -q -F -L debian -U "$uuid" -E offset=$((4096 * 512)) -d "$work/root" "$img" "${size_mib}M"
sgdisk -n 1:2048:4095 -t 1:ef02 -c 1:bios -n "2:4096:+${size_mib}M" -t 2:8300 -c 2:debian "$img" >/dev/null

# The first boot installs GRUB from inside and powers off.
log=$work/firstboot.log
timeout -s KILL 900 qemu-system-x86_64 -accel "$accel" -m 1024 -smp 1 -nographic -no-reboot \
	-device virtio-rng-pci -nic none \
	-drive "file=$img,format=raw,if=virtio" \
	-kernel "$kernel" -initrd "$initrd" \
	-append "root=/dev/vda2 rw console=ttyS0 panic=-1 init=/usr/local/sbin/bos-test-firstboot" \
	</dev/null >"$log" 2>&1 || true
if ! grep -q 'bos-test-firstboot: grub installed' "$log"; then
	tail -n 40 "$log" >&2
	echo "$0: the first boot did not install GRUB (log: $log)" >&2
	exit 1
fi
mv "$img" "$out"
rm -rf "$work/root"
echo "$0: $out: Debian bookworm booting from its own GRUB"
