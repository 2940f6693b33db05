#!/usr/bin/env bash
# Interop check of the apikeys gRPC server with clients this project did not write:
# buf lint, the Python grpcio stack (client.py) and `buf curl` over server reflection
# (bufcurl_check.py). Run from anywhere:  bash tests/interop/run.sh
#
# Environment:
#   APIKEYS_BIN            use this apikeys binary instead of `cargo build -p apikeys-server`
#   APIKEYS_START_TIMEOUT  seconds to wait for the "apikeys listening on" line (default 60)
#   APIKEYS_RPC_TIMEOUT    per-RPC deadline in the clients, seconds (default 20)
#   KEEP_TMP=1             keep the temporary directory (database, logs) for inspection
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
START_TIMEOUT="${APIKEYS_START_TIMEOUT:-60}"
export APIKEYS_RPC_TIMEOUT="${APIKEYS_RPC_TIMEOUT:-20}"

# Flags given to the server/CLI come from the command line only: every inherited APIKEYS_*
# setting, OTEL_* and RUST_LOG goes. Kept: this script's own knobs, and the test suite's
# APIKEYS_TEST_POSTGRES_URL (a build script tracks it, so unsetting it would make
# `cargo build` below recompile what `cargo test` built).
for name in $(compgen -e); do
  case $name in
  APIKEYS_BIN | APIKEYS_START_TIMEOUT | APIKEYS_RPC_TIMEOUT | APIKEYS_TEST_POSTGRES_URL) ;;
  APIKEYS_* | OTEL_* | RUST_LOG) unset "$name" ;;
  esac
done

RESULTS=()   # "PASS|FAIL  step" lines for the summary
FAILED=0
SERVER_PID=""
TMP=""

log() { printf '==> %s\n' "$*"; }
record() { # record PASS|FAIL "step"
  RESULTS+=("$1  $2")
  if [[ $1 == FAIL ]]; then FAILED=$((FAILED + 1)); fi
  printf '%s  %s\n' "$1" "$2"
}
die() { # fatal: a step that later steps depend on failed
  record FAIL "$*"
  exit 1
}

summary() {
  echo
  echo "================ interop summary ================"
  local r
  for r in "${RESULTS[@]}"; do echo "$r"; done
  echo "-------------------------------------------------"
}

cleanup() {
  local rc=$?
  set +e
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM -- "-$SERVER_PID" 2>/dev/null || kill -TERM "$SERVER_PID" 2>/dev/null
    local deadline=$((SECONDS + 10))
    while kill -0 "$SERVER_PID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null
  fi
  if [[ -n $SERVER_PID ]]; then
    kill -KILL -- "-$SERVER_PID" 2>/dev/null # leftovers of a wrapper script, if any
    wait "$SERVER_PID" 2>/dev/null
  fi
  if ((rc != 0 || FAILED != 0)) && [[ -n $TMP && -f $TMP/server.err ]]; then
    echo
    echo "---------------- server stderr ($TMP/server.err, last 200 lines) ----------------"
    tail -n 200 "$TMP/server.err"
    echo "---------------- server stdout ----------------"
    cat "$TMP/server.out" 2>/dev/null
    echo "-----------------------------------------------"
  fi
  summary
  if ((rc == 0 && FAILED == 0)); then
    echo "INTEROP: ALL PASSED (${#RESULTS[@]} steps)"
    echo "interop: ${#RESULTS[@]} passed, 0 failed"
  else
    echo "INTEROP: FAILED ($FAILED failed step(s), exit ${rc})"
    echo "interop: $((${#RESULTS[@]} - FAILED)) passed, $FAILED failed"
    ((rc == 0)) && rc=1
  fi
  if [[ -n $TMP ]]; then
    if [[ ${KEEP_TMP:-} == 1 ]]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sha() { sha256sum "$@" | sha256sum | cut -d' ' -f1; }

# --------------------------------------------------------------------------- dependencies
VENV="$HERE/.venv"
PY="$VENV/bin/python"
log "python venv ($VENV)"
want="$(sha "$HERE/requirements.txt")"
if [[ ! -x $PY ]] || [[ "$(cat "$VENV/.interop-stamp" 2>/dev/null)" != "$want" ]]; then
  [[ -x $PY ]] || python3 -m venv "$VENV"
  "$PY" -m pip install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"
  echo "$want" >"$VENV/.interop-stamp"
fi
"$PY" -c 'import grpc, grpc_tools, grpc_health.v1, google.protobuf' ||
  die "python deps importable"
record PASS "python deps ($("$PY" -c 'import grpc, google.protobuf as p; print(f"grpcio {grpc.__version__}, protobuf {p.__version__}")'))"

BUF="$HERE/node_modules/.bin/buf"
log "npm ci (@bufbuild/buf)"
want="$(sha "$HERE/package.json" "$HERE/package-lock.json")"
if [[ ! -x $BUF ]] || [[ "$(cat "$HERE/node_modules/.interop-stamp" 2>/dev/null)" != "$want" ]]; then
  (cd "$HERE" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
  echo "$want" >"$HERE/node_modules/.interop-stamp"
fi
buf_version="$("$BUF" --version 2>&1)" || die "buf binary runs (npm optional dep for this platform missing?): $buf_version"
record PASS "buf $buf_version runs"
export BUF

# --------------------------------------------------------------------------- buf lint
log "buf lint ($ROOT/proto)"
if (cd "$ROOT/proto" && "$BUF" lint); then
  record PASS "buf lint proto/"
else
  record FAIL "buf lint proto/ (findings above)"
fi

# --------------------------------------------------------------------------- binary
if [[ -n ${APIKEYS_BIN:-} ]]; then
  BIN="$APIKEYS_BIN"
  [[ $BIN = /* ]] || BIN="$PWD/$BIN" # the server runs from a temp dir
  log "using APIKEYS_BIN=$BIN"
else
  log "cargo build -p apikeys-server"
  (cd "$ROOT" && cargo build -p apikeys-server) || die "cargo build -p apikeys-server"
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/apikeys"
  [[ $BIN = /* ]] || BIN="$ROOT/$BIN"
fi
[[ -x $BIN ]] || die "apikeys binary at $BIN"
record PASS "apikeys binary $BIN"

# --------------------------------------------------------------------------- server
TMP="$(mktemp -d "${TMPDIR:-/tmp}/apikeys-interop.XXXXXX")"
DBURL="sqlite://$TMP/apikeys.db"
log "starting: apikeys serve --listen 127.0.0.1:0 --database-url $DBURL (local mode)"
# NO_COLOR: plain server logs (tracing-subscriber honours it).
# setsid: own process group, so cleanup also reaches children if APIKEYS_BIN is a wrapper script.
(cd "$TMP" && NO_COLOR=1 exec setsid "$BIN" serve --listen 127.0.0.1:0 --database-url "$DBURL") \
  >"$TMP/server.out" 2>"$TMP/server.err" &
SERVER_PID=$!

LISTEN_RE='^apikeys listening on 127\.0\.0\.1:([0-9]+)$'
deadline=$((SECONDS + START_TIMEOUT))
PORT=""
while :; do
  if line="$(grep -m1 -E "$LISTEN_RE" "$TMP/server.out" 2>/dev/null)"; then
    [[ $line =~ $LISTEN_RE ]] && PORT="${BASH_REMATCH[1]}"
    break
  fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    wait "$SERVER_PID" && src=0 || src=$?
    die "server exited (status $src) before printing 'apikeys listening on 127.0.0.1:PORT'"
  fi
  ((SECONDS < deadline)) || die "no 'apikeys listening on 127.0.0.1:PORT' line within ${START_TIMEOUT}s"
  sleep 0.1
done
[[ -n $PORT && $PORT != 0 ]] || die "listening line names a real port (got '${line:-}')"
record PASS "server up: '$line'"
TARGET="127.0.0.1:$PORT"

if [[ -s "$TMP/apikeys.db.signing-key" ]]; then
  record PASS "local mode created signing key beside the db ($TMP/apikeys.db.signing-key)"
else
  record FAIL "local mode signing key file $TMP/apikeys.db.signing-key missing (contract: '<db file>.signing-key')"
fi
if grep -qi 'local' "$TMP/server.err"; then
  record PASS "server log warns about local mode"
else
  record FAIL "server stderr does not mention local mode (contract: warns in the log)"
fi

# --------------------------------------------------------------------------- tokens
suffix="$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
ACCOUNT="interop-acme-$suffix"
OTHER_ACCOUNT="interop-other-$suffix"
BUF_ACCOUNT="interop-buf-$suffix"

mint() { # mint NAME args...  (prints the token on stdout; on failure explains on stderr, returns 1)
  local name=$1 out
  shift
  if ! out="$("$BIN" "$@" 2>"$TMP/token-$name.err")"; then
    echo "apikeys $* failed:" >&2
    cat "$TMP/token-$name.err" >&2
    return 1
  fi
  out="$(printf '%s' "$out" | tr -d '\r\n')"
  if ! [[ $out =~ ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$ ]]; then
    echo "apikeys $* printed something that is not a JWT: '$out'" >&2
    return 1
  fi
  printf '%s' "$out"
}
log "minting caller tokens with apikeys token"
# The global --database-url goes before the subcommand once, after it elsewhere (both allowed).
TOKEN_STAFF="$(mint staff --database-url "$DBURL" token --sub staff-sam --account corp --role member \
  --email sam@corp.example --staff)" || die "apikeys token (staff)"
TOKEN_OWNER="$(mint owner token --database-url "$DBURL" --sub alice --account "$ACCOUNT" --role owner \
  --email alice@example.com)" || die "apikeys token (owner)"
TOKEN_ADMIN="$(mint admin token --database-url "$DBURL" --sub dana --account "$ACCOUNT" --role admin \
  --email dana@example.com)" || die "apikeys token (admin)"
TOKEN_MEMBER="$(mint member token --database-url "$DBURL" --sub bob --account "$ACCOUNT" --role member \
  --email bob@example.com)" || die "apikeys token (member)"
TOKEN_OTHER_OWNER="$(mint other token --database-url "$DBURL" --sub carol --account "$OTHER_ACCOUNT" \
  --role owner --email carol@example.com)" || die "apikeys token (other owner)"
TOKEN_BUF_OWNER="$(mint bufowner token --database-url "$DBURL" --sub erin --account "$BUF_ACCOUNT" \
  --role owner --email erin@example.com)" || die "apikeys token (buf owner)"
TOKEN_GATEWAY="$(mint gateway token --database-url "$DBURL" --sub api-gateway --account corp \
  --role service --scope introspect --ttl-seconds 600)" || die "apikeys token (gateway, --scope introspect)"
record PASS "minted 7 caller tokens (staff, owner, admin, member, other owner, buf owner, gateway)"
export TOKEN_STAFF TOKEN_OWNER TOKEN_ADMIN TOKEN_MEMBER TOKEN_OTHER_OWNER TOKEN_BUF_OWNER TOKEN_GATEWAY

# --------------------------------------------------------------------------- python grpcio
log "python grpcio client against $TARGET"
if APIKEYS_TARGET="$TARGET" APIKEYS_PROTO_DIR="$ROOT/proto" APIKEYS_ACCOUNT="$ACCOUNT" \
  APIKEYS_OTHER_ACCOUNT="$OTHER_ACCOUNT" "$PY" "$HERE/client.py" | tee "$TMP/client.log"; then
  record PASS "python grpcio client: $(tail -n1 "$TMP/client.log" | sed 's/^python grpcio client: //')"
else
  record FAIL "python grpcio client: $(grep -E '^python grpcio client:' "$TMP/client.log" | sed 's/^python grpcio client: //' || echo 'crashed')"
fi

# --------------------------------------------------------------------------- buf curl
log "buf curl via server reflection against http://$TARGET"
if APIKEYS_URL="http://$TARGET" BUF_ACCOUNT="$BUF_ACCOUNT" "$PY" "$HERE/bufcurl_check.py" |
  tee "$TMP/bufcurl.log"; then
  record PASS "buf curl: $(tail -n1 "$TMP/bufcurl.log" | sed 's/^buf curl: //')"
else
  record FAIL "buf curl: $(grep -E '^buf curl: [0-9]' "$TMP/bufcurl.log" | sed 's/^buf curl: //' || echo 'crashed')"
fi

# --------------------------------------------------------------------------- CLI vs server state
log "apikeys accounts show (straight on the database)"
if show="$("$BIN" accounts show "$ACCOUNT" --database-url "$DBURL" 2>"$TMP/show.err")" &&
  [[ $show == *"account_id=$ACCOUNT"* && $show == *"api_access_enabled=true"* ]]; then
  record PASS "apikeys accounts show sees the state set over gRPC: $show"
else
  cat "$TMP/show.err" >&2 || true
  record FAIL "apikeys accounts show $ACCOUNT: got '${show:-}' (want account_id=$ACCOUNT api_access_enabled=true …)"
fi

# The contract: exactly one line on stdout, the listening line.
nlines="$(wc -l <"$TMP/server.out")"
if [[ $nlines == 1 ]]; then
  record PASS "server stdout is exactly the one listening line"
else
  record FAIL "server stdout has $nlines lines (want only the listening line)"
fi

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
  record FAIL "server still running after the checks (it exited)"
fi

((FAILED == 0)) || exit 1
