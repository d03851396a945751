# QEMU people type make. Every target delegates to nx (through npm); see README.md.
NPM_DEPS := node_modules/.package-lock.json
# nx's task cache lives outside the clone, so a fresh clone (CI) reuses earlier builds.
export NX_CACHE_DIRECTORY ?= $(or $(IOHANG_HOME),$(HOME)/.cache/iohang)/nx
export NX_DAEMON := false
export NX_NO_CLOUD := true
IOHANG := node packages/cli/bin/iohang.mjs

.PHONY: help setup qemu qemu-asan demo test docs check-series
help:
	@echo "make demo          build the patched QEMU (cached) and run the main job"
	@echo "make test          the test suite (what CI runs)"
	@echo "make qemu          build the patched QEMU into qemu-build/out/default"
	@echo "make qemu-asan     the AddressSanitizer + UBSan variant into qemu-build/out/asan"
	@echo "make check-series  apply, compile and checkpatch each patch in turn"
	@echo "make setup         apt sources and packages (root)"
	@echo "make docs          the docs site"

# npm install, not npm ci: the registry this project's machines reach serves no builds of
# rollup's optional packages for other platforms, so the lockfile cannot list them and
# npm ci refuses it. npm install takes the locked versions all the same.
$(NPM_DEPS): package.json package-lock.json
	npm install --no-audit --no-fund

setup: $(NPM_DEPS)
	$(IOHANG) setup

qemu: setup
	npx nx run qemu-build:build

qemu-asan: setup
	npx nx run qemu-build:build-asan

demo: setup
	npx nx run qemu-build:build
	$(IOHANG) demo

# One project at a time: guest tests boot VMs under TCG, and two at once on 2 cores
# would only make their timing checks flaky. test-asan is the sanitizer tier: a subset of
# the scenarios on the ASan/UBSan build (packages/scenarios/package.json).
test: setup
	npx nx run-many -t typecheck test test-asan --parallel=1 --outputStyle=stream

check-series: setup
	$(IOHANG) qemu check-series

docs: $(NPM_DEPS)
	npx nx run-many -t docs
