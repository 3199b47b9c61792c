#!/usr/bin/env bash
# Warm signing overhead per commit (signed minus unsigned `git commit`, N
# commits) with Fulcio and Rekor reached over https, as they are in real
# use: the loopback testbed behind TLS-terminating proxies
# (tests/tls_proxy.py, a throwaway CA trusted through SSL_CERT_FILE), the
# credential cache daemon warm, beside gpgsm signing through git and the
# no-op floor, in one run.
#
# Each DIR is a build holding `gitsign` and `gitsign-credential-cache`
# (default: this tree's target/release), so two releases can be compared
# in the same run, e.g. `sign_https.sh 60 /tmp/old/target/release target/release`.
# Usage: tests/bench/sign_https.sh [N] [DIR...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
N=${1:-100}
shift || true
export ANCHOR_REPEAT=${ANCHOR_REPEAT:-3}
cd "$top"
dirs=()
if [ $# -eq 0 ]; then
  cargo build --release --quiet --bin gitsign -p gitsign -p gitsign-credential-cache
  dirs=("$top/target/release")
else
  for d in "$@"; do dirs+=("$(cd "$d" && pwd)"); done
fi
for d in "${dirs[@]}"; do
  for b in gitsign gitsign-credential-cache; do
    [ -x "$d/$b" ] || { echo "sign_https.sh: $d/$b is missing" >&2; exit 2; }
  done
done

inner() {
  local pki out token
  pki=$(mktemp -d)
  out=$(mktemp)
  # Throwaway PKI: a CA and a server certificate for 127.0.0.1.
  (
    cd "$pki"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
      -out ca.pem -days 2 -subj /CN=gitsign-bench-ca 2>/dev/null
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key \
      -out leaf.csr -subj /CN=127.0.0.1 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > leaf.ext
    openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -set_serial 2 -days 2 -sha256 \
      -extfile leaf.ext -out leaf.pem 2>/dev/null
    mkdir no-certs
  )
  # A proxy per service, its URL in $url; each proxy exits when its stdin
  # (a pipe this shell holds open) closes.
  local url fd
  proxy() {
    local upstream=${1#http://} fifo=$pki/$2.in
    mkfifo "$fifo"
    python3 "$top/tests/tls_proxy.py" --cert "$pki/leaf.pem" --key "$pki/leaf.key" \
      --upstream "${upstream%/}" < "$fifo" > "$pki/$2.port" &
    exec {fd}>"$fifo"
    for _ in $(seq 100); do [ -s "$pki/$2.port" ] && break; sleep 0.05; done
    url="https://127.0.0.1:$(head -1 "$pki/$2.port")"
  }
  proxy "$GITSIGN_FULCIO_URL" fulcio; GITSIGN_FULCIO_URL=$url
  proxy "$GITSIGN_REKOR_URL" rekor; GITSIGN_REKOR_URL=$url
  export GITSIGN_FULCIO_URL GITSIGN_REKOR_URL SSL_CERT_FILE=$pki/ca.pem SSL_CERT_DIR=$pki/no-certs
  token=$(curl -sS -X POST "$TESTBED_URL/token" -H 'content-type: application/json' \
    -d "{\"email\":\"$TESTBED_EMAIL\",\"ttl\":3600}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id_token"])')
  export SIGSTORE_ID_TOKEN=$token GITSIGN_TOKEN_PROVIDER=environment
  local i=0 d sock
  for d in "${DIRS[@]}"; do
    i=$((i + 1))
    sock=$(mktemp -d); chmod 700 "$sock"
    "$d/gitsign-credential-cache" --socket "$sock/cache.sock" >/dev/null 2>&1
    GITSIGN_PROGRAM=$d/gitsign GITSIGN_CREDENTIAL_CACHE=$sock/cache.sock ANCHOR_LABEL="warm-https-$i" \
      "$here/anchor.sh" --json sign-overhead gitsign "$N" | tail -1 | tee -a "$out"
    python3 - "$sock/cache.sock" <<'PY'
import json, socket, struct, sys
# Any protocol version: a daemon of another answers with an error and stays,
# so ask in its own version (from `list`'s error or answer) when needed.
def ask(version):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(5)
    b = json.dumps({"version": version, "op": "shutdown"}).encode()
    s.sendall(struct.pack(">I", len(b)) + b)
    n = struct.unpack(">I", s.recv(4))[0]; return json.loads(s.recv(n))
for v in (2, 1):
    if ask(v).get("status") == "ok":
        break
PY
    rm -rf "$sock"
  done
  ANCHOR_LABEL=noop-floor "$here/anchor.sh" --json sign-overhead "program:$NOOP" "$N" | tail -1 | tee -a "$out"
  "$here/anchor.sh" --json sign-overhead gpgsm "$N" | tail -1 | tee -a "$out"
  python3 - "$out" "${DIRS[@]}" <<'PY'
import json, sys
rows = {json.loads(l)["anchor"]: json.loads(l) for l in open(sys.argv[1]) if l.strip()}
floor = rows["noop-floor"]["per_object_ms"]
g = rows["gpgsm"]["per_object_ms"]
print()
for i, d in enumerate(sys.argv[2:], 1):
    o = rows[f"warm-https-{i}"]["per_object_ms"]
    print(f"summary: warm signing over https, {d}: {o:.2f} ms per commit; gpgsm {g:.2f} ms; ratio {o/g:.2f}; above the no-op floor ({floor:.2f} ms): {o - floor:.2f} ms")
PY
  rm -rf "$out" "$pki"
}
export -f inner
NOOP=$(mktemp -d)/noop-x509
rustc -O --edition 2021 -o "$NOOP" "$here/noop-signer.rs"
DIRS_TEXT=$(printf '%s\n' "${dirs[@]}")
export here top N NOOP DIRS_TEXT
tests/testbed/with-testbed bash -c 'mapfile -t DIRS <<< "$DIRS_TEXT"; inner'
