# tincd-swift: the two set-up commands are `make lab` (main job) and `make test` (all tests).
SWIFT ?= swift
BIN_DEBUG := .build/debug/tincd-swift
BIN_RELEASE := .build/release/tincd-swift

.PHONY: all build release test unit-test deps lab lab-down validate bench bench-quick clean

all: build

## deps: install the Debian packages the build, tests and lab need (root)
deps:
	@if [ "$$(id -u)" = 0 ]; then \
	  missing=$$(for p in $$(cat .ci/packages); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	  if [ -n "$$missing" ]; then apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing >/dev/null; fi; \
	else echo "not root: skipping package installation"; fi

build:
	$(SWIFT) build

release:
	$(SWIFT) build -c release

## test: unit tests, fuzz tests and the namespace interop tests against real tincd/bird2/gobgpd
test: deps build
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

unit-test: build
	$(SWIFT) test --skip-build --filter 'MeshCryptoTests|MeshRoutingTests|TincConfigTests|TincProtocolTests|BGPLiteTests'

## bench: iperf3 through swift<->swift, C<->C, mixed and the bare veth (root); then crypto vs openssl speed
bench: release
	bench/throughput.sh
	bench/crypto.sh

## bench-quick: the same with 3 s runs (CI smoke)
bench-quick: release
	QUICK=1 bench/throughput.sh
	QUICK=1 bench/crypto.sh

clean:
	rm -rf .build
