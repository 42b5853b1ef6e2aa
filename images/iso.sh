#!/bin/sh
# iso.sh ARTIFACTS ROOTFS BINDIR VERSION STAGE OUT TGZ [DCP]: lay out bos/system
# on the ISO (internal/layout), make a hybrid BIOS + UEFI image with GRUB and xorriso,
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
for l in "$bindir"/*; do
	if [ -L "$l" ] && [ "$(readlink "$l")" = bos ]; then
		ln -s bos "$sys/bos/$version/$(basename "$l")"
	fi
done
cp "$art/bos-vmlinuz-amd64" "$sys/kernel/$version/vmlinuz"
cp "$art/bos-initrd-amd64" "$sys/kernel/$version/initrd"
cp "$art/bos-kernel-amd64.squashfs" "$sys/kernel/$version/kernel.squashfs"
echo "$kver" > "$sys/kernel/$version/version"
ln -s "$version" "$sys/bos/current"
ln -s "$version" "$sys/kernel/current"
# DCP: a tree (make dcp-root: dcp, bin/, images/) or a lone binary.
if [ -d "$dcp" ]; then
	mkdir -p "$sys/dcp"
	cp -a "$dcp" "$sys/dcp/$version"
	ln -s "$version" "$sys/dcp/current"
elif [ -n "$dcp" ]; then
	mkdir -p "$sys/dcp/$version"
	install -m 0755 "$dcp" "$sys/dcp/$version/dcp"
	ln -s "$version" "$sys/dcp/current"
fi

k=/bos/system/kernel/$version
cat > "$stage/boot/grub/grub.cfg" <<CFG
# Bhojpur OS $version live ISO: serial and VGA consoles. The menu is hidden
# behind a one-line hint: Esc (or Shift on the VGA console) shows it within
# the second; drawing it on both consoles cost 0.5 s of every boot under TCG.
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout_style=hidden
set timeout=1
echo "Bhojpur OS $version: booting live in 1 s."
echo "Press Esc for the menu: install, rescue shell."
set default=0
search --no-floppy --set=root --label BOS
set cmdline="console=tty0 console=ttyS0,115200"
CFG
# On BIOS the 16-bit boot protocol (linux16): the kernel reached its first
# message 2.2 s sooner under TCG than through GRUB's 32-bit entry (same
# kernel and initrd). UEFI has only linux.
entry() {
	cat <<CFG

menuentry "Bhojpur OS $version $1" {
	if [ "\$grub_platform" = pc ]; then
		linux16 $k/vmlinuz \$cmdline$2
		initrd16 $k/initrd
	else
		linux $k/vmlinuz \$cmdline$2
		initrd $k/initrd
	fi
}
CFG
}
{
	entry live ""
	entry install " bos.mode=install"
	entry "rescue shell" " bos.mode=shell"
} >> "$stage/boot/grub/grub.cfg"
grub-script-check "$stage/boot/grub/grub.cfg"
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

# The boot images, made here rather than by grub-mkrescue, which stamps the
# ISO's UUID with the current time and makes its EFI FAT image with a random
# serial and current times: with these fixed, the same inputs give the same
# ISO. GRUB's core images find the ISO by its UUID (xorriso's
# --modification-date, from SOURCE_DATE_EPOCH) and load grub.cfg and the
# modules from /boot/grub; no locales, fonts or themes (the menu is plain
# text).
date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y%m%d%H%M%S00)
uuid=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d-%H-%M-%S-00)
g=/usr/lib/grub
rm -rf "$stage.boot" && mkdir -p "$stage.boot/efi/boot"
# shellcheck disable=SC2016 # $root is GRUB's variable
printf 'search --no-floppy --fs-uuid --set=root %s\nset prefix=($root)/boot/grub\n' "$uuid" > "$stage.boot/load.cfg"
for p in i386-pc x86_64-efi; do
	mkdir -p "$stage/boot/grub/$p"
	cp "$g/$p/"*.mod "$g/$p/"*.lst "$stage/boot/grub/$p/"
done
grub-mkimage -O i386-pc-eltorito -d "$g/i386-pc" -c "$stage.boot/load.cfg" -p /boot/grub \
	-o "$stage/boot/grub/i386-pc/eltorito.img" biosdisk iso9660 search part_msdos part_gpt
grub-mkimage -O x86_64-efi -d "$g/x86_64-efi" -c "$stage.boot/load.cfg" -p /boot/grub \
	-o "$stage.boot/efi/boot/bootx64.efi" iso9660 search part_msdos part_gpt fat
# The EFI system image: FAT12 with a fixed serial and label, file times
# from SOURCE_DATE_EPOCH (mkfs.fat and mtools read it; mcopy -m keeps the
# files' own times, set just before).
kib=$(( ($(stat -c %s "$stage.boot/efi/boot/bootx64.efi") / 65536 + 2) * 64 ))
mkfs.vfat -C -i 0x424f5300 -n BOS_EFI --invariant "$stage/efi.img" "$kib" >/dev/null
find "$stage.boot" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
mmd -i "$stage/efi.img" ::/efi ::/efi/boot
mcopy -m -i "$stage/efi.img" "$stage.boot/efi/boot/bootx64.efi" ::/efi/boot/bootx64.efi
rm -rf "$stage.boot"
find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

# A hybrid image (BIOS El Torito + MBR, EFI El Torito + a GPT/MBR
# partition for USB sticks) with the options grub-mkrescue uses, and every
# date fixed: the volume's from --modification-date and SOURCE_DATE_EPOCH,
# the files' from their mtimes. The DCP tree is stored zisofs-compressed
# (zlib, 128 KiB blocks): Linux's isofs reads it back transparently, and
# nothing else (GRUB) reads it.
rm -f "$out"
xorriso -as mkisofs -graft-points -V BOS --modification-date="$date" \
	-b boot/grub/i386-pc/eltorito.img -no-emul-boot -boot-load-size 4 -boot-info-table \
	--grub2-boot-info --grub2-mbr "$g/i386-pc/boot_hybrid.img" \
	--efi-boot efi.img -efi-boot-part --efi-boot-image --protective-msdos-label \
	-r -o "$out" --sort-weight 0 / --sort-weight 1 /boot "$stage" \
	-- -zisofs level=9:block_size=128k ${dcp:+-set_filter_r --zisofs /bos/system/dcp --} 2>&1 |
	grep -vE '^(xorriso : (UPDATE|NOTE)|Drive current|Media (current|status|summary)|Added to ISO|ISO image produced|Written to medium|Writing to|xorriso [0-9.]+ : RockRidge)' || true
[ -s "$out" ] || { echo "iso.sh: xorriso wrote no image" >&2; exit 1; }
