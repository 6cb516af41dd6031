#!/bin/sh
# tests/install/check.sh — what a user of an installed tapir does, checked end to end:
# `make install` into a temporary DESTDIR, then programs built against the installed
# tree only (pkg-config for C, shared and static; CMake's find_package for C++), the
# SONAME they record, and `make uninstall` leaving nothing behind.
#
# usage: tests/install/check.sh [WORKDIR]   (default target/install-test; wiped first)
# Prints "ok NAME" or "FAIL NAME" per check and, last, "N passed, N failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=${1:-$root/target/install-test}
MAKE=${MAKE:-make}
CC=${CC:-cc}
CXX=${CXX:-c++}

"$root/scripts/deps.sh" cmake pkg-config binutils >/dev/null 2>&1 || { echo "0 passed, 1 failed"; exit 1; }

rm -rf "$work"
mkdir -p "$work"
dest=$work/destdir
prefix=/usr/local
lib=$dest$prefix/lib
log=$work/log.txt
: > "$log"

version=$(sed -n 's/^version = "\([0-9][0-9.]*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)
major=${version%%.*}; minor=${version#*.}; minor=${minor%%.*}
if [ "$major" = 0 ]; then soname=libtapir.so.0.$minor; else soname=libtapir.so.$major; fi

passed=0; failed=0
# check NAME COMMAND... — runs COMMAND with its output in the log; on failure that
# output (its last 40 lines) is shown too.
check() {
  name=$1; shift
  echo "== $name: $*" >> "$log"
  out=$("$@" 2>&1); rc=$?
  printf '%s\n' "$out" >> "$log"
  if [ $rc -eq 0 ]; then
    echo "ok   $name"; passed=$((passed + 1))
  else
    echo "FAIL $name (full log: $log)"; failed=$((failed + 1))
    printf '%s\n' "$out" | tail -n 40 | sed 's/^/    | /'
  fi
}

# pkg-config against the staging tree: the sysroot prefix maps the .pc's
# /usr/local paths into DESTDIR, as a packager's build would.
pc() {
  PKG_CONFIG_SYSROOT_DIR=$dest PKG_CONFIG_LIBDIR=$lib/pkgconfig PKG_CONFIG_PATH= pkg-config "$@"
}
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }

files_present() {
  for f in "libtapir.so.$version" libtapir.a pkgconfig/tapir.pc \
           cmake/tapir/tapirConfig.cmake cmake/tapir/tapirConfigVersion.cmake; do
    [ -f "$lib/$f" ] || { echo "missing $lib/$f"; return 1; }
  done
  [ "$(readlink "$lib/$soname")" = "libtapir.so.$version" ] || { echo "bad $soname link"; return 1; }
  [ "$(readlink "$lib/libtapir.so")" = "$soname" ] || { echo "bad libtapir.so link"; return 1; }
  for h in tapir.h tapir.hpp; do
    [ -f "$dest$prefix/include/$h" ] || { echo "missing include/$h"; return 1; }
  done
}
soname_is_versioned() {
  got=$(readelf -d "$lib/libtapir.so.$version" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
  echo "SONAME: $got (want $soname)"
  [ "$got" = "$soname" ]
}
shared_is_stripped() {
  ls -l "$lib/libtapir.so.$version"
  ! readelf -S "$lib/libtapir.so.$version" | grep -q '\.debug_'
}
static_has_no_debug_info() {
  ! readelf -S "$lib/libtapir.a" 2>/dev/null | grep -q '\.debug_info'
}
exports_only_tapir() {
  others=$(nm -D --defined-only "$lib/libtapir.so.$version" | awk '$3 !~ /^tapir_/ { print $3 }')
  [ -z "$others" ] || { echo "exported besides tapir_*: $others"; return 1; }
}
pc_fields() {
  pc --modversion tapir | grep -qx "$version" &&
  pc --static --libs tapir | grep -q -- '-lpthread' &&
  ! pc --libs tapir | grep -q -- '-lpthread'
}
c_shared() {
  # shellcheck disable=SC2046
  $CC -std=c11 -Wall -Wextra -Wpedantic -Werror -o "$work/consumer_shared" "$here/consumer.c" \
    $(pc --cflags --libs tapir) -lpthread &&
  needed "$work/consumer_shared" | grep -qx "$soname" &&
  LD_LIBRARY_PATH=$lib "$work/consumer_shared"
}
c_static() {
  # -l:libtapir.a picks the archive where a plain -ltapir would find the .so first.
  # shellcheck disable=SC2046
  $CC -std=c11 -Wall -Wextra -Wpedantic -Werror -o "$work/consumer_static" "$here/consumer.c" \
    $(pc --cflags --static --libs tapir | sed 's/-ltapir\b/-l:libtapir.a/') &&
  ! needed "$work/consumer_static" | grep -q libtapir &&
  env -u LD_LIBRARY_PATH "$work/consumer_static"
}
cmake_consumer() {
  cmake -S "$here" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$dest$prefix" \
        -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX" -DCMAKE_BUILD_TYPE=Release &&
  cmake --build "$work/cmake" &&
  needed "$work/cmake/consumer_cpp" | grep -qx "$soname" &&
  LD_LIBRARY_PATH=$lib "$work/cmake/consumer_cpp" &&
  ! needed "$work/cmake/consumer_cmake_static" | grep -q libtapir &&
  "$work/cmake/consumer_cmake_static"
}
cmake_refuses_other_abi() {
  # A request for the next ABI (0.MINOR+1 before 1.0, MAJOR+1 after) is not met.
  if [ "$major" = 0 ]; then want=0.$((minor + 1)); else want=$((major + 1)).0; fi
  mkdir -p "$work/cmake-abi"
  cat > "$work/cmake-abi/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.13)
project(abi C)
find_package(tapir $want QUIET)
if(tapir_FOUND)
  message(FATAL_ERROR "find_package(tapir $want) accepted tapir $version")
endif()
find_package(tapir $version EXACT REQUIRED)
CMAKE
  cmake -S "$work/cmake-abi" -B "$work/cmake-abi/build" -DCMAKE_PREFIX_PATH="$dest$prefix"
}
multiarch_libdir() {
  # LIBDIR outside PREFIX/lib (Debian's multiarch layout): the CMake package still
  # finds the headers and the library from its own location.
  d=$work/destdir-multiarch
  $MAKE -s -C "$root" install PREFIX=/usr libdir=/usr/lib/x86_64-linux-gnu DESTDIR="$d" &&
  cmake -S "$here" -B "$work/cmake-multiarch" -DCMAKE_PREFIX_PATH="$d/usr" \
        -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX" &&
  cmake --build "$work/cmake-multiarch" --target consumer_cpp &&
  LD_LIBRARY_PATH=$d/usr/lib/x86_64-linux-gnu "$work/cmake-multiarch/consumer_cpp"
}
uninstall_leaves_nothing() {
  $MAKE -s -C "$root" uninstall PREFIX=$prefix DESTDIR="$dest" &&
  left=$(find "$dest" ! -type d) && [ -z "$left" ] || { echo "left behind: $left"; return 1; }
}

if ! $MAKE -s -C "$root" install PREFIX=$prefix DESTDIR="$dest" >> "$log" 2>&1; then
  echo "FAIL make install (see $log)"
  echo "0 passed, 1 failed"
  exit 1
fi
echo "ok   make install PREFIX=$prefix DESTDIR=$dest"; passed=1

check files_present files_present
check soname_is_versioned soname_is_versioned
check shared_is_stripped shared_is_stripped
check static_has_no_debug_info static_has_no_debug_info
check exports_only_tapir exports_only_tapir
check pkg_config_fields pc_fields
check c_pkg_config_shared c_shared
check c_pkg_config_static c_static
check cmake_find_package cmake_consumer
check cmake_refuses_other_abi cmake_refuses_other_abi
check cmake_multiarch_libdir multiarch_libdir
check uninstall_leaves_nothing uninstall_leaves_nothing

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
