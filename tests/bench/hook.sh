#!/usr/bin/env bash
# The pre-receive hook under load (benches/hook.rs): a server with 100,000
# refs; one push creating 1,000 branches; a push of 100,000 commits (every
# second one signed against the loopback testbed) accepted where unsigned
# commits are allowed, and refused on a protected branch; 40 commits with
# 20 MiB messages. Peak memory is the hook's (/usr/bin/time -v: gitsign and
# the git processes it runs), time the push's and the hook's. Run twice,
# with 64-byte and 4 KiB messages, to show memory does not grow with them.
# Usage: tests/bench/hook.sh [COMMITS] [REFS]   (defaults 100000 100000)
# BENCH_COMPARE=/path/to/other/gitsign also runs that build's hook on the
# same server and pushes, after this one.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
cd "$top"
export BENCH_COMMITS=${1:-100000} BENCH_REFS=${2:-100000}
[ -x /usr/bin/time ] || { echo "hook.sh needs /usr/bin/time (GNU time)" >&2; exit 2; }
if [ -n "${BENCH_COMPARE:-}" ]; then
    cargo build --release --quiet --bin gitsign
    export BENCH_GITSIGN="$top/target/release/gitsign:$BENCH_COMPARE"
fi
BENCH_MESSAGE_BYTES=64 BENCH_LARGE=1 cargo bench --quiet --bench hook 2>/dev/null
BENCH_MESSAGE_BYTES=4096 cargo bench --quiet --bench hook 2>/dev/null
