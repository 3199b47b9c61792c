#!/usr/bin/env bash
# This build's gitsign against another build's, in one run, alternating
# process by process so that both see the same machine load (on a shared
# virtual machine, separate runs of sign.sh or verify.sh differ by tens of
# percent; alternation keeps the comparison to a few):
#   verify: `git verify-commit` of the corpus's offline commits, one
#           process per object, the two builds taking turns;
#   cold:   `git commit -S` with no credential cache (key, Fulcio
#           certificate and Rekor entry per commit), in the loopback
#           testbed, the two builds' repositories taking turns with an
#           unsigned one;
#   warm:   the same with each build's own credential cache daemon.
# Prints each build's median per process (signing: the median signed
# commit minus the median unsigned one) and the ratio this/other; a ratio
# within 0.95-1.05 means the other build's ratios against gpgsm or
# ssh-keygen (sign.sh, verify.sh) hold for this one.
# Usage: tests/bench/compare.sh OTHER_DIR [N]
#   OTHER_DIR holds the other build's gitsign and gitsign-credential-cache
#   (e.g. a worktree's target/release); N objects or commits per build and
#   part (default 100).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
other=${1:?usage: tests/bench/compare.sh OTHER_DIR [N]}
N=${2:-100}
other=$(cd "$other" && pwd)
for b in gitsign gitsign-credential-cache; do
  [[ -x $other/$b ]] || { echo "compare.sh: $other/$b is missing or not executable" >&2; exit 2; }
done
cd "$top"
cargo build --release --quiet --bin gitsign
cargo build --release --quiet -p gitsign-credential-cache
export THIS_DIR=$top/target/release OTHER_DIR=$other N

# Verification first, outside the testbed (its GITSIGN_* settings point at
# the testbed's trust), with the embedded public-good root.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(
  export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 TUF_ROOT=$work/no-tuf
  now() { echo "${EPOCHREALTIME/./}"; }
  med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
  report() { # report PART THIS_US OTHER_US
    awk -v p="$1" -v a="$2" -v b="$3" 'BEGIN{printf "summary: %s: this build %.2f ms, other build %.2f ms, ratio this/other = %.3f\n", p, a/1000, b/1000, a/b}'
  }
  # The corpus's offline commits.
  v=$work/verify
  git init -q "$v"
  git -C "$v" config gpg.format x509
  ids=()
  for f in gs_td_e2e_offline gs_td_oid_offline gs_commit_offline_kaplan gs_commit_offline_latest gs_commit_legacy_splitattrs; do
    id=$(git -C "$v" hash-object -w --literally -t commit "$top/tests/fixtures/objects/gitsign/$f.commit")
    echo "$id" >> "$v/.git/shallow"
    ids+=("$id")
  done
  one_verify() { # one_verify PROGRAM OBJECT -> microseconds
    local t0 t1
    t0=$(now)
    git -C "$v" -c gpg.x509.program="$1" verify-commit "$2" >/dev/null 2>&1 \
      || { echo "compare.sh: $1 failed to verify $2" >&2; exit 1; }
    t1=$(now)
    echo $((t1 - t0))
  }
  one_verify "$THIS_DIR/gitsign" "${ids[0]}" >/dev/null
  one_verify "$OTHER_DIR/gitsign" "${ids[0]}" >/dev/null
  a=() b=()
  for ((i = 0; i < N; i++)); do
    id=${ids[i % ${#ids[@]}]}
    if ((i % 2)); then
      b+=("$(one_verify "$OTHER_DIR/gitsign" "$id")"); a+=("$(one_verify "$THIS_DIR/gitsign" "$id")")
    else
      a+=("$(one_verify "$THIS_DIR/gitsign" "$id")"); b+=("$(one_verify "$OTHER_DIR/gitsign" "$id")")
    fi
  done
  report "git verify-commit, median per process" "$(med "${a[@]}")" "$(med "${b[@]}")"
)

# Runs inside the testbed (it exports GITSIGN_* and TESTBED_*).
inner() {
  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 TUF_ROOT=$work/no-tuf
  now() { echo "${EPOCHREALTIME/./}"; }
  med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
  repo() { # repo DIR PROGRAM|'' -> a repository signing with PROGRAM (none: unsigned)
    git init -q -b main "$1"
    git -C "$1" config user.name Bench; git -C "$1" config user.email "$TESTBED_EMAIL"
    git -C "$1" config gc.auto 0; git -C "$1" config core.fsync none
    if [[ -n $2 ]]; then
      git -C "$1" config gpg.format x509; git -C "$1" config gpg.x509.program "$2"
    fi
  }
  ms() { awk -v t="$1" 'BEGIN{printf "%.3f", t/1000}'; }
  report() { # report PART THIS_US OTHER_US
    awk -v p="$1" -v a="$2" -v b="$3" 'BEGIN{printf "summary: %s: this build %.2f ms, other build %.2f ms, ratio this/other = %.3f\n", p, a/1000, b/1000, a/b}'
  }

  # Signing: the token from the testbed, as sign.sh gets it.
  local token
  token=$(curl -sS -X POST "$TESTBED_URL/token" -H 'content-type: application/json' \
    -d "{\"email\":\"$TESTBED_EMAIL\",\"ttl\":3600}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id_token"])')
  export SIGSTORE_ID_TOKEN=$token GITSIGN_TOKEN_PROVIDER=environment
  local mode
  for mode in cold warm; do
    repo "$work/$mode-this" "$THIS_DIR/gitsign"
    repo "$work/$mode-other" "$OTHER_DIR/gitsign"
    repo "$work/$mode-unsigned" ""
    local sock_this="" sock_other=""
    if [[ $mode == warm ]]; then
      mkdir -m 700 "$work/s-this" "$work/s-other"
      sock_this=$work/s-this/cache.sock sock_other=$work/s-other/cache.sock
      "$THIS_DIR/gitsign-credential-cache" --socket "$sock_this" >/dev/null 2>&1
      "$OTHER_DIR/gitsign-credential-cache" --socket "$sock_other" >/dev/null 2>&1
    fi
    one_commit() { # one_commit REPO SOCKET SIGN(0/1) N -> microseconds
      local t0 t1 s=()
      [[ $3 == 1 ]] && s=(-S)
      echo "$4" > "$1/f"; git -C "$1" add f
      local envs=()
      [[ -n $2 ]] && envs=(GITSIGN_CREDENTIAL_CACHE="$2")
      t0=$(now)
      env "${envs[@]}" git -C "$1" commit -q "${s[@]}" -m "change $4" \
        || { echo "compare.sh: a commit in $1 failed" >&2; exit 1; }
      t1=$(now)
      echo $((t1 - t0))
    }
    # Untimed first commits (a warm daemon logs in here).
    one_commit "$work/$mode-this" "$sock_this" 1 0 >/dev/null
    one_commit "$work/$mode-other" "$sock_other" 1 0 >/dev/null
    one_commit "$work/$mode-unsigned" "" 0 0 >/dev/null
    a=() b=(); local u=()
    for ((i = 1; i <= N; i++)); do
      if ((i % 2)); then
        a+=("$(one_commit "$work/$mode-this" "$sock_this" 1 "$i")")
        u+=("$(one_commit "$work/$mode-unsigned" "" 0 "$i")")
        b+=("$(one_commit "$work/$mode-other" "$sock_other" 1 "$i")")
      else
        b+=("$(one_commit "$work/$mode-other" "$sock_other" 1 "$i")")
        u+=("$(one_commit "$work/$mode-unsigned" "" 0 "$i")")
        a+=("$(one_commit "$work/$mode-this" "$sock_this" 1 "$i")")
      fi
    done
    local mu; mu=$(med "${u[@]}")
    echo "unsigned commit median: $(ms "$mu") ms ($mode run)"
    report "git commit -S, $mode, median signing overhead" \
      $(($(med "${a[@]}") - mu)) $(($(med "${b[@]}") - mu))
    if [[ $mode == warm ]]; then
      for s in "$sock_this" "$sock_other"; do
        python3 - "$s" <<'PY'
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
b = json.dumps({"version": 1, "op": "shutdown"}).encode(); s.sendall(struct.pack(">I", len(b)) + b)
s.settimeout(5); s.recv(4096)
PY
      done
    fi
  done
}
export -f inner
export top
tests/testbed/with-testbed bash -c inner
