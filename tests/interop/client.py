#!/usr/bin/env python3
"""Interop check: drive a running `apikeys serve` with the Python grpcio stack.

Stubs are generated at run time with grpcio-tools from /work/main/proto (nothing
generated is committed). Every RPC of apikeys.v1 is called, plus grpc.health.v1.

Configuration (environment, set by run.sh):
  APIKEYS_TARGET        host:port of the server
  APIKEYS_PROTO_DIR     directory holding apikeys/v1/*.proto
  APIKEYS_ACCOUNT       fresh account id used by this client (never enabled before)
  APIKEYS_OTHER_ACCOUNT a second account id
  TOKEN_STAFF           staff token (role member, staff: true)
  TOKEN_OWNER           role owner of APIKEYS_ACCOUNT
  TOKEN_ADMIN           role admin of APIKEYS_ACCOUNT
  TOKEN_MEMBER          role member of APIKEYS_ACCOUNT
  TOKEN_OTHER_OWNER     role owner of APIKEYS_OTHER_ACCOUNT
  TOKEN_GATEWAY         scope "introspect"

Prints one line per check and ends with `N passed, M failed`; exit status 1 if
anything failed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
import secrets
import traceback
import zlib

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

TIMEOUT = float(os.environ.get("APIKEYS_RPC_TIMEOUT", "20"))

CLIENT_ID_RE = re.compile(r"^akc_[0-9A-Za-z]{24}$")
CLIENT_SECRET_RE = re.compile(r"^aks_[0-9A-Za-z]{49}$")

PASSED = 0
FAILED = 0
FAILURES: list[str] = []


# --------------------------------------------------------------------------- helpers


def env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        sys.exit(f"client.py: environment variable {name} is required")
    return value


def run_check(name: str, fn) -> bool:
    global PASSED, FAILED
    try:
        fn()
    except AssertionError as e:
        FAILED += 1
        FAILURES.append(name)
        print(f"FAIL  {name}: {e}", flush=True)
        return False
    except grpc.RpcError as e:
        FAILED += 1
        FAILURES.append(name)
        print(f"FAIL  {name}: unexpected RPC error {e.code().name}: {e.details()!r}", flush=True)
        return False
    except Exception as e:  # noqa: BLE001 - report anything else as a failure too
        FAILED += 1
        FAILURES.append(name)
        print(f"FAIL  {name}: {type(e).__name__}: {e}", flush=True)
        traceback.print_exc(file=sys.stdout)
        return False
    PASSED += 1
    print(f"PASS  {name}", flush=True)
    return True


def md(token: str | None):
    return None if token is None else (("authorization", f"Bearer {token}"),)


def expect_status(code: grpc.StatusCode, call, *, contains: str | None = None, what: str = ""):
    """Run `call()`, require it to fail with `code` (and `contains` in the message)."""
    where = f"{what}: " if what else ""
    try:
        resp = call()
    except grpc.RpcError as e:
        assert e.code() == code, (
            f"{where}expected status {code.name}, got {e.code().name} (details {e.details()!r})"
        )
        if contains is not None:
            assert contains in (e.details() or ""), (
                f"{where}expected {code.name} message to contain {contains!r}, got {e.details()!r}"
            )
        return e
    raise AssertionError(f"{where}expected status {code.name}, got OK with response {resp!r}")


def ts_seconds(ts) -> float:
    return ts.seconds + ts.nanos / 1e9


def generate_stubs(proto_dir: str, out_dir: str) -> None:
    from grpc_tools import protoc

    try:
        from importlib.resources import files

        wkt_include = str(files("grpc_tools") / "_proto")
    except Exception:  # pragma: no cover - very old Pythons
        import pkg_resources

        wkt_include = pkg_resources.resource_filename("grpc_tools", "_proto")

    protos = []
    for root, _dirs, names in os.walk(proto_dir):
        for n in sorted(names):
            if n.endswith(".proto"):
                protos.append(os.path.relpath(os.path.join(root, n), proto_dir))
    assert protos, f"no .proto files under {proto_dir}"
    args = [
        "grpc_tools.protoc",
        f"-I{proto_dir}",
        f"-I{wkt_include}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *sorted(protos),
    ]
    rc = protoc.main(args)
    if rc != 0:
        sys.exit(f"client.py: grpc_tools.protoc failed with exit code {rc}")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged_hs256_token(account: str) -> str:
    """A well-formed JWT with plausible claims, signed with a key the server never saw."""
    now = int(time.time())
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {
        "sub": "mallory",
        "email": "mallory@example.com",
        "account_id": account,
        "role": "owner",
        "staff": True,
        "scope": "introspect",
        "iss": "apikeys-local",
        "aud": "apikeys",
        "iat": now,
        "exp": now + 600,
    }
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    sig = hmac.new(os.urandom(32), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(sig)


def unsigned_token(account: str) -> str:
    """`alg: none`, empty signature."""
    forged = forged_hs256_token(account).split(".")
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return header + "." + forged[1] + "."


def tampered(token: str) -> str:
    """Same header and claims, one signature character changed."""
    head, payload, sig = token.split(".")
    mid = len(sig) // 2
    ch = "A" if sig[mid] != "A" else "B"
    return ".".join([head, payload, sig[:mid] + ch + sig[mid + 1 :]])


def escalated(token: str) -> str:
    """Claims edited to role owner + staff, original signature kept."""
    head, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "owner"
    claims["staff"] = True
    return ".".join([head, b64url(json.dumps(claims).encode()), sig])


BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def secret_checksum(body: str) -> str:
    """CRC32 of the first 47 chars (`aks_` + 43), as 6 base62 digits, most significant first."""
    v = zlib.crc32(body.encode())
    out = ""
    for _ in range(6):
        out = BASE62[v % 62] + out
        v //= 62
    return out


def well_formed_wrong_secret() -> str:
    """A secret with a valid checksum that the server never issued (reaches the hash check)."""
    body = "aks_" + "".join(secrets.choice(BASE62) for _ in range(43))
    return body + secret_checksum(body)


def one_char_changed(secret: str) -> str:
    """Change one character of the random part (the checksum then mismatches)."""
    i = 10
    ch = "x" if secret[i] != "x" else "y"
    return secret[:i] + ch + secret[i + 1 :]


# --------------------------------------------------------------------------- main


def main() -> int:
    target = env("APIKEYS_TARGET")
    proto_dir = env("APIKEYS_PROTO_DIR")
    acc = env("APIKEYS_ACCOUNT")
    other_acc = env("APIKEYS_OTHER_ACCOUNT")
    t_staff = env("TOKEN_STAFF")
    t_owner = env("TOKEN_OWNER")
    t_admin = env("TOKEN_ADMIN")
    t_member = env("TOKEN_MEMBER")
    t_other = env("TOKEN_OTHER_OWNER")
    t_gateway = env("TOKEN_GATEWAY")

    gen_dir = tempfile.mkdtemp(prefix="apikeys-interop-stubs-")
    try:
        generate_stubs(proto_dir, gen_dir)
        sys.path.insert(0, gen_dir)
        acc_pb = importlib.import_module("apikeys.v1.account_service_pb2")
        acc_grpc = importlib.import_module("apikeys.v1.account_service_pb2_grpc")
        key_pb = importlib.import_module("apikeys.v1.api_key_service_pb2")
        key_grpc = importlib.import_module("apikeys.v1.api_key_service_pb2_grpc")
        intro_pb = importlib.import_module("apikeys.v1.introspection_service_pb2")
        intro_grpc = importlib.import_module("apikeys.v1.introspection_service_pb2_grpc")
        tok_pb = importlib.import_module("apikeys.v1.token_service_pb2")
        tok_grpc = importlib.import_module("apikeys.v1.token_service_pb2_grpc")
        print(f"INFO  stubs generated with grpcio-tools into {gen_dir}; target {target}", flush=True)

        channel = grpc.insecure_channel(target)
        grpc.channel_ready_future(channel).result(timeout=TIMEOUT)
        health = health_pb2_grpc.HealthStub(channel)
        accounts = acc_grpc.AccountServiceStub(channel)
        keys = key_grpc.ApiKeyServiceStub(channel)
        intro = intro_grpc.IntrospectionServiceStub(channel)
        tokens = tok_grpc.TokenServiceStub(channel)

        state: dict = {}

        # ---- health ---------------------------------------------------------------
        for svc in ["", "apikeys.v1.ApiKeyService", "apikeys.v1.AccountService",
                    "apikeys.v1.IntrospectionService"]:
            def _health(svc=svc):
                r = health.Check(health_pb2.HealthCheckRequest(service=svc), timeout=TIMEOUT)
                assert r.status == health_pb2.HealthCheckResponse.SERVING, (
                    f"health status for {svc!r} is "
                    f"{health_pb2.HealthCheckResponse.ServingStatus.Name(r.status)}, want SERVING"
                )
            run_check(f"grpc.health.v1.Health/Check service={svc!r} -> SERVING", _health)

        # ---- authentication -------------------------------------------------------
        def _no_token_get():
            expect_status(grpc.StatusCode.UNAUTHENTICATED,
                          lambda: accounts.GetAccount(acc_pb.GetAccountRequest(account_id=acc),
                                                      timeout=TIMEOUT))
        run_check("AccountService/GetAccount without token -> UNAUTHENTICATED", _no_token_get)

        def _no_token_create():
            expect_status(grpc.StatusCode.UNAUTHENTICATED,
                          lambda: keys.CreateKey(key_pb.CreateKeyRequest(account_id=acc,
                                                                         email="a@example.com"),
                                                 timeout=TIMEOUT))
        run_check("ApiKeyService/CreateKey without token -> UNAUTHENTICATED", _no_token_create)

        def _no_token_introspect():
            expect_status(grpc.StatusCode.UNAUTHENTICATED,
                          lambda: intro.Introspect(intro_pb.IntrospectRequest(client_id="akc_x",
                                                                              client_secret="aks_x"),
                                                   timeout=TIMEOUT))
        run_check("IntrospectionService/Introspect without token -> UNAUTHENTICATED",
                  _no_token_introspect)

        for label, bad in [
            ("garbage bearer token", "not-a-jwt"),
            ("tampered signature", tampered(t_staff)),
            ("claims edited, signature kept", escalated(t_member)),
            ("HS256 token signed with an unknown key", forged_hs256_token(acc)),
            ("alg=none unsigned token", unsigned_token(acc)),
        ]:
            def _bad(bad=bad):
                expect_status(grpc.StatusCode.UNAUTHENTICATED,
                              lambda: keys.ListKeys(key_pb.ListKeysRequest(account_id=acc),
                                                    timeout=TIMEOUT, metadata=md(bad)))
            run_check(f"ApiKeyService/ListKeys with {label} -> UNAUTHENTICATED", _bad)

        def _basic_scheme():
            expect_status(grpc.StatusCode.UNAUTHENTICATED,
                          lambda: accounts.GetAccount(acc_pb.GetAccountRequest(account_id=acc),
                                                      timeout=TIMEOUT,
                                                      metadata=(("authorization",
                                                                 f"Basic {t_staff}"),)))
        run_check("AccountService/GetAccount with non-Bearer scheme -> UNAUTHENTICATED",
                  _basic_scheme)

        # ---- AccountService -------------------------------------------------------
        def _get_unknown():
            r = accounts.GetAccount(acc_pb.GetAccountRequest(account_id=acc), timeout=TIMEOUT,
                                    metadata=md(t_staff))
            assert r.account_id == acc, f"account_id {r.account_id!r}, want {acc!r}"
            assert r.api_access_enabled is False, "never-seen account reads as enabled"
            assert not r.HasField("update_time"), (
                f"never-seen account has update_time {r.update_time}")
        run_check("AccountService/GetAccount never-seen account -> disabled, no update_time",
                  _get_unknown)

        def _owner_get_account():
            expect_status(grpc.StatusCode.PERMISSION_DENIED,
                          lambda: accounts.GetAccount(acc_pb.GetAccountRequest(account_id=acc),
                                                      timeout=TIMEOUT, metadata=md(t_owner)))
        run_check("AccountService/GetAccount with owner (non-staff) token -> PERMISSION_DENIED",
                  _owner_get_account)

        def _owner_set_access():
            expect_status(grpc.StatusCode.PERMISSION_DENIED,
                          lambda: accounts.SetApiAccess(
                              acc_pb.SetApiAccessRequest(account_id=acc, enabled=True),
                              timeout=TIMEOUT, metadata=md(t_owner)))
        run_check("AccountService/SetApiAccess with owner (non-staff) token -> PERMISSION_DENIED",
                  _owner_set_access)

        def _get_empty_id():
            expect_status(grpc.StatusCode.INVALID_ARGUMENT,
                          lambda: accounts.GetAccount(acc_pb.GetAccountRequest(account_id=""),
                                                      timeout=TIMEOUT, metadata=md(t_staff)),
                          contains="account_id")
        run_check("AccountService/GetAccount empty account_id -> INVALID_ARGUMENT", _get_empty_id)

        def _create_not_enabled():
            expect_status(grpc.StatusCode.FAILED_PRECONDITION,
                          lambda: keys.CreateKey(key_pb.CreateKeyRequest(account_id=acc,
                                                                         email="alice@example.com"),
                                                 timeout=TIMEOUT, metadata=md(t_owner)),
                          contains="api access is not enabled")
        run_check("ApiKeyService/CreateKey on never-enabled account -> FAILED_PRECONDITION",
                  _create_not_enabled)

        def _enable():
            before = time.time()
            r = accounts.SetApiAccess(acc_pb.SetApiAccessRequest(account_id=acc, enabled=True),
                                      timeout=TIMEOUT, metadata=md(t_staff))
            assert r.account_id == acc, f"account_id {r.account_id!r}, want {acc!r}"
            assert r.api_access_enabled is True, "SetApiAccess(enabled=true) returned disabled"
            assert r.HasField("update_time"), "SetApiAccess response has no update_time"
            assert abs(ts_seconds(r.update_time) - before) < 300, (
                f"update_time {r.update_time.ToJsonString()} is not close to now")
        run_check("AccountService/SetApiAccess enable -> Account enabled with update_time", _enable)

        def _get_enabled():
            r = accounts.GetAccount(acc_pb.GetAccountRequest(account_id=acc), timeout=TIMEOUT,
                                    metadata=md(t_staff))
            assert r.account_id == acc, f"account_id {r.account_id!r}, want {acc!r}"
            assert r.api_access_enabled is True, "GetAccount after enable reads disabled"
            assert r.HasField("update_time"), "GetAccount after enable has no update_time"
        run_check("AccountService/GetAccount after enable -> enabled, update_time set", _get_enabled)

        # ---- ApiKeyService.CreateKey ------------------------------------------------
        def _create():
            before = time.time()
            r = keys.CreateKey(key_pb.CreateKeyRequest(account_id=acc, email="alice@example.com",
                                                       display_name="interop key one"),
                               timeout=TIMEOUT, metadata=md(t_owner))
            k = r.key
            assert k.client_id.startswith("akc_"), f"client_id {k.client_id!r} lacks akc_ prefix"
            assert CLIENT_ID_RE.match(k.client_id), (
                f"client_id {k.client_id!r} is not akc_ + 24 base62 chars")
            assert r.client_secret.startswith("aks_"), "client_secret lacks aks_ prefix"
            assert CLIENT_SECRET_RE.match(r.client_secret), (
                f"client_secret is not aks_ + 49 base62 chars (len {len(r.client_secret)})")
            assert r.client_secret[47:] == secret_checksum(r.client_secret[:47]), (
                "client_secret checksum (last 6 chars) is not base62 CRC32 of the first 47 chars")
            assert k.account_id == acc, f"key.account_id {k.account_id!r}, want {acc!r}"
            assert k.email == "alice@example.com", f"key.email {k.email!r}"
            assert k.display_name == "interop key one", f"key.display_name {k.display_name!r}"
            assert k.HasField("create_time"), "key.create_time not set"
            assert abs(ts_seconds(k.create_time) - before) < 300, (
                f"create_time {k.create_time.ToJsonString()} is not close to now")
            assert not k.HasField("revoke_time"), "new key has revoke_time"
            assert k.creator == "alice", f"key.creator {k.creator!r}, want the token sub 'alice'"
            state["key1"] = k
            state["secret1"] = r.client_secret
        run_check("ApiKeyService/CreateKey (owner) -> akc_/aks_ ids, account, email, create_time",
                  _create)

        def _create_admin():
            r = keys.CreateKey(key_pb.CreateKeyRequest(account_id=acc, email="dana@example.com"),
                               timeout=TIMEOUT, metadata=md(t_admin))
            assert CLIENT_ID_RE.match(r.key.client_id), f"client_id {r.key.client_id!r}"
            assert CLIENT_SECRET_RE.match(r.client_secret), "client_secret format"
            assert r.key.email == "dana@example.com", f"key.email {r.key.email!r}"
            assert r.key.creator == "dana", f"key.creator {r.key.creator!r}, want 'dana'"
            assert r.key.client_id != state.get("key1", key_pb.ApiKey()).client_id, "duplicate id"
            assert r.client_secret != state.get("secret1"), "duplicate secret"
            state["key2"] = r.key
            state["secret2"] = r.client_secret
        run_check("ApiKeyService/CreateKey (admin) -> second key, distinct id and secret",
                  _create_admin)

        def _create_member():
            expect_status(grpc.StatusCode.PERMISSION_DENIED,
                          lambda: keys.CreateKey(key_pb.CreateKeyRequest(account_id=acc,
                                                                         email="bob@example.com"),
                                                 timeout=TIMEOUT, metadata=md(t_member)))
        run_check("ApiKeyService/CreateKey with member role -> PERMISSION_DENIED", _create_member)

        def _create_staff():
            expect_status(grpc.StatusCode.PERMISSION_DENIED,
                          lambda: keys.CreateKey(key_pb.CreateKeyRequest(account_id=acc,
                                                                         email="s@example.com"),
                                                 timeout=TIMEOUT, metadata=md(t_staff)))
        run_check("ApiKeyService/CreateKey with staff token -> PERMISSION_DENIED", _create_staff)

        def _create_other_account():
            expect_status(grpc.StatusCode.PERMISSION_DENIED,
                          lambda: keys.CreateKey(key_pb.CreateKeyRequest(account_id=acc,
                                                                         email="c@example.com"),
                                                 timeout=TIMEOUT, metadata=md(t_other)))
        run_check("ApiKeyService/CreateKey by owner of another account -> PERMISSION_DENIED",
                  _create_other_account)

        def _create_bad_email():
            expect_status(grpc.StatusCode.INVALID_ARGUMENT,
                          lambda: keys.CreateKey(key_pb.CreateKeyRequest(account_id=acc,
                                                                         email="not an email"),
                                                 timeout=TIMEOUT, metadata=md(t_owner)),
                          contains="email")
        run_check("ApiKeyService/CreateKey bad email -> INVALID_ARGUMENT mentioning email",
                  _create_bad_email)

        # ---- ApiKeyService.ListKeys -------------------------------------------------
        def _list():
            r = keys.ListKeys(key_pb.ListKeysRequest(account_id=acc), timeout=TIMEOUT,
                              metadata=md(t_owner))
            ids = [k.client_id for k in r.keys]
            k1, k2 = state["key1"], state["key2"]
            assert ids == [k2.client_id, k1.client_id], (
                f"ListKeys ids {ids}, want newest first [{k2.client_id}, {k1.client_id}]")
            got = r.keys[1]
            assert got.email == "alice@example.com", f"listed email {got.email!r}"
            assert got.account_id == acc, f"listed account_id {got.account_id!r}"
            assert got.display_name == "interop key one", f"listed display_name {got.display_name!r}"
            assert got.create_time == k1.create_time, (
                f"listed create_time {got.create_time.ToJsonString()} != "
                f"created {k1.create_time.ToJsonString()}")
            assert not got.HasField("revoke_time"), "active key listed with revoke_time"
            assert r.next_page_token == "", f"next_page_token {r.next_page_token!r} at the end"
        run_check("ApiKeyService/ListKeys -> both keys, newest first, with email", _list)

        def _list_paged():
            r1 = keys.ListKeys(key_pb.ListKeysRequest(account_id=acc, page_size=1),
                               timeout=TIMEOUT, metadata=md(t_admin))
            assert len(r1.keys) == 1, f"page 1 has {len(r1.keys)} keys, want 1"
            assert r1.next_page_token, "page 1 has no next_page_token"
            r2 = keys.ListKeys(key_pb.ListKeysRequest(account_id=acc, page_size=1,
                                                      page_token=r1.next_page_token),
                               timeout=TIMEOUT, metadata=md(t_admin))
            assert len(r2.keys) == 1, f"page 2 has {len(r2.keys)} keys, want 1"
            assert r2.keys[0].client_id == state["key1"].client_id, "page 2 is not the older key"
            assert r1.keys[0].client_id == state["key2"].client_id, "page 1 is not the newer key"
            if r2.next_page_token:
                r3 = keys.ListKeys(key_pb.ListKeysRequest(account_id=acc, page_size=1,
                                                          page_token=r2.next_page_token),
                                   timeout=TIMEOUT, metadata=md(t_admin))
                assert len(r3.keys) == 0 and r3.next_page_token == "", (
                    f"page 3 has {len(r3.keys)} keys / token {r3.next_page_token!r}")
        run_check("ApiKeyService/ListKeys page_size=1 -> pages via next_page_token", _list_paged)

        def _list_bad_page_size():
            expect_status(grpc.StatusCode.INVALID_ARGUMENT,
                          lambda: keys.ListKeys(key_pb.ListKeysRequest(account_id=acc, page_size=-1),
                                                timeout=TIMEOUT, metadata=md(t_owner)),
                          contains="page_size")
        run_check("ApiKeyService/ListKeys page_size=-1 -> INVALID_ARGUMENT mentioning page_size",
                  _list_bad_page_size)

        def _list_bad_page_token():
            expect_status(grpc.StatusCode.INVALID_ARGUMENT,
                          lambda: keys.ListKeys(key_pb.ListKeysRequest(account_id=acc,
                                                                       page_token="garbage!!"),
                                                timeout=TIMEOUT, metadata=md(t_owner)),
                          contains="page_token")
        run_check("ApiKeyService/ListKeys garbage page_token -> INVALID_ARGUMENT", _list_bad_page_token)

        def _list_member():
            expect_status(grpc.StatusCode.PERMISSION_DENIED,
                          lambda: keys.ListKeys(key_pb.ListKeysRequest(account_id=acc),
                                                timeout=TIMEOUT, metadata=md(t_member)))
        run_check("ApiKeyService/ListKeys with member role -> PERMISSION_DENIED", _list_member)

        # ---- IntrospectionService ---------------------------------------------------
        def introspect(cid, secret, token=t_gateway):
            return intro.Introspect(intro_pb.IntrospectRequest(client_id=cid, client_secret=secret),
                                    timeout=TIMEOUT, metadata=md(token))

        def assert_inactive(r, what):
            assert r.active is False, f"{what}: active=true"
            assert r.client_id == "" and r.account_id == "" and r.email == "", (
                f"{what}: inactive response carries fields client_id={r.client_id!r} "
                f"account_id={r.account_id!r} email={r.email!r}")
            assert not r.HasField("create_time"), f"{what}: inactive response has create_time"

        def _introspect_ok():
            k = state["key1"]
            r = introspect(k.client_id, state["secret1"])
            assert r.active is True, "valid credentials introspect active=false"
            assert r.client_id == k.client_id, f"client_id {r.client_id!r}"
            assert r.account_id == acc, f"account_id {r.account_id!r}, want {acc!r}"
            assert r.email == "alice@example.com", f"email {r.email!r}"
            assert r.HasField("create_time") and r.create_time == k.create_time, (
                f"create_time {r.create_time.ToJsonString()} != {k.create_time.ToJsonString()}")
        run_check("IntrospectionService/Introspect valid -> active, account, email, create_time",
                  _introspect_ok)

        def _introspect_wrong_secret():
            k = state["key1"]
            assert_inactive(introspect(k.client_id, well_formed_wrong_secret()),
                            "well-formed secret with valid checksum, never issued")
            assert_inactive(introspect(k.client_id, one_char_changed(state["secret1"])),
                            "one char changed")
            assert_inactive(introspect(k.client_id, state["secret2"]), "other key's secret")
            assert_inactive(introspect(k.client_id, "aks_garbage"), "garbage secret")
            assert_inactive(introspect(k.client_id, ""), "empty secret")
        run_check("IntrospectionService/Introspect wrong secret -> active=false, fields empty",
                  _introspect_wrong_secret)

        def _introspect_unknown():
            assert_inactive(introspect("akc_" + "0" * 24, state["secret1"]), "unknown client_id")
            assert_inactive(introspect("not-a-client-id", state["secret1"]), "malformed client_id")
            assert_inactive(introspect("", state["secret1"]), "empty client_id")
            assert_inactive(introspect("", ""), "empty request")
        run_check("IntrospectionService/Introspect unknown / malformed / empty id -> active=false", _introspect_unknown)

        def _introspect_no_scope():
            expect_status(grpc.StatusCode.PERMISSION_DENIED,
                          lambda: introspect(state["key1"].client_id, state["secret1"], t_owner))
        run_check("IntrospectionService/Introspect without introspect scope -> PERMISSION_DENIED",
                  _introspect_no_scope)

        # ---- disable / re-enable ----------------------------------------------------
        def _disable_cycle():
            k = state["key1"]
            r = accounts.SetApiAccess(acc_pb.SetApiAccessRequest(account_id=acc, enabled=False),
                                      timeout=TIMEOUT, metadata=md(t_staff))
            assert r.api_access_enabled is False, "SetApiAccess(enabled=false) returned enabled"
            assert_inactive(introspect(k.client_id, state["secret1"]), "account disabled")
            expect_status(grpc.StatusCode.FAILED_PRECONDITION,
                          lambda: keys.CreateKey(key_pb.CreateKeyRequest(account_id=acc,
                                                                         email="alice@example.com"),
                                                 timeout=TIMEOUT, metadata=md(t_owner)),
                          contains="api access is not enabled", what="CreateKey while disabled")
            r = accounts.SetApiAccess(acc_pb.SetApiAccessRequest(account_id=acc, enabled=True),
                                      timeout=TIMEOUT, metadata=md(t_staff))
            assert r.api_access_enabled is True, "re-enable returned disabled"
            assert introspect(k.client_id, state["secret1"]).active is True, (
                "key not active again after re-enabling the account")
        run_check("disable account -> Introspect inactive + CreateKey FAILED_PRECONDITION; "
                  "re-enable restores", _disable_cycle)

        # ---- RevokeKey ----------------------------------------------------------------
        def _revoke_other_account():
            expect_status(grpc.StatusCode.NOT_FOUND,
                          lambda: keys.RevokeKey(key_pb.RevokeKeyRequest(
                              account_id=other_acc, client_id=state["key1"].client_id),
                              timeout=TIMEOUT, metadata=md(t_other)))
        run_check("ApiKeyService/RevokeKey of another account's key -> NOT_FOUND",
                  _revoke_other_account)

        def _issue_token():
            k = state["key1"]
            r = tokens.IssueToken(tok_pb.IssueTokenRequest(client_id=k.client_id,
                                                           client_secret=state["secret1"]),
                                  timeout=TIMEOUT, metadata=md(t_gateway))
            assert r.token_type == "Bearer", f"token_type {r.token_type!r}"
            assert r.expires_in > 0, f"expires_in {r.expires_in}"
            assert r.access_token.count(".") == 2, "access_token is not a JWT"
            state["access_token"] = r.access_token
        run_check("TokenService/IssueToken -> Bearer access token", _issue_token)

        def _issue_token_bad():
            expect_status(grpc.StatusCode.UNAUTHENTICATED,
                          lambda: tokens.IssueToken(tok_pb.IssueTokenRequest(
                              client_id=state["key1"].client_id,
                              client_secret=well_formed_wrong_secret()),
                              timeout=TIMEOUT, metadata=md(t_gateway)),
                          contains="invalid client credentials")
        run_check("TokenService/IssueToken wrong secret -> UNAUTHENTICATED", _issue_token_bad)

        def _jwks():
            r = tokens.GetJwks(tok_pb.GetJwksRequest(), timeout=TIMEOUT)
            doc = json.loads(r.jwks_json)
            assert doc["keys"] and all(k["kty"] == "OKP" and "d" not in k for k in doc["keys"]), (
                f"unexpected JWKS {doc}")
        run_check("TokenService/GetJwks -> public Ed25519 keys, no caller token", _jwks)

        def _introspect_token():
            r = intro.Introspect(intro_pb.IntrospectRequest(token=state["access_token"]),
                                 timeout=TIMEOUT, metadata=md(t_gateway))
            assert r.active is True, "a fresh access token introspects inactive"
            assert r.client_id == state["key1"].client_id, f"client_id {r.client_id!r}"
            assert r.HasField("expire_time"), "no expire_time for an access token"
        run_check("IntrospectionService/Introspect token -> active with expire_time",
                  _introspect_token)

        def _revoke():
            k = state["key1"]
            before = time.time()
            r = keys.RevokeKey(key_pb.RevokeKeyRequest(account_id=acc, client_id=k.client_id),
                               timeout=TIMEOUT, metadata=md(t_owner))
            assert r.key.client_id == k.client_id, f"revoked client_id {r.key.client_id!r}"
            assert r.key.account_id == acc, f"revoked account_id {r.key.account_id!r}"
            assert r.key.HasField("revoke_time"), "RevokeKey response has no revoke_time"
            assert abs(ts_seconds(r.key.revoke_time) - before) < 300, (
                f"revoke_time {r.key.revoke_time.ToJsonString()} is not close to now")
        run_check("ApiKeyService/RevokeKey -> key with revoke_time", _revoke)

        def _introspect_revoked():
            assert_inactive(introspect(state["key1"].client_id, state["secret1"]), "revoked key")
        run_check("IntrospectionService/Introspect revoked key -> active=false", _introspect_revoked)

        def _introspect_token_revoked():
            r = intro.Introspect(intro_pb.IntrospectRequest(token=state["access_token"]),
                                 timeout=TIMEOUT, metadata=md(t_gateway))
            assert_inactive(r, "access token of a revoked key")
        run_check("IntrospectionService/Introspect token of revoked key -> active=false",
                  _introspect_token_revoked)

        def _list_after_revoke():
            r = keys.ListKeys(key_pb.ListKeysRequest(account_id=acc), timeout=TIMEOUT,
                              metadata=md(t_owner))
            ids = [k.client_id for k in r.keys]
            assert state["key1"].client_id not in ids, f"revoked key still listed: {ids}"
            assert ids == [state["key2"].client_id], f"ListKeys ids {ids}, want only the admin key"
        run_check("ApiKeyService/ListKeys after revoke -> revoked key gone", _list_after_revoke)

        def _revoke_again():
            expect_status(grpc.StatusCode.NOT_FOUND,
                          lambda: keys.RevokeKey(key_pb.RevokeKeyRequest(
                              account_id=acc, client_id=state["key1"].client_id),
                              timeout=TIMEOUT, metadata=md(t_owner)))
        run_check("ApiKeyService/RevokeKey already revoked -> NOT_FOUND", _revoke_again)

        def _revoke_member():
            expect_status(grpc.StatusCode.PERMISSION_DENIED,
                          lambda: keys.RevokeKey(key_pb.RevokeKeyRequest(
                              account_id=acc, client_id=state["key2"].client_id),
                              timeout=TIMEOUT, metadata=md(t_member)))
        run_check("ApiKeyService/RevokeKey with member role -> PERMISSION_DENIED", _revoke_member)

        def _other_key_still_active():
            r = introspect(state["key2"].client_id, state["secret2"])
            assert r.active is True, "untouched second key is no longer active"
            assert r.email == "dana@example.com", f"email {r.email!r}"
        run_check("IntrospectionService/Introspect second key still active", _other_key_still_active)

        # ---- ApiKeyService.ListAuditEvents -------------------------------------------------
        A = key_pb.AuditAction

        def _audit_trail():
            r = keys.ListAuditEvents(key_pb.ListAuditEventsRequest(account_id=acc),
                                     timeout=TIMEOUT, metadata=md(t_admin))
            k1, k2 = state["key1"].client_id, state["key2"].client_id
            got = [(A.Name(e.action), e.actor, e.client_id) for e in r.audit_events]
            want = [
                ("AUDIT_ACTION_KEY_REVOKED", "alice", k1),
                ("AUDIT_ACTION_API_ACCESS_ENABLED", "staff-sam", ""),
                ("AUDIT_ACTION_API_ACCESS_DISABLED", "staff-sam", ""),
                ("AUDIT_ACTION_KEY_CREATED", "dana", k2),
                ("AUDIT_ACTION_KEY_CREATED", "alice", k1),
                ("AUDIT_ACTION_API_ACCESS_ENABLED", "staff-sam", ""),
            ]
            assert got == want, f"audit trail {got}, want newest first {want}"
            assert all(e.account_id == acc and e.HasField("create_time") for e in r.audit_events)
            times = [ts_seconds(e.create_time) for e in r.audit_events]
            assert times == sorted(times, reverse=True), f"create_time not newest first: {times}"
            assert r.next_page_token == "", "one page holds six events"
            assert state["secret1"] not in str(r), "a client secret in the audit trail"
            state["audit"] = got
        run_check("ApiKeyService/ListAuditEvents (admin) -> create/revoke/access events, "
                  "newest first, actor and client_id", _audit_trail)

        def _audit_paged():
            seen, tok = [], ""
            for _ in range(10):
                r = keys.ListAuditEvents(key_pb.ListAuditEventsRequest(account_id=acc, page_size=4,
                                                                       page_token=tok),
                                         timeout=TIMEOUT, metadata=md(t_owner))
                seen += [(A.Name(e.action), e.actor, e.client_id) for e in r.audit_events]
                tok = r.next_page_token
                if not tok:
                    break
            assert seen == state["audit"], f"paged walk {seen} differs from one page"
        run_check("ApiKeyService/ListAuditEvents page_size=4 -> same events via next_page_token",
                  _audit_paged)

        def _audit_denied():
            for who, token in [("member", t_member), ("other owner", t_other),
                               ("staff", t_staff), ("gateway", t_gateway)]:
                expect_status(grpc.StatusCode.PERMISSION_DENIED,
                              lambda token=token: keys.ListAuditEvents(
                                  key_pb.ListAuditEventsRequest(account_id=acc),
                                  timeout=TIMEOUT, metadata=md(token)), what=who)
            expect_status(grpc.StatusCode.UNAUTHENTICATED,
                          lambda: keys.ListAuditEvents(key_pb.ListAuditEventsRequest(account_id=acc),
                                                       timeout=TIMEOUT))
        run_check("ApiKeyService/ListAuditEvents by member/other owner/staff/gateway -> "
                  "PERMISSION_DENIED; no token -> UNAUTHENTICATED", _audit_denied)

        def _audit_bad_tokens():
            audit_tok = keys.ListAuditEvents(key_pb.ListAuditEventsRequest(account_id=acc,
                                                                           page_size=1),
                                             timeout=TIMEOUT, metadata=md(t_owner)).next_page_token
            expect_status(grpc.StatusCode.INVALID_ARGUMENT,
                          lambda: keys.ListKeys(key_pb.ListKeysRequest(account_id=acc,
                                                                       page_token=audit_tok),
                                                timeout=TIMEOUT, metadata=md(t_owner)),
                          contains="page_token", what="ListKeys with a ListAuditEvents token")
            for size in (-1, 1001):
                expect_status(grpc.StatusCode.INVALID_ARGUMENT,
                              lambda size=size: keys.ListAuditEvents(
                                  key_pb.ListAuditEventsRequest(account_id=acc, page_size=size),
                                  timeout=TIMEOUT, metadata=md(t_owner)),
                              contains="page_size", what=f"page_size={size}")
            expect_status(grpc.StatusCode.INVALID_ARGUMENT,
                          lambda: keys.ListAuditEvents(
                              key_pb.ListAuditEventsRequest(account_id=acc, page_token="garbage"),
                              timeout=TIMEOUT, metadata=md(t_owner)),
                          contains="page_token", what="garbage page_token")
        run_check("ApiKeyService/ListAuditEvents bad page_size / page_token / ListAuditEvents "
                  "token to ListKeys -> INVALID_ARGUMENT naming the field", _audit_bad_tokens)

        # ---- more input validation ---------------------------------------------------
        invalid_cases = [
            ("AccountService/GetAccount account_id of 129 chars", "account_id",
             lambda: accounts.GetAccount(acc_pb.GetAccountRequest(account_id="a" * 129),
                                         timeout=TIMEOUT, metadata=md(t_staff))),
            ("ApiKeyService/RevokeKey client_id of 204 chars", "client_id",
             lambda: keys.RevokeKey(key_pb.RevokeKeyRequest(account_id=acc,
                                                            client_id="akc_" + "a" * 200),
                                    timeout=TIMEOUT, metadata=md(t_owner))),
            ("ApiKeyService/RevokeKey empty client_id", "client_id",
             lambda: keys.RevokeKey(key_pb.RevokeKeyRequest(account_id=acc, client_id=""),
                                    timeout=TIMEOUT, metadata=md(t_owner))),
            ("ApiKeyService/CreateKey display_name of 201 chars", "display_name",
             lambda: keys.CreateKey(key_pb.CreateKeyRequest(account_id=acc, email="a@example.com",
                                                            display_name="d" * 201),
                                    timeout=TIMEOUT, metadata=md(t_owner))),
            ("ApiKeyService/CreateKey email of 262 chars", "email",
             lambda: keys.CreateKey(key_pb.CreateKeyRequest(account_id=acc,
                                                            email="a" * 250 + "@example.com"),
                                    timeout=TIMEOUT, metadata=md(t_owner))),
            ("ApiKeyService/ListKeys page_size=1001", "page_size",
             lambda: keys.ListKeys(key_pb.ListKeysRequest(account_id=acc, page_size=1001),
                                   timeout=TIMEOUT, metadata=md(t_owner))),
        ]
        for label, field, fn in invalid_cases:
            def _invalid(field=field, fn=fn):
                expect_status(grpc.StatusCode.INVALID_ARGUMENT, fn, contains=field)
            run_check(f"{label} -> INVALID_ARGUMENT naming {field}", _invalid)

        # ---- active key limit (default 10), on the other account -------------------------
        def _limit():
            accounts.SetApiAccess(acc_pb.SetApiAccessRequest(account_id=other_acc, enabled=True),
                                  timeout=TIMEOUT, metadata=md(t_staff))
            made = []
            for i in range(10):
                r = keys.CreateKey(key_pb.CreateKeyRequest(account_id=other_acc,
                                                           email=f"k{i}@example.com"),
                                   timeout=TIMEOUT, metadata=md(t_other))
                made.append(r.key.client_id)
            expect_status(grpc.StatusCode.RESOURCE_EXHAUSTED,
                          lambda: keys.CreateKey(key_pb.CreateKeyRequest(account_id=other_acc,
                                                                         email="k10@example.com"),
                                                 timeout=TIMEOUT, metadata=md(t_other)),
                          contains="10")
            keys.RevokeKey(key_pb.RevokeKeyRequest(account_id=other_acc, client_id=made[0]),
                           timeout=TIMEOUT, metadata=md(t_other))
            keys.CreateKey(key_pb.CreateKeyRequest(account_id=other_acc, email="k11@example.com"),
                           timeout=TIMEOUT, metadata=md(t_other))
            state["other_page_token"] = keys.ListKeys(
                key_pb.ListKeysRequest(account_id=other_acc, page_size=3),
                timeout=TIMEOUT, metadata=md(t_other)).next_page_token
        run_check("11th active key -> RESOURCE_EXHAUSTED mentioning 10; revoking frees a slot", _limit)

        def _foreign_page_token():
            tok = state.get("other_page_token")
            assert tok, "no next_page_token from a 10-key list with page_size=3"
            expect_status(grpc.StatusCode.INVALID_ARGUMENT,
                          lambda: keys.ListKeys(key_pb.ListKeysRequest(account_id=acc, page_token=tok),
                                                timeout=TIMEOUT, metadata=md(t_owner)),
                          contains="page_token")
        run_check("ListKeys with a page_token issued for another account -> INVALID_ARGUMENT",
                  _foreign_page_token)

        def _foreign_tokens_on_audit():
            tok = state.get("other_page_token")
            assert tok, "no ListKeys token from the other account"
            expect_status(grpc.StatusCode.INVALID_ARGUMENT,
                          lambda: keys.ListAuditEvents(key_pb.ListAuditEventsRequest(
                              account_id=other_acc, page_token=tok),
                              timeout=TIMEOUT, metadata=md(t_other)),
                          contains="page_token", what="ListKeys token on ListAuditEvents")
            audit_tok = keys.ListAuditEvents(key_pb.ListAuditEventsRequest(
                account_id=other_acc, page_size=1), timeout=TIMEOUT,
                metadata=md(t_other)).next_page_token
            assert audit_tok, "the other account has more than one event"
            expect_status(grpc.StatusCode.INVALID_ARGUMENT,
                          lambda: keys.ListAuditEvents(key_pb.ListAuditEventsRequest(
                              account_id=acc, page_token=audit_tok),
                              timeout=TIMEOUT, metadata=md(t_owner)),
                          contains="page_token", what="another account's audit token")
        run_check("ListAuditEvents with a ListKeys token, or another account's token -> "
                  "INVALID_ARGUMENT", _foreign_tokens_on_audit)

        channel.close()
    finally:
        shutil.rmtree(gen_dir, ignore_errors=True)

    print(f"python grpcio client: {PASSED} passed, {FAILED} failed", flush=True)
    for f in FAILURES:
        print(f"  failed: {f}")
    return 0 if FAILED == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
