# images.mk: the bootable amd64 artifacts of Bhojpur OS (included by the
# top-level Makefile). `make iso` builds them all into dist/artifacts/,
# `make run` boots the ISO in QEMU on this terminal (quit: Ctrl-a x).
#
# Inputs: Debian bookworm packages (mmdebstrap, apt-get download), our
# static multi-call binary (make build: dist/bin/bos and its links), the
# initrd's dist/bin/bos-initrd, images/overlay/, and the DCP tree (make
# dcp-root; DCP= for none). Repeatable: every time stamp is
# SOURCE_DATE_EPOCH, inputs are sorted, gzip -n.

ART        := dist/artifacts
IMG        := build/images
IMG_BIN    := dist/bin
# DCP: the tree that make dcp-root lays out (default), another tree or a
# lone dcp binary; DCP= (empty) builds an image without it.
DCP        ?= $(DCP_ROOT)
DCP_DEPS   := $(if $(filter $(DCP_ROOT),$(DCP)),$(DCP_ROOT)/dcp $(DCP_BINS) $(DCP_IMAGES),$(DCP))
# Time stamp of every file in the images: the last commit, else a constant.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 1704067200)
export SOURCE_DATE_EPOCH
# bos-init needs no packages beyond APT_PKGS; the image tools are all there.
IMG_BINS   := $(IMG_BIN)/bos $(IMG_BIN)/bos-initrd
IMG_KERNEL := $(ART)/bos-vmlinuz-amd64 $(ART)/bos-kernel-amd64.squashfs $(ART)/bos-kernel-version-amd64
IMG_ALL    := $(IMG_KERNEL) $(ART)/bos-initrd-amd64 $(ART)/bos-rootfs-amd64.tar.gz $(ART)/bos-amd64.iso

RUN_MEM      ?= 1024
RUN_SSH_PORT ?= 2222
RUN_ACCEL    ?= tcg

.PHONY: iso run images-clean
iso: deps build
	@$(MAKE) --no-print-directory -f $(firstword $(MAKEFILE_LIST)) $(ART)/sha256sum-amd64.txt

$(IMG_BINS): ; @test -x $@ || { echo "$@ missing: run make build" >&2; exit 1; }

$(IMG_KERNEL) &: images/kernel.sh
	images/kernel.sh $(IMG)/kernel $(ART)

$(ART)/bos-initrd-amd64: images/initrd.sh $(IMG_BIN)/bos-initrd $(ART)/bos-kernel-version-amd64
	images/initrd.sh $(IMG)/kernel/root $(IMG_BIN)/bos-initrd $(IMG)/initrd $@

$(IMG)/base.done: images/rootfs-base.sh
	images/rootfs-base.sh $(IMG)/base
	touch $@

IMG_OVERLAY := $(shell find images/overlay -type f 2>/dev/null | LC_ALL=C sort)
$(IMG)/rootfs.squashfs: images/rootfs.sh $(IMG)/base.done $(IMG_BINS) $(IMG_OVERLAY) $(wildcard internal/apply/scripts/*)
	@mkdir -p $(ART)
	images/rootfs.sh $(IMG)/base $(IMG_BIN) images/overlay $(IMG)/rootfs $(IMG)/rootfs.squashfs

$(ART)/bos-amd64.iso $(ART)/bos-rootfs-amd64.tar.gz &: images/iso.sh $(IMG)/rootfs.squashfs $(IMG_KERNEL) $(ART)/bos-initrd-amd64 $(IMG_BINS) $(DCP_DEPS)
	images/iso.sh $(ART) $(IMG)/rootfs.squashfs $(IMG_BIN) $(VERSION) $(IMG)/iso $(ART)/bos-amd64.iso $(ART)/bos-rootfs-amd64.tar.gz $(DCP)

$(ART)/sha256sum-amd64.txt: $(IMG_ALL)
	cd $(ART) && sha256sum $(notdir $(IMG_ALL)) > $(notdir $@)

# run boots the live ISO on this terminal: serial console, SSH on
# 127.0.0.1:$(RUN_SSH_PORT). Quit QEMU with Ctrl-a x.
run:
	@test -s $(ART)/bos-amd64.iso || $(MAKE) --no-print-directory -f $(firstword $(MAKEFILE_LIST)) iso
	@echo "Booting $(ART)/bos-amd64.iso (quit: Ctrl-a x; ssh -p $(RUN_SSH_PORT) bhojpur@127.0.0.1)"
	qemu-system-x86_64 -accel $(RUN_ACCEL) -m $(RUN_MEM) -smp 2 -nographic -no-reboot -device virtio-rng-pci \
		-cdrom $(ART)/bos-amd64.iso -boot d \
		-nic user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:$(RUN_SSH_PORT)-:22

images-clean:
	rm -rf $(IMG) $(ART)

# The Debian system the takeover test (images/takeover_e2e_test.go) takes
# over: a raw GPT disk booting bookworm from its own GRUB. Built once,
# rebuilt when its recipe changes; the test runs on a qcow2 overlay of it.
DEBIAN_DISK := $(IMG)/debian-takeover.raw
.PHONY: debian-disk
debian-disk: $(DEBIAN_DISK)
$(DEBIAN_DISK): images/debian-disk.sh images/debian-disk-hook.sh
	images/debian-disk.sh $@ $(IMG)/debian-takeover
