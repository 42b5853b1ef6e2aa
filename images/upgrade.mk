# upgrade.mk: the upgrade image that the Kubernetes bos-latest Plans run
# (images/overlay/var/lib/bhojpur/dcp/server/manifests/system-upgrade-plans/).
# `make upgrade-image` writes dist/artifacts/bos-upgrade-amd64.oci.tar, an
# OCI image layout in a tar archive: our static binaries in /usr/sbin and
# the release's bos/system tree (bos, dcp, kernel with current links) in
# /bos/system, entrypoint bos-upgrade-rootfs. No container runtime is
# needed; the same inputs and SOURCE_DATE_EPOCH give the same bytes.
# Publish it under docker.io/bhojpur/bos-upgrade:<release>, e.g.
# `skopeo copy oci-archive:dist/artifacts/bos-upgrade-amd64.oci.tar docker://docker.io/bhojpur/bos-upgrade:<release>`.
#
# Included by the top-level Makefile after images/images.mk (ART, IMG,
# IMG_BIN, IMG_ALL, IMG_BINS, SOURCE_DATE_EPOCH).

UPGRADE_IMAGE := $(ART)/bos-upgrade-amd64.oci.tar
UPGRADE_SRC   := $(shell find internal/upgrade/ociimage internal/tools/mkupgradeimage -name '*.go' ! -name '*_test.go' 2>/dev/null | LC_ALL=C sort)

.PHONY: upgrade-image
upgrade-image: iso
	@$(MAKE) --no-print-directory -f $(firstword $(MAKEFILE_LIST)) $(UPGRADE_IMAGE)

$(UPGRADE_IMAGE): $(IMG_ALL) $(IMG_BINS) $(UPGRADE_SRC) go.mod go.sum
	$(GO) run ./internal/tools/mkupgradeimage --artifacts $(ART) --bin $(IMG_BIN) --arch amd64 \
		--work $(IMG)/upgrade-image --out $@
