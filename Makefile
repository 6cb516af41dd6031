# tapir: the two commands the README names are `make demo` and `make test`.
# `make bench` runs the benchmark suite against peer libraries (not part of test).

CARGO ?= cargo
RELEASE_LIB := target/release/libtapir.so
LOOM_TIMEOUT ?= 600

.PHONY: demo test check bench scaling deps lib lint rust-tests c-tests budget valgrind asan loom examples clean csharp-test demo-csharp conformance fuzz fuzz-check fuzz-check-mt

## demo: build and run the C tour (examples/c/tour.c)
demo: lib
	$(MAKE) -C examples/c run LIBDIR=$(CURDIR)/target/release

## test: every suite — Rust (unit, integration, header), loom, C (plain, valgrind, ASan),
## the instruction budget, examples and docs, the installed package, the C++ and C#
## bindings. One line per suite, then a table; full logs in target/test-logs/.
TEST_SUITES := deps lint rust-tests lib c-tests budget valgrind asan loom examples \
               docs-check install-check cpp-test csharp-test conformance fuzz-check fuzz-check-mt
test:
	@MAKE='$(MAKE)' scripts/test-run.sh $(TEST_SUITES)

## check: the edit-test loop, a minute or two: lint, the Rust tests, the C suite
## against the release library and the instruction budget, through the same runner
CHECK_SUITES := lint rust-tests lib c-tests budget
check:
	@MAKE='$(MAKE)' scripts/test-run.sh $(CHECK_SUITES)

deps:
	@scripts/deps.sh gcc g++ make valgrind libc6-dev cmake pkg-config binutils python3 libuv1-dev

lib:
	$(CARGO) build --release

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

rust-tests:
	$(CARGO) test

c-tests: lib
	$(MAKE) -C tests/c check LIBDIR=$(CURDIR)/target/release

## budget: instructions, atomics and TLS calls per W1/W2 lifecycle (callgrind, deterministic)
budget: lib
	tests/budget/check.sh $(CURDIR)/target/release

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

## fuzz-check: the fuzzer under ASan over fixed seeds at 1 and 2 fuzzer threads (about a minute)
fuzz-check:
	$(MAKE) -C tests/fuzz check

## fuzz-check-mt: the same at 2 and 4 fuzzer threads (about 40 s)
fuzz-check-mt:
	$(MAKE) -C tests/fuzz check-mt

examples: lib
	$(MAKE) -C examples/c run LIBDIR=$(CURDIR)/target/release > /dev/null

## csharp-test: the C# binding's NUnit suite on Mono (bindings/csharp)
csharp-test: lib
	$(MAKE) -C bindings/csharp test LIBDIR=$(CURDIR)/target/release

## conformance: one task made by a C program, awaited from C, C++ (co_await), C# (await,
## on Mono) and Rust (.await): the same value, faults (each language's own error comes back
## as the original object) and cancellation, with the live-object count back to zero
conformance:
	$(MAKE) -C tests/conformance run

## demo-csharp: build and run the C# tour (examples/csharp/Tour.cs)
demo-csharp: lib
	$(MAKE) -C bindings/csharp tour LIBDIR=$(CURDIR)/target/release

## install / uninstall: libtapir.so.X.Y.Z (stripped, SONAME libtapir.so.SOVERSION) with
## its links, libtapir.a, tapir.h and tapir.hpp, tapir.pc and the CMake package, under
## $(DESTDIR)$(PREFIX); libdir and includedir override the directories (packaging/install.sh)
PREFIX ?= /usr/local
libdir ?= $(PREFIX)/lib
includedir ?= $(PREFIX)/include
.PHONY: install uninstall install-check docs-check header
# Builds first when cargo is there; `sudo make install` without cargo on root's PATH
# installs the existing target/release build.
install:
	@if command -v $(CARGO) >/dev/null 2>&1; then $(CARGO) build --release; \
	 else echo "install: $(CARGO) not found; installing the existing target/release build"; fi
	@PREFIX='$(PREFIX)' LIBDIR='$(libdir)' INCLUDEDIR='$(includedir)' DESTDIR='$(DESTDIR)' \
	  BUILDDIR='$(CURDIR)/target/release' packaging/install.sh install

uninstall:
	@PREFIX='$(PREFIX)' LIBDIR='$(libdir)' INCLUDEDIR='$(includedir)' DESTDIR='$(DESTDIR)' \
	  packaging/install.sh uninstall

## install-check: make install into a temporary DESTDIR, then C (pkg-config, shared and
## static) and C++ (CMake find_package) consumers built against it, and make uninstall
install-check: lib
	tests/install/check.sh

## docs-check: the README's C snippet compiles as C and C++ and prints what it says;
## the shipped tree cites no unshipped text; every relative doc link resolves
docs-check: lib
	tests/docs/check.sh $(CURDIR)/target/release

## header: regenerate include/tapir.h from src/ffi (cbindgen, in tests/header.rs)
header:
	TAPIR_BLESS=1 $(CARGO) test --release --test header

bench:
	$(CARGO) build --release
	$(MAKE) -C benches
	$(MAKE) -C benches rust

## scaling: combinator and timer scaling and memory figures (tapir only)
scaling: lib
	$(CC) -O2 -std=gnu11 -Wall -Wextra -Werror -I include benches/tapir_scaling.c \
		-L target/release -ltapir -Wl,-rpath,$(CURDIR)/target/release -lpthread -o target/tapir_scaling
	target/tapir_scaling

clean:
	$(CARGO) clean
	-$(MAKE) -C tests/c clean
	-$(MAKE) -C examples/c clean
	-$(MAKE) -C tests/fuzz clean

## cpp-test: the C++ binding's GoogleTest suite (C++17, C++20, ASan+UBSan)
## demo-cpp: build and run the C++ tour (examples/cpp/tour.cpp)
.PHONY: cpp-test demo-cpp
cpp-test: lib
	$(MAKE) -C bindings/cpp test LIBDIR=$(CURDIR)/target/release

demo-cpp: lib
	$(MAKE) -C bindings/cpp tour LIBDIR=$(CURDIR)/target/release
