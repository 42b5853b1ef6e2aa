#!/bin/sh
# rootfs.sh BASE BINDIR OVERLAY TREE SQUASHFS: copy the Debian base to
# TREE, add our binaries and overlay, the bhojpur user and the boot layout,
# then write the read-only root image (iso.sh packs it for the ISO and the
# rootfs tarball).
set -eu
base=$1 tree=$4 sq=$5
scripts=$(cd "$(dirname "$0")/../internal/apply/scripts" && pwd)
bindir=$(cd "$2" && pwd) overlay=$(cd "$3" && pwd)
: "${SOURCE_DATE_EPOCH:?SOURCE_DATE_EPOCH must be set}"
days=$((SOURCE_DATE_EPOCH / 86400))

rm -rf "$tree"
cp -a "$base" "$tree"
cd "$tree"

# Our one binary under its five command names, and busybox as init and
# power control.
install -m 0755 "$bindir/bos" usr/sbin/bos
for l in "$bindir"/*; do
	if [ -L "$l" ] && [ "$(readlink "$l")" = bos ]; then
		ln -sfn bos "usr/sbin/$(basename "$l")"
	fi
done
for a in init poweroff reboot halt; do ln -sf ../bin/busybox "usr/sbin/$a"; done

# Overlay files; owners are root, sudoers must be 0440.
cp -a --no-preserve=ownership "$overlay/." .
chmod 0440 etc/sudoers.d/bhojpur
# Services: our sshd replaces Debian's ssh script (both would provide
# sshd); hwclock.sh and procps need Debian's initscripts, which are not
# here (the config phases apply sysctls).
rm -f etc/runlevels/default/ssh etc/init.d/ssh etc/runlevels/sysinit/hwclock.sh etc/runlevels/sysinit/procps
# Boot speed: OpenRC reads every script in /etc/init.d to order them, so
# scripts nothing starts go (sysvinit's rc/rcS wrappers, hwclock.sh, procps,
# savecache: the root is read-only); sudo's only clears time stamps kept on
# a tmpfs anyway. Services start in parallel where their order allows.
rm -f etc/init.d/rc etc/init.d/rcS etc/init.d/hwclock.sh etc/init.d/procps \
	etc/init.d/savecache etc/runlevels/off/savecache etc/runlevels/default/sudo
sed -i 's/^#\{0,1\}rc_parallel=.*/rc_parallel="YES"/' etc/rc.conf
grep -q '^rc_parallel="YES"' etc/rc.conf
# cgroup v2 only (bos-init mounts it; OpenRC puts each service in its own
# group there). DCP (containerd, kubelet) runs on v2.
sed -i 's/^#\{0,1\}rc_cgroup_mode=.*/rc_cgroup_mode="unified"/' etc/rc.conf
grep -q '^rc_cgroup_mode="unified"' etc/rc.conf
# The DCP service, as bos-config apply writes it (internal/apply/scripts):
# with it in the image a boot changes nothing under /etc/init.d.
mkdir -p etc/bhojpur
install -m 0755 "$scripts/dcp.initd" etc/init.d/dcp
install -m 0755 "$scripts/dcp-exec" etc/bhojpur/dcp-exec
# kubectl on every user's PATH: dcp is kubectl when called by that name.
ln -sfn /bos/system/dcp/current/dcp usr/bin/kubectl
# kmod loads /etc/modules and modules-load.d, which are empty: the config
# phases load bos.modules.
rm -f etc/runlevels/sysinit/kmod

# Users: bhojpur (uid 1000, no password until the config sets one; live
# mode allows an empty console login), root locked.
grep -q '^bhojpur:' etc/passwd || {
	echo "bhojpur:x:1000:1000:Bhojpur OS:/home/bhojpur:/bin/bash" >> etc/passwd
	echo "bhojpur:x:1000:" >> etc/group
	echo "bhojpur:*:$days:0:99999:7:::" >> etc/shadow
	echo "bhojpur:!::" >> etc/gshadow
}
sed -i "s/^root:[^:]*:[^:]*:/root:!:$days:/" etc/shadow
for g in adm sudo; do sed -i "/^$g:/ { /[:,]bhojpur\$/! s/\$/,bhojpur/; s/:,bhojpur\$/:bhojpur/ }" etc/group; done
mkdir -p home/bhojpur/.ssh
cp -a etc/skel/. home/bhojpur/ 2>/dev/null || true
chmod 0700 home/bhojpur/.ssh
chown -R 1000:1000 home/bhojpur

# Boot layout: /bos mount point, /bhojpur -> /bos, /usr/local -> /var/local,
# empty module and firmware mount points for kernel.squashfs.
mkdir -p bos var/local var/lib/bhojpur/os
ln -sfn bos bhojpur
rm -rf usr/local && ln -s ../var/local usr/local
rm -rf usr/lib/modules usr/lib/firmware && mkdir -p usr/lib/modules usr/lib/firmware

# What must not be in an image: host keys, caches, logs, machine identity.
rm -f etc/ssh/ssh_host_* etc/machine-id var/lib/dbus/machine-id etc/*- var/lib/dpkg/*-old
rm -rf var/cache/* var/lib/apt/lists/* var/log/* tmp/* run/* root/.cache
# dpkg's per-package file lists and scripts (6 MB, copied into /var at
# every live boot): nothing installs packages on an immutable system; the
# list of packages (var/lib/dpkg/status) stays.
rm -rf var/lib/dpkg/info && mkdir var/lib/dpkg/info
# The state of tools this system does not run (systemd's unit helpers, apt,
# ucf, pam-auth-update): half of /var's 103 entries, which a live boot
# copies to its tmpfs /var (0.4 s under TCG for all of them).
rm -rf var/lib/systemd var/lib/apt var/lib/ucf var/lib/pam
rm -f var/cache/ldconfig/aux-cache

# OpenRC's dependency tree, computed now rather than at every boot (2 s
# under TCG): bos-init seeds /run/openrc with it and starts OpenRC past its
# sysinit (it mounts what OpenRC's sysinit would, cgroup2 included).
# OpenRC uses the tree while no file under /etc/init.d, /etc/conf.d or
# /etc/rc.conf is newer (all share the image's time stamp; a config that
# writes there makes OpenRC compute it again). cgroups stays in the sysinit
# runlevel for an older kernel's bos-init, which runs `openrc sysinit`.
rm -rf lib/rc/cache run/openrc && mkdir -p lib/rc/cache run/openrc
chroot . /lib/rc/bin/rc-depend -u >/dev/null
[ -s run/openrc/deptree ] || { echo "rootfs.sh: rc-depend wrote no deptree" >&2; exit 1; }
cp run/openrc/deptree lib/rc/cache/
[ ! -e run/openrc/depconfig ] || cp run/openrc/depconfig lib/rc/cache/
rm -rf run/openrc
cd - >/dev/null

find "$tree" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
rm -f "$sq"
# mksquashfs takes its time stamps from SOURCE_DATE_EPOCH; owners are kept
# (not -all-root): /home/bhojpur is uid 1000 and /etc/shadow group shadow.
# LZ4 (high compression): every program and library of the boot is read
# through it, and under TCG the login prompt came 0.5 s sooner than with
# zstd -19 (two boots each), for 78 MB instead of 60 (ISO 163.5 MB).
mksquashfs "$tree" "$sq" -comp lz4 -Xhc -no-progress -quiet
