#!/usr/bin/env bash
# Verification benchmarks, ours beside the anchor in the same run:
#  (a) in-process verification of each offline-mode corpus object (cargo bench);
#  (b) through git, one process per object: `git verify-commit` with gitsign
#      over offline-mode corpus commits, against gpgsm verifying its own
#      signatures on the same number of objects;
#  (c) the trusted root's source: the same loop with the root from a TUF
#      cache (`gitsign initialize` against a local python-tuf mirror serving
#      the public-good trusted root) against the embedded root, alternated
#      pass by pass in the same run (target: at most 1 ms more per process).
# Usage: tests/bench/verify.sh [N]   (default N=300 verifications each)
#        PARTS=bc GITSIGN_BIN=target/release/gitsign tests/bench/verify.sh   (no build, no (a))
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
N=${1:-300}
export ANCHOR_REPEAT=${ANCHOR_REPEAT:-3}

# PARTS=bc skips (a); GITSIGN_BIN=PATH uses that binary instead of building.
PARTS=${PARTS:-abc}

cd "$top"
if [[ -n ${GITSIGN_BIN:-} ]]; then
  # Absolute: git runs the program from the repository's directory.
  bin=$(cd "$(dirname "$GITSIGN_BIN")" && pwd)/$(basename "$GITSIGN_BIN")
  [[ -x $bin ]] || { echo "verify.sh: $GITSIGN_BIN is missing or not executable" >&2; exit 2; }
else
  cargo build --release --quiet --bin gitsign
  bin=$top/target/release/gitsign
fi

ours_inproc=skipped
if [[ $PARTS == *a* ]]; then
  echo "== (a) in-process verification (target <= 500 us/object)"
  cargo bench --quiet --bench verify 2>/dev/null | tee /tmp/gitsign-bench-a.$$ | grep -E '"mean"|testbed-rekor'
  ours_inproc=$(grep '"mean"' /tmp/gitsign-bench-a.$$ | sed 's/.*"us_per_verify":\([0-9.]*\).*/\1/')
  rm -f /tmp/gitsign-bench-a.$$
fi

echo "== (b) through git, one process per object, $N objects"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
repo=$work/repo
git init -q "$repo"
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
# (a) and (b) use the embedded root, whatever the runner initialized.
export TUF_ROOT=$work/no-tuf
git -C "$repo" config gpg.format x509
git -C "$repo" config gpg.x509.program "$bin"
ids=()
for f in gs_td_e2e_offline gs_td_oid_offline gs_commit_offline_kaplan gs_commit_offline_latest gs_commit_legacy_splitattrs; do
  id=$(git -C "$repo" hash-object -w --literally -t commit "$top/tests/fixtures/objects/gitsign/$f.commit")
  echo "$id" >> "$repo/.git/shallow"
  ids+=("$id")
done
now() { local t=${EPOCHREALTIME/./}; echo "$t"; }
git -C "$repo" verify-commit "${ids[0]}" >/dev/null 2>&1 || { # warm-up
  echo "verify.sh: $bin does not verify the corpus commit ${ids[0]}:" >&2
  git -C "$repo" verify-commit "${ids[0]}" >&2 || true
  exit 1
}
runs=()
for ((r = 0; r < ANCHOR_REPEAT; r++)); do
  t0=$(now); fails=0
  for ((i = 0; i < N; i++)); do
    git -C "$repo" verify-commit "${ids[i % ${#ids[@]}]}" >/dev/null 2>&1 || fails=$((fails + 1))
  done
  t1=$(now)
  ms=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", (b-a)/1000}')
  [[ $fails -eq 0 ]] || { echo "ERROR: $fails verifications failed" >&2; exit 1; }
  runs+=("$ms")
done
# The median of the passes, as the anchor reports.
best=$(printf '%s\n' "${runs[@]}" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
ours_ms=$(awk -v t="$best" -v n="$N" 'BEGIN{printf "%.3f", t/n}')
echo "{\"bench\":\"verify-per-object\",\"program\":\"gitsign\",\"n\":$N,\"total_ms\":$best,\"per_object_ms\":$ours_ms}"

echo "== (c) trusted root from a TUF cache vs embedded, $N objects per pass, alternated"
py=$("$top/tests/testbed/sigstore-python" --venv)/bin/python
"$py" "$top/tests/testbed/tuf_repo.py" seed "$work/seed" >/dev/null
"$py" "$top/tests/testbed/tuf_repo.py" init "$work/tufrepo" "$work/seed" \
  "$top/tests/fixtures/trust/trusted_root.prod.json" "$top/tests/fixtures/trust/signing_config.prod.json" >/dev/null
port_file=$work/port
"$py" - "$work/tufrepo/repo" "$port_file" <<'PY' &
import functools, http.server, sys
h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
h.func.log_message = lambda *a: None
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), h)
open(sys.argv[2], "w").write(str(s.server_address[1]))
s.serve_forever()
PY
mirror_pid=$!
trap 'kill $mirror_pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do [[ -s $port_file ]] && break; sleep 0.05; done
TUF_ROOT=$work/tuf "$bin" initialize --mirror "http://127.0.0.1:$(cat "$port_file")" \
  --root "$work/tufrepo/repo/1.root.json" >/dev/null
kill $mirror_pid 2>/dev/null || true
export GITSIGN_TUF_REFRESH=never
TUF_ROOT=$work/tuf "$bin" version | grep 'trusted root:'
# Each verification is timed on its own, the two sources alternating
# object by object (so both see the same machine load); the medians of
# the per-process times are compared.
one() { # one TUF_ROOT OBJECT -> microseconds
  local t0 t1
  t0=$(now)
  TUF_ROOT=$1 git -C "$repo" verify-commit "$2" >/dev/null 2>&1 || { echo "ERROR: verification failed with TUF_ROOT=$1" >&2; exit 1; }
  t1=$(now)
  echo $((t1 - t0))
}
emb=(); tufr=()
for ((i = 0; i < N * ANCHOR_REPEAT; i++)); do
  id=${ids[i % ${#ids[@]}]}
  if ((i % 2)); then
    tufr+=("$(one "$work/tuf" "$id")"); emb+=("$(one "$work/no-tuf" "$id")")
  else
    emb+=("$(one "$work/no-tuf" "$id")"); tufr+=("$(one "$work/tuf" "$id")")
  fi
done
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
emb_ms=$(awk -v t="$(med "${emb[@]}")" 'BEGIN{printf "%.3f", t/1000}')
tuf_ms=$(awk -v t="$(med "${tufr[@]}")" 'BEGIN{printf "%.3f", t/1000}')
echo "{\"bench\":\"verify-trust-source\",\"n\":${#emb[@]},\"embedded_median_ms\":$emb_ms,\"tuf_cache_median_ms\":$tuf_ms}"
unset GITSIGN_TUF_REFRESH

# The anchor says why when it fails (its other messages are progress).
if ! anchor_out=$("$here/anchor.sh" --json verify-per-object gpgsm "$N" 2>"$work/anchor.err"); then
  grep -v '^anchor: made ' "$work/anchor.err" >&2 || true
  echo "verify.sh: the gpgsm anchor failed (above), so gitsign's figures have nothing to be compared with; no summary is printed" >&2
  exit 1
fi
anchor=$(tail -1 <<<"$anchor_out")
echo "$anchor"
gpgsm_ms=$(echo "$anchor" | sed 's/.*"per_object_ms":\([0-9.]*\).*/\1/')
echo
echo "summary: in-process ${ours_inproc} us/object (target 500 us)"
awk -v e="$emb_ms" -v t="$tuf_ms" 'BEGIN{printf "summary: git verify-commit, median per process: trusted root from the TUF cache %.3f ms vs embedded %.3f ms: %+.3f ms (target <= +1.000)\n", t, e, t-e}'
awk -v o="$ours_ms" -v g="$gpgsm_ms" 'BEGIN{printf "summary: git verify-commit per object: gitsign %.2f ms, gpgsm %.2f ms, ratio gitsign/gpgsm = %.2f (target <= 1.00)\n", o, g, o/g}'
