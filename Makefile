# tapir: the two commands the README names are `make demo` and `make test`.
# `make bench` runs the benchmark suite against peer libraries (not part of test).

CARGO ?= cargo
RELEASE_LIB := target/release/libtapir.so
LOOM_TIMEOUT ?= 600

.PHONY: demo test bench scaling deps lib lint rust-tests c-tests valgrind asan loom examples fuzz fuzz-check clean

## demo: build and run the C tour (examples/c/tour.c)
demo: lib
	$(MAKE) -C examples/c run LIBDIR=$(CURDIR)/target/release

## test: every suite — Rust (unit, integration, header), loom, C (plain, valgrind, ASan), examples
test: deps lint rust-tests lib c-tests valgrind asan loom examples
	@echo "make test: all suites passed"

deps:
	@scripts/deps.sh gcc g++ make valgrind libc6-dev

lib:
	$(CARGO) build --release

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

rust-tests:
	$(CARGO) test

c-tests: lib
	$(MAKE) -C tests/c check LIBDIR=$(CURDIR)/target/release

valgrind: lib
	$(MAKE) -C tests/c valgrind LIBDIR=$(CURDIR)/target/release

# ASan: with a nightly toolchain, libtapir.so itself is instrumented
# (-Zsanitizer=address) and the C suite runs against it; without one, only the C
# side is instrumented (still catching double frees through the shared allocator).
ASAN_TRIPLE := x86_64-unknown-linux-gnu
ASAN_LIBDIR := $(CURDIR)/target/asan/$(ASAN_TRIPLE)/debug
asan: lib
	@if rustup run nightly rustc --version >/dev/null 2>&1; then \
	  echo "asan: instrumenting libtapir.so with the nightly toolchain"; \
	  RUSTFLAGS="-Zsanitizer=address" CARGO_TARGET_DIR=target/asan \
	    $(CARGO) +nightly build --target $(ASAN_TRIPLE) && \
	  $(MAKE) -C tests/c asan LIBDIR=$(ASAN_LIBDIR); \
	else \
	  echo "asan: no nightly toolchain here; instrumenting the C suite only"; \
	  $(MAKE) -C tests/c asan LIBDIR=$(CURDIR)/target/release; \
	fi

loom:
	RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
		timeout $(LOOM_TIMEOUT) $(CARGO) test --release --lib loom_

## fuzz: the randomized API fuzzer under ASan, random seeds, for SECONDS (default 60)
SECONDS ?= 60
fuzz:
	$(MAKE) -C tests/fuzz run SECONDS=$(SECONDS)

## fuzz-check: the fuzzer under ASan over fixed seeds at 1, 2 and 4 threads (about a minute)
fuzz-check:
	$(MAKE) -C tests/fuzz check

examples: lib
	$(MAKE) -C examples/c run LIBDIR=$(CURDIR)/target/release > /dev/null

bench:
	$(CARGO) build --release
	$(MAKE) -C benches

## scaling: issue 3's combinator and timer scaling/memory figures (tapir only)
scaling: lib
	$(CC) -O2 -std=gnu11 -Wall -Wextra -Werror -I include benches/tapir_scaling.c \
		-L target/release -ltapir -Wl,-rpath,$(CURDIR)/target/release -lpthread -o target/tapir_scaling
	target/tapir_scaling

clean:
	$(CARGO) clean
	-$(MAKE) -C tests/c clean
	-$(MAKE) -C examples/c clean
	-$(MAKE) -C tests/fuzz clean
