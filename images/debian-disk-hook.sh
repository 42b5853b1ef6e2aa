#!/bin/sh
# debian-disk-hook.sh DIR UUID: the customize hook of debian-disk.sh. It
# makes the mmdebstrap tree a bootable, reachable test system: fstab, a
# serial GRUB menu, root logged in on ttyS0, DHCP, and the first-boot script
# that installs GRUB from inside the VM.
set -eu
root=$1
uuid=$2
echo debian-takeover > "$root/etc/hostname"
printf 'UUID=%s / ext4 errors=remount-ro 0 1\n' "$uuid" > "$root/etc/fstab"
cat > "$root/etc/default/grub" <<'CFG'
GRUB_DEFAULT=0
GRUB_TIMEOUT=1
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=ttyS0,115200 panic=-1"
GRUB_TERMINAL=serial
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_DISABLE_RECOVERY=true
GRUB_DISABLE_OS_PROBER=true
CFG
mkdir -p "$root/etc/systemd/system/serial-getty@ttyS0.service.d"
cat > "$root/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf" <<'CFG'
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --keep-baud 115200,57600,38400,9600 %I $TERM
CFG
cat > "$root/etc/systemd/network/10-dhcp.network" <<'CFG'
[Match]
Name=en* eth*

[Network]
DHCP=ipv4
CFG
chroot "$root" systemctl enable systemd-networkd.service >/dev/null 2>&1
# No time wasted on what a test VM does not need.
chroot "$root" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer >/dev/null 2>&1 || true
# Files the takeover test expects to disappear.
echo "planted by debian-disk-hook.sh" > "$root/root/old-file"
mkdir -p "$root/usr/local/sbin"
cat > "$root/usr/local/sbin/bos-test-firstboot" <<'SH'
#!/bin/sh
# Booted once with init=this: GRUB onto the disk, a menu, power off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mountpoint -q /dev || mount -t devtmpfs dev /dev
if grub-install --target=i386-pc /dev/vda && update-grub; then
	echo "bos-test-firstboot: grub installed"
else
	echo "bos-test-firstboot: FAILED"
fi
sync
mount -o remount,ro / || true
echo o > /proc/sysrq-trigger
sleep 30
SH
chmod 755 "$root/usr/local/sbin/bos-test-firstboot"
