# ScaleTune: `make tune` measures this node and writes results/<host>-<time>.json;
# `make test` runs the test suite. Both install the system libraries first when missing.
SWIFT ?= swift

.PHONY: deps tune test build clean

deps:
	@scripts/install-deps.sh

tune: deps
	$(SWIFT) run -c release tune

build: deps
	$(SWIFT) build -c release

test: deps
	$(SWIFT) test

clean:
	rm -rf .build
