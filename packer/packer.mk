# packer.mk: the Packer templates under packer/ (included by the top-level
# Makefile). `make packer-validate` validates every template with its
# example variables (the tests of packer/ that need no VM), `make
# packer-qemu` builds the qemu template into dist/artifacts/bos-amd64.qcow2,
# `make packer-takeover` the qemu-takeover template into
# dist/artifacts/bos-amd64-takeover.qcow2. See packer/README.md.

PACKER            ?= packer
PACKER_ACCEL      ?= tcg
PACKER_FORMAT     ?= qcow2
PACKER_CONFIG_DIR ?= packer/qemu/example
PACKER_CONFIG     ?= $(PACKER_CONFIG_DIR)/config.yaml
PACKER_WORK       := build/packer
PACKER_ENV        := CHECKPOINT_DISABLE=1 PACKER_CACHE_DIR=$(PACKER_WORK)/cache

.PHONY: packer-validate packer-qemu packer-takeover
packer-validate: deps
	$(GO) test -count=1 -run '^(TestValidate|TestLayout|TestTemplateConventions|TestPluginsPinned|TestShippedConfigs|TestTakeoverScript)' ./packer/

packer-qemu: iso
	@mkdir -p $(PACKER_WORK)
	$(PACKER_ENV) $(PACKER) build -force \
		-var iso_url=$(ART)/bos-amd64.iso -var iso_checksum=file:$(ART)/sha256sum-amd64.txt \
		-var kernel=$(ART)/bos-vmlinuz-amd64 -var initrd=$(ART)/bos-initrd-amd64 \
		-var config_dir=$(PACKER_CONFIG_DIR) -var accelerator=$(PACKER_ACCEL) -var format=$(PACKER_FORMAT) \
		-var output_directory=$(PACKER_WORK)/qemu -var serial_log=$(PACKER_WORK)/qemu-serial.log \
		packer/qemu
	mv $(PACKER_WORK)/qemu/bos-amd64.$(PACKER_FORMAT) $(ART)/bos-amd64.$(PACKER_FORMAT)
	@echo "$(ART)/bos-amd64.$(PACKER_FORMAT): Bhojpur OS installed by Packer ($(PACKER_CONFIG_DIR)/config.yaml)"

# The build's own key pair for root on the Debian disk: made here, never
# committed, handed to the guest through fw_cfg.
$(PACKER_WORK)/id_ed25519:
	@mkdir -p $(PACKER_WORK)
	ssh-keygen -q -t ed25519 -N '' -C bos-packer -f $@

packer-takeover: iso debian-disk $(PACKER_WORK)/id_ed25519
	$(PACKER_ENV) $(PACKER) build -force \
		-var base_image=$(DEBIAN_DISK) -var base_image_checksum=sha256:$$(sha256sum $(DEBIAN_DISK) | cut -d' ' -f1) \
		-var artifacts_dir=$(ART) -var config_file=$(PACKER_CONFIG) \
		-var ssh_private_key_file=$(PACKER_WORK)/id_ed25519 -var ssh_public_key_file=$(PACKER_WORK)/id_ed25519.pub \
		-var accelerator=$(PACKER_ACCEL) -var format=$(PACKER_FORMAT) \
		-var output_directory=$(PACKER_WORK)/qemu-takeover -var serial_log=$(PACKER_WORK)/qemu-takeover-serial.log \
		packer/qemu-takeover
	mv $(PACKER_WORK)/qemu-takeover/bos-amd64-takeover.$(PACKER_FORMAT) $(ART)/bos-amd64-takeover.$(PACKER_FORMAT)
	@echo "$(ART)/bos-amd64-takeover.$(PACKER_FORMAT): Bhojpur OS by takeover of $(DEBIAN_DISK)"
