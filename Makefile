# untrackd — see README.md. Targets that touch the kernel need root.

GO      ?= go
BIN     := bin
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build deps test test-short demo generate fmt vet fuzz clean

# Debian packages the demo and the kernel tests use, as package:command.
DEBS := nftables:nft conntrack:conntrack etcd-client:etcdctl iproute2:ip

all: build

# Install missing Debian packages (as root; otherwise only report them).
deps:
	@missing=""; for pc in $(DEBS); do command -v $${pc#*:} >/dev/null 2>&1 || missing="$$missing $${pc%%:*}"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages:$$missing (kernel tests will be skipped)"; exit 0; fi; \
	echo "installing:$$missing"; export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/untrackd ./cmd/untrackd

# The whole test suite. As root it includes the real-kernel tests, which run
# in throwaway network namespaces; as another user they are skipped.
test: deps
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...

# Unit tests only (no kernel, no root needed).
test-short:
	$(GO) test -short -count=1 ./...

# The quick start as one command: two namespaces, untrackd on an embedded
# etcd, the seed guide's resources written with etcdctl, and conntrack
# counts before and after. Needs root, nft, conntrack and etcdctl.
demo: deps build
	$(GO) run ./cmd/untrackd-demo --untrackd $(BIN)/untrackd

# Regenerate proto/untrackd.pb.go (needs protoc; installs protoc-gen-go).
generate:
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	PATH="$$($(GO) env GOPATH)/bin:$$PATH" protoc --go_out=. --go_opt=module=github.com/untrackd/untrackd proto/untrackd.proto

# Run the selector fuzzer for a while (FUZZTIME=5m make fuzz).
FUZZTIME ?= 1m
fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzParse -fuzztime=$(FUZZTIME) ./model/selector

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	$(GO) vet ./...

clean:
	rm -rf $(BIN)
