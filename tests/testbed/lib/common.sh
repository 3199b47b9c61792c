# Shared by with-testbed, start and stop. Source it; it sets TB (this directory).
TB="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

tb_die() { echo "testbed: $*" >&2; exit 2; }

# Install node_modules from package-lock.json when missing or stale.
# Serialized with flock so parallel first runs do not race.
tb_ensure_deps() {
  command -v node >/dev/null 2>&1 || tb_die "node is not installed (Node.js >= 20 is required)"
  command -v npm >/dev/null 2>&1 || tb_die "npm is not installed"
  local want stamp="$TB/node_modules/.testbed-lock.sha256"
  want="$(sha256sum "$TB/package-lock.json" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  mkdir -p "$TB/.state"
  (
    flock 9
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
    echo "testbed: installing npm packages (npm ci) into $TB/node_modules" >&2
    cd "$TB" && npm ci --no-audit --no-fund --loglevel=error >&2 || exit 1
    echo "$want" >"$stamp"
  ) 9>"$TB/.state/install.lock" || tb_die "npm ci failed"
}

# tb_launch [--parent PID] [--max-lifetime S]: starts the server, sets TB_STATE and TB_PID.
tb_launch() {
  local root="${TESTBED_TMPDIR:-${TMPDIR:-/tmp}}"
  TB_STATE="$(mktemp -d "$root/gitsign-testbed.XXXXXX")" || tb_die "mktemp failed"
  local email=()
  [ -n "${TESTBED_EMAIL:-}" ] && email=(--email "$TESTBED_EMAIL")
  if command -v setsid >/dev/null 2>&1 && [ "${TB_SETSID:-0}" = 1 ]; then
    setsid node "$TB/server.mjs" --state "$TB_STATE" "$@" "${email[@]}" </dev/null >"$TB_STATE/server.log" 2>&1 &
  else
    node "$TB/server.mjs" --state "$TB_STATE" "$@" "${email[@]}" </dev/null >"$TB_STATE/server.log" 2>&1 &
  fi
  TB_PID=$!
  local i=0
  while [ ! -f "$TB_STATE/env.json" ]; do
    if ! kill -0 "$TB_PID" 2>/dev/null; then
      echo "testbed: server failed to start; its log ($TB_STATE/server.log):" >&2
      cat "$TB_STATE/server.log" >&2
      rm -rf "$TB_STATE"
      exit 2
    fi
    i=$((i + 1))
    if [ "$i" -gt 600 ]; then
      echo "testbed: server did not become ready in 30 s; log:" >&2
      cat "$TB_STATE/server.log" >&2
      kill "$TB_PID" 2>/dev/null
      rm -rf "$TB_STATE"
      exit 2
    fi
    sleep 0.05
  done
}

# Is pid alive (a zombie waiting for a slow init to reap it counts as gone)?
tb_alive() {
  kill -0 "$1" 2>/dev/null || return 1
  if [ -r "/proc/$1/status" ] && grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; then return 1; fi
  return 0
}

# tb_stop STATE_DIR: stop the server of that state dir and remove the dir.
tb_stop() {
  local dir="$1" pid
  [ -f "$dir/pid" ] || [ -f "$dir/server.log" ] || tb_die "$dir does not look like a testbed state dir"
  pid="$(cat "$dir/pid" 2>/dev/null || true)"
  if [ -n "$pid" ] && tb_alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    local i=0
    while tb_alive "$pid" && [ "$i" -lt 200 ]; do sleep 0.02; i=$((i + 1)); done
    tb_alive "$pid" && kill -KILL "$pid" 2>/dev/null
  fi
  if [ "${TESTBED_KEEP_STATE:-0}" = 1 ]; then
    echo "testbed: keeping state dir $dir" >&2
  else
    rm -rf "$dir"
  fi
}
