#!/bin/sh
# kernel.sh BUILD OUT: unpack Debian's linux-image-amd64 into BUILD and write
# bos-vmlinuz-amd64, bos-kernel-amd64.squashfs and bos-kernel-version-amd64
# into OUT. The squashfs holds lib/modules/<kver> and lib/firmware; bos-init
# binds them over /usr/lib/modules and /usr/lib/firmware.
set -eu
build=$1 out=$2
: "${SOURCE_DATE_EPOCH:?SOURCE_DATE_EPOCH must be set}"

# Modules a server running DCP never needs; dropping them keeps the ISO small.
prune="kernel/sound kernel/drivers/media kernel/drivers/staging kernel/drivers/gpu/drm/amd
kernel/drivers/gpu/drm/nouveau kernel/drivers/gpu/drm/i915 kernel/drivers/gpu/drm/radeon
kernel/drivers/iio kernel/drivers/infiniband kernel/drivers/isdn kernel/drivers/bluetooth kernel/net/bluetooth"

pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$pkg" ] || { echo "kernel.sh: no linux-image package found (apt-get update?)" >&2; exit 1; }
mkdir -p "$build/deb"
if ! ls "$build/deb/$pkg"_*.deb >/dev/null 2>&1; then
	rm -f "$build/deb"/*.deb
	(cd "$build/deb" && apt-get download "$pkg")
fi
deb=$(ls "$build/deb/$pkg"_*.deb)
rm -rf "$build/root" "$build/sq"
dpkg -x "$deb" "$build/root"
kver=$(ls "$build/root/lib/modules")
for p in $prune; do rm -rf "$build/root/lib/modules/$kver/$p"; done
depmod -b "$build/root" "$kver"

mkdir -p "$build/sq/lib/firmware" "$out"
cp -a "$build/root/lib/modules" "$build/sq/lib/"
cp "$build/root/boot/vmlinuz-$kver" "$out/bos-vmlinuz-amd64"
echo "$kver" > "$out/bos-kernel-version-amd64"
find "$build/sq" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
rm -f "$out/bos-kernel-amd64.squashfs"
# mksquashfs reads SOURCE_DATE_EPOCH for the file and file-system times; xz
# packs modules tightest, and they are read only when loaded.
mksquashfs "$build/sq" "$out/bos-kernel-amd64.squashfs" -comp xz -Xbcj x86 \
	-all-root -no-xattrs \
	-no-progress -quiet
echo "$kver"
