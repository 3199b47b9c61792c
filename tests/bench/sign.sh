#!/usr/bin/env bash
# Signing overhead per commit (signed minus unsigned `git commit`, N commits)
# for gitsign against the loopback testbed, token from the environment:
#   gitsign-cold: no credential cache (every commit: fresh key, Fulcio
#                 certificate and Rekor entry);
#   gitsign-warm: the credential cache daemon (one certificate; every commit
#                 still gets its Rekor entry, embedded in the signature);
#   gitsign-warm-tsa: the same with an RFC 3161 timestamp per commit (Rekor v1);
#   gitsign-warm-v2: the same into the testbed's Rekor v2 (gitsign.rekorVersion=2,
#                 a timestamp per commit, which Rekor v2 requires; the daemon
#                 configured for that log posts the entries);
# beside ssh-keygen and gpgsm signing through git (local keys, no log), in
# one run, and the floor: a no-op x509 program (prints a fixed signature),
# i.e. what git's signing path and one process start cost any signer.
# Target: warm <= 1/2 of gpgsm's overhead.
# Usage: tests/bench/sign.sh [N]   (default 100)
#        GITSIGN_BIN=DIR/gitsign tests/bench/sign.sh [N]   (that binary and the
#        gitsign-credential-cache beside it, no build: another commit's build,
#        to compare its ratios with this one's)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
N=${1:-100}
export ANCHOR_REPEAT=${ANCHOR_REPEAT:-3}
cd "$top"
if [[ -n ${GITSIGN_BIN:-} ]]; then
  GITSIGN_PROGRAM=$(cd "$(dirname "$GITSIGN_BIN")" && pwd)/$(basename "$GITSIGN_BIN")
  [[ -x $GITSIGN_PROGRAM && -x $(dirname "$GITSIGN_PROGRAM")/gitsign-credential-cache ]] || {
    echo "sign.sh: $GITSIGN_BIN or the gitsign-credential-cache beside it is missing or not executable" >&2
    exit 2
  }
else
  cargo build --release --quiet --bin gitsign
  cargo build --release --quiet -p gitsign-credential-cache
  GITSIGN_PROGRAM=$top/target/release/gitsign
fi
export GITSIGN_PROGRAM

# Runs inside the testbed (it exports GITSIGN_* and TESTBED_*).
inner() {
  local token
  token=$(curl -sS -X POST "$TESTBED_URL/token" -H 'content-type: application/json' \
    -d "{\"email\":\"$TESTBED_EMAIL\",\"ttl\":3600}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id_token"])')
  export SIGSTORE_ID_TOKEN=$token GITSIGN_TOKEN_PROVIDER=environment
  local out sockdir
  out=$(mktemp)
  ANCHOR_LABEL=gitsign-cold "$here/anchor.sh" --json sign-overhead gitsign "$N" | tail -1 | tee -a "$out"
  local warm_from warm_to
  warm_from=$(wc -c < "$TESTBED_STATE/server.log")
  sockdir=$(mktemp -d); chmod 700 "$sockdir"
  "$(dirname "$GITSIGN_PROGRAM")/gitsign-credential-cache" --socket "$sockdir/cache.sock" >/dev/null 2>&1
  GITSIGN_CREDENTIAL_CACHE=$sockdir/cache.sock ANCHOR_LABEL=gitsign-warm \
    "$here/anchor.sh" --json sign-overhead gitsign "$N" | tail -1 | tee -a "$out"
  warm_to=$(wc -c < "$TESTBED_STATE/server.log")
  python3 - "$sockdir/cache.sock" <<'PY'
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
b = json.dumps({"version": 1, "op": "shutdown"}).encode(); s.sendall(struct.pack(">I", len(b)) + b)
s.settimeout(5); s.recv(4096)  # the answer: the daemon took the request
PY
  rm -rf "$sockdir"
  # Warm with a timestamp (Rekor v1), then warm into Rekor v2 (timestamp
  # required), each with its own daemon configured for that log.
  local label rekor_url version
  for label in gitsign-warm-tsa gitsign-warm-v2; do
    if [ "$label" = gitsign-warm-v2 ]; then rekor_url=$TESTBED_REKOR_V2_URL; version=2; else rekor_url=$GITSIGN_REKOR_URL; version=1; fi
    sockdir=$(mktemp -d); chmod 700 "$sockdir"
    GITSIGN_REKOR_URL=$rekor_url "$(dirname "$GITSIGN_PROGRAM")/gitsign-credential-cache" --socket "$sockdir/cache.sock" >/dev/null 2>&1
    GITSIGN_CREDENTIAL_CACHE=$sockdir/cache.sock GITSIGN_REKOR_URL=$rekor_url GITSIGN_REKOR_VERSION=$version \
      GITSIGN_TIMESTAMP_SERVER_URL=$TESTBED_TSA_URL ANCHOR_LABEL=$label \
      "$here/anchor.sh" --json sign-overhead gitsign "$N" | tail -1 | tee -a "$out"
    python3 - "$sockdir/cache.sock" <<'PY'
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
b = json.dumps({"version": 1, "op": "shutdown"}).encode(); s.sendall(struct.pack(">I", len(b)) + b)
s.settimeout(5); s.recv(4096)
PY
    rm -rf "$sockdir"
  done
  ANCHOR_LABEL=noop-floor "$here/anchor.sh" --json sign-overhead "program:$NOOP" "$N" | tail -1 | tee -a "$out"
  for kind in "$@"; do
    "$here/anchor.sh" --json sign-overhead "$kind" "$N" | tail -1 | tee -a "$out"
  done
  python3 - "$out" "$TESTBED_STATE/server.log" "$warm_from" "$warm_to" <<'PY'
import json, re, statistics, sys
rows = {json.loads(l)["anchor"]: json.loads(l) for l in open(sys.argv[1]) if l.strip()}
print()
# The stand-in Rekor's own time per new entry (each signature logs one).
log = open(sys.argv[2], "rb").read()
rekor_work = {}
for what, part in (("cold", log[: int(sys.argv[3])]), ("warm", log[int(sys.argv[3]) : int(sys.argv[4])])):
    hits = re.findall(rb"rekor POST /api/v1/log/entries -> 201 \(([0-9.]+) ms, ([0-9.]+) ms after the body\)", part)
    if hits:
        total = statistics.median(float(a) for a, _ in hits)
        work = statistics.median(float(b) for _, b in hits)
        print(f"summary: testbed Rekor time per new entry ({what} runs, {len(hits)} entries): median {total:.2f} ms from the request line, {work:.2f} ms after the body arrived")
        rekor_work[what] = work
floor = rows["noop-floor"]["per_object_ms"]
# What no signer that logs in this Rekor can go below: git's signing path
# and a process start (the floor) plus the stand-in's own work per entry.
if "warm" in rekor_work and "gpgsm" in rows:
    least = floor + rekor_work["warm"]
    half = rows["gpgsm"]["per_object_ms"] / 2
    print(f"summary: floor + testbed Rekor's own time per entry = {least:.2f} ms; half of gpgsm = {half:.2f} ms (the target)")
for ours in ("gitsign-cold", "gitsign-warm", "gitsign-warm-tsa", "gitsign-warm-v2"):
    if ours not in rows:
        continue
    o = rows[ours]["per_object_ms"]
    for k in ("ssh", "gpgsm"):
        if k in rows:
            a = rows[k]["per_object_ms"]
            print(f"summary: signing overhead per commit: {ours} {o:.2f} ms, {k} {a:.2f} ms, ratio {ours}/{k} = {o/a:.2f}")
    print(f"summary: {ours} above the no-op floor ({floor:.2f} ms): {o - floor:.2f} ms")
for k in ("ssh", "gpgsm"):
    if k in rows:
        a = rows[k]["per_object_ms"]
        print(f"summary: {k} above the no-op floor: {a - floor:.2f} ms; floor/{k} = {floor/a:.2f}")
PY
  rm -f "$out"
}
export -f inner
NOOP=$(mktemp -d)/noop-x509
rustc -O --edition 2021 -o "$NOOP" "$here/noop-signer.rs"
export here N NOOP
tests/testbed/with-testbed bash -c 'inner ssh gpgsm'
