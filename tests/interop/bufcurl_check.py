#!/usr/bin/env python3
"""Interop check: drive a running `apikeys serve` with `buf curl`, schema from server reflection only.

No .proto file is given to buf: every request is encoded from descriptors the server returns
through grpc.reflection, Envoy's `envoy.service.auth.v3.Authorization/Check` included. Standard
library only.

Configuration (environment, set by run.sh):
  BUF                 path of the buf executable
  APIKEYS_URL         http://127.0.0.1:PORT
  BUF_ACCOUNT         fresh account id used only here
  TOKEN_STAFF         staff token
  TOKEN_BUF_OWNER     role owner of BUF_ACCOUNT
  TOKEN_GATEWAY       scope "introspect"

Prints one line per check and ends with `N passed, M failed`; exit status 1 if anything failed.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys

BUF = os.environ["BUF"]
URL = os.environ["APIKEYS_URL"].rstrip("/")
ACC = os.environ["BUF_ACCOUNT"]
T_STAFF = os.environ["TOKEN_STAFF"]
T_OWNER = os.environ["TOKEN_BUF_OWNER"]
T_GATEWAY = os.environ["TOKEN_GATEWAY"]
TIMEOUT = float(os.environ.get("APIKEYS_RPC_TIMEOUT", "20"))

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
COMMON = ["curl", "--protocol", "grpc", "--http2-prior-knowledge"]

# gRPC status codes; buf curl exits with code << 3 when the RPC fails.
UNAUTHENTICATED = 16
PERMISSION_DENIED = 7

PASSED = 0
FAILED = 0
FAILURES: list[str] = []
state: dict = {}


class Result:
    def __init__(self, argv, proc):
        self.argv = argv
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def describe(self) -> str:
        shown = " ".join(a if "Bearer" not in a else "authorization: Bearer <token>" for a in self.argv)
        return f"`{shown}` exit {self.rc}\n    stdout: {self.out.strip()!r}\n    stderr: {self.err.strip()!r}"

    def json(self):
        assert self.rc == 0, f"buf curl failed: {self.describe()}"
        try:
            return json.loads(self.out)
        except json.JSONDecodeError as e:
            raise AssertionError(f"output is not JSON ({e}): {self.describe()}") from None


def buf(*args: str) -> Result:
    argv = [BUF, *COMMON, *args]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT + 30)
    return Result(argv, proc)


def call(method: str, data: dict | None, token: str | None, *extra: str) -> Result:
    args = list(extra)
    if token is not None:
        args += ["-H", f"authorization: Bearer {token}"]
    if data is not None:
        args += ["-d", json.dumps(data)]
    return buf(*args, f"{URL}/{method}")


def run_check(name: str, fn) -> None:
    global PASSED, FAILED
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - AssertionError mostly; anything else is a failure too
        FAILED += 1
        FAILURES.append(name)
        kind = "" if isinstance(e, AssertionError) else f"{type(e).__name__}: "
        print(f"FAIL  {name}: {kind}{e}", flush=True)
        return
    PASSED += 1
    print(f"PASS  {name}", flush=True)


SERVICES = [
    "apikeys.v1.AccountService",
    "apikeys.v1.ApiKeyService",
    "apikeys.v1.IntrospectionService",
    "apikeys.v1.TokenService",
    "grpc.health.v1.Health",
]
# Envoy's ext_authz service: its descriptors come from reflection like ours.
CHECK = "envoy.service.auth.v3.Authorization/Check"
# Headers Check tells the upstream, and the credential headers it removes (server defaults).
ACCOUNT_HEADER = "x-account-id"
CLIENT_HEADER = "x-client-id"
CREDENTIAL_HEADERS = ["authorization", "x-api-key"]

METHODS = [
    "apikeys.v1.AccountService/SetApiAccess",
    "apikeys.v1.AccountService/GetAccount",
    "apikeys.v1.ApiKeyService/CreateKey",
    "apikeys.v1.ApiKeyService/ListKeys",
    "apikeys.v1.ApiKeyService/RevokeKey",
    "apikeys.v1.ApiKeyService/ListAuditEvents",
    "apikeys.v1.IntrospectionService/Introspect",
    "apikeys.v1.TokenService/IssueToken",
    "apikeys.v1.TokenService/GetJwks",
    "grpc.health.v1.Health/Check",
]


def lines(r: Result) -> list[str]:
    assert r.rc == 0, f"buf curl failed: {r.describe()}"
    return [ln.strip() for ln in r.out.splitlines() if ln.strip()]


def _list_services():
    got = lines(buf("--list-services", URL))
    missing = [s for s in SERVICES if s not in got]
    assert not missing, f"--list-services lacks {missing}; got {got}"


def _reflection_default_version():
    # -v logs the reflection RPCs buf curl makes; find which reflection service answered.
    r = buf("-v", "--list-services", URL)
    assert r.rc == 0, f"buf curl -v --list-services failed: {r.describe()}"
    v1 = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo" in r.err
    v1alpha = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo" in r.err
    if v1 and not v1alpha:
        used = "grpc-v1 (grpc.reflection.v1.ServerReflection)"
    elif v1 and v1alpha:
        used = "grpc-v1 tried first, then fell back to grpc-v1alpha"
    elif v1alpha:
        used = "grpc-v1alpha only"
    else:
        used = "unknown (no reflection URL in -v output)"
    print(f"INFO  buf curl default reflection protocol: {used}", flush=True)
    assert v1 and not v1alpha, (
        f"expected buf curl's default (grpc-v1) to succeed without falling back; saw: {used}")


def _reflect_protocol(proto: str):
    def f():
        got = lines(buf("--reflect-protocol", proto, "--list-services", URL))
        missing = [s for s in SERVICES if s not in got]
        assert not missing, f"--reflect-protocol {proto} --list-services lacks {missing}; got {got}"
        got = lines(buf("--reflect-protocol", proto, "--list-methods", URL))
        missing = [m for m in METHODS if m not in got]
        assert not missing, f"--reflect-protocol {proto} --list-methods lacks {missing}; got {got}"
    return f


def _list_methods():
    got = lines(buf("--list-methods", URL))
    missing = [m for m in METHODS if m not in got]
    assert not missing, f"--list-methods lacks {missing}; got {got}"


def _health():
    for svc in ["", "apikeys.v1.ApiKeyService"]:
        j = call("grpc.health.v1.Health/Check", {"service": svc}, None).json()
        assert j.get("status") == "SERVING", f"Health/Check {svc!r} -> {j}"


def _set_access():
    j = call("apikeys.v1.AccountService/SetApiAccess", {"accountId": ACC, "enabled": True},
             T_STAFF).json()
    assert j.get("accountId") == ACC, f"accountId in {j}"
    assert j.get("apiAccessEnabled") is True, f"apiAccessEnabled in {j}"
    assert RFC3339.match(j.get("updateTime", "")), f"updateTime in {j}"


def _get_account():
    j = call("apikeys.v1.AccountService/GetAccount", {"accountId": ACC}, T_STAFF).json()
    assert j.get("accountId") == ACC, f"accountId in {j}"
    assert j.get("apiAccessEnabled") is True, f"apiAccessEnabled in {j}"
    assert RFC3339.match(j.get("updateTime", "")), f"updateTime in {j}"


def _create_key():
    j = call("apikeys.v1.ApiKeyService/CreateKey",
             {"accountId": ACC, "email": "buf@example.com", "displayName": "made by buf curl"},
             T_OWNER).json()
    key = j.get("key", {})
    secret = j.get("clientSecret", "")
    assert re.match(r"^akc_[0-9A-Za-z]{24}$", key.get("clientId", "")), f"clientId in {j}"
    assert re.match(r"^aks_[0-9A-Za-z]{49}$", secret), f"clientSecret format in {j}"
    assert key.get("accountId") == ACC, f"key.accountId in {j}"
    assert key.get("email") == "buf@example.com", f"key.email in {j}"
    assert key.get("displayName") == "made by buf curl", f"key.displayName in {j}"
    assert RFC3339.match(key.get("createTime", "")), f"key.createTime in {j}"
    assert "revokeTime" not in key, f"new key has revokeTime: {j}"
    state["key"] = key
    state["secret"] = secret


def _list_keys():
    j = call("apikeys.v1.ApiKeyService/ListKeys", {"accountId": ACC}, T_OWNER).json()
    listed = j.get("keys", [])
    match = [k for k in listed if k.get("clientId") == state["key"]["clientId"]]
    assert match, f"created key not in ListKeys: {j}"
    assert match[0].get("email") == "buf@example.com", f"listed email: {match[0]}"
    assert state["secret"] not in json.dumps(j), "ListKeys output contains the client secret"
    assert not j.get("nextPageToken"), f"nextPageToken set on a 1-key list: {j}"


def _introspect_active():
    j = call("apikeys.v1.IntrospectionService/Introspect",
             {"clientId": state["key"]["clientId"], "clientSecret": state["secret"]},
             T_GATEWAY).json()
    assert j.get("active") is True, f"active in {j}"
    assert j.get("clientId") == state["key"]["clientId"], f"clientId in {j}"
    assert j.get("accountId") == ACC, f"accountId in {j}"
    assert j.get("email") == "buf@example.com", f"email in {j}"
    assert j.get("createTime") == state["key"]["createTime"], (
        f"createTime {j.get('createTime')} != created {state['key']['createTime']}")


def _introspect_wrong():
    bad = state["secret"][:-1] + ("a" if state["secret"][-1] != "a" else "b")
    r = call("apikeys.v1.IntrospectionService/Introspect",
             {"clientId": state["key"]["clientId"], "clientSecret": bad}, T_GATEWAY)
    j = r.json()
    assert j == {}, f"inactive response must have every field unset (JSON {{}}), got {j}"
    j = call("apikeys.v1.IntrospectionService/Introspect",
             {"clientId": state["key"]["clientId"], "clientSecret": bad}, T_GATEWAY,
             "--emit-defaults").json()
    assert j.get("active") is False and j.get("clientId") == "" and j.get("accountId") == "" \
        and j.get("email") == "", f"--emit-defaults inactive response {j}"
    assert j.get("createTime") in (None,), f"inactive response has createTime: {j}"


def _revoke():
    j = call("apikeys.v1.ApiKeyService/RevokeKey",
             {"accountId": ACC, "clientId": state["key"]["clientId"]}, T_OWNER).json()
    key = j.get("key", {})
    assert key.get("clientId") == state["key"]["clientId"], f"clientId in {j}"
    assert RFC3339.match(key.get("revokeTime", "")), f"key.revokeTime in {j}"


def _introspect_revoked():
    j = call("apikeys.v1.IntrospectionService/Introspect",
             {"clientId": state["key"]["clientId"], "clientSecret": state["secret"]},
             T_GATEWAY).json()
    assert j == {}, f"revoked key must introspect as {{}} (active=false), got {j}"
    j = call("apikeys.v1.ApiKeyService/ListKeys", {"accountId": ACC}, T_OWNER).json()
    assert state["key"]["clientId"] not in json.dumps(j), f"revoked key still listed: {j}"


def check_request(headers: dict) -> dict:
    """What Envoy's ext_authz filter sends for `GET https://api.example.com/v1/payments`."""
    base = {":authority": "api.example.com", ":method": "GET", ":path": "/v1/payments",
            ":scheme": "https", "user-agent": "partner-sdk/1.2.3"}
    return {"attributes": {"request": {"http": {
        "method": "GET", "path": "/v1/payments", "host": "api.example.com", "scheme": "https",
        "protocol": "HTTP/1.1", "headers": {**base, **headers}}}}}


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def grpc_code(j: dict) -> int:
    # google.rpc.Status: code 0 (OK) is the default, so JSON leaves it out (or `status` itself).
    return int(j.get("status", {}).get("code", 0))


def header_values(options: list) -> dict:
    return {o.get("header", {}).get("key"): o.get("header", {}).get("value") for o in options}


def assert_denied_401(j: dict, what: str) -> None:
    assert grpc_code(j) == UNAUTHENTICATED, f"{what}: want status.code {UNAUTHENTICATED}, got {j}"
    denied = j.get("deniedResponse")
    assert denied is not None and "okResponse" not in j, f"{what}: want a deniedResponse, got {j}"
    assert denied.get("status", {}).get("code") == "Unauthorized", f"{what}: want HTTP 401 in {j}"
    assert "www-authenticate" in header_values(denied.get("headers", [])), (
        f"{what}: 401 without www-authenticate: {j}")


def _check_listed():
    got = lines(buf("--list-methods", URL))
    assert CHECK in got, f"--list-methods lacks {CHECK}; got {got}"


def _check_without_credentials():
    j = call(CHECK, check_request({}), T_GATEWAY).json()
    assert_denied_401(j, "Check of a request without credentials")


def _check_live_key():
    key = state["key"]
    j = call(CHECK, check_request({"authorization": basic(key["clientId"], state["secret"])}),
             T_GATEWAY).json()
    assert grpc_code(j) == 0, f"Check with a live key's Basic credentials: want OK, got {j}"
    ok = j.get("okResponse")
    assert ok is not None and "deniedResponse" not in j, f"want an okResponse, got {j}"
    headers = header_values(ok.get("headers", []))
    assert headers.get(ACCOUNT_HEADER) == ACC, f"{ACCOUNT_HEADER} in {j}"
    assert headers.get(CLIENT_HEADER) == key["clientId"], f"{CLIENT_HEADER} in {j}"
    removed = ok.get("headersToRemove", [])
    assert all(h in removed for h in CREDENTIAL_HEADERS), f"headersToRemove in {j}"
    assert state["secret"] not in json.dumps(j), "the Check answer contains the client secret"


def _check_wrong_secret():
    key = state["key"]
    bad = state["secret"][:-1] + ("a" if state["secret"][-1] != "a" else "b")
    j = call(CHECK, check_request({"authorization": basic(key["clientId"], bad)}),
             T_GATEWAY).json()
    assert_denied_401(j, "Check with a wrong secret")


def _check_revoked_key():
    key = state["key"]
    j = call(CHECK, check_request({"authorization": basic(key["clientId"], state["secret"])}),
             T_GATEWAY).json()
    assert_denied_401(j, "Check with a revoked key's credentials")


def _check_without_caller_token():
    r = call(CHECK, check_request({}), None)
    assert r.rc == UNAUTHENTICATED << 3, (
        f"want exit {UNAUTHENTICATED << 3} (unauthenticated), {r.describe()}")


def _no_token():
    r = call("apikeys.v1.AccountService/GetAccount", {"accountId": ACC}, None)
    assert r.rc == UNAUTHENTICATED << 3, (
        f"want exit {UNAUTHENTICATED << 3} (unauthenticated), {r.describe()}")
    assert "unauthenticated" in r.err.lower(), f"stderr lacks 'unauthenticated': {r.describe()}"


def _owner_on_accounts():
    r = call("apikeys.v1.AccountService/GetAccount", {"accountId": ACC}, T_OWNER)
    assert r.rc == PERMISSION_DENIED << 3, (
        f"want exit {PERMISSION_DENIED << 3} (permission_denied), {r.describe()}")


def main() -> int:
    v = subprocess.run([BUF, "--version"], capture_output=True, text=True)
    print(f"INFO  buf {v.stdout.strip()} against {URL} (schema from server reflection only)",
          flush=True)
    run_check("buf curl --list-services (reflection) -> 4 apikeys.v1 services + grpc.health.v1.Health",
              _list_services)
    run_check("buf curl default reflection protocol is grpc-v1, no fallback",
              _reflection_default_version)
    run_check("buf curl --reflect-protocol grpc-v1 -> services and methods",
              _reflect_protocol("grpc-v1"))
    run_check("buf curl --reflect-protocol grpc-v1alpha -> services and methods",
              _reflect_protocol("grpc-v1alpha"))
    run_check("buf curl --list-methods -> all 10 apikeys.v1 methods + Health/Check", _list_methods)
    run_check("buf curl grpc.health.v1.Health/Check -> SERVING", _health)
    run_check(f"buf curl --list-methods -> {CHECK} (Envoy descriptors via reflection)",
              _check_listed)
    run_check("buf curl Authorization/Check without credentials -> deniedResponse 401",
              _check_without_credentials)
    run_check("buf curl Authorization/Check without caller token -> exit 128 (UNAUTHENTICATED<<3)",
              _check_without_caller_token)
    run_check("buf curl AccountService/SetApiAccess enable", _set_access)
    run_check("buf curl AccountService/GetAccount -> enabled, updateTime", _get_account)
    run_check("buf curl ApiKeyService/CreateKey -> clientId akc_, clientSecret aks_", _create_key)
    if "key" in state:
        run_check("buf curl ApiKeyService/ListKeys -> contains key with email, no secret",
                  _list_keys)
        run_check("buf curl IntrospectionService/Introspect -> active with account/email",
                  _introspect_active)
        run_check("buf curl IntrospectionService/Introspect wrong secret -> {}", _introspect_wrong)
        run_check("buf curl Authorization/Check live key (Basic) -> okResponse, identity headers",
                  _check_live_key)
        run_check("buf curl Authorization/Check wrong secret -> deniedResponse 401",
                  _check_wrong_secret)
        run_check("buf curl ApiKeyService/RevokeKey -> revokeTime", _revoke)
        run_check("buf curl Introspect/ListKeys after revoke -> inactive, not listed",
                  _introspect_revoked)
        run_check("buf curl Authorization/Check revoked key -> deniedResponse 401",
                  _check_revoked_key)
    run_check("buf curl GetAccount without token -> exit 128 (UNAUTHENTICATED<<3)", _no_token)
    run_check("buf curl GetAccount with owner token -> exit 56 (PERMISSION_DENIED<<3)",
              _owner_on_accounts)
    print(f"buf curl: {PASSED} passed, {FAILED} failed", flush=True)
    for f in FAILURES:
        print(f"  failed: {f}")
    return 0 if FAILED == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
