#!/usr/bin/env bash
# Range verification: N commits signed against the loopback testbed,
# verified in one `gitsign verify --all` call, beside `git log
# --show-signature` with gpgsm over N gpgsm-signed commits, same run.
# Usage: tests/bench/range.sh [N]   (default 10000; building the gpgsm
# anchor repository takes a few minutes at that size)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
N=${1:-10000}
cd "$top"
ours=$(BENCH_COMMITS=$N cargo bench --quiet --bench range 2>/dev/null | tee /dev/stderr | grep '"verify-range"')
export ANCHOR_REPEAT=${ANCHOR_REPEAT:-1}
anchor=$("$here/anchor.sh" --json verify-log gpgsm "$N" | grep show-signature | tail -1)
echo "$anchor"
python3 - "$ours" "$anchor" <<'PY'
import json, sys
o, a = json.loads(sys.argv[1]), json.loads(sys.argv[2])
ours, theirs = o["commits_per_second"], a["per_second"]
print(f"summary: gitsign verify --all: {ours:.0f} commits/s on {o['cores']} cores (target >= 2000); "
      f"gpgsm git log --show-signature: {theirs:.0f} commits/s; ratio {ours/theirs:.1f}x (target >= 8x)")
PY
