# dcp.mk: Bhojpur DCP (dcp/, a Go module of its own: Kubernetes needs
# replace directives that the toolkit's module stays free of). Included by
# the top-level Makefile. `make dcp` writes $(BINDIR)/dcp, one static
# binary, and a kubectl link to it. A cold build compiles Kubernetes
# (several minutes on two cores); Go's build cache makes later ones fast.

DCP_LDFLAGS := -s -w -X github.com/bhojpur/os/dcp/internal/cli.Version=$(VERSION)
DCP_SRC     := $(shell find dcp -name '*.go' ! -name '*_test.go' 2>/dev/null | LC_ALL=C sort) dcp/go.mod dcp/go.sum

.PHONY: dcp
dcp: $(BINDIR)/dcp
$(BINDIR)/dcp: $(DCP_SRC)
	@mkdir -p $(BINDIR)
	cd dcp && CGO_ENABLED=0 GOOS=linux GOARCH=$(ARCH) $(GO) build -trimpath -ldflags '$(DCP_LDFLAGS)' -o $(abspath $@) ./cmd/dcp
	ln -sfn dcp $(BINDIR)/kubectl
