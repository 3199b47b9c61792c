#!/usr/bin/env bash
# tests/bench/anchor.sh — anchor measurements for gitsign benchmarks.
#
# Every gitsign benchmark prints its figures next to an "anchor" measured in
# the same run: gpgsm (GnuPG's X.509 tool) and ssh-keygen, both driven through
# real git exactly as git drives gitsign.  The same timing code measures any
# other gpg.x509.program (KIND=gitsign / program:PATH), so the numbers are
# directly comparable.
#
# Usage as a command:   tests/bench/anchor.sh [--json] SUBCOMMAND ARGS...
# Usage as a library:   source tests/bench/anchor.sh; anchor_verify_log gpgsm 300
#                       (call `anchor_cleanup` when done, or `trap anchor_cleanup EXIT`)
#
# Run `tests/bench/anchor.sh help` for the interface.
#
# shellcheck disable=SC2030,SC2031  # GNUPGHOME is exported in subshells on purpose
#
# Needs: bash >= 4, git, coreutils, awk; gpgsm + gpg-agent + gpgconf (package
# gpgsm) for KIND=gpgsm; ssh-keygen for KIND=ssh.  openssl is used, when
# present, to make an ECDSA P-256 certificate (gpgsm 2.2 can only generate RSA
# certificates itself); without it the gpgsm anchor uses RSA-2048.  hyperfine is
# not needed: timing uses bash's $EPOCHREALTIME (no fork), or `date +%s%6N`.

# ---------------------------------------------------------------------------
# Settings (environment)
# ---------------------------------------------------------------------------
: "${ANCHOR_JSON:=0}"            # 1: one JSON object per measurement on stdout
: "${ANCHOR_REPEAT:=3}"          # timed passes per measurement (median reported)
: "${ANCHOR_GIT_NAME:=Anchor Bench}"
: "${ANCHOR_GIT_EMAIL:=bench@example.invalid}"
: "${ANCHOR_GPGSM_KEYTYPE:=auto}" # auto | ecdsa | rsa
: "${ANCHOR_DATE_BASE:=1704067200}" # 2024-01-01T00:00:00Z; commit i is +60*i s
: "${ANCHOR_TMPDIR:=/tmp}"        # parent for temporary dirs (keep it short)

ANCHOR__TMPS=()    # temporary dirs to delete on cleanup
ANCHOR__HOMES=()   # GNUPGHOMEs whose agent we may have started

anchor__log() { printf 'anchor: %s\n' "$*" >&2; }
anchor__die() { printf 'anchor: error: %s\n' "$*" >&2; return 1; }

# Current time in microseconds, into ANCHOR__T (no subshell when possible).
anchor__tick() {
  if [[ -n "${EPOCHREALTIME:-}" ]]; then
    ANCHOR__T=${EPOCHREALTIME/[.,]/}
  else
    ANCHOR__T=$(date +%s%6N)
  fi
}

anchor__abs() { (cd "$1" 2>/dev/null && pwd -P); }

# New temporary dir into ANCHOR__MKTEMP, registered for cleanup (no $(...):
# the registration must happen in the calling shell).
anchor__mktemp() {
  ANCHOR__MKTEMP=$(mktemp -d "${ANCHOR_TMPDIR%/}/anchor.XXXXXX") || return 1
  ANCHOR__TMPS+=("$ANCHOR__MKTEMP")
}

# Stop the gpg-agent of one GNUPGHOME (it restarts on demand).
anchor__kill_home() { [[ -n "${1:-}" && -d "$1" ]] && gpgconf --homedir "$1" --kill all >/dev/null 2>&1; return 0; }

# Stop the agents of every GNUPGHOME inside DIR (also /tmp homes symlinked
# from it, which are then removed with DIR).
anchor__kill_homes_in() {
  local d=$1 h
  [[ -d "$d" ]] || return 0
  while IFS= read -r h; do anchor__kill_home "$h"; done \
    < <(find "$d" -name S.gpg-agent -type s -printf '%h\n' 2>/dev/null)
  while IFS= read -r h; do
    h=$(readlink -- "$h"); anchor__kill_home "$h"
    [[ "$h" == /tmp/agh.* && "${2:-}" == rm ]] && rm -rf -- "$h"
  done < <(find "$d" -name gnupg -type l 2>/dev/null)
}

# Kill every gpg-agent we may have started and delete our temporary dirs.
anchor_cleanup() {
  local h d
  for h in "${ANCHOR__HOMES[@]}"; do anchor__kill_home "$h"; done
  ANCHOR__HOMES=()
  for d in "${ANCHOR__TMPS[@]}"; do
    [[ -n "$d" && -d "$d" ]] || continue
    anchor__kill_homes_in "$d" rm
    rm -rf -- "$d"
  done
  ANCHOR__TMPS=()
}

anchor__forget_tmp() {  # stop agents in one temp dir and delete it now
  local d=$1 h keep=()
  anchor__kill_homes_in "$d" rm
  for h in "${ANCHOR__TMPS[@]}"; do [[ "$h" == "$d" ]] || keep+=("$h"); done
  ANCHOR__TMPS=("${keep[@]}")
  rm -rf -- "$d"
}

# git isolated from the user's global/system config.
anchor_git() {
  GIT_CONFIG_GLOBAL="${ANCHOR_GIT_CONFIG_GLOBAL:-/dev/null}" GIT_CONFIG_NOSYSTEM=1 \
    GIT_TERMINAL_PROMPT=0 command git "$@"
}

anchor__median() { # numbers... -> median
  printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{ if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2 }'
}

anchor__jarr() { local IFS=,; printf '[%s]' "$*"; }

anchor__json_str() { # escape a string for JSON
  local s=$1
  s=${s//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\n'/\\n}; s=${s//$'\t'/\\t}
  printf '"%s"' "$s"
}

# anchor__emit LABEL WHAT N TOTAL_MS [key=value ...]
# value forms: raw JSON (number, [..], {..}) or s:STRING for a string.
anchor__emit() {
  local label=$1 what=$2 n=$3 total=$4; shift 4
  local per per_s
  per=$(awk -v t="$total" -v n="$n" 'BEGIN{ if (n>0) printf "%.3f", t/n; else print "null" }')
  per_s=$(awk -v t="$total" -v n="$n" 'BEGIN{ if (t>0) printf "%.1f", n*1000/t; else print "null" }')
  if [[ "$ANCHOR_JSON" == 1 ]]; then
    local out kv k v
    out="{\"anchor\":$(anchor__json_str "$label"),\"what\":$(anchor__json_str "$what"),\"n\":$n,\"total_ms\":$total,\"per_object_ms\":$per,\"per_second\":$per_s"
    for kv in "$@"; do
      k=${kv%%=*}; v=${kv#*=}
      if [[ "$v" == s:* ]]; then v=$(anchor__json_str "${v#s:}"); fi
      out+=",\"$k\":$v"
    done
    printf '%s}\n' "$out"
  else
    local line kv
    line=$(printf '%-10s %-26s n=%-6s total_ms=%-10s per_object_ms=%-9s per_second=%s' \
      "$label" "$what" "$n" "$total" "$per" "$per_s")
    for kv in "$@"; do line+=" ${kv/=s:/=}"; done
    printf '%s\n' "$line"
  fi
}

# ---------------------------------------------------------------------------
# Kinds
# ---------------------------------------------------------------------------
# anchor__kind KIND: sets ANCHOR__FORMAT (x509|ssh|none), ANCHOR__PROGRAM
# (program git runs for that format, "" = git's default), ANCHOR__LABEL.
#   gpgsm | x509         gpg.format=x509, gpg.x509.program=gpgsm
#   ssh                  gpg.format=ssh,  ssh-keygen
#   unsigned             no signature
#   gitsign              gpg.format=x509, gpg.x509.program=$GITSIGN_PROGRAM
#   program:PATH         gpg.format=x509, gpg.x509.program=PATH
#   ssh-program:PATH     gpg.format=ssh,  gpg.ssh.program=PATH
# ANCHOR_LABEL overrides the "anchor" name printed.
anchor__kind() {
  local kind=$1
  ANCHOR__PROGRAM=""
  case "$kind" in
    gpgsm|x509) ANCHOR__FORMAT=x509; ANCHOR__PROGRAM=gpgsm; ANCHOR__LABEL=gpgsm ;;
    ssh)        ANCHOR__FORMAT=ssh;  ANCHOR__PROGRAM=ssh-keygen; ANCHOR__LABEL=ssh ;;
    unsigned)   ANCHOR__FORMAT=none; ANCHOR__LABEL=unsigned ;;
    gitsign)
      [[ -n "${GITSIGN_PROGRAM:-}" ]] || { anchor__die "KIND=gitsign needs GITSIGN_PROGRAM=/path/to/gitsign"; return 1; }
      ANCHOR__FORMAT=x509; ANCHOR__PROGRAM=$GITSIGN_PROGRAM; ANCHOR__LABEL=gitsign ;;
    program:*)
      ANCHOR__FORMAT=x509; ANCHOR__PROGRAM=${kind#program:}; ANCHOR__LABEL=$(basename -- "$ANCHOR__PROGRAM") ;;
    ssh-program:*)
      ANCHOR__FORMAT=ssh; ANCHOR__PROGRAM=${kind#ssh-program:}; ANCHOR__LABEL=$(basename -- "$ANCHOR__PROGRAM") ;;
    *) anchor__die "unknown KIND '$kind' (gpgsm|ssh|unsigned|gitsign|program:PATH|ssh-program:PATH)"; return 1 ;;
  esac
  if [[ -n "$ANCHOR__PROGRAM" && "$ANCHOR__PROGRAM" == */* ]]; then
    [[ -x "$ANCHOR__PROGRAM" ]] || { anchor__die "program '$ANCHOR__PROGRAM' is not executable"; return 1; }
    ANCHOR__PROGRAM="$(anchor__abs "$(dirname -- "$ANCHOR__PROGRAM")")/$(basename -- "$ANCHOR__PROGRAM")"
  elif [[ -n "$ANCHOR__PROGRAM" ]]; then
    command -v "$ANCHOR__PROGRAM" >/dev/null || { anchor__die "'$ANCHOR__PROGRAM' not found in PATH"; return 1; }
  fi
  [[ -n "${ANCHOR_LABEL:-}" ]] && ANCHOR__LABEL=$ANCHOR_LABEL
  # "gpgsm"/"ssh" are the built-in anchors with keys we make ourselves.
  ANCHOR__KIND=$kind
  case "$kind" in gpgsm|x509) ANCHOR__KIND=gpgsm ;; esac
  return 0
}

# ---------------------------------------------------------------------------
# Keys
# ---------------------------------------------------------------------------
anchor__write_env() { # FILE VAR=VALUE...   (shell-quoted, sourceable)
  local f=$1 kv; shift
  : >"$f"
  for kv in "$@"; do printf '%s=%q\n' "${kv%%=*}" "${kv#*=}" >>"$f"; done
}

# anchor_setup_gpgsm DIR  -> prints the certificate fingerprint (user.signingkey)
# Makes DIR/gnupg (a private GNUPGHOME; if DIR is so deep that the agent socket
# path would pass ~100 chars, the home is a short /tmp dir and DIR/gnupg a
# symlink to it — `anchor.sh teardown DIR` removes it) and DIR/anchor.env with
# ANCHOR_GNUPGHOME, ANCHOR_GPGSM_KEY (fingerprint), ANCHOR_GPGSM_KEYGRIP,
# ANCHOR_GPGSM_ALGO.
anchor_setup_gpgsm() {
  local dir=$1
  [[ -n "$dir" ]] || { anchor__die "setup-gpgsm DIR"; return 1; }
  command -v gpgsm >/dev/null || { anchor__die "gpgsm not installed (apt-get install gpgsm)"; return 1; }
  mkdir -p -- "$dir" && dir=$(anchor__abs "$dir") || return 1
  local home="$dir/gnupg"
  # gpg-agent's sockets live in the homedir unless /run/user/UID exists;
  # sun_path is 108 bytes, S.gpg-agent.browser is the longest name.
  if (( ${#home} + 21 > 100 )); then
    local real; real=$(mktemp -d "/tmp/agh.XXXXXX") || return 1
    ln -sfn -- "$real" "$home"
    home=$real
    anchor__log "path too long for agent sockets; GNUPGHOME=$home (linked from $dir/gnupg)"
  fi
  mkdir -p -- "$home" && chmod 700 "$home" || return 1
  ANCHOR__HOMES+=("$home")
  # No pinentry ever: keys are unprotected; loopback allowed for safety.
  printf '%s\n' allow-loopback-pinentry disable-scdaemon >"$home/gpg-agent.conf"
  # No network: no CRL/OCSP/policy checks, never start dirmngr.
  printf '%s\n' disable-crl-checks disable-policy-checks disable-dirmngr \
    >"$home/gpgsm.conf"
  local g=(gpgsm --homedir "$home" --batch --no-tty)
  local algo=${ANCHOR_GPGSM_KEYTYPE} fp="" grip="" dn="CN=$ANCHOR_GIT_NAME,O=gitsign bench"
  if [[ "$algo" == auto ]]; then
    if command -v openssl >/dev/null; then algo=ecdsa; else algo=rsa; fi
  fi
  if [[ "$algo" == ecdsa ]]; then
    # gpgsm 2.2's certificate generator only does RSA ("line 1: invalid
    # algorithm" for ECDSA) and its PKCS#12 import of EC keys crashes, so:
    # openssl makes the P-256 key + self-signed cert, gpgsm imports the cert,
    # and the private key is written straight into the agent's key store
    # (private-keys-v1.d/KEYGRIP.key, unprotected S-expression).
    local k="$home/tmp-key.pem" c="$home/cert.pem" txt d q
    if openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
         -keyout "$k" -out "$c" -days 10000 -sha256 \
         -subj "/O=gitsign bench/CN=$ANCHOR_GIT_NAME" \
         -addext "keyUsage=critical,digitalSignature,keyCertSign" \
         -addext "basicConstraints=critical,CA:TRUE" \
         -addext "subjectAltName=email:$ANCHOR_GIT_EMAIL" >/dev/null 2>&1 \
       && txt=$(openssl ec -in "$k" -text -noout 2>/dev/null); then
      d=$(printf '%s\n' "$txt" | sed -n '/^priv:/,/^pub:/p' | sed '1d;$d' | tr -d ' :\n')
      q=$(printf '%s\n' "$txt" | sed -n '/^pub:/,/^[A-Z]/p' | sed '1d;$d' | tr -d ' :\n')
      rm -f -- "$k"
      if (( ${#d} == 64 && ${#q} == 130 )) && "${g[@]}" --import "$c" >/dev/null 2>&1; then
        fp=$("${g[@]}" --with-colons --fingerprint --list-keys | awk -F: '$1=="fpr"{print $10; exit}')
        grip=$("${g[@]}" --with-colons --with-keygrip --list-keys | awk -F: '$1=="grp"{print $10; exit}')
        mkdir -p "$home/private-keys-v1.d" && chmod 700 "$home/private-keys-v1.d"
        printf '(private-key(ecc(curve "NIST P-256")(q #%s#)(d #%s#)))' "${q^^}" "${d^^}" \
          >"$home/private-keys-v1.d/$grip.key"
        chmod 600 "$home/private-keys-v1.d/$grip.key"
        algo="ecdsa-p256"
      fi
    fi
    if [[ -z "$fp" ]]; then
      anchor__log "ECDSA setup failed; falling back to RSA-2048"
      rm -f -- "$home/pubring.kbx" "$k"; algo=rsa
    fi
  fi
  if [[ "$algo" == rsa ]]; then
    # gpgsm 2.2 ignores %no-protection in its parameter file, so the key is
    # generated unprotected by the agent (GENKEY --no-protection) and the
    # self-signed certificate is made from it with Key-Grip.
    printf '(genkey(rsa(nbits 4:2048)))' >"$home/keyparam"
    gpg-connect-agent --homedir "$home" --no-autostart /bye >/dev/null 2>&1
    gpg-connect-agent --homedir "$home" "/definqfile KEYPARAM $home/keyparam" \
      'GENKEY --no-protection' /bye >/dev/null 2>&1
    grip=$(gpg-connect-agent --homedir "$home" 'KEYINFO --list' /bye 2>/dev/null \
      | awk '$1=="S" && $2=="KEYINFO" {print $3; exit}')
    [[ -n "$grip" ]] || { anchor__die "gpg-agent GENKEY failed in $home"; return 1; }
    cat >"$home/certparams" <<EOF
Key-Type: RSA
Key-Grip: $grip
Key-Usage: sign, cert
Serial: random
Name-DN: $dn
Name-Email: $ANCHOR_GIT_EMAIL
Not-Before: 20200101T000000
Not-After: 20500101T000000
EOF
    if ! "${g[@]}" --armor --output "$home/cert.pem" --gen-key "$home/certparams" >/dev/null 2>&1 \
       || ! "${g[@]}" --import "$home/cert.pem" >/dev/null 2>&1; then
      anchor__die "gpgsm --gen-key failed in $home"; return 1
    fi
    fp=$("${g[@]}" --with-colons --fingerprint --list-keys | awk -F: '$1=="fpr"{print $10; exit}')
    algo="rsa-2048"
  fi
  [[ -n "$fp" ]] || { anchor__die "no certificate in $home"; return 1; }
  # Trust the self-signed root for signing (S); `relax` also accepts a root
  # without basicConstraints (the RSA path) and skips its CRL check.
  printf '%s S relax\n' "$fp" >"$home/trustlist.txt"
  gpgconf --homedir "$home" --reload gpg-agent >/dev/null 2>&1
  # Round trip: sign, verify, require GOODSIG + TRUST_FULLY.
  local st
  printf 'hi\n' >"$home/rt.txt"
  if ! "${g[@]}" -bsau "$fp" -o "$home/rt.sig" "$home/rt.txt" 2>"$home/rt.err"; then
    cat "$home/rt.err" >&2; anchor__die "gpgsm cannot sign with $fp"; return 1
  fi
  st=$("${g[@]}" --status-fd 1 --verify "$home/rt.sig" "$home/rt.txt" 2>/dev/null)
  if ! grep -q '^\[GNUPG:\] GOODSIG' <<<"$st" || ! grep -q '^\[GNUPG:\] TRUST_FULLY' <<<"$st"; then
    printf '%s\n' "$st" >&2; anchor__die "gpgsm verify round trip failed"; return 1
  fi
  rm -f -- "$home/rt.txt" "$home/rt.sig" "$home/rt.err" "$home/keyparam"
  anchor__write_env "$dir/anchor.env" ANCHOR_GNUPGHOME="$home" ANCHOR_GPGSM_KEY="$fp" \
    ANCHOR_GPGSM_KEYGRIP="$grip" ANCHOR_GPGSM_ALGO="$algo"
  anchor__log "gpgsm key $algo fpr=$fp keygrip=$grip GNUPGHOME=$home (sign+verify OK, TRUST_FULLY)"
  anchor__kill_home "$home"   # restarts on demand; nothing left running
  printf '%s\n' "$fp"
}

# anchor_setup_ssh DIR -> prints the private key path (user.signingkey)
# Makes DIR/id_ed25519{,.pub}, DIR/allowed_signers, DIR/anchor.env with
# ANCHOR_SSH_KEY, ANCHOR_SSH_ALLOWED_SIGNERS.
anchor_setup_ssh() {
  local dir=$1
  [[ -n "$dir" ]] || { anchor__die "setup-ssh DIR"; return 1; }
  command -v ssh-keygen >/dev/null || { anchor__die "ssh-keygen not installed"; return 1; }
  mkdir -p -- "$dir" && dir=$(anchor__abs "$dir") || return 1
  local k="$dir/id_ed25519"
  rm -f -- "$k" "$k.pub"
  ssh-keygen -q -t ed25519 -N '' -C "$ANCHOR_GIT_EMAIL" -f "$k" </dev/null || return 1
  printf '%s namespaces="git" %s\n' "$ANCHOR_GIT_EMAIL" "$(cut -d' ' -f1,2 "$k.pub")" \
    >"$dir/allowed_signers"
  anchor__write_env "$dir/anchor.env" ANCHOR_SSH_KEY="$k" ANCHOR_SSH_ALLOWED_SIGNERS="$dir/allowed_signers"
  anchor__log "ssh key $k, allowed signers $dir/allowed_signers"
  printf '%s\n' "$k"
}

# anchor_teardown DIR: stop the agent of a setup-gpgsm DIR and remove an
# out-of-tree (/tmp) GNUPGHOME it may have needed.  Files in DIR stay.
anchor_teardown() {
  local dir=$1 home
  [[ -d "$dir" ]] || return 0
  for home in "$dir/gnupg" "$dir/.git/anchor-keys/gnupg"; do
    [[ -e "$home" ]] || continue
    gpgconf --homedir "$home" --kill all >/dev/null 2>&1
    if [[ -L "$home" ]]; then rm -rf -- "$(readlink -- "$home")"; rm -f -- "$home"; fi
  done
}

# ---------------------------------------------------------------------------
# Repositories
# ---------------------------------------------------------------------------
# Load a repo's recorded key environment (written by make-repo).
anchor__load_repo_env() { # REPO -> sets ANCHOR_GNUPGHOME etc. in caller scope
  local f="$1/.git/anchor.env" kf
  [[ -f "$f" ]] || return 0
  # shellcheck disable=SC1090
  source "$f"
  kf="${ANCHOR_KEYS_DIR:-}/anchor.env"
  # shellcheck disable=SC1090
  [[ -n "${ANCHOR_KEYS_DIR:-}" && -f "$kf" ]] && source "$kf"
  return 0
}

# anchor__init_repo DIR KIND KEYS_DIR: git init + local config for KIND.
anchor__init_repo() {
  local dir=$1 kind=$2 keys=$3
  anchor__kind "$kind" || return 1
  mkdir -p -- "$dir" || return 1
  if [[ ! -f "$dir/.git/HEAD" ]]; then anchor_git init -q -b main "$dir" || return 1; fi
  local c=(anchor_git -C "$dir" config)
  "${c[@]}" user.name "$ANCHOR_GIT_NAME"
  "${c[@]}" user.email "$ANCHOR_GIT_EMAIL"
  "${c[@]}" commit.gpgsign false
  "${c[@]}" log.showSignature false
  "${c[@]}" gc.auto 0
  "${c[@]}" maintenance.auto false
  "${c[@]}" core.fsync none 2>/dev/null
  local envs=(ANCHOR_KIND="$kind")
  case "$ANCHOR__FORMAT" in
    x509)
      "${c[@]}" gpg.format x509
      "${c[@]}" gpg.x509.program "$ANCHOR__PROGRAM"
      if [[ "$ANCHOR__KIND" == gpgsm ]]; then
        # shellcheck disable=SC1091
        ( source "$keys/anchor.env"; anchor_git -C "$dir" config user.signingkey "$ANCHOR_GPGSM_KEY" )
        envs+=(ANCHOR_KEYS_DIR="$keys")
      elif [[ -n "${ANCHOR_SIGNING_KEY:-}" ]]; then
        "${c[@]}" user.signingkey "$ANCHOR_SIGNING_KEY"
      fi ;;
    ssh)
      "${c[@]}" gpg.format ssh
      [[ "$ANCHOR__PROGRAM" != ssh-keygen ]] && "${c[@]}" gpg.ssh.program "$ANCHOR__PROGRAM"
      if [[ -n "${ANCHOR_SIGNING_KEY:-}" ]]; then
        "${c[@]}" user.signingkey "$ANCHOR_SIGNING_KEY"
        [[ -n "${ANCHOR_SSH_ALLOWED_SIGNERS:-}" ]] && "${c[@]}" gpg.ssh.allowedSignersFile "$ANCHOR_SSH_ALLOWED_SIGNERS"
      else
        # shellcheck disable=SC1091
        ( source "$keys/anchor.env"
          anchor_git -C "$dir" config user.signingkey "$ANCHOR_SSH_KEY"
          anchor_git -C "$dir" config gpg.ssh.allowedSignersFile "$ANCHOR_SSH_ALLOWED_SIGNERS" )
        envs+=(ANCHOR_KEYS_DIR="$keys")
      fi ;;
  esac
  anchor__write_env "$dir/.git/anchor.env" "${envs[@]}"
}

# Realistic small change number I: append a function to one of 12 source
# files, and a line to CHANGES.md every 10th commit.  Same content for any KIND.
anchor__change() { # DIR I
  local dir=$1 i=$2 f
  f=$(printf 'src/mod_%02d.rs' $((i % 12)))
  mkdir -p -- "$dir/src"
  printf '\n/// Generated change %d.\npub fn change_%d(x: u64) -> u64 {\n    x.wrapping_mul(%d).rotate_left(%d)\n}\n' \
    "$i" "$i" $((i * 2654435761 % 1000003)) $((i % 63 + 1)) >>"$dir/$f"
  if (( i % 10 == 0 )); then printf -- '- change %d\n' "$i" >>"$dir/CHANGES.md"; fi
  anchor_git -C "$dir" add -A
}

anchor__commit_env() { # I -> exported deterministic dates for the next command
  local t=$((ANCHOR_DATE_BASE + 60 * $1))
  export GIT_AUTHOR_DATE="@$t +0000" GIT_COMMITTER_DATE="@$t +0000"
}

# Set up key material for KIND into KEYS_DIR if the kind needs ours.
anchor__keys_for() { # KIND KEYS_DIR
  anchor__kind "$1" || return 1
  case "$ANCHOR__KIND" in
    gpgsm)
      if [[ -n "${ANCHOR_GPGSM_KEYS:-}" ]]; then   # reuse a setup-gpgsm DIR
        printf '%s\n' "$(anchor__abs "$ANCHOR_GPGSM_KEYS")"; return 0; fi
      anchor_setup_gpgsm "$2" >/dev/null || return 1 ;;
    ssh)
      if [[ -n "${ANCHOR_SSH_KEYS:-}" ]]; then      # reuse a setup-ssh DIR
        printf '%s\n' "$(anchor__abs "$ANCHOR_SSH_KEYS")"; return 0; fi
      [[ -n "${ANCHOR_SIGNING_KEY:-}" ]] || { anchor_setup_ssh "$2" >/dev/null || return 1; } ;;
  esac
  printf '%s\n' "$2"
}

# Environment for running git against a repo of KIND: GNUPGHOME for gpgsm.
# Prints nothing; sets ANCHOR__GNUPGHOME ("" = leave the caller's env alone).
anchor__repo_gnupghome() { # REPO
  ANCHOR__GNUPGHOME=""
  # shellcheck disable=SC2034  # shadow what the env files set
  local ANCHOR_GNUPGHOME="" ANCHOR_KEYS_DIR="" ANCHOR_KIND="" ANCHOR_GPGSM_KEY="" \
    ANCHOR_GPGSM_KEYGRIP="" ANCHOR_GPGSM_ALGO="" ANCHOR_SSH_KEY="" \
    ANCHOR_SSH_ALLOWED_SIGNERS="${ANCHOR_SSH_ALLOWED_SIGNERS:-}"
  anchor__load_repo_env "$1"
  [[ -n "$ANCHOR_GNUPGHOME" ]] && ANCHOR__GNUPGHOME=$ANCHOR_GNUPGHOME
  return 0
}

# anchor_make_repo KIND N DIR: fresh repo in DIR (must be empty or absent)
# with N commits, each signed with KIND (or unsigned).  Keys are made in
# DIR/.git/anchor-keys unless ANCHOR_GPGSM_KEYS / ANCHOR_SSH_KEYS name a
# setup-* DIR to reuse (or, for ssh/program kinds, ANCHOR_SIGNING_KEY is set).
anchor_make_repo() {
  local kind=$1 n=$2 dir=$3 keys i sflag=()
  [[ -n "$dir" && "$n" =~ ^[0-9]+$ ]] || { anchor__die "make-repo KIND N DIR"; return 1; }
  anchor__kind "$kind" || return 1
  if [[ -e "$dir" && -n "$(ls -A -- "$dir" 2>/dev/null)" ]]; then
    anchor__die "make-repo: $dir exists and is not empty"; return 1; fi
  mkdir -p -- "$dir" && dir=$(anchor__abs "$dir") || return 1
  anchor_git init -q -b main "$dir" || return 1   # keys go into DIR/.git
  keys=$(anchor__keys_for "$kind" "$dir/.git/anchor-keys") || return 1
  anchor__init_repo "$dir" "$kind" "$keys" || return 1
  [[ "$ANCHOR__FORMAT" != none ]] && sflag=(-S)
  (
    anchor__repo_gnupghome "$dir"
    [[ -n "$ANCHOR__GNUPGHOME" ]] && export GNUPGHOME=$ANCHOR__GNUPGHOME
    for ((i = 1; i <= n; i++)); do
      anchor__change "$dir" "$i"
      anchor__commit_env "$i"
      anchor_git -C "$dir" commit -q "${sflag[@]}" -m "Change $i: add change_$i" \
        || { anchor__die "commit $i failed (KIND=$kind)"; anchor__kill_home "$ANCHOR__GNUPGHOME"; exit 1; }
    done
    anchor__kill_home "$ANCHOR__GNUPGHOME"
  ) || return 1
  anchor__log "made $dir: $n commits, KIND=$kind"
}

# Resolve "N | REPO [N]" for the verify timers.  Sets ANCHOR__REPO,
# ANCHOR__COMMITS (array, newest first), ANCHOR__N, ANCHOR__WORK (temp dir or "").
anchor__target() { # KIND ARG [N]
  local kind=$1 arg=$2 lim=${3:-}
  ANCHOR__WORK=""
  if [[ "$arg" =~ ^[0-9]+$ ]]; then
    anchor__mktemp || return 1
    ANCHOR__WORK=$ANCHOR__MKTEMP
    ANCHOR__REPO="$ANCHOR__WORK/repo"
    anchor_make_repo "$kind" "$arg" "$ANCHOR__REPO" || return 1
    lim=$arg
  elif [[ -d "$arg" ]]; then
    ANCHOR__REPO=$(anchor_git -C "$arg" rev-parse --show-toplevel 2>/dev/null) \
      || { anchor__die "$arg is not a git work tree"; return 1; }
  else
    anchor__die "expected N or an existing repo dir, got '$arg'"; return 1
  fi
  mapfile -t ANCHOR__COMMITS < <(anchor_git -C "$ANCHOR__REPO" rev-list ${lim:+--max-count=$lim} HEAD)
  ANCHOR__N=${#ANCHOR__COMMITS[@]}
  (( ANCHOR__N > 0 )) || { anchor__die "no commits in $ANCHOR__REPO"; return 1; }
}

# git -c options that make KIND the verifier for an existing repo.
anchor__verify_cfg() {
  ANCHOR__CFG=()
  case "$ANCHOR__FORMAT" in
    x509) ANCHOR__CFG=(-c "gpg.x509.program=$ANCHOR__PROGRAM") ;;
    ssh)  [[ "$ANCHOR__PROGRAM" != ssh-keygen ]] && ANCHOR__CFG=(-c "gpg.ssh.program=$ANCHOR__PROGRAM")
          [[ -n "${ANCHOR_SSH_ALLOWED_SIGNERS:-}" ]] && ANCHOR__CFG+=(-c "gpg.ssh.allowedSignersFile=$ANCHOR_SSH_ALLOWED_SIGNERS") ;;
  esac
}

anchor__statuses() { # REPO N -> JSON object of %G? counts, e.g. {"G":300}
  anchor_git "${ANCHOR__CFG[@]}" -C "$1" log -n "$2" --format=%G? HEAD 2>/dev/null \
    | sort | uniq -c | awk 'BEGIN{printf "{"} {printf "%s\"%s\":%d", (NR>1?",":""), $2, $1} END{printf "}"}'
}

# ---------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------
# anchor_verify_per_object KIND N|REPO [N]
# One `git verify-commit` process per commit, ANCHOR_REPEAT timed passes.
anchor_verify_per_object() {
  local kind=$1
  anchor__kind "$kind" || return 1
  [[ "$ANCHOR__FORMAT" != none ]] || { anchor__die "verify needs a signing KIND"; return 1; }
  anchor__target "$kind" "$2" "${3:-}" || return 1
  local repo=$ANCHOR__REPO n=$ANCHOR__N work=$ANCHOR__WORK
  local label=$ANCHOR__LABEL prog=$ANCHOR__PROGRAM
  (
    anchor__repo_gnupghome "$repo"
    [[ -n "$ANCHOR__GNUPGHOME" && "$ANCHOR__KIND" == gpgsm ]] && export GNUPGHOME=$ANCHOR__GNUPGHOME
    anchor__verify_cfg
    local r c t0 fails=0 totals=() st
    anchor_git "${ANCHOR__CFG[@]}" -C "$repo" verify-commit "${ANCHOR__COMMITS[0]}" >/dev/null 2>&1 # warm-up
    for ((r = 0; r < ANCHOR_REPEAT; r++)); do
      anchor__tick; t0=$ANCHOR__T
      for c in "${ANCHOR__COMMITS[@]}"; do
        anchor_git "${ANCHOR__CFG[@]}" -C "$repo" verify-commit "$c" >/dev/null 2>&1 || fails=$((fails + 1))
      done
      anchor__tick
      totals+=("$(awk -v a="$t0" -v b="$ANCHOR__T" 'BEGIN{printf "%.3f", (b-a)/1000}')")
    done
    st=$(anchor__statuses "$repo" "$n")
    anchor__kill_home "$ANCHOR__GNUPGHOME"
    # A verifier that fails is not a baseline: its time measures errors.
    if (( fails > 0 )); then
      anchor__die "the $label anchor failed: $fails of $((n * ANCHOR_REPEAT)) git verify-commit calls over $ANCHOR_REPEAT passes did not verify (statuses $st), so no figure is printed; to see why, make a repository that stays ('tests/bench/anchor.sh make-repo $kind 3 DIR') and run git verify-commit in it"
      exit 1
    fi
    anchor__emit "$label" verify-per-object "$n" "$(anchor__median "${totals[@]}")" \
      "runs_ms=$(anchor__jarr "${totals[@]}")" "failures=$fails" "statuses=$st" \
      "program=s:$prog"
  )
  local rc=$?
  [[ -n "$work" ]] && anchor__forget_tmp "$work"
  return $rc
}

# anchor_verify_log KIND N|REPO [N]
# `git log --show-signature` and `git log --format=%G?` over the N commits.
anchor_verify_log() {
  local kind=$1
  anchor__kind "$kind" || return 1
  [[ "$ANCHOR__FORMAT" != none ]] || { anchor__die "verify needs a signing KIND"; return 1; }
  anchor__target "$kind" "$2" "${3:-}" || return 1
  local repo=$ANCHOR__REPO n=$ANCHOR__N work=$ANCHOR__WORK
  local label=$ANCHOR__LABEL prog=$ANCHOR__PROGRAM
  (
    anchor__repo_gnupghome "$repo"
    [[ -n "$ANCHOR__GNUPGHOME" && "$ANCHOR__KIND" == gpgsm ]] && export GNUPGHOME=$ANCHOR__GNUPGHOME
    anchor__verify_cfg
    local mode r t0 totals st="" out bad=0
    anchor_git "${ANCHOR__CFG[@]}" -C "$repo" verify-commit HEAD >/dev/null 2>&1 # warm-up
    for mode in format-G show-signature; do
      totals=()
      for ((r = 0; r < ANCHOR_REPEAT; r++)); do
        anchor__tick; t0=$ANCHOR__T
        if [[ $mode == show-signature ]]; then
          anchor_git "${ANCHOR__CFG[@]}" -C "$repo" log -n "$n" --show-signature HEAD >/dev/null 2>&1
        else
          out=$(anchor_git "${ANCHOR__CFG[@]}" -C "$repo" log -n "$n" --format=%G? HEAD 2>/dev/null)
        fi
        anchor__tick
        totals+=("$(awk -v a="$t0" -v b="$ANCHOR__T" 'BEGIN{printf "%.3f", (b-a)/1000}')")
      done
      if [[ $mode == format-G ]]; then   # statuses from the timed %G? run
        st=$(sort <<<"$out" | uniq -c | awk 'BEGIN{printf "{"} {printf "%s\"%s\":%d", (NR>1?",":""), $2, $1} END{printf "}"}')
        bad=$(grep -vc '^G$' <<<"$out" || true)
        # A verifier that fails is not a baseline: its time measures errors.
        if (( bad > 0 )); then
          anchor__kill_home "$ANCHOR__GNUPGHOME"
          anchor__die "the $label anchor failed: $bad of $n commits are not good signatures (%G? statuses $st), so no figure is printed; to see why, make a repository that stays ('tests/bench/anchor.sh make-repo $kind 3 DIR') and run git log --show-signature in it"
          exit 1
        fi
      fi
      anchor__emit "$label" "verify-log" "$n" "$(anchor__median "${totals[@]}")" \
        "mode=s:$mode" "runs_ms=$(anchor__jarr "${totals[@]}")" "not_G=$bad" "statuses=$st" \
        "program=s:$prog"
    done
    anchor__kill_home "$ANCHOR__GNUPGHOME"
  )
  local rc=$?
  [[ -n "$work" ]] && anchor__forget_tmp "$work"
  return $rc
}

# anchor_sign_overhead KIND N
# Two fresh repos, same content; commit i is made in both, interleaved (order
# alternating), timing only `git commit -S` vs `git commit`.  Overhead per
# commit = (signed_total - unsigned_total) / N.  ANCHOR_REPEAT rounds.
anchor_sign_overhead() {
  local kind=$1 n=$2
  [[ "$n" =~ ^[0-9]+$ && "$n" -gt 0 ]] || { anchor__die "sign-overhead KIND N"; return 1; }
  anchor__kind "$kind" || return 1
  [[ "$ANCHOR__FORMAT" != none ]] || { anchor__die "sign-overhead needs a signing KIND"; return 1; }
  local label=$ANCHOR__LABEL prog=$ANCHOR__PROGRAM work keys
  anchor__mktemp || return 1
  work=$ANCHOR__MKTEMP
  keys=$(anchor__keys_for "$kind" "$work/keys") || { anchor__forget_tmp "$work"; return 1; }
  (
    local r i t0 t1 t2 s u sig=() uns=() ovh=() a b
    for ((r = 0; r < ANCHOR_REPEAT; r++)); do
      a="$work/signed.$r"; b="$work/unsigned.$r"
      anchor__init_repo "$a" "$kind" "$keys" || exit 1
      anchor__init_repo "$b" unsigned "$keys" || exit 1
      anchor__repo_gnupghome "$a"
      [[ -n "$ANCHOR__GNUPGHOME" ]] && export GNUPGHOME=$ANCHOR__GNUPGHOME
      # untimed first commit (warms the agent / caches)
      anchor__change "$a" 0; anchor__change "$b" 0; anchor__commit_env 0
      anchor_git -C "$a" commit -q -S -m "Initial" || { anchor__die "signing failed (KIND=$kind)"; exit 1; }
      anchor_git -C "$b" commit -q -m "Initial" || exit 1
      s=0; u=0
      for ((i = 1; i <= n; i++)); do
        anchor__change "$a" "$i"; anchor__change "$b" "$i"; anchor__commit_env "$i"
        if (( i % 2 )); then
          anchor__tick; t0=$ANCHOR__T
          anchor_git -C "$a" commit -q -S -m "Change $i: add change_$i" || { anchor__die "signed commit $i failed"; exit 1; }
          anchor__tick; t1=$ANCHOR__T
          anchor_git -C "$b" commit -q -m "Change $i: add change_$i" || exit 1
          anchor__tick; t2=$ANCHOR__T
          s=$((s + t1 - t0)); u=$((u + t2 - t1))
        else
          anchor__tick; t0=$ANCHOR__T
          anchor_git -C "$b" commit -q -m "Change $i: add change_$i" || exit 1
          anchor__tick; t1=$ANCHOR__T
          anchor_git -C "$a" commit -q -S -m "Change $i: add change_$i" || { anchor__die "signed commit $i failed"; exit 1; }
          anchor__tick; t2=$ANCHOR__T
          u=$((u + t1 - t0)); s=$((s + t2 - t1))
        fi
      done
      sig+=("$(awk -v x="$s" 'BEGIN{printf "%.3f", x/1000}')")
      uns+=("$(awk -v x="$u" 'BEGIN{printf "%.3f", x/1000}')")
      ovh+=("$(awk -v x="$s" -v y="$u" 'BEGIN{printf "%.3f", (x-y)/1000}')")
      rm -rf -- "$a" "$b"
    done
    anchor__kill_home "$ANCHOR__GNUPGHOME"
    anchor__emit "$label" sign-overhead "$n" "$(anchor__median "${ovh[@]}")" \
      "signed_total_ms=$(anchor__median "${sig[@]}")" "unsigned_total_ms=$(anchor__median "${uns[@]}")" \
      "signed_per_commit_ms=$(awk -v x="$(anchor__median "${sig[@]}")" -v n="$n" 'BEGIN{printf "%.3f", x/n}')" \
      "unsigned_per_commit_ms=$(awk -v x="$(anchor__median "${uns[@]}")" -v n="$n" 'BEGIN{printf "%.3f", x/n}')" \
      "runs_overhead_ms=$(anchor__jarr "${ovh[@]}")" "runs_signed_ms=$(anchor__jarr "${sig[@]}")" "runs_unsigned_ms=$(anchor__jarr "${uns[@]}")" \
      "program=s:$prog"
  )
  local rc=$?
  anchor__forget_tmp "$work"
  return $rc
}

# anchor_all [N] [KIND...]: the three measurements for each KIND
# (default: gpgsm ssh), N commits (default 300).
anchor_all() {
  local n=${1:-300}; shift
  local kinds=("$@") k rc=0
  (( ${#kinds[@]} )) || kinds=(gpgsm ssh)
  for k in "${kinds[@]}"; do
    anchor_sign_overhead "$k" "$n" || rc=1
    anchor_verify_per_object "$k" "$n" || rc=1
    anchor_verify_log "$k" "$n" || rc=1
  done
  return $rc
}

anchor_usage() {
  cat <<'EOF'
usage: anchor.sh [--json] SUBCOMMAND ARGS...

  setup-gpgsm DIR        private GNUPGHOME (DIR/gnupg) with an unprotected
                         ECDSA P-256 (RSA-2048 without openssl) self-signed,
                         trusted X.509 cert; prints its fingerprint
                         (user.signingkey); writes DIR/anchor.env
  setup-ssh DIR          ed25519 key + allowed_signers; prints key path
  teardown DIR           stop DIR's gpg-agent (+ remove a /tmp GNUPGHOME)
  make-repo KIND N DIR   fresh repo with N commits signed with KIND
  sign-overhead KIND N   per-commit cost of `git commit -S` minus `git commit`
  verify-per-object KIND N|REPO [N]
                         one `git verify-commit` per commit
  verify-log KIND N|REPO [N]
                         `git log --show-signature` and `git log --format=%G?`
  all [N] [KIND...]      the three measurements (default N=300, gpgsm ssh)

KIND: gpgsm | ssh | unsigned (make-repo only) | gitsign ($GITSIGN_PROGRAM)
      | program:PATH (gpg.x509.program) | ssh-program:PATH (gpg.ssh.program)
N as the 2nd argument: make a fresh temporary repo of KIND with N commits;
REPO: time an existing repo (optionally only its newest N commits), verifying
      with KIND's program; the caller's environment passes through.

env: ANCHOR_JSON=1 (same as --json)   ANCHOR_REPEAT=3 (timed passes, median)
     GITSIGN_PROGRAM  ANCHOR_LABEL  ANCHOR_SIGNING_KEY (user.signingkey for
     program kinds)  ANCHOR_GPGSM_KEYS / ANCHOR_SSH_KEYS (reuse a setup-* DIR)
     ANCHOR_GPGSM_KEYTYPE=auto|ecdsa|rsa  ANCHOR_GIT_NAME  ANCHOR_GIT_EMAIL
     ANCHOR_GIT_CONFIG_GLOBAL (default /dev/null)  ANCHOR_TMPDIR (default /tmp)
output: one line per measurement; JSON: {"anchor":..,"what":..,"n":..,
     "total_ms":..,"per_object_ms":..,"per_second":.., ...extras}
EOF
}

anchor_main() {
  local args=()
  while (( $# )); do
    case "$1" in
      --json) ANCHOR_JSON=1 ;;
      -h|--help) anchor_usage; return 0 ;;
      *) args+=("$1") ;;
    esac
    shift
  done
  set -- "${args[@]}"
  local cmd=${1:-help}; shift || true
  case "$cmd" in
    setup-gpgsm)       anchor_setup_gpgsm "$@" ;;
    setup-ssh)         anchor_setup_ssh "$@" ;;
    teardown)          anchor_teardown "$@" ;;
    make-repo)         anchor_make_repo "$@" ;;
    sign-overhead)     anchor_sign_overhead "$@" ;;
    verify-per-object) anchor_verify_per_object "$@" ;;
    verify-log)        anchor_verify_log "$@" ;;
    all)               anchor_all "$@" ;;
    help)              anchor_usage ;;
    *) anchor_usage >&2; return 2 ;;
  esac
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -o pipefail
  unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_OBJECT_DIRECTORY GIT_CEILING_DIRECTORIES
  trap anchor_cleanup EXIT
  trap 'exit 130' INT TERM
  anchor_main "$@"
fi
