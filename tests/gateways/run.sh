#!/usr/bin/env bash
# Gateway check of apikeys' HTTP front (docs/http.md) with software this project did not write:
# a real nginx running deploy/nginx/apikeys-gateway.conf and a real Caddy running
# deploy/caddy/Caddyfile (gateway_check.py), the OAuth 2.0 client library authlib, PyJWT's
# PyJWKClient and the company's published curl (oauth_check.py).
# Run from anywhere:  bash tests/gateways/run.sh
#
# Environment:
#   APIKEYS_BIN            use this apikeys binary instead of `cargo build -p apikeys-server`
#   APIKEYS_START_TIMEOUT  seconds to wait for a process to come up (default 60)
#   APIKEYS_RPC_TIMEOUT    per-request deadline in the checks, seconds (default 20)
#   GATEWAYS_VENV          the Python venv (default target/gateways-venv: cargo's git-ignored
#                          target directory, so nothing new needs ignoring)
#   KEEP_TMP=1             keep the temporary directory (database, logs, rendered configs)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
START_TIMEOUT="${APIKEYS_START_TIMEOUT:-60}"
export APIKEYS_RPC_TIMEOUT="${APIKEYS_RPC_TIMEOUT:-20}"
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ in tests/interop when common.py imports it

# Flags given to the server/CLI come from the command line only.
unset APIKEYS_DATABASE_URL APIKEYS_LISTEN APIKEYS_MAX_ACTIVE_KEYS APIKEYS_JWT_HS256_SECRET \
  APIKEYS_JWT_PUBLIC_KEY_FILE APIKEYS_JWT_JWKS_FILE APIKEYS_JWT_ISSUER APIKEYS_JWT_AUDIENCE \
  APIKEYS_LOCAL_SIGNING_KEY_FILE APIKEYS_PUBLIC_URL APIKEYS_TOKEN_ISSUER APIKEYS_CONFIG \
  APIKEYS_JWKS_MAX_AGE_SECS APIKEYS_FORWARD_AUTH_GATEWAY_HEADER APIKEYS_EXT_AUTHZ_API_KEY_HEADER \
  APIKEYS_EXT_AUTHZ_ACCOUNT_HEADER APIKEYS_EXT_AUTHZ_CLIENT_HEADER

PASSED=0
FAILED=0
RESULTS=() # "PASS|FAIL  step" lines for the summary
PIDS=()    # background processes we started (each its own process group), in start order
SERVER_PID=""
TMP=""

log() { printf '==> %s\n' "$*"; }
record() { # record PASS|FAIL "step"
  RESULTS+=("$1  $2")
  if [[ $1 == PASS ]]; then PASSED=$((PASSED + 1)); else FAILED=$((FAILED + 1)); fi
  printf '%s  %s\n' "$1" "$2"
}
die() { # fatal: a step that later steps depend on failed
  record FAIL "$*"
  exit 1
}

stop() { # stop PID: TERM its process group, wait up to 10 s, then KILL
  local pid=$1 deadline
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + 10))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$? i
  set +e
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop "${PIDS[i]}"; done
  if ((rc != 0 || FAILED != 0)) && [[ -n $TMP ]]; then
    local f
    for f in "$TMP/server.err" "$TMP"/nginx-*/logs/error.log "$TMP"/caddy-*.err "$TMP/upstream.err"; do
      [[ -s $f ]] || continue
      echo
      echo "---------------- $f (last 100 lines) ----------------"
      tail -n 100 "$f"
    done
  fi
  echo
  echo "================ gateways summary ================"
  for i in "${RESULTS[@]}"; do echo "$i"; done
  echo "--------------------------------------------------"
  ((rc == 0 && FAILED == 0)) || { ((rc == 0)) && rc=1; }
  if [[ -n $TMP ]]; then
    if [[ ${KEEP_TMP:-} == 1 ]]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
  fi
  echo "gateways: $PASSED passed, $FAILED failed"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start() { # start NAME cmd...: in the background, own process group, output in $TMP/NAME.{out,err}
  local name=$1
  shift
  (cd "$TMP" && exec setsid "$@") >"$TMP/$name.out" 2>"$TMP/$name.err" &
  PIDS+=("$!")
  LAST_PID=$!
}

wait_line() { # wait_line PID FILE REGEX: the first line of FILE matching REGEX, within the deadline
  local pid=$1 file=$2 re=$3 deadline=$((SECONDS + START_TIMEOUT)) line
  while :; do
    if line="$(grep -m1 -E "$re" "$file" 2>/dev/null)"; then
      printf '%s' "$line"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || { echo "exited before printing /$re/" >&2; return 1; }
    ((SECONDS < deadline)) || { echo "no /$re/ within ${START_TIMEOUT}s" >&2; return 1; }
    sleep 0.05
  done
}

wait_port() { # wait_port PID PORT: until 127.0.0.1:PORT accepts connections
  local pid=$1 port=$2 deadline=$((SECONDS + START_TIMEOUT))
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || { echo "exited before listening on $port" >&2; return 1; }
    ((SECONDS < deadline)) || { echo "nothing listens on $port within ${START_TIMEOUT}s" >&2; return 1; }
    sleep 0.05
  done
}

sha() { sha256sum "$@" | sha256sum | cut -d' ' -f1; }

# --------------------------------------------------------------------------- dependencies
missing=()
for tool in nginx caddy; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]})); then
  log "installing ${missing[*]} (Debian packages)"
  # The packages' scripts would start system services on ports 80/443; policy-rc.d
  # (invoke-rc.d(8)) tells them not to. Docker-built machines have one; else add it meanwhile.
  made_policy=""
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  installed=0
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
    installed=$?
  [[ -z $made_policy ]] || rm -f /usr/sbin/policy-rc.d
  ((installed == 0)) || die "apt-get install ${missing[*]}"
fi
NGINX_BIN="$(command -v nginx)" || die "nginx on the PATH"
CADDY_BIN="$(command -v caddy)" || die "caddy on the PATH"
record PASS "$("$NGINX_BIN" -v 2>&1) at $NGINX_BIN; caddy $("$CADDY_BIN" version | cut -d' ' -f1) at $CADDY_BIN"

VENV="${GATEWAYS_VENV:-${CARGO_TARGET_DIR:-$ROOT/target}/gateways-venv}"
[[ $VENV = /* ]] || VENV="$ROOT/$VENV"
PY="$VENV/bin/python"
log "python venv ($VENV)"
want="$(sha "$HERE/requirements.txt" "$ROOT/tests/interop/requirements.txt")"
if [[ ! -x $PY ]] || [[ "$(cat "$VENV/.gateways-stamp" 2>/dev/null)" != "$want" ]]; then
  [[ -x $PY ]] || python3 -m venv "$VENV"
  "$PY" -m pip install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"
  echo "$want" >"$VENV/.gateways-stamp"
fi
deps="$("$PY" -c 'import authlib, jwt, requests, cryptography, grpc, grpc_tools
print(f"authlib {authlib.__version__}, PyJWT {jwt.__version__}, requests {requests.__version__},",
      f"cryptography {cryptography.__version__}, grpcio {grpc.__version__}")')" ||
  die "python deps importable"
record PASS "python deps ($deps)"

# --------------------------------------------------------------------------- binary
if [[ -n ${APIKEYS_BIN:-} ]]; then
  BIN="$APIKEYS_BIN"
  [[ $BIN = /* ]] || BIN="$PWD/$BIN" # the processes run from a temp dir
else
  log "cargo build -p apikeys-server --bin apikeys"
  (cd "$ROOT" && cargo build -p apikeys-server --bin apikeys) || die "cargo build -p apikeys-server --bin apikeys"
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/apikeys"
  [[ $BIN = /* ]] || BIN="$ROOT/$BIN"
fi
[[ -x $BIN ]] || die "apikeys binary at $BIN"
record PASS "apikeys binary $BIN"

# --------------------------------------------------------------------------- apikeys
TMP="$(mktemp -d "${TMPDIR:-/tmp}/apikeys-gateways.XXXXXX")"
DBURL="sqlite://$TMP/apikeys.db"
log "starting: apikeys serve --listen 127.0.0.1:0 --database-url $DBURL (local mode)"
start server env NO_COLOR=1 "$BIN" serve --listen 127.0.0.1:0 --database-url "$DBURL"
SERVER_PID=$LAST_PID
line="$(wait_line "$SERVER_PID" "$TMP/server.out" '^apikeys listening on 127\.0\.0\.1:[0-9]+$')" ||
  die "apikeys serve printed 'apikeys listening on 127.0.0.1:PORT'"
APIKEYS_PORT="${line##*:}"
[[ $APIKEYS_PORT != 0 ]] || die "listening line names a real port (got '$line')"
APIKEYS_URL="http://127.0.0.1:$APIKEYS_PORT"
record PASS "apikeys up: '$line'"

# The HTTP front answers on the gRPC port (docs/http.md); the checks need it.
if livez="$(curl -sS --max-time 5 "$APIKEYS_URL/livez" 2>&1)" && [[ $livez == *SERVING* ]]; then
  record PASS "GET $APIKEYS_URL/livez -> $livez"
else
  die "GET $APIKEYS_URL/livez -> ${livez:-nothing} (is the HTTP front of docs/http.md built in?)"
fi

# --------------------------------------------------------------------------- tokens, account
mint() { # mint NAME args...: a caller token on stdout
  local name=$1 out
  shift
  out="$("$BIN" token --database-url "$DBURL" "$@" 2>"$TMP/token-$name.err")" ||
    { cat "$TMP/token-$name.err" >&2; return 1; }
  out="$(printf '%s' "$out" | tr -d '\r\n')"
  [[ $out =~ ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$ ]] ||
    { echo "apikeys token printed something that is not a JWT" >&2; return 1; }
  printf '%s' "$out"
}
suffix="$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
ACCOUNT="gateways-acme-$suffix"
TOKEN_OWNER="$(mint owner --sub alice --account "$ACCOUNT" --role owner --email alice@example.com)" ||
  die "apikeys token (owner)"
TOKEN_GATEWAY="$(mint gateway --sub nginx-gateway --account corp --role service --scope introspect \
  --ttl-seconds 600)" || die "apikeys token (gateway, --scope introspect)"
TOKEN_NO_SCOPE="$(mint noscope --sub misconfigured-gateway --account corp --role service)" ||
  die "apikeys token (gateway without scope)"
record PASS "minted caller tokens: owner of $ACCOUNT, gateway (scope introspect), one without scope"
if out="$("$BIN" accounts enable "$ACCOUNT" --database-url "$DBURL" 2>&1)"; then
  record PASS "apikeys accounts enable $ACCOUNT (server running): $out"
else
  die "apikeys accounts enable $ACCOUNT: $out"
fi
export APIKEYS_URL APIKEYS_TARGET="127.0.0.1:$APIKEYS_PORT" APIKEYS_ACCOUNT="$ACCOUNT" \
  TOKEN_OWNER TOKEN_GATEWAY TOKEN_NO_SCOPE APIKEYS_STDERR="$TMP/server.err"

run_checks() { # run_checks LABEL script args...: run a check script, add its counts
  local label=$1 counts
  shift
  log "$label"
  "$PY" "$@" | tee "$TMP/$label.log" || true
  if counts="$(grep -E '^[a-z ]+: [0-9]+ passed, [0-9]+ failed$' "$TMP/$label.log" | tail -n1)"; then
    local p f
    p="$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$counts")"
    f="$(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"$counts")"
    PASSED=$((PASSED + p))
    FAILED=$((FAILED + f))
    RESULTS+=("$( ((f == 0)) && echo PASS || echo FAIL)  $counts")
  else
    record FAIL "$label crashed before its count line (see above)"
  fi
}

# --------------------------------------------------------------------------- OAuth clients
run_checks oauth "$HERE/oauth_check.py"

# --------------------------------------------------------------------------- gateways
log "upstream (stand-in partner API)"
start upstream "$PY" "$HERE/upstream.py" "$TMP/upstream-records.jsonl"
line="$(wait_line "$LAST_PID" "$TMP/upstream.out" '^upstream listening on 127\.0\.0\.1:[0-9]+$')" ||
  die "upstream.py came up"
UPSTREAM_ADDR="127.0.0.1:${line##*:}"
record PASS "upstream recording requests on $UPSTREAM_ADDR"
export UPSTREAM_RECORDS="$TMP/upstream-records.jsonl"

free_port() { # a port nothing listens on now (the gateways need theirs before they start)
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_nginx() { # start_nginx NAME TOKEN: render the deploy file with TOKEN and run it; sets PORT
  local name=$1 token=$2 dir="$TMP/nginx-$1" out
  PORT="$(free_port)"
  GATEWAY_TOKEN="$token" "$PY" "$HERE/nginx/render.py" --out "$dir" --listen "127.0.0.1:$PORT" \
    --apikeys "127.0.0.1:$APIKEYS_PORT" --partner-api "$UPSTREAM_ADDR" ||
    die "render deploy/nginx/apikeys-gateway.conf ($name)"
  out="$("$NGINX_BIN" -t -q -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log" 2>&1)" ||
    die "nginx -t on the rendered deploy file ($name): $out"
  start "nginx-$name" "$NGINX_BIN" -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log"
  wait_port "$LAST_PID" "$PORT" || die "nginx ($name) listening on 127.0.0.1:$PORT"
  record PASS "nginx -t and run: deploy/nginx/apikeys-gateway.conf, placeholders substituted ($name)"
}

start_caddy() { # start_caddy NAME TOKEN: deploy/caddy/Caddyfile as it is, settings in the env; sets PORT
  local name=$1 token=$2 dir="$TMP/caddy-$1" out
  mkdir -p "$dir"
  PORT="$(free_port)"
  local settings=(HOME="$dir" XDG_DATA_HOME="$dir/data" XDG_CONFIG_HOME="$dir/config"
    CADDY_ADMIN_ADDRESS="127.0.0.1:$(free_port)" APIKEYS_DEPLOY_CADDYFILE="$ROOT/deploy/caddy/Caddyfile"
    APIKEYS_GATEWAY_SITE="http://:$PORT" APIKEYS_ADDRESS="127.0.0.1:$APIKEYS_PORT"
    PARTNER_API_ADDRESS="$UPSTREAM_ADDR" APIKEYS_GATEWAY_TOKEN="$token")
  local config=(--config "$HERE/caddy/Caddyfile" --adapter caddyfile)
  out="$(env "${settings[@]}" "$CADDY_BIN" validate "${config[@]}" 2>&1)" ||
    die "caddy validate deploy/caddy/Caddyfile ($name): $out"
  start "caddy-$name" env "${settings[@]}" "$CADDY_BIN" run "${config[@]}"
  wait_port "$LAST_PID" "$PORT" || die "caddy ($name) listening on 127.0.0.1:$PORT"
  record PASS "caddy validate and run: deploy/caddy/Caddyfile unchanged ($name, 127.0.0.1:$PORT)"
}

for gateway in nginx caddy; do
  "start_$gateway" gateway "$TOKEN_GATEWAY"
  url="http://127.0.0.1:$PORT"
  "start_$gateway" misconfigured "$TOKEN_NO_SCOPE"
  GATEWAY_URL="$url" GATEWAY_MISCONFIGURED_URL="http://127.0.0.1:$PORT" \
    STATE_FILE="$TMP/$gateway-state.json" run_checks "$gateway-live" "$HERE/gateway_check.py" "$gateway" live
  printf -v "URL_$gateway" '%s' "$url"
done

# The store (here: the whole apikeys process) goes away; the gateways must fail closed.
log "killing apikeys (SIGKILL, pid $SERVER_PID)"
kill -KILL "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
if (exec 3<>"/dev/tcp/127.0.0.1/$APIKEYS_PORT") 2>/dev/null; then
  record FAIL "something still listens on apikeys' port $APIKEYS_PORT after the kill"
else
  record PASS "apikeys killed, its port refuses connections"
fi
for gateway in nginx caddy; do
  url_var="URL_$gateway"
  GATEWAY_URL="${!url_var}" STATE_FILE="$TMP/$gateway-state.json" \
    run_checks "$gateway-outage" "$HERE/gateway_check.py" "$gateway" outage
done

((FAILED == 0)) || exit 1
