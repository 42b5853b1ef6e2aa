#!/bin/sh
# debian-disk-hook.sh DIR UUID: the customize hook of debian-disk.sh. It
# makes the mmdebstrap tree a bootable, reachable test system: fstab, a
# serial GRUB menu, root logged in on ttyS0, DHCP, sshd taking root's key
# from QEMU's fw_cfg, and the first-boot script that installs GRUB from
# inside the VM.
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
# sshd: no host key on the disk (each boot of a fresh copy makes its own),
# and root's authorized key only from QEMU's fw_cfg, read at every boot
# before sshd starts; without that entry root has no key at all.
rm -f "$root"/etc/ssh/ssh_host_*
mkdir -p "$root/usr/local/sbin"
mkdir -p "$root/etc/systemd/system/ssh.service.d"
cat > "$root/etc/systemd/system/ssh.service.d/hostkeys.conf" <<'CFG'
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
CFG
cat > "$root/usr/local/sbin/bos-test-authorized-keys" <<'SH'
#!/bin/sh
# root's SSH key from QEMU: -fw_cfg name=opt/net.bhojpur/authorized_keys,file=KEY.pub
set -eu
f=/sys/firmware/qemu_fw_cfg/by_name/opt/net.bhojpur/authorized_keys/raw
modprobe qemu_fw_cfg 2>/dev/null || true
rm -f /root/.ssh/authorized_keys
[ -f "$f" ] || { echo "bos-test-authorized-keys: no fw_cfg key: root has no SSH key"; exit 0; }
install -d -m 0700 /root/.ssh
head -c 65536 "$f" > /root/.ssh/authorized_keys
chmod 0600 /root/.ssh/authorized_keys
echo "bos-test-authorized-keys: root's key from fw_cfg"
SH
chmod 755 "$root/usr/local/sbin/bos-test-authorized-keys"
cat > "$root/etc/systemd/system/bos-test-authorized-keys.service" <<'CFG'
[Unit]
Description=root's SSH key from QEMU fw_cfg
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/bos-test-authorized-keys
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
CFG
chroot "$root" systemctl enable bos-test-authorized-keys.service >/dev/null 2>&1
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
