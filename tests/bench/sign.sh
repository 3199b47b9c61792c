#!/usr/bin/env bash
# Signing overhead per commit (signed minus unsigned `git commit`, N commits)
# for gitsign against the loopback testbed (token from the environment, no
# credential cache: every commit gets a fresh key, certificate and Rekor
# entry), beside ssh-keygen and gpgsm signing through git, in one run.
# Usage: tests/bench/sign.sh [N]   (default 100)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
N=${1:-100}
export ANCHOR_REPEAT=${ANCHOR_REPEAT:-3}
cd "$top"
cargo build --release --quiet --bin gitsign
export GITSIGN_PROGRAM=$top/target/release/gitsign

# Runs inside the testbed (it exports GITSIGN_* and TESTBED_*).
inner() {
  local token
  token=$(curl -sS -X POST "$TESTBED_URL/token" -H 'content-type: application/json' \
    -d "{\"email\":\"$TESTBED_EMAIL\",\"ttl\":3600}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id_token"])')
  export SIGSTORE_ID_TOKEN=$token GITSIGN_TOKEN_PROVIDER=environment
  local out
  out=$(mktemp)
  for kind in "$@"; do
    "$here/anchor.sh" --json sign-overhead "$kind" "$N" | tail -1 | tee -a "$out"
  done
  python3 - "$out" <<'PY'
import json, sys
rows = {json.loads(l)["anchor"]: json.loads(l) for l in open(sys.argv[1]) if l.strip()}
ours = rows["gitsign"]["per_object_ms"]
print()
for k in ("ssh-keygen", "ssh", "gpgsm"):
    if k in rows:
        a = rows[k]["per_object_ms"]
        print(f"summary: signing overhead per commit: gitsign {ours:.2f} ms, {k} {a:.2f} ms, ratio gitsign/{k} = {ours/a:.2f}")
PY
  rm -f "$out"
}
export -f inner
export here N
tests/testbed/with-testbed bash -c 'inner gitsign ssh gpgsm'
