# untrackd — see README.md. Targets that touch the kernel need root.

GO      ?= go
BIN     := bin
FAULTS_REPORT ?= $(BIN)/faults.jsonl
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build install deps test test-short demo generate fmt vet fuzz clean

# Debian packages the demo and the kernel tests use, as package:command.
DEBS := nftables:nft conntrack:conntrack etcd-client:etcdctl iproute2:ip memcached:memcached ethtool:ethtool

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
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/untrackctl ./cmd/untrackctl

# Install the binaries, the systemd unit (its paths rewritten to match) and,
# unless one exists, the example config:
#   make install [PREFIX=/usr/local] [SYSCONFDIR=/etc] [DESTDIR=/staging]
# then: systemctl daemon-reload && systemctl enable --now untrackd
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
install: build
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/untrackd
	install -m 0755 $(BIN)/untrackd $(BIN)/untrackctl $(DESTDIR)$(BINDIR)/
	sed -e 's#/usr/local/bin/#$(BINDIR)/#' -e 's#/etc/untrackd/#$(SYSCONFDIR)/untrackd/#' \
	    -e 's#/etc/default/#$(SYSCONFDIR)/default/#' docs/untrackd.service > $(DESTDIR)$(UNITDIR)/untrackd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/untrackd.service
	test -e $(DESTDIR)$(SYSCONFDIR)/untrackd/untrackd.yaml || \
	    install -m 0600 docs/untrackd.yaml $(DESTDIR)$(SYSCONFDIR)/untrackd/untrackd.yaml

# The whole test suite. As root it includes the real-kernel tests, which run
# in throwaway network namespaces; as another user they are skipped. The
# fault-injection tests among them record what the traffic saw, and the
# table of it is printed at the end (as make test-faults does).
test: deps
	$(GO) vet ./...
	@mkdir -p $(BIN) && rm -f $(FAULTS_REPORT)
	UNTRACKD_FAULTS_REPORT=$(abspath $(FAULTS_REPORT)) $(GO) test -count=1 -timeout 20m ./...
	@if [ -s $(FAULTS_REPORT) ]; then $(GO) run ./cmd/internal/faults/faulttable $(FAULTS_REPORT); fi

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

# Benchmarks (root; see docs/benchmarks.md). They are not timed tests:
# bench-smoke runs both in a short mode that only checks they work.
#   make bench-conntrack [BENCH_ARGS="--rounds 5"] [BENCH_JSON=file] [BENCH_PLOTS=dir]
BENCH_PLOTS ?= docs
.PHONY: bench-conntrack bench-scale bench-smoke
bench-conntrack: deps build
	$(GO) build -o $(BIN)/bench-conntrack ./cmd/bench-conntrack
	$(BIN)/bench-conntrack --untrackd $(BIN)/untrackd --plots $(BENCH_PLOTS) $(BENCH_ARGS)

bench-scale: deps build
	$(GO) build -o $(BIN)/bench-scale ./cmd/bench-scale
	$(BIN)/bench-scale --untrackd $(BIN)/untrackd --plots $(BENCH_PLOTS) $(BENCH_ARGS)

bench-smoke: deps build
	$(GO) build -o $(BIN)/bench-conntrack ./cmd/bench-conntrack
	$(GO) build -o $(BIN)/bench-scale ./cmd/bench-scale
	$(BIN)/bench-conntrack --smoke --untrackd $(BIN)/untrackd --json $(BIN)/bench-conntrack-smoke.json
	$(BIN)/bench-scale --smoke --untrackd $(BIN)/untrackd --json $(BIN)/bench-scale-smoke.json

# Fault injection (root; see docs/reliability.md): etcd stopped, partitioned
# and compacted, untrackd killed and restarted, its table tampered with, the
# kernel refusing its writes, bad input, TLS and exposure, each in throwaway
# namespaces with real traffic; then the table of what the traffic and the
# kernel saw. "make test" runs the same tests (they are part of go test
# ./...); this target runs only them and prints the table.
.PHONY: test-faults
test-faults: deps
	@mkdir -p $(BIN) && rm -f $(FAULTS_REPORT)
	@status=0; \
	UNTRACKD_FAULTS_REPORT=$(abspath $(FAULTS_REPORT)) $(GO) test -count=1 -timeout 15m -run '^TestFault' ./cmd/untrackd || status=$$?; \
	$(GO) test -count=1 -run '^(TestOthersCommitted|TestListIsASnapshot)$$' ./dataplane/nft || status=$$?; \
	$(GO) run ./cmd/internal/faults/faulttable $(FAULTS_REPORT) || status=$$?; \
	exit $$status
