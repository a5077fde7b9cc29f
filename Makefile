# ScaleTune: `make tune` measures this node and writes results/<host>-<time>.json;
# `make test` runs the test suite. Both install the system libraries first when missing.
SWIFT ?= swift
# Flags for the whole `tune`, e.g. make tune TUNE_ARGS="--quick --model tiny".
TUNE_ARGS ?=

.PHONY: deps tune test test-narrower build clean

deps:
	@scripts/install-deps.sh

# Every product, whatever was built before: the parallel stage's trials run `train` beside `tune`.
tune: build
	"$$($(SWIFT) build -c release --show-bin-path)/tune" $(TUNE_ARGS)

build: deps
	$(SWIFT) build -c release

# The whole suite, then the kernel and CLI suites again under each SCALETUNE_ISA level below this
# CPU's (avx2 and sse2 on an AVX-512 CPU, sse2 on an AVX2 one), so that the narrower kernel paths
# are tested on whichever CPU runs the tests.
# The trainer's, the parallel tuner's and the MPI job suites run on their own after the rest: they train on both cores for minutes, and
# beside them the CLI fuzz test's time-bounded runs would be starved.
test: deps
	$(SWIFT) test --skip TrainerTests --skip TrainCLITests --skip TuneThenTrainTests --skip ParallelTuneTests --skip MPIJobTests --skip FakeNodeTests --skip PlanThisNodeTests
	$(SWIFT) test --skip-build --filter 'TrainerTests|TrainCLITests|TuneThenTrainTests|ParallelTuneTests|MPIJobTests|FakeNodeTests|PlanThisNodeTests'
	@$(MAKE) --no-print-directory test-narrower

test-narrower:
	@for level in $$(scripts/narrower-isa-levels.sh); do \
	  echo "== kernel and CLI suites under SCALETUNE_ISA=$$level"; \
	  SCALETUNE_ISA=$$level $(SWIFT) test --skip-build --filter 'KernelsTests|CLITests' --skip FuzzCLITests --skip MPIJobTests --skip FakeNodeTests --skip PlanThisNodeTests || exit 1; \
	done

clean:
	rm -rf .build
