# pkgtorrent-service: `make run` starts the service over a sample mirror,
# `make test` runs every test. Both install what they need.

GO      ?= go
BIN     := bin/pkgtorrent-service
AGENT   := bin/pkgtorrent-agent
# The agent is its own module (its BitTorrent engine's dependencies stay
# out of the service's): commands run in both.
AGENT_DIR := cmd/pkgtorrent-agent
ADDR    ?= 127.0.0.1:8080
RUNDIR  := run
# Debian packages the end-to-end tests drive: real web servers, BitTorrent
# clients (aria2, libtorrent, Transmission, qBittorrent) and a tracker;
# systemd and rpm check the files under deploy/, man-db renders the
# manual pages in deploy/man, and e2fsprogs makes a file system with
# whole-second timestamps; the agent's fleet tests build RPMs (rpmbuild,
# in rpm), a repository (createrepo-c) and install from it with dnf;
# pkgtorrent-agent repos is checked with dnf config-manager
# (dnf-plugins-core), patch and ansible-core (the deploy/ examples);
# tinyproxy is the HTTP proxy of the fleet test of hosts behind one.
# `make deps` installs the missing ones when root.
DEB_PACKAGES := nginx-light apache2 libapache2-mod-fcgid aria2 opentracker \
	python3-libtorrent curl mktorrent systemd rpm man-db \
	transmission-cli qbittorrent-nox e2fsprogs dnf python3-dnf createrepo-c \
	dnf-plugins-core patch ansible-core tinyproxy
# Debian packages `make bench` compares against or drives (time measures
# mktorrent's memory; iproute2 makes the fleet benchmark's network).
BENCH_PACKAGES := mktorrent wrk nginx-light time iproute2
FUZZTIME ?= 30s
# Go micro-benchmarks `make bench` runs after the comparisons.
GOBENCH ?= BenchmarkBlocks|BenchmarkCryptoSHA1|BenchmarkHashAt|BenchmarkCalibrate|BenchmarkHash$$|BenchmarkMulti|BenchmarkMetainfo|BenchmarkServeCached|BenchmarkNewCombination
BENCHTIME ?= 1s

.PHONY: all build build-service build-agent run deps bench-deps install-packages dnf5-root test vet fuzz bench bench-fleet clean

all: build

build: build-service build-agent

# Both binaries are static (CGO_ENABLED=0): they need no C library's
# resolver, and a build from an empty Go build cache skips runtime/cgo.
build-service:
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/pkgtorrent-service

build-agent:
	cd $(AGENT_DIR) && CGO_ENABLED=0 $(GO) build -o $(CURDIR)/$(AGENT) .

# Standalone HTTP over a generated sample mirror in ./run. It builds only
# what it runs (the service), not the agent and its engine's modules.
# The service and the sample's generator build in one go command, which
# compiles their shared packages once and links both at the same time.
run:
	CGO_ENABLED=0 $(GO) build -o bin/ ./cmd/pkgtorrent-service ./cmd/mksample
	@test -d $(RUNDIR)/mirror || bin/mksample $(RUNDIR)/mirror
	@mkdir -p $(RUNDIR)/cache
	@test -f $(RUNDIR)/trackers || printf '%s\n' \
		'# One announce URL per line, for example:' \
		'# udp://tracker.example.com:6969/announce' > $(RUNDIR)/trackers
	@echo
	@echo "Serving $(RUNDIR)/mirror on http://$(ADDR)/ ; try:"
	@echo "  curl -o boot.torrent http://$(ADDR)/yum/torrent_service/single/yum/iso/boot.iso"
	@echo "  curl -o packages.torrent 'http://$(ADDR)/yum/torrent_service/single/yum/el9/x86_64/Packages/*.rpm'"
	@echo
	$(BIN) -http $(ADDR) -root $(RUNDIR)/mirror -cache $(RUNDIR)/cache -trackers $(RUNDIR)/trackers

# Installs the Debian packages the tests need (as root), or names the
# missing ones and stops; then fetches the Go modules.
deps:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(DEB_PACKAGES)" WHAT="make test"
	$(GO) mod download
	cd $(AGENT_DIR) && $(GO) mod download

bench-deps:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(BENCH_PACKAGES)" WHAT="make bench"
	$(GO) mod download

install-packages:
	@missing=""; for p in $(PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
		else \
			echo "$(WHAT) needs these Debian packages:$$missing (run make as root, or apt-get install them)"; exit 1; \
		fi; \
	fi

# The root the fleet tests run dnf 5 in (TestFleetDNF5): Debian 12 has no
# dnf 5, Debian's unstable suite has it. debootstrap builds the root from
# the Debian mirror apt already uses, once per machine (4.5 to 6.5 minutes
# and 315 MB here; the packages' archives are removed), into bin/, which git
# ignores: a fresh clone builds it again.
# It is built beside and renamed into place, so a broken build is never
# taken for a root. As root only. When debootstrap fails (no network, or
# a day when unstable cannot install dnf5), make test goes on: the log's end
# goes to $(DNF5_ROOT).failed, and the dnf 5 tests skip, quoting it; the
# next make test tries again.
DNF5_ROOT  := bin/dnf5-root
DNF5_SUITE := unstable

dnf5-root: $(DNF5_ROOT)

$(DNF5_ROOT):
	@if [ "$$(id -u)" != 0 ]; then \
		echo "make test needs $(DNF5_ROOT), the dnf 5 root that debootstrap builds as root: run make as root once (make dnf5-root)"; exit 1; \
	fi
	@$(MAKE) --no-print-directory install-packages PACKAGES=debootstrap WHAT="the dnf 5 root"
	@mirror() { apt-get indextargets --format '$$(SITE)' 'Label: Debian' 'Identifier: Packages' | head -n 1; }; \
	url=$$(mirror); [ -n "$$url" ] || { apt-get update -qq && url=$$(mirror); }; \
	if [ -z "$$url" ]; then echo "apt lists no Debian mirror (Label: Debian) to debootstrap from" | tee $@.failed; exit 0; fi; \
	echo "building $(DNF5_ROOT): debootstrap $(DNF5_SUITE) from $$url (once per machine)"; \
	rm -rf $@.new; mkdir -p $(dir $@); start=$$(date +%s); \
	if ! debootstrap --variant=minbase --include=dnf5 $(DNF5_SUITE) $@.new "$$url" > $@.log 2>&1; then \
		{ echo "debootstrap $(DNF5_SUITE) failed (log: $@.log):"; tail -n 20 $@.log; } | tee $@.failed; rm -rf $@.new; exit 0; \
	fi; \
	chroot $@.new apt-get clean && chroot $@.new dnf5 --version | head -n 1 && mv $@.new $@ && rm -f $@.failed && \
	echo "built $(DNF5_ROOT) in $$(($$(date +%s) - start)) s, $$(du -sh $@ | cut -f1)"

# third_party/ holds upstream code kept byte for byte (see its PATCHED.md).
vet:
	@out=$$(gofmt -l $$(git ls-files '*.go' ':!:**/third_party/**' 2>/dev/null || find . -name '*.go' -not -path '*/third_party/*')); \
		if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi
	$(GO) vet ./...
	cd $(AGENT_DIR) && $(GO) vet ./...

test: deps vet dnf5-root
	$(GO) test -race -count=1 -timeout 30m ./...
	cd $(AGENT_DIR) && $(GO) test -race -count=1 -timeout 30m ./...

# Runs each fuzz target for FUZZTIME (the seed corpora under testdata/fuzz/
# also run in make test). Minimizing a new input is capped, so that a slow
# one does not eat the time; a failing input lands in testdata/fuzz/.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 10s $$pkg || exit 1; \
		done; \
	done

# Times the service against mktorrent and static nginx (data under .bench/,
# generated once, about 9 GiB), one line per target; then the Go benchmarks;
# then the fleet's.
bench: bench-deps build
	$(GO) build -o bin/pkgtorrent-bench ./cmd/pkgtorrent-bench
	bin/pkgtorrent-bench -dir .bench -bin $(BIN)
	$(GO) test -run '^$$' -bench '$(GOBENCH)' -benchmem -benchtime $(BENCHTIME) ./pkg/...
	cd $(AGENT_DIR) && $(GO) test -run '^$$' -bench '^BenchmarkRestartRehash$$' -benchtime 2x ./internal/agent
	cd $(AGENT_DIR) && $(GO) test -run '^$$' -bench '^(BenchmarkIdleSeeding|BenchmarkWaitingReaders)$$' -benchtime 1x -timeout 30m ./internal/agent
	cd $(AGENT_DIR) && $(GO) test -run '^$$' -bench '^BenchmarkHTTPUnderLoad$$' -benchtime 3x -timeout 30m ./internal/agent
	@$(MAKE) --no-print-directory bench-fleet

# The fleet's benchmarks, about 22 minutes, as root (network namespaces
# and tc): 8 dnf hosts behind a 100 Mbit/s mirror link, plain and through
# the agents (BenchmarkFleet, with a late host: case 8), torrent layouts for overlapping
# transactions (BenchmarkFetchLayout), then 40 hosts with 40 MiB of
# packages, plain and through the agents (cases (a) and (b)).
bench-fleet: deps bench-deps
	cd $(AGENT_DIR) && $(GO) test -run '^$$' -bench '^(BenchmarkFleet|BenchmarkFetchLayout)$$' -benchtime 1x -timeout 60m .
	cd $(AGENT_DIR) && $(GO) test -run '^$$' -bench '^BenchmarkFleet$$' -benchtime 1x -timeout 60m . -fleet.hosts=40 -fleet.total=40 -fleet.cases=1,2

clean:
	rm -rf bin $(RUNDIR) .bench
