#!/bin/sh
# Installs the Debian packages the benchmark suite needs when any is missing.
# Uses sudo only when not root. gnuplot is optional: without it the report has no figures.
set -e
REQUIRED="g++ make libcpprest-dev libboost-thread-dev mono-devel"
OPTIONAL="gnuplot-nox"

missing() {
    for p in "$@"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
    done
}

need=$(missing $REQUIRED)
want=$(missing $OPTIONAL)
[ -z "$need$want" ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
echo "benches: installing:" $need $want
$SUDO apt-get update -q
if [ -n "$need" ]; then
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need
fi
if [ -n "$want" ]; then
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $want ||
        echo "benches: $want could not be installed; the report will have no figures"
fi
