# sessiongate: build, run and test.
GO       ?= go
XCADDY   := github.com/caddyserver/xcaddy/cmd/xcaddy@v0.4.5
CADDY_VERSION := $(shell $(GO) list -m -f '{{.Version}}' github.com/caddyserver/caddy/v2)

.PHONY: all build run test deps fmt-check vet unit xcaddy-test bench bench-instructions bench-deps clean

all: build

build:
	$(GO) build -o caddy ./cmd/caddy

# The gateway on Caddyfile.example: embedded bolt store, demo upstream, demo secret.
run:
	$(GO) run ./cmd/caddy run --config Caddyfile.example

# Everything CI runs: formatting, vet, the race-enabled test suite and the xcaddy build.
test: deps fmt-check vet unit xcaddy-test

# Installs what the tests need on a fresh machine: redis-server and redis-cli (the redis store's
# tests start their own servers), Node.js with npm (the Frontegg client test) and Chromium (the
# portal's browser tests), from Debian's packages when they are missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
deps:
	@$(GO) version
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v redis-cli >/dev/null || missing="$$missing redis-tools"; \
	command -v node >/dev/null || missing="$$missing nodejs"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# The browser tests fail, rather than skip, when Chromium is missing.
unit:
	SESSIONGATE_REQUIRE_BROWSER=1 $(GO) test -race -count=1 ./...
	$(GO) test -count=1 -run 'DoesNotAllocate' ./enforcer/

# `xcaddy build --with github.com/sessiongate/sessiongate=.` must give a Caddy with both modules.
# The module is not published, so Go's version lookup must find "not found" and fall back to the
# replacement; "|off" makes that so behind a proxy that answers 403 rather than 404.
comma := ,
XCADDY_GOPROXY := $(firstword $(subst $(comma), ,$(shell $(GO) env GOPROXY)))|off
xcaddy-test:
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	GOPROXY='$(XCADDY_GOPROXY)' $(GO) run $(XCADDY) build $(CADDY_VERSION) --output "$$tmp/caddy" \
		--with github.com/sessiongate/sessiongate=$(CURDIR) >"$$tmp/log" 2>&1 || { cat "$$tmp/log"; exit 1; }; \
	mods=$$("$$tmp/caddy" list-modules); \
	for m in http.handlers.sessiongate admin.api.sessiongate; do \
		echo "$$mods" | grep -qx "$$m" || { echo "xcaddy-test: $$m missing from list-modules"; exit 1; }; \
	done; \
	echo "xcaddy-test: built with xcaddy, both sessiongate modules listed"

# The load harness (bench/): wrk against the upstream, plain reverse_proxy, forward_auth and
# sessiongate on each store, in interleaved rounds; writes docs/PERFORMANCE.md (~35 minutes).
# A smoke run: make bench BENCHFLAGS='-duration 2s -rounds 1' (its report goes to bench/out/).
BENCHFLAGS ?=
bench: bench-deps
	$(GO) run ./bench $(BENCHFLAGS)

# Caddy's instructions, allocations and bytes per request for each setup, counted under
# valgrind's callgrind with one hot session (~10 minutes); writes bench/out/INSTRUCTIONS.md.
bench-instructions: bench-deps
	$(GO) run ./bench -instructions 5000 -rounds 3 -setups B,H,C,D,E,F $(BENCHFLAGS)

# What the harness needs, from Debian's packages when missing: wrk, redis-server (the redis
# setup) and valgrind (-instructions).
bench-deps:
	@missing=""; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v valgrind >/dev/null || missing="$$missing valgrind"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

clean:
	rm -f caddy sessiongate-demo.db
