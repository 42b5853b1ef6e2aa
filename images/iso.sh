#!/bin/sh
# iso.sh ARTIFACTS ROOTFS BINDIR VERSION STAGE OUT TGZ [DCP]: lay out bos/system
# on the ISO (DESIGN.md), make a hybrid BIOS + UEFI image with grub-mkrescue,
# and the rootfs tarball that upgrades and overlay installs take:
# bos-rootfs-VERSION/bos/system/{bos,dcp}/VERSION/... with current links.
# Every component's version directory is named by the release VERSION; the
# kernel's own release is in kernel/VERSION/version.
set -eu
art=$1 rootfs=$2 bindir=$3 version=$4 stage=$5 out=$6 tgz=$7 dcp=${8:-}
: "${SOURCE_DATE_EPOCH:?SOURCE_DATE_EPOCH must be set}"
kver=$(cat "$art/bos-kernel-version-amd64")

rm -rf "$stage"
sys=$stage/bos/system
mkdir -p "$sys/bos/$version" "$sys/kernel/$version" "$stage/boot/grub"
cp "$rootfs" "$sys/bos/$version/rootfs.squashfs"
# The one binary and its command names as links beside it (install.sh runs
# bos/current/bos-install; installs and upgrades copy the links as links).
cp "$bindir/bos" "$sys/bos/$version/bos"
for c in bos-init bos-config bos-install bos-upgrade-rootfs bos-upgrade-kernel; do
	ln -s bos "$sys/bos/$version/$c"
done
cp "$art/bos-vmlinuz-amd64" "$sys/kernel/$version/vmlinuz"
cp "$art/bos-initrd-amd64" "$sys/kernel/$version/initrd"
cp "$art/bos-kernel-amd64.squashfs" "$sys/kernel/$version/kernel.squashfs"
echo "$kver" > "$sys/kernel/$version/version"
ln -s "$version" "$sys/bos/current"
ln -s "$version" "$sys/kernel/current"
if [ -n "$dcp" ]; then
	mkdir -p "$sys/dcp/$version"
	install -m 0755 "$dcp" "$sys/dcp/$version/dcp"
	ln -s "$version" "$sys/dcp/current"
fi

k=/bos/system/kernel/$version
cat > "$stage/boot/grub/grub.cfg" <<CFG
# Bhojpur OS $version live ISO: serial and VGA consoles.
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=2
set default=0
search --no-floppy --set=root --label BOS
set cmdline="console=tty0 console=ttyS0,115200"

menuentry "Bhojpur OS $version live" {
	linux $k/vmlinuz \$cmdline
	initrd $k/initrd
}
menuentry "Bhojpur OS $version install" {
	linux $k/vmlinuz \$cmdline bos.mode=install
	initrd $k/initrd
}
menuentry "Bhojpur OS $version rescue shell" {
	linux $k/vmlinuz \$cmdline bos.mode=shell
	initrd $k/initrd
}
CFG
find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

# The rootfs tarball: the bos (and dcp) components of bos/system.
top=bos-rootfs-$version
rm -rf "$stage.tar" && mkdir -p "$stage.tar/$top/bos/system"
for c in bos dcp; do
	[ -d "$sys/$c" ] && cp -a "$sys/$c" "$stage.tar/$top/bos/system/$c"
done
tar --sort=name --numeric-owner --owner=0 --group=0 --mtime="@$SOURCE_DATE_EPOCH" \
	--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
	-C "$stage.tar" -cf - "$top" | gzip -n -6 > "$tgz.tmp"
mv "$tgz.tmp" "$tgz"
rm -rf "$stage.tar"

rm -f "$out"
# No GRUB locales, fonts or themes (11 MB; the menu is plain text). xorriso
# takes the volume dates from SOURCE_DATE_EPOCH and all file dates from
# -volume_date; what still differs between two builds is grub-mkrescue's
# own EFI image (FAT serial, file times) and the GPT GUIDs derived from it.
date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y%m%d%H%M%S00)
grub-mkrescue --locales= --fonts= --themes= -o "$out" "$stage" -- \
	-volid BOS -joliet off -volume_date all_file_dates "$date" 2>&1 |
	grep -vE '^(xorriso : (UPDATE|NOTE)|Drive current|Media (current|status|summary)|Added to ISO|ISO image produced|Written to medium|Writing to)' || true
[ -s "$out" ] || { echo "iso.sh: grub-mkrescue wrote no image" >&2; exit 1; }
