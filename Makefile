# Targets: setup (install + build, idempotent), test (lint, type-check, all tests), demo (the
# main job), bench (benchmarks). Every target starts the services it needs on free ports.
SHELL := /bin/bash
.DEFAULT_GOAL := help
NODE_TEST := node --import tsx --test --test-concurrency=2 --test-timeout=300000
TEST_FILES = $(shell find test -name '*.test.ts' -not -path 'test/e2e/*' | sort)

.PHONY: help setup deps build system-deps jars lint typecheck test test-unit test-e2e test-e2e-kcl3 stack-start stack-stop demo demo-local demo-daemon bench bench-producer soak clean lambda-local

help:
	@echo "make setup     install dependencies and build (safe to run twice)"
	@echo "make demo      run the main job end to end on local stand-ins"
	@echo "make test      lint, type-check and run every test"
	@echo "make test-e2e  the real Java KCL daemon end to end on the local stack (~4 min)"
	@echo "make test-e2e-kcl3  the same under KCL 3.x (make jars KCL=3 first fetches it)"
	@echo "make demo-daemon  the main job on the real KCL daemon and the local stack"
	@echo "make bench     run the benchmarks"
	@echo "make bench-producer  producer throughput against kinesalite (docs/producer.md)"
	@echo "make soak      millions of records through bin/lastopens; fails unless RSS stays flat (SOAK_RECORDS=N)"
	@echo "make lambda-local EVENT=file.json   run the lastopens Lambda handler on an event file"

setup: system-deps deps jars build

# The KCL MultiLangDaemon's jars (vendor/kcl-jars), once; without java or mvn it says so and goes on.
# KCL=3: KCL 3.x instead, into vendor/kcl3-jars (docs/local-stack.md); KCL 2.7.2 stays the default.
KCL ?= 2
jars: deps
	@KCL=$(KCL) scripts/kcl-jars.sh

# redis-server is the one system package the tests need; install it when it is missing.
system-deps:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "redis-server not found: installing it with apt-get"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq redis-server >/dev/null; fi; }

# dynalite learns the GSI Create KCL 3.x needs (scripts/patch-dynalite.mjs; idempotent, quiet when done).
deps: node_modules/.package-lock.json
	@if [ -L node_modules ]; then echo "node_modules is a symlink to a shared install: not patching dynalite (KCL 3 locally needs it)"; \
	else node scripts/patch-dynalite.mjs; fi

# A worktree's node_modules may be a symlink to a shared install: npm ci would empty the shared
# directory through the link (it did, once). Leave a symlinked install alone.
node_modules/.package-lock.json: package.json package-lock.json
	@if [ -L node_modules ]; then echo "node_modules is a symlink to a shared install: not running npm ci"; \
	else npm ci --no-audit --no-fund && touch $@; fi

build: deps
	npx tsc -p tsconfig.build.json

lint: deps
	npx eslint .

typecheck: deps
	npx tsc -p tsconfig.json --noEmit

# Everything: lint, types, unit and integration tests, and the real Java daemon end to end.
test: setup lint typecheck test-unit test-e2e

test-unit: build
	$(NODE_TEST) $(TEST_FILES)

# The real Java daemon against the local stack (a few minutes; needs java: make jars).
test-e2e: build jars
	node --import tsx --test --test-concurrency=1 --test-timeout=1800000 test/e2e/*.test.ts

# The same end-to-end tests under KCL 3.x (make jars KCL=3; dynalite patched by make setup). Not in
# `make test` (time); .ci/run runs it.
test-e2e-kcl3: build
	@$(MAKE) --no-print-directory jars KCL=3
	E2E_KCL=3 node --import tsx --test --test-concurrency=1 --test-timeout=1800000 test/e2e/*.test.ts

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

bench: setup bench-producer
	@if [ -f bench/run.ts ]; then node --import tsx bench/run.ts; fi

# Producer throughput against kinesalite: one-by-one vs raw 500-record calls vs BatchProducer.
bench-producer: deps
	node --import tsx bench/producer.ts

# Not part of `make test`: 3,000,000 records by default (SOAK_RECORDS to change), several minutes.
soak: setup
	node --import tsx scripts/soak.ts

# The lastopens Lambda handler on an event file (env: RESULTS_REDIS_URL, STREAM_NAME; see docs/lambda.md).
EVENT ?= test/fixtures/lambda/app-opens-event.json
lambda-local:
	node --import tsx scripts/lambda-local.ts $(EVENT)

clean:
	rm -rf dist .local
