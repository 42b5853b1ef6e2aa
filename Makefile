# Bhojpur OS toolkit. `make test` runs every test; `make run` builds the ISO and boots it.
SHELL := /bin/bash
.DEFAULT_GOAL := build

GO       ?= go
ARCH     ?= $(shell $(GO) env GOARCH)
HOSTARCH := $(shell $(GO) env GOARCH)
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -s -w -X github.com/bhojpur/os/internal/version.Version=$(VERSION) -X github.com/bhojpur/os/internal/version.Commit=$(COMMIT)
# The command names (internal/layout), linked to the multi-call binary.
CMDS      = $(shell $(GO) run ./internal/tools/commands)
BINDIR   := dist/bin$(if $(filter $(HOSTARCH),$(ARCH)),,/$(ARCH))
# The Go trees, named so that go never walks build/ or dist/ (image trees).
PKGS     := ./cmd/... ./internal/... ./images/... ./packer/...

# System packages the builds and tests need (Debian names).
APT_PKGS := qemu-system-x86 qemu-utils grub-pc-bin grub-efi-amd64-bin grub-common grub2-common \
	xorriso mtools squashfs-tools zstd busybox-static ovmf gdisk parted dosfstools e2fsprogs cpio kmod \
	mmdebstrap openssh-client openssl shellcheck ca-certificates curl packer
# The command each package provides, to see whether it is installed already.
APT_STAMP := dist/.apt-$(shell echo $(APT_PKGS) | md5sum | cut -c1-8)

-include dcp/dcp.mk
-include images/images.mk
-include images/upgrade.mk
-include packer/packer.mk

.PHONY: build deps test lint bench fuzz clean
# build writes the one static multi-call binary $(BINDIR)/bos and a link to
# it under each command's name, and bos-initrd, the initrd's /init (bos-init's
# boot alone, smaller, for GRUB to read and the kernel to unpack). The image
# recipes take the command names from these links. `go install ./cmd/...`
# builds each command alone instead (cmd/bos-*).
build:
	@mkdir -p $(BINDIR)
	CGO_ENABLED=0 GOOS=linux GOARCH=$(ARCH) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BINDIR)/bos ./cmd/bos
	CGO_ENABLED=0 GOOS=linux GOARCH=$(ARCH) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BINDIR)/bos-initrd ./cmd/bos-initrd
	@for c in $(CMDS); do ln -sfn bos $(BINDIR)/$$c; done

# deps installs what the machine lacks: Debian packages and Go modules.
deps: $(APT_STAMP)
	$(GO) mod download
	cd dcp && $(GO) mod download
	@for m in dcp/third_party/*/; do (cd $$m && $(GO) mod download) || exit 1; done
$(APT_STAMP):
	@missing=$$(for p in $(APT_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
		$(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@mkdir -p dist && touch $@

# test builds the images first: the QEMU tests boot them. The images
# package's tests run one after another (one VM at a time); beside them, in
# a second go test, run packer's tests and then the two longest of images
# (SIDE_TESTS: the upgrade's nine boots, TestDCPLive's two VMs), so that two
# things boot at a time throughout. The side's output follows the main
# one's; either failing fails the target.
SIDE_TESTS := ^(TestUpgradeAndRollback|TestDCPLive)$$
SIDE_LOG   := build/test-side.log
test: deps build dcp iso debian-disk
	cd dcp && BOS_REQUIRE_DCP=1 $(GO) test -count=1 -timeout 20m ./...
	@mkdir -p build
	@( BOS_REQUIRE_VM=1 $(GO) test -count=1 -timeout 40m ./packer/...; p=$$?; \
	   BOS_REQUIRE_VM=1 $(GO) test -count=1 -timeout 60m -run '$(SIDE_TESTS)' ./images/; i=$$?; \
	   [ $$p -eq 0 ] && [ $$i -eq 0 ] ) > $(SIDE_LOG) 2>&1 & side=$$!; \
	BOS_REQUIRE_VM=1 $(GO) test -count=1 -timeout 80m -skip '$(SIDE_TESTS)' $(filter-out ./packer/...,$(PKGS)); main=$$?; \
	wait $$side; side=$$?; echo "== beside the rest: packer's tests and images' $(SIDE_TESTS)"; cat $(SIDE_LOG); \
	[ $$main -eq 0 ] && [ $$side -eq 0 ]

lint: deps
	@out=$$(gofmt -l cmd internal images packer dcp); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	cd dcp && $(GO) vet ./...

bench: deps build
	$(GO) run ./internal/bench

FUZZTIME ?= 20s
fuzz: deps
	@for pkg in $$($(GO) list $(PKGS)); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -parallel 1 $$pkg || exit 1; \
		done; \
	done

clean:
	rm -rf dist build
