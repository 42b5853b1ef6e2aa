#!/bin/sh
# initrd.sh KROOT BOS BUILD OUT: write the initrd OUT: BOS (bos-initrd,
# bos-init's boot alone) as /init, a static busybox for the rescue shell
# and a netboot's DHCP (udhcpc, ip), the storage, network and file-system
# modules (with their dependencies) from the unpacked kernel tree KROOT,
# and the CA certificates for a netboot's https download.
set -eu
bos=$2 build=$3 out=$4
kroot=$(cd "$1" && pwd) # modprobe prints absolute paths under it
: "${SOURCE_DATE_EPOCH:?SOURCE_DATE_EPOCH must be set}"
kver=$(ls "$kroot/lib/modules")

# Drivers to find and mount the root on common machines, the file systems,
# the network cards of common machines and hypervisors for a netboot
# (bos.install.iso_url without media), and softdog: the watchdog of trial
# boots after an upgrade (bos-init).
mods="virtio_blk virtio_scsi virtio_pci virtio_mmio virtio_rng
ahci ata_piix ata_generic pata_acpi sd_mod sr_mod cdrom nvme
usb_storage uas xhci_pci xhci_plat_hcd ehci_pci ehci_platform ohci_pci uhci_hcd usbhid hid_generic
mmc_block sdhci_pci sdhci_acpi
vmw_pvscsi mptspi megaraid_sas mpt3sas hv_storvsc hv_vmbus xen_blkfront
ext4 squashfs overlay isofs vfat nls_cp437 nls_iso8859_1 nls_utf8 loop crc32c_generic
virtio_net e1000 e1000e igb igc r8169 vmxnet3 hv_netvsc xen_netfront
softdog"

rm -rf "$build"
mkdir -p "$build/bin" "$build/dev" "$build/proc" "$build/sys" "$build/run" "$build/newroot" "$build/lib/modules/$kver"
for m in $mods; do
	# --show-depends lists "insmod PATH" for the module and every dependency.
	modprobe -d "$kroot" -S "$kver" --show-depends "$m" 2>/dev/null || echo "initrd.sh: no module $m (skipped)" >&2
done | awk '$1 == "insmod" {print $2}' | sort -u | while read -r f; do
	rel=${f#"$kroot"}
	mkdir -p "$build/$(dirname "$rel")"
	cp "$f" "$build/$rel"
done
cp "$kroot/lib/modules/$kver/modules.order" "$kroot/lib/modules/$kver/modules.builtin" \
	"$kroot/lib/modules/$kver/modules.builtin.modinfo" "$build/lib/modules/$kver/"
depmod -b "$build" "$kver"
cp "$bos" "$build/init"
cp /bin/busybox "$build/bin/busybox"
ln -s busybox "$build/bin/sh"
# udhcpc's script in a netboot: /init under this name writes the lease.
ln -s ../init "$build/bin/bos-dhcp-event"
# The roots that Go's TLS reads (ca-certificates, of the build machine's
# Debian release like the rest of the image).
mkdir -p "$build/etc/ssl/certs"
cp /etc/ssl/certs/ca-certificates.crt "$build/etc/ssl/certs/"
# The kernel opens /dev/console for init before devtmpfs is mounted.
mknod -m 600 "$build/dev/console" c 5 1

# A cpio with sorted names, fixed times and owners: the same inputs give the
# same bytes. zstd: 20% smaller than gzip -9 (less for GRUB to read from a
# CD) and several times faster for the kernel to unpack.
find "$build" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
(cd "$build" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 --reproducible) |
	zstd -q -19 --no-check > "$out"
