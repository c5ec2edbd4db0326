# Targets: setup (install + build, idempotent), test (lint, type-check, all tests), demo (the
# main job), bench (benchmarks). Every target starts the services it needs on free ports.
SHELL := /bin/bash
.DEFAULT_GOAL := help
NODE_TEST := node --import tsx --test --test-concurrency=2 --test-timeout=300000
TEST_FILES = $(shell find test -name '*.test.ts' -not -path 'test/e2e/*' -not -path 'test/failover/*' -not -path 'test/package/*' | sort)

.PHONY: help setup deps build system-deps jars node-lts lint typecheck test test-unit test-unit-lts test-package test-e2e test-e2e-kcl3 stack-start stack-stop demo demo-local demo-daemon bench bench-producer soak clean lambda-local test-failover bench-api bench-nodes bench-compare dashboard

help:
	@echo "make setup     install dependencies and build (safe to run twice)"
	@echo "make demo      run the main job end to end on local stand-ins"
	@echo "make test      lint, type-check and run every test (unit tests on Node 20 and on Node $(NODE_LTS_VERSION))"
	@echo "make node-lts  fetch Node $(NODE_LTS_VERSION) from the npm registry into tools/ (git-ignored)"
	@echo "make test-unit-lts  the unit tests on that Node"
	@echo "make test-package  npm pack, install into a new project, run the README's 'Write a worker' there (~2 min)"
	@echo "make test-e2e  the real Java KCL daemon end to end on the local stack (~4 min)"
	@echo "make test-e2e-kcl3  the same under KCL 3.x (make jars KCL=3 first fetches it)"
	@echo "make test-failover  Redis failover under load: Cluster with replicas, Sentinel, READONLY (~4 min)"
	@echo "make demo-daemon  the main job on the real KCL daemon and the local stack"
	@echo "make bench     run the benchmarks"
	@echo "make bench-producer  producer throughput against kinesalite (docs/producer.md)"
	@echo "make bench-compare REV=commit  bin/lastopens of this tree beside REV's, alternated in one run"
	@echo "make bench-api  App Opens API: batch vs single-event endpoint vs the base version (docs/api.md)"
	@echo "make soak      millions of records through bin/lastopens; fails unless RSS stays flat (SOAK_RECORDS=N)"
	@echo "make lambda-local EVENT=file.json   run the lastopens Lambda handler on an event file"
	@echo "make dashboard METRICS=file [OUT=page.html]   chart a METRICS_PATH file as a static HTML page"

setup: system-deps deps jars build

# A current Node LTS beside the machine's Node, from the npm registry's node-linux-<arch> package (no
# other download), into tools/ (git-ignored), the way the KCL jars go into vendor/. Pinned: the
# version CI tests is the version a user gets. `make test-unit-lts` runs the unit tests on it.
NODE_LTS_VERSION ?= 24.22.3
NODE_LTS_ARCH := $(if $(filter aarch64 arm64,$(shell uname -m)),arm64,x64)
NODE_LTS_DIR := tools/node-$(NODE_LTS_VERSION)
NODE_LTS_BIN := $(CURDIR)/$(NODE_LTS_DIR)/node_modules/node-linux-$(NODE_LTS_ARCH)/bin

node-lts: $(NODE_LTS_BIN)/node

$(NODE_LTS_BIN)/node:
	npm install --prefix $(NODE_LTS_DIR) --no-save --no-audit --no-fund --loglevel=error node-linux-$(NODE_LTS_ARCH)@$(NODE_LTS_VERSION)
	@$@ --version >/dev/null

# The KCL MultiLangDaemon's jars (vendor/kcl-jars), once; without java or mvn it says so and goes on.
# KCL=3: KCL 3.x instead, into vendor/kcl3-jars (docs/local-stack.md); KCL 2.7.2 stays the default.
KCL ?= 2
jars: deps
	@KCL=$(KCL) scripts/kcl-jars.sh

# The system packages the tests need, installed when missing: redis-server, and chromium (the
# metrics dashboard test opens the page in headless Chromium; Debian's package, no download of its own).
system-deps:
	@missing=""; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  echo "not found:$$missing: installing with apt-get"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq $$missing >/dev/null; fi; \
	fi

# dynalite learns the GSI Create KCL 3.x needs (scripts/patch-dynalite.mjs; idempotent, quiet when done).
deps: node_modules/.package-lock.json
	@if [ -L node_modules ]; then echo "node_modules is a symlink to a shared install: not patching dynalite (KCL 3 locally needs it)"; \
	else node scripts/patch-dynalite.mjs; fi

# A worktree's node_modules may be a symlink to a shared install: npm ci would empty the shared
# directory through the link (it did, once). Leave a symlinked install alone.
node_modules/.package-lock.json: package.json package-lock.json
	@if [ -L node_modules ]; then echo "node_modules is a symlink to a shared install: not running npm ci"; \
	else npm ci --no-audit --no-fund && touch $@; fi

# npm run build: the Lua scripts embedded (scripts/generate-lua-module.mjs), tsc for the ESM build
# (dist/) and the CommonJS one of the published package (dist/cjs, tsconfig.cjs.json).
build: deps
	npm run --silent build

lint: deps
	npx eslint .

typecheck: deps
	npx tsc -p tsconfig.json --noEmit

# Everything: lint, types, unit and integration tests, and the real Java daemon end to end.
test: setup lint typecheck test-unit test-unit-lts test-e2e

test-unit: build
	@echo "unit tests on $$(node --version)"
	$(NODE_TEST) $(TEST_FILES)

# The same unit tests (the Lambda adapter's included) on the current LTS: its node comes first on
# PATH, so the worker binaries the tests spawn (#!/usr/bin/env node) run on it too.
test-unit-lts: build node-lts
	@echo "unit tests on $$($(NODE_LTS_BIN)/node --version)"
	PATH="$(NODE_LTS_BIN):$$PATH" $(NODE_TEST) $(TEST_FILES)

# The published package as a new user gets it: npm pack (prepack builds), installed from the
# tarball into a new project (npm init -y), the README's "Write a worker" run there as printed, every
# entry point imported from ESM and CommonJS and type-checked under four TypeScript resolutions, the
# docs' Lambda handler invoked. Not in TEST_FILES: packing rebuilds dist/. Needs the npm registry
# (or a warm npm cache) for the new project's own installs. .ci/run runs it after make test.
test-package: deps
	node --import tsx --test --test-concurrency=1 --test-timeout=900000 test/package/*.test.ts

# The real Java daemon against the local stack (a few minutes; needs java: make jars).
test-e2e: build jars
	node --import tsx --test --test-concurrency=1 --test-timeout=1800000 test/e2e/*.test.ts

# The same end-to-end tests under KCL 3.x (make jars KCL=3; dynalite patched by make setup). Not in
# `make test` (time); .ci/run runs it.
test-e2e-kcl3: build
	@$(MAKE) --no-print-directory jars KCL=3
	E2E_KCL=3 node --import tsx --test --test-concurrency=1 --test-timeout=1800000 test/e2e/*.test.ts

# Redis failovers under load with real servers (Cluster 3+3, Sentinel with three sentinels, a
# primary endpoint that moves): slow, so not part of `make test`; .ci/run runs it.
test-failover: build
	node --import tsx --test --test-concurrency=1 --test-timeout=600000 test/failover/*.test.ts

# The local stack (kinesis-local, dynalite, redis) in the background; ports in .local/stack.json.
stack-start: deps
	node --import tsx scripts/local-stack.ts start

stack-stop:
	node --import tsx scripts/local-stack.ts stop

# The main job: the real Java KCL daemon when Java and the jars are there, else the test daemon.
demo: setup
	@if [ -f vendor/kcl-jars/.complete ]; then \
	  node --import tsx scripts/demo-daemon.ts; \
	else echo "no KCL jars (java or mvn missing): running the demo with the test daemon instead"; \
	  node --import tsx scripts/demo-testdaemon.ts; fi

# The main job without Java or AWS: bin/lastopens driven by the test daemon.
demo-local: setup
	node --import tsx scripts/demo-testdaemon.ts

# The main job on the real Java KCL MultiLangDaemon and the local stack (needs java: make jars).
demo-daemon: setup
	node --import tsx scripts/demo-daemon.ts

bench: setup bench-producer bench-nodes
	@if [ -f bench/run.ts ]; then node --import tsx bench/run.ts; fi

# bin/lastopens on the machine's Node and on the LTS (make node-lts), runs alternated in one invocation.
bench-nodes: setup node-lts
	node --import tsx bench/nodes.ts $(NODE_LTS_BIN)

# This tree's bin/lastopens beside REV's (built from git archive), runs alternated in one
# invocation: the before/after of a change. REV=<commit> [ROUNDS=5].
ROUNDS ?= 5
bench-compare: setup
	@if [ -z "$(REV)" ]; then echo "usage: make bench-compare REV=<commit> [ROUNDS=5]"; exit 2; fi
	node --import tsx bench/compare.ts $(REV) $(ROUNDS)

# Producer throughput against kinesalite: one-by-one vs raw 500-record calls vs BatchProducer.
bench-producer: deps
	node --import tsx bench/producer.ts

# App Opens API: events/s through POST /app_opens/batch beside POST /app_opens, and POST /app_opens
# beside the same endpoint at BASE (built from git archive into a temporary directory), in one run.
BASE ?= b597528
bench-api: deps
	node --import tsx bench/api.ts --base $(BASE)

# Not part of `make test`: 3,000,000 records by default (SOAK_RECORDS to change), several minutes.
soak: setup
	node --import tsx scripts/soak.ts

# The lastopens Lambda handler on an event file (env: RESULTS_REDIS_URL, STREAM_NAME; see docs/lambda.md).
EVENT ?= test/fixtures/lambda/app-opens-event.json
lambda-local:
	node --import tsx scripts/lambda-local.ts $(EVENT)

# A metrics file (bin/lastopens METRICS_PATH) as a static HTML page: rate, lag and failures over
# time, the chart library inlined (opens offline). docs/metrics.md.
OUT ?= metrics-dashboard.html
dashboard: deps
	@if [ -z "$(METRICS)" ]; then echo "usage: make dashboard METRICS=path/to/metrics.emf [OUT=page.html]"; exit 2; fi
	node --import tsx scripts/metrics-dashboard.ts "$(METRICS)" "$(OUT)"

clean:
	rm -rf dist .local tools
