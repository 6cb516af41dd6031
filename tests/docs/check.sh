#!/bin/sh
# tests/docs/check.sh — what a reader of the shipped docs relies on:
#   readme_snippet_c / _cpp   the README's C program compiles warning-free as C11 and
#                             as C++17, and prints what the README says it prints
#   c_guide_program_c / _cpp  the same for the complete program of docs/c.md
#   embedding_snippets        every ```c block of docs/embedding.md compiles on its own,
#                             warning-free as C11 (a block including <uv.h> only where
#                             libuv's header is installed)
#   embedding_program_c / _cpp  its complete program (the ```c block with a main())
#                             compiles as C11 and C++17 and prints the ```text block after it
#   no_unshipped_references   README, docs/, the header, examples/, src/ and bindings/
#                             (test files aside) cite no text a user cannot see
#   doc_links                 every relative link in README.md and docs/*.md resolves
# usage: tests/docs/check.sh LIBDIR   (the directory holding libtapir.so)
# Prints "ok NAME" / "FAIL NAME" per check and, last, "N passed, N failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
libdir=${1:-$root/target/release}
work=$root/target/docs-check
CC=${CC:-cc}
CXX=${CXX:-c++}
rm -rf "$work"; mkdir -p "$work"
log=$work/log.txt
: > "$log"

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

# The C programs of the docs: README.md's first ```c block, whose output the line
# "It prints `...`" gives, and docs/c.md's ```c block that has a main(), whose output
# is the ```text block after it.
awk '/^```c$/ { on = 1; next } on && /^```$/ { exit } on { print }' "$root/README.md" > "$work/readme.c"
sed -n 's/^It prints `\([^`]*\)`.*$/\1/p' "$root/README.md" | head -n 1 > "$work/readme.expected"
awk '/^```c$/ { on = 1; buf = ""; next }
     on && /^```$/ { on = 0; if (buf ~ /int main\(/) { printf "%s", buf; exit } next }
     on { buf = buf $0 "\n" }' "$root/docs/c.md" > "$work/guide.c"
awk -v prog="$(cat "$work/guide.c" | head -n 1)" '
     /^```c$/ { inc = 1; first = 1; next }
     inc && first { first = 0; if ($0 == prog) found = 1 }
     inc && /^```$/ { inc = 0; if (found) after = 1; next }
     after && /^```text$/ { on = 1; next }
     on && /^```$/ { exit }
     on { print }' "$root/docs/c.md" > "$work/guide.expected"

# docs/embedding.md: every ```c block to embed-N.c; the one with a main() also to
# embedding.c, and the ```text block after it to embedding.expected.
awk -v dir="$work" '
     /^```c$/ { on = 1; n++; f = dir "/embed-" n ".c"; printf "" > f; main = 0; next }
     on && /^```$/ { on = 0; close(f); if (main) { system("cp " f " " dir "/embedding.c"); after = 1 } next }
     on { print > f; if ($0 ~ /int main\(/) main = 1; next }
     after && /^```text$/ { out = 1; after = 0; next }
     out && /^```$/ { out = 0; next }
     out { print > (dir "/embedding.expected") }' "$root/docs/embedding.md"

embedding_snippets() {
  set -- "$work"/embed-*.c
  [ -e "$1" ] || { echo "no C blocks found in docs/embedding.md"; return 1; }
  have_uv=0
  printf '#include <uv.h>\n' | $CC -E -x c - > /dev/null 2>&1 && have_uv=1
  bad=0
  for f in "$@"; do
    if grep -q '#include <uv.h>' "$f" && [ $have_uv -eq 0 ]; then
      echo "$(basename "$f"): uv.h not installed, not compiled"; continue
    fi
    $CC -std=c11 -Wall -Wextra -Wpedantic -Werror -I "$root/include" -c -o "${f%.c}.o" "$f" \
      || { echo "$(basename "$f") (docs/embedding.md) does not compile"; bad=1; }
  done
  [ $bad -eq 0 ]
}
embedding_program_c() { program embedding "$CC" -std=c11; }
embedding_program_cpp() { program embedding "$CXX" -x c++ -std=c++17; }

program() {  # program NAME COMPILER FLAGS... — builds $work/NAME.c, runs it, compares
  name=$1; compiler=$2; shift 2
  [ -s "$work/$name.c" ] || { echo "no C program found for $name"; return 1; }
  [ -s "$work/$name.expected" ] || { echo "no expected output found for $name"; return 1; }
  $compiler "$@" -Wall -Wextra -Wpedantic -Werror -I "$root/include" -o "$work/$name.bin" \
    "$work/$name.c" -L "$libdir" -ltapir -Wl,-rpath,"$libdir" -lpthread || return 1
  "$work/$name.bin" > "$work/$name.out" || return 1
  diff -u "$work/$name.expected" "$work/$name.out"
}
readme_snippet_c() { program readme "$CC" -std=c11; }
readme_snippet_cpp() { program readme "$CXX" -x c++ -std=c++17; }
c_guide_program_c() { program guide "$CC" -std=c11; }
c_guide_program_cpp() { program guide "$CXX" -x c++ -std=c++17; }

no_unshipped_references() {
  cd "$root" || return 1
  hits=$(grep -rnE 'ACCEPTANCE|DESIGN\.md|STYLE\.md|\b(CS|CT|TS|UW|ER|CN|WA|WY|DL|CB|AP|MB)-[0-9]{2}\b|\bissue [0-9]+\b|founding text|\.\./shared' \
           README.md docs include examples src bindings benches/README.md Makefile packaging \
         | grep -vE '^src/([^:]*/)?tests/|^[^:]*(test|tests)\.(rs|c|cpp|cs):|^bindings/csharp/tests/')
  [ -z "$hits" ] || { printf '%s\n' "$hits"; return 1; }
}

doc_links() {
  cd "$root" || return 1
  bad=0
  for md in README.md docs/*.md; do
    dir=$(dirname "$md")
    # links outside code blocks and code spans, to files (not URLs, not anchors)
    targets=$(awk '/^```/ { code = !code; next } !code' "$md" | sed 's/`[^`]*`//g' |
              grep -oE '\]\([A-Za-z0-9_./-]+(#[^)]*)?\)' | sed 's/^](//; s/)$//; s/#.*//' |
              grep -vE '^[a-z]+:|^$')
    for target in $targets; do
      [ -e "$dir/$target" ] || { echo "$md: broken link $target"; bad=1; }
    done
  done
  [ $bad -eq 0 ]
}

check readme_snippet_c readme_snippet_c
check readme_snippet_cpp readme_snippet_cpp
check c_guide_program_c c_guide_program_c
check c_guide_program_cpp c_guide_program_cpp
check embedding_snippets embedding_snippets
check embedding_program_c embedding_program_c
check embedding_program_cpp embedding_program_cpp
check no_unshipped_references no_unshipped_references
check doc_links doc_links
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
