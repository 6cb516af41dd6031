#!/bin/sh
# packaging/install.sh install|uninstall — what `make install` and `make uninstall` run.
#
# Environment (the Makefile passes its variables through):
#   PREFIX      where the files go            (default /usr/local)
#   DESTDIR     a staging root prepended to every path, for packagers (default empty)
#   LIBDIR      libraries                     (default $PREFIX/lib)
#   INCLUDEDIR  headers                       (default $PREFIX/include)
#   BUILDDIR    where cargo put the libraries (default target/release)
#   STRIP       the strip program             (default strip)
#
# Installs:
#   $LIBDIR/libtapir.so.X.Y.Z        the shared library, stripped, SONAME libtapir.so.SOVERSION
#   $LIBDIR/libtapir.so.SOVERSION -> libtapir.so.X.Y.Z    (what the loader looks up)
#   $LIBDIR/libtapir.so -> libtapir.so.SOVERSION           (what the linker finds for -ltapir)
#   $LIBDIR/libtapir.a               the static library, debug info stripped
#   $INCLUDEDIR/tapir.h, tapir.hpp   the C header and the header-only C++ binding
#   $LIBDIR/pkgconfig/tapir.pc       pkg-config (the static link's system libraries in Libs.private)
#   $LIBDIR/cmake/tapir/tapirConfig.cmake, tapirConfigVersion.cmake   find_package(tapir)
#
# SOVERSION follows Cargo's compatibility rule: MAJOR from 1.0 on, 0.MINOR before 1.0.
set -eu

action=${1:-install}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
LIBDIR=${LIBDIR:-$PREFIX/lib}
INCLUDEDIR=${INCLUDEDIR:-$PREFIX/include}
BUILDDIR=${BUILDDIR:-$root/target/release}
STRIP=${STRIP:-strip}

case $PREFIX$LIBDIR$INCLUDEDIR in
  *[!A-Za-z0-9_./+@-]*) echo "install.sh: PREFIX, LIBDIR and INCLUDEDIR must be plain paths" >&2; exit 2 ;;
esac
case $PREFIX in /*) ;; *) echo "install.sh: PREFIX must be absolute ($PREFIX)" >&2; exit 2 ;; esac
case $LIBDIR in /*) ;; *) echo "install.sh: LIBDIR must be absolute ($LIBDIR)" >&2; exit 2 ;; esac
case $INCLUDEDIR in /*) ;; *) echo "install.sh: INCLUDEDIR must be absolute ($INCLUDEDIR)" >&2; exit 2 ;; esac

VERSION=$(sed -n 's/^version = "\([0-9][0-9.]*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)
[ -n "$VERSION" ] || { echo "install.sh: no version in Cargo.toml" >&2; exit 1; }
MAJOR=${VERSION%%.*}
rest=${VERSION#*.}
MINOR=${rest%%.*}
if [ "$MAJOR" = 0 ]; then SOVERSION=0.$MINOR; else SOVERSION=$MAJOR; fi
SONAME=libtapir.so.$SOVERSION
REAL=libtapir.so.$VERSION

# The system libraries a static link of libtapir.a needs: what
# `cargo rustc --release --lib --crate-type staticlib -- --print native-static-libs`
# reports for x86_64-unknown-linux-gnu.
STATIC_LIBS="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"

lib=$DESTDIR$LIBDIR
inc=$DESTDIR$INCLUDEDIR
pc=$lib/pkgconfig
cm=$lib/cmake/tapir
headers="$root/include/tapir.h $(ls "$root"/bindings/cpp/include/*.hpp 2>/dev/null || true)"

# A path from directory $1 to directory $2 (both absolute, no symlinks needed).
relpath() {
  from=$1 to=$2 up=
  while :; do
    case $to/ in "$from"/*) break ;; esac
    from=$(dirname "$from"); up=../$up
    [ "$from" = / ] && break
  done
  if [ "$from" = / ]; then rel=${to#/}; else rel=${to#"$from"}; rel=${rel#/}; fi
  out=${up}${rel}
  out=${out%/}
  printf '%s\n' "${out:-.}"
}

subst() {  # subst TEMPLATE OUTPUT
  cmake_static=$(printf '%s\n' "$STATIC_LIBS" | sed 's/-l//g; s/ /;/g')
  sed -e "s|@PREFIX@|$PREFIX|g" -e "s|@LIBDIR@|$LIBDIR|g" -e "s|@INCLUDEDIR@|$INCLUDEDIR|g" \
      -e "s|@VERSION@|$VERSION|g" -e "s|@VERSION_MAJOR@|$MAJOR|g" -e "s|@VERSION_MINOR@|$MINOR|g" \
      -e "s|@SONAME@|$SONAME|g" -e "s|@STATIC_LIBS@|$STATIC_LIBS|g" \
      -e "s|@CMAKE_STATIC_LIBS@|$cmake_static|g" \
      -e "s|@CMAKE_TO_LIBDIR@|$(relpath "$LIBDIR/cmake/tapir" "$LIBDIR")|g" \
      -e "s|@CMAKE_TO_INCLUDEDIR@|$(relpath "$LIBDIR/cmake/tapir" "$INCLUDEDIR")|g" \
      "$1" > "$2"
  chmod 644 "$2"
}

case $action in
install)
  for f in "$BUILDDIR/libtapir.so" "$BUILDDIR/libtapir.a"; do
    [ -f "$f" ] || { echo "install.sh: $f is missing (run cargo build --release)" >&2; exit 1; }
  done
  install -d "$lib" "$inc" "$pc" "$cm"
  install -m 755 "$BUILDDIR/libtapir.so" "$lib/$REAL"
  "$STRIP" --strip-unneeded "$lib/$REAL"
  ln -sf "$REAL" "$lib/$SONAME"
  ln -sf "$SONAME" "$lib/libtapir.so"
  install -m 644 "$BUILDDIR/libtapir.a" "$lib/libtapir.a"
  "$STRIP" --strip-debug "$lib/libtapir.a"
  for h in $headers; do install -m 644 "$h" "$inc/"; done
  subst "$here/tapir.pc.in" "$pc/tapir.pc"
  subst "$here/tapirConfig.cmake.in" "$cm/tapirConfig.cmake"
  subst "$here/tapirConfigVersion.cmake.in" "$cm/tapirConfigVersion.cmake"
  echo "installed tapir $VERSION ($SONAME) into $DESTDIR$PREFIX"
  if [ -z "$DESTDIR" ] && command -v ldconfig >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
    ldconfig 2>/dev/null || true   # refresh the loader's cache for the new SONAME
  fi
  ;;
uninstall)
  rm -f "$lib/$REAL" "$lib/$SONAME" "$lib/libtapir.so" "$lib/libtapir.a" \
        "$pc/tapir.pc" "$cm/tapirConfig.cmake" "$cm/tapirConfigVersion.cmake"
  for h in $headers; do rm -f "$inc/$(basename "$h")"; done
  rmdir "$cm" 2>/dev/null || true
  echo "removed tapir $VERSION from $DESTDIR$PREFIX"
  ;;
*)
  echo "usage: install.sh install|uninstall" >&2; exit 2 ;;
esac
