#!/bin/sh
# make bench: installs what the comparison needs when it is missing
# (Prosody, ejabberd, gnuplot; through scripts/deps.sh, which keeps their
# services from starting), builds Parley and the load generator in release
# mode, then runs bench/run.py, which starts every server itself as a
# private instance on loopback.
#
#   scripts/bench.sh [RELEASE_DIR] [bench/run.py options]
#   e.g. scripts/bench.sh build-release --preset quick --servers parley-w1,prosody
set -eu
cd "$(dirname "$0")/.."
release="build-release"
if [ $# -gt 0 ]; then
	release="$1"
	shift
fi
peers="prosody ejabberd gnuplot-nox"
# deps.sh returns non-zero after a successful install when a policy-rc.d was
# already in place (its clean-up trap's last test fails under set -e), so
# judge by what is installed rather than by its exit status.
scripts/deps.sh $peers || true
for p in $peers; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		echo "bench: $p is not installed (scripts/deps.sh $peers)" >&2
		exit 1
	fi
done
[ -f "$release/build.ninja" ] || meson setup "$release" --buildtype=release -Dunit_tests=false
ninja -C "$release"
exec /usr/bin/python3 bench/run.py --parley-build "$release" "$@"
