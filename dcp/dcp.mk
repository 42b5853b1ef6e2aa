# dcp.mk: Bhojpur DCP (dcp/, a Go module of its own: Kubernetes needs
# replace directives that the toolkit's module stays free of). Included by
# the top-level Makefile.
#
# `make dcp` writes $(BINDIR)/dcp, one static binary, and a kubectl link to
# it. A cold build compiles Kubernetes (several minutes on two cores); Go's
# build cache makes later ones fast.
#
# `make dcp-root` lays out $(DCP_ROOT), what the image ships as
# bos/system/dcp/<version>/:
#   dcp                 the binary (server, agent, kubectl)
#   bin/                containerd, containerd-shim-runc-v2, ctr
#   bin/cni/            bridge, host-local, loopback, portmap
#   images/*.tar        pause, CoreDNS, busybox (the test image), and the
#                       Bhojpur OS operator (bos-operator, from the toolkit's
#                       module: its manifest names this release's tag)
# containerd, the CNI plugins and CoreDNS are upstream's, built from the
# versions that dcp/third_party/*/go.mod pin (checksummed by go.sum).

# Kubernetes' own version stamps (kubectl version, the node's kubelet
# version), from the k8s.io/kubernetes that dcp/go.mod requires.
K8S_VERSION := $(shell sed -n 's/^[[:space:]]*k8s.io\/kubernetes v\([0-9.]*\)$$/v\1/p' dcp/go.mod 2>/dev/null)
K8S_LDFLAGS := $(foreach p,k8s.io/component-base/version k8s.io/client-go/pkg/version,\
	-X $(p).gitVersion=$(K8S_VERSION) -X $(p).gitMajor=$(word 2,$(subst ., ,$(subst v,v ,$(K8S_VERSION)))) \
	-X $(p).gitMinor=$(word 3,$(subst ., ,$(subst v,v ,$(K8S_VERSION)))) -X $(p).gitTreeState=clean)
DCP_LDFLAGS := -s -w -X github.com/bhojpur/os/dcp/internal/cli.Version=$(VERSION) $(K8S_LDFLAGS)
DCP_SRC     := $(shell find dcp -path dcp/third_party -prune -o -name '*.go' ! -name '*_test.go' -print 2>/dev/null | LC_ALL=C sort) dcp/go.mod dcp/go.sum
DCP_ROOT    := dist/dcp$(if $(filter $(HOSTARCH),$(ARCH)),,-$(ARCH))
DCP_GO      := CGO_ENABLED=0 GOOS=linux GOARCH=$(ARCH) $(GO) build -trimpath -ldflags '-s -w'
DCP_IMAGES  := $(DCP_ROOT)/images/pause.tar $(DCP_ROOT)/images/coredns.tar $(DCP_ROOT)/images/busybox.tar \
	$(DCP_ROOT)/images/bos-operator.tar
OPERATOR_SRC := $(shell find cmd/bos-operator internal -name '*.go' ! -name '*_test.go' 2>/dev/null | LC_ALL=C sort) \
	$(wildcard internal/operatormanifest/*.yaml internal/operatormanifest/*.tmpl) go.mod go.sum
DCP_BINS    := $(addprefix $(DCP_ROOT)/bin/,containerd containerd-shim-runc-v2 ctr) \
	$(addprefix $(DCP_ROOT)/bin/cni/,bridge host-local loopback portmap)
# The image of each tool: busybox-static is one of APT_PKGS.
MKIMAGE     := cd dcp && $(GO) run ./internal/tools/mkimage --arch $(ARCH)

.PHONY: dcp dcp-root
dcp: $(BINDIR)/dcp
$(BINDIR)/dcp: $(DCP_SRC)
	@mkdir -p $(BINDIR)
	cd dcp && CGO_ENABLED=0 GOOS=linux GOARCH=$(ARCH) $(GO) build -trimpath -ldflags '$(DCP_LDFLAGS)' -o $(abspath $@) ./cmd/dcp
	ln -sfn dcp $(BINDIR)/kubectl

dcp-root: $(DCP_ROOT)/dcp $(DCP_BINS) $(DCP_IMAGES)

$(DCP_ROOT)/dcp: $(BINDIR)/dcp
	@mkdir -p $(@D)
	cp $< $@

$(addprefix $(DCP_ROOT)/bin/,containerd containerd-shim-runc-v2 ctr): dcp/third_party/containerd/go.mod
	@mkdir -p $(@D)
	cd dcp/third_party/containerd && $(DCP_GO) -o $(abspath $@) github.com/containerd/containerd/v2/cmd/$(@F)

$(DCP_ROOT)/bin/cni/bridge $(DCP_ROOT)/bin/cni/loopback: dcp/third_party/cni/go.mod
	@mkdir -p $(@D)
	cd dcp/third_party/cni && $(DCP_GO) -o $(abspath $@) github.com/containernetworking/plugins/plugins/main/$(@F)
$(DCP_ROOT)/bin/cni/host-local: dcp/third_party/cni/go.mod
	@mkdir -p $(@D)
	cd dcp/third_party/cni && $(DCP_GO) -o $(abspath $@) github.com/containernetworking/plugins/plugins/ipam/$(@F)
$(DCP_ROOT)/bin/cni/portmap: dcp/third_party/cni/go.mod
	@mkdir -p $(@D)
	cd dcp/third_party/cni && $(DCP_GO) -o $(abspath $@) github.com/containernetworking/plugins/plugins/meta/$(@F)

build/dcp/coredns: dcp/third_party/coredns/go.mod
	@mkdir -p $(@D)
	cd dcp/third_party/coredns && $(DCP_GO) -o $(abspath $@) github.com/coredns/coredns
build/dcp/pause: dcp/cmd/pause/main.go
	@mkdir -p $(@D)
	cd dcp && $(DCP_GO) -o $(abspath $@) ./cmd/pause

# The image names are agent.PauseImage, agent.CoreDNSImage and agent.TestImage.
$(DCP_ROOT)/images/pause.tar: build/dcp/pause dcp/internal/tools/mkimage/main.go
	@mkdir -p $(@D)
	$(MKIMAGE) --ref bhojpur.net/dcp/pause:3.10 --file /pause=$(abspath $<) --entrypoint /pause --user 65535:65535 --out $(abspath $@)
$(DCP_ROOT)/images/coredns.tar: build/dcp/coredns dcp/internal/tools/mkimage/main.go
	@mkdir -p $(@D)
	$(MKIMAGE) --ref bhojpur.net/dcp/coredns:1.15.0 --file /coredns=$(abspath $<) --entrypoint /coredns --out $(abspath $@)
# operatormanifest.Image: bhojpur.net/bos/operator:<release>. The image is
# made again when the release (VERSION) changes: bos-config's manifest names
# its own release's tag.
build/operator/version: .FORCE
	@mkdir -p $(@D); echo '$(VERSION)' | cmp -s - $@ || echo '$(VERSION)' > $@
.PHONY: .FORCE
build/operator/bos-operator: $(OPERATOR_SRC) build/operator/version
	@mkdir -p $(@D)
	CGO_ENABLED=0 GOOS=linux GOARCH=$(ARCH) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/bos-operator
$(DCP_ROOT)/images/bos-operator.tar: build/operator/bos-operator build/operator/version dcp/internal/tools/mkimage/main.go
	@mkdir -p $(@D)
	$(MKIMAGE) --ref bhojpur.net/bos/operator:$(VERSION) --file /usr/sbin/bos-operator=$(abspath $<) \
		--entrypoint /usr/sbin/bos-operator --out $(abspath $@)
$(DCP_ROOT)/images/busybox.tar: dcp/internal/tools/mkimage/main.go
	@mkdir -p $(@D)
	$(MKIMAGE) --ref bhojpur.net/dcp/busybox:1.35 --file /bin/busybox=/bin/busybox --link /bin/sh=busybox \
		--dir /tmp --dir /www --entrypoint /bin/busybox --out $(abspath $@)
