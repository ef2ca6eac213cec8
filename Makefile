# tincd-swift: the two set-up commands are `make lab` (main job) and `make test` (all tests).
SWIFT ?= swift
BIN_DEBUG := .build/debug/tincd-swift
BIN_RELEASE := .build/release/tincd-swift

.PHONY: all build release test unit-test deps lab lab-down validate bench bench-quick bench-bgp bench-bgp-callgrind bench-callgrind clean tsan tsan-build version-header

all: build

## version: `git describe` of this tree, baked into the binary (tincd-swift --version) through
## Sources/CBuildInfo/build_version.h; a plain `swift build` without it says 0.0.0-unknown.
## (evaluated once per make run: `?=` would re-run git describe at every use, and a tree that turns
## dirty during a long build would give two versions)
ifndef VERSION
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.0.0-unknown)
endif

## version-header: (re)writes the header only when the version changed (one C file recompiles; it is
## touched too, since the build has no dependency on a header that did not exist at its last compile)
version-header:
	@f=Sources/CBuildInfo/build_version.h; new='#define TSW_BUILD_VERSION "$(VERSION)"'; \
	  [ "$$(cat $$f 2>/dev/null)" = "$$new" ] || { echo "$$new" > $$f; touch Sources/CBuildInfo/build_info.c; }

## deps: install the Debian packages the build, tests and lab need (root)
deps:
	@if [ "$$(id -u)" = 0 ]; then \
	  missing=$$(for p in $$(cat .ci/packages); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	  if [ -n "$$missing" ]; then apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing >/dev/null; fi; \
	else echo "not root: skipping package installation"; fi

build: version-header
	$(SWIFT) build

release: version-header
	$(SWIFT) build -c release

## test: unit tests, fuzz tests and the namespace interop tests against real tincd/bird2/gobgpd/frr
## (including the ThreadSanitizer traffic test, which needs the tsan-build below)
## The release build is part of it: `make lab`, the main job, runs the release binary (a release-only
## compile error once went unnoticed because only debug was built here).
test: deps build release tsan-build
	$(SWIFT) build --build-tests
	TSW_REQUIRE_TSAN=1 $(SWIFT) test --skip-build
	$(MAKE) fuzz-smoke
	$(MAKE) package-check
	$(MAKE) soak-short

## tsan-build: tincd-swift with ThreadSanitizer in its own scratch path (.build-tsan; ~2 min from scratch)
tsan-build: version-header
	$(SWIFT) build --build-path .build-tsan --sanitize=thread --product tincd-swift

## tsan: three TSan-built nodes move iperf3/ping traffic (relayed, keys renewed); fails on any TSan report (root)
tsan: deps tsan-build
	$(SWIFT) build --build-tests
	TSW_REQUIRE_TSAN=1 TSW_TEST_BUDGET=120 $(SWIFT) test --skip-build --filter ThreadSanitizerInteropTests

## unit-test: every test that needs no root (the in-process daemon tests included; the namespace suite
## KernelAndBFDInteropTests is left out), one process per test, eight at a time (most wait on sockets and timers): under a minute
UNIT_SUITES := MeshCryptoTests|MeshRoutingTests|TincConfigTests|TincProtocolTests|BGPLiteTests|TincDaemonTests|MeshMetricsTests
unit-test:
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --parallel --num-workers 8 --filter '$(UNIT_SUITES)' --skip 'KernelAndBFDInteropTests|ControlServerTests'
	$(SWIFT) test --skip-build --filter ControlServerTests   # wall-clock bounds on loop stalls: alone, not among 8 processes

## bench: iperf3 through swift<->swift, C<->C, mixed and the bare veth (root); then crypto vs openssl speed
bench: release
	bench/throughput.sh
	bench/crypto.sh
	bench/callgrind.sh

## bench-callgrind: instructions and malloc calls per frame through the real seal/send and receive/open
## paths (callgrind, two runs differenced; no root, no timing noise)
bench-callgrind: release
	bench/callgrind.sh

## bench-quick: the same with 3 s runs (CI smoke)
bench-quick: release
	QUICK=1 bench/throughput.sh
	QUICK=1 bench/crypto.sh

## bench-bgp: a bird2 sender announces N (default 1000000; QUICK=1: 100000) IPv4 /24s to BGPLite and to
## bird2, each re-advertising to a downstream bird2; time until the downstream has them all, RSS, CPU,
## ratios vs issue 13's bars (time <= 1x, RSS <= 1.5x, CPU <= 2x); then the same with 200k IPv6 /48s
## added (reported) (root)
bench-bgp: release
	bench/bgp.sh
	N6=$${N6:-200000} bench/bgp.sh

## bench-bgp-callgrind: instructions per route of bench-bgp's receiver work (import, best path, export to
## a second session, UPDATE packing) in one process over in-memory sessions (callgrind, two runs
## differenced; no root, no timing noise)
bench-bgp-callgrind: release
	bench/bgp-callgrind.sh

## ---- deployment (docs/DEPLOY.md). ENV: deploy/.env if it exists, else deploy/.env.example ----
.PHONY: render keys deploy deploy-with-external-isp deploy-down deploy-clean
DEPLOY_ENV ?= $(if $(wildcard deploy/.env),deploy/.env,deploy/.env.example)
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
COMPOSE_MESH := $(COMPOSE) -f deploy/docker-compose.yml --env-file $(DEPLOY_ENV)
COMPOSE_BORDER := $(COMPOSE) -f deploy/hardware-test/docker-compose.border-router.yml --env-file $(DEPLOY_ENV)

## render: every node's config dir and the ISP's bird.conf from $(DEPLOY_ENV) into $(RENDER_OUT) (starts nothing).
## Needs no Swift: render.sh is bash, and keys come from openssl when there is no tincd-swift binary.
RENDER_OUT ?= deploy/rendered
render:
	@mkdir -p $(RENDER_OUT) && echo '*' > $(RENDER_OUT)/.gitignore
	deploy/render.sh $(DEPLOY_ENV) $(RENDER_OUT)

## keys: generate missing node keys (kept in deploy/keys unless KEYS_DIR says otherwise; compose mounts deploy/keys)
keys:
	@tmp=$$(mktemp -d) && deploy/render.sh $(DEPLOY_ENV) $$tmp/out && rm -rf $$tmp

## deploy: the five-node mesh in Docker (deploy/docker-compose.yml; PROFILES="isp monitoring" adds those)
deploy:
	TINCD_SWIFT_VERSION='$(VERSION)' $(COMPOSE_MESH) $(foreach p,$(PROFILES),--profile $(p)) up -d --build

## deploy-with-external-isp: the mesh with bird1 on a macvlan of the wired NIC, eBGP to the real ISP
deploy-with-external-isp:
	TINCD_SWIFT_VERSION='$(VERSION)' $(COMPOSE_BORDER) $(foreach p,$(or $(PROFILES),monitoring),--profile $(p)) up -d --build

deploy-down:
	-$(COMPOSE_MESH) --profile isp --profile monitoring down --remove-orphans
	-$(COMPOSE_BORDER) --profile monitoring down --remove-orphans

## deploy-clean: deploy-down plus volumes and deploy/rendered (node keys in deploy/keys are kept)
deploy-clean:
	-$(COMPOSE_MESH) --profile isp --profile monitoring down -v --remove-orphans
	-$(COMPOSE_BORDER) --profile monitoring down -v --remove-orphans
	rm -rf deploy/rendered

clean:
	rm -rf .build .build-tsan .build-dist

# ---- packaging (docs/PACKAGING.md): make install, make deb, make package-check ----
.PHONY: dist-build install uninstall deb package-check
## The installed binary links the Swift runtime statically (no toolchain on the target host); its own
## scratch path, so the debug/release builds above keep their flags.
DIST_BUILD := .build-dist
DIST_BIN := $(DIST_BUILD)/release/tincd-swift
PREFIX ?= /usr/local
DESTDIR ?=
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/vendor-completions
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSTEMDGENERATORDIR ?= $(PREFIX)/lib/systemd/system-generators
SYSCONFDIR ?= /etc
DOCDIR ?= $(PREFIX)/share/doc/tincd-swift

## dist-build: release build with the Swift runtime linked in (.build-dist)
dist-build: version-header
	$(SWIFT) build -c release --static-swift-stdlib --build-path $(DIST_BUILD) --product tincd-swift

## install: binary, man pages, bash/zsh completion, systemd units + generator, /etc/default/tincd-swift
## (kept if present). PREFIX (default /usr/local) and DESTDIR as usual; never touches /etc/tinc.
install: dist-build
	PREFIX='$(PREFIX)' DESTDIR='$(DESTDIR)' SBINDIR='$(SBINDIR)' MANDIR='$(MANDIR)' BASHCOMPDIR='$(BASHCOMPDIR)' \
	  ZSHCOMPDIR='$(ZSHCOMPDIR)' SYSTEMDUNITDIR='$(SYSTEMDUNITDIR)' SYSTEMDGENERATORDIR='$(SYSTEMDGENERATORDIR)' \
	  SYSCONFDIR='$(SYSCONFDIR)' DOCDIR='$(DOCDIR)' VERSION='$(VERSION)' packaging/install.sh $(DIST_BIN)

## uninstall: removes what install put there (the default file only if unchanged)
uninstall:
	PREFIX='$(PREFIX)' DESTDIR='$(DESTDIR)' SBINDIR='$(SBINDIR)' MANDIR='$(MANDIR)' BASHCOMPDIR='$(BASHCOMPDIR)' \
	  ZSHCOMPDIR='$(ZSHCOMPDIR)' SYSTEMDUNITDIR='$(SYSTEMDUNITDIR)' SYSTEMDGENERATORDIR='$(SYSTEMDGENERATORDIR)' \
	  SYSCONFDIR='$(SYSCONFDIR)' DOCDIR='$(DOCDIR)' packaging/install.sh --uninstall

## deb: $(DIST_BUILD)/tincd-swift_VERSION_ARCH.deb with dpkg-deb (no network): /usr/sbin, /lib/systemd
deb: dist-build
	VERSION='$(VERSION)' packaging/build-deb.sh $(DIST_BIN) $(DIST_BUILD)

## package-check: make deb, install it with dpkg into a scratch root, check --version, man pages,
## completion, generator and `systemd-analyze verify` (part of make test)
package-check: deb
	VERSION='$(VERSION)' packaging/check.sh $(DIST_BUILD)

# ---- the local lab (scripts/lab.sh, scripts/validate.sh, deploy/render.sh with deploy/lab.env) ----
.PHONY: ctl lab-status
NODE ?= bird1
CMD ?= show protocols

## lab: build the release binary, then start the ISP guide's topology in namespaces isp, bird1..bird5, labnet
lab: deps version-header
	@t=$$(date +%s%3N); $(SWIFT) build -c release && LAB_MAKE_START_MS=$$t LAB_BIN=$(CURDIR)/$(BIN_RELEASE) scripts/lab.sh up

## lab-down: stop exactly the lab's processes, delete exactly its namespaces and lab-run/
lab-down:
	scripts/lab.sh down

## validate: the guide's validation checklist against the running lab (STABILITY_WINDOW=10 seconds)
validate:
	scripts/validate.sh

## ctl: a control command in a lab node, e.g. make ctl NODE=bird2 CMD='show route' (NODE=isp: birdc)
ctl:
	@scripts/lab.sh ctl $(NODE) $(CMD)

## lab-status: processes, namespaces and every node's `show protocols`
lab-status:
	@scripts/lab.sh status

# ---- failover and the mixed mesh (scripts/failover.sh; LAB_MIXED in scripts/lab.sh) ----
.PHONY: stop-node start-node failover lab-mixed
FAILOVER_NODE ?= bird3

## stop-node / start-node: stop or restart exactly one node's daemon(s) in the running lab, e.g. make stop-node NODE=bird3
stop-node:
	scripts/lab.sh stop-node $(NODE)

start-node:
	scripts/lab.sh start-node $(NODE)

## failover: stop FAILOVER_NODE (default bird3), time unreachable / session down / routes withdrawn (BGP and FIB)
## on every other node, start it again, time the recovery, then run the checklist again
failover:
	scripts/failover.sh $(FAILOVER_NODE)

## lab-repeat: cold-start the lab N times (default 10) in a row; counts BGP sessions not Established within 2 s
## of both daemons running and flaps, prints a summary line, non-zero exit on any (root)
.PHONY: lab-repeat
lab-repeat: deps version-header
	$(SWIFT) build -c release && LAB_BIN=$(CURDIR)/$(BIN_RELEASE) scripts/lab-repeat.sh $(or $(N),10)

## test-repeat: N (default 5) fresh clones of HEAD in a row, each running .ci/run (= make test); stops at the
## first failure (KEEP_GOING=1 to go on); one line per run and a summary (root; 20-40 minutes per run)
.PHONY: test-repeat
test-repeat:
	N=$(or $(N),5) scripts/test-repeat.sh

## lab-mixed: make lab with bird4 (LAB_MIXED) on C tincd 1.0 + bird2 instead of tincd-swift, then `make validate`
lab-mixed:
	$(MAKE) lab LAB_MIXED=$(or $(LAB_MIXED),bird4)

# ---- cold-start race loop (scripts/cold-start.sh): stale packet keys after a cold start ----
.PHONY: cold-start
## cold-start: N (default 100) cold starts of 12 nodes (8 tincd-swift + 4 C tincd; SWIFT_NODES=0: C alone),
## every pair must exchange data within 5 s of the graph converging; exits non-zero if one could not (root)
cold-start: build
	N=$(or $(N),100) scripts/cold-start.sh

# ---- fuzzing (Fuzz/, docs/FUZZING.md): libFuzzer + ASan (C shims also UBSan), built into .build-fuzz ----
.PHONY: fuzz fuzz-smoke fuzz-campaign fuzz-corpus
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=

## fuzz: every target (or FUZZ_TARGETS) for FUZZ_SECONDS each; prints executions, cov/ft, time, exec/s; fails on any crash/leak
fuzz:
	Fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

## fuzz-smoke: build and run every target for 2 s, two at a time (part of make test)
fuzz-smoke:
	FUZZ_CONFIG=debug FUZZ_PARALLEL=2 Fuzz/run.sh 2

## fuzz-campaign: 10 million executions per target, one after the other (hours; see docs/FUZZING.md for exec/s)
fuzz-campaign:
	FUZZ_RUNS=10000000 Fuzz/run.sh 0 $(FUZZ_TARGETS)

## fuzz-corpus: regenerate the committed seed corpora (Fuzz/corpus) from Fuzz/make-corpus.py
fuzz-corpus:
	python3 Fuzz/make-corpus.py

# ---- soak (scripts/soak.sh) and scale (scripts/scale.sh): long runs outside CI ----
.PHONY: soak soak-short soak-deps
SOAK_MINUTES ?= 30

## soak: the five-node lab with the ISP for SOAK_MINUTES (default 30) under iperf3/ping traffic, node
## restarts, ISP withdraw/re-announce and reloads; per-daemon RSS/fds/threads/CPU every 10 s into a CSV
## and an SVG plot under soak-results/; fails if a daemon dies, a route is missing after a recovery, or
## RSS/fds grow past the bounds in scripts/soak.sh (root; uses the lab's fixed namespaces)
soak: deps soak-deps
	$(SWIFT) build -c release && LAB_BIN=$(CURDIR)/$(BIN_RELEASE) SOAK_MINUTES=$(SOAK_MINUTES) scripts/soak.sh

## soak-deps: gnuplot for the soak's PNG (root; without it the soak draws only its SVG)
soak-deps:
	@if [ "$$(id -u)" = 0 ] && ! command -v gnuplot >/dev/null; then \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends gnuplot-nox >/dev/null \
	    || echo "gnuplot-nox not installed: the soak draws only soak.svg"; fi

## soak-short: a 3-minute soak with one of each event (restart, ISP withdraw, reload): the CI-sized version
soak-short: deps soak-deps
	$(SWIFT) build -c release && LAB_BIN=$(CURDIR)/$(BIN_RELEASE) SOAK_MINUTES=3 SOAK_RESTART_EVERY=60 SOAK_ISP_EVERY=60 SOAK_RELOAD_EVERY=60 scripts/soak.sh

.PHONY: scale bench-graph isp-fault
## scale: N (default 50) tincd-swift nodes in namespaces sk<pid>* (ring + random chords, some IndirectData);
## convergence time until >= 250 sampled pairs ping, RSS/fds/threads and meta requests per node, and the
## meta requests one node restart costs (root; results under scale-results/)
scale: release
	N=$(or $(N),50) TINCD_SWIFT_BIN=$(CURDIR)/$(BIN_RELEASE) scripts/scale.sh

## bench-graph: one full recompute (shortest paths, MST, forwarding table) after one edge change in a
## 1000-node graph (NODES=...), and the flooding model's message count for one node restart
bench-graph: release
	$(BIN_RELEASE) bench-graph --nodes=$(or $(NODES),1000) --rounds=$(or $(ROUNDS),200)

## isp-fault: against the running lab (make lab ISP_HOLD_TIME=9 ISP_KEEPALIVE_TIME=3 keeps it short): BGP to
## the ISP dropped by nftables on bird1 for hold time + 3 s (ISP_FAULT=link: bird1's eth1 down); times to
## withdraw the ISP's routes from every node and to re-learn them (root)
isp-fault:
	scripts/isp-fault.sh
