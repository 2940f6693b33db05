#!/usr/bin/env python3
"""A real gateway running its shipped deploy/ configuration in front of upstream.py, which
records what reaches it; apikeys' /auth/check decides.

  gateway_check.py nginx|caddy live     allow, deny, forged headers, revocation, misconfiguration
  gateway_check.py nginx|caddy outage   after run.sh killed apikeys: nothing gets through

Environment (set by run.sh): GATEWAY_URL, GATEWAY_MISCONFIGURED_URL (the same configuration
with a caller token without the introspect scope), APIKEYS_URL, APIKEYS_TARGET,
APIKEYS_ACCOUNT, TOKEN_OWNER, TOKEN_GATEWAY, UPSTREAM_RECORDS, APIKEYS_STDERR, STATE_FILE.
Ends with `<gateway> <phase>: N passed, M failed`.
"""

from __future__ import annotations

import http.client
import json
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import requests

from common import TIMEOUT, Admin, Checks, basic, env, load_state, save_state, wait_until
from common import wrong_secret

GATEWAY, PHASE = sys.argv[1], sys.argv[2]
URL = env("GATEWAY_URL")
ACCOUNT = env("APIKEYS_ACCOUNT")
RECORDS = Path(env("UPSTREAM_RECORDS"))
PATH = "/orders/42?expand=items"
# What each gateway answers when apikeys cannot be asked (see deploy/<gateway>/README.md).
OUTAGE = {"nginx": (503, ["1"]), "caddy": (502, None)}[GATEWAY]
checks = Checks(f"{GATEWAY} {PHASE}")
state: dict = {}


class Answer:
    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes, test_id: str):
        self.status, self.headers, self.body, self.test_id = status, headers, body, test_id

    def header(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def __repr__(self) -> str:
        return f"{self.status} {self.headers} {self.body[:300]!r}"


def send(headers: list[tuple[str, str]] = (), *, base: str = URL, method: str = "GET",
         path: str = PATH, body: bytes | None = None) -> Answer:
    """One request through a gateway, headers exactly as given (repeats kept), tagged with an
    X-Test-Id the upstream records."""
    test_id = uuid.uuid4().hex
    u = urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=TIMEOUT)
    try:
        conn.putrequest(method, path)
        conn.putheader("X-Test-Id", test_id)
        for name, value in headers:
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Type", "application/json")
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        return Answer(r.status, r.getheaders(), r.read(), test_id)
    finally:
        conn.close()


def upstream_saw(answer: Answer) -> list[dict]:
    """The upstream's records of this request (a gateway proxies before it answers, so a request
    that got through is recorded by the time its answer is read)."""
    if not RECORDS.exists():
        return []
    found = []
    for line in RECORDS.read_text().splitlines():
        record = json.loads(line)
        if answer.test_id in values(record, "x-test-id"):
            found.append(record)
    return found


def values(record: dict, name: str) -> list[str]:
    return [v for k, v in record["headers"] if k.lower() == name.lower()]


def assert_allowed(answer: Answer, client_id: str, *, path: str = PATH) -> dict:
    assert answer.status == 200, f"want 200 from the upstream, got {answer!r}"
    seen = upstream_saw(answer)
    assert len(seen) == 1, f"the upstream saw this request {len(seen)} times"
    record = seen[0]
    assert record["path"] == path, f"upstream path {record['path']!r}, want {path!r}"
    assert values(record, "x-account-id") == [ACCOUNT], (
        f"upstream x-account-id {values(record, 'x-account-id')}, want [{ACCOUNT!r}]")
    assert values(record, "x-client-id") == [client_id], (
        f"upstream x-client-id {values(record, 'x-client-id')}, want [{client_id!r}]")
    for gone in ("authorization", "x-api-key", "x-gateway-authorization"):
        assert not values(record, gone), f"the upstream received {gone}: {values(record, gone)}"
    return record


def assert_denied(answer: Answer, status: int, challenge: str | None = None) -> None:
    assert answer.status == status, f"want {status}, got {answer!r}"
    if challenge is not None:
        assert answer.header("WWW-Authenticate") == [challenge], (
            f"WWW-Authenticate {answer.header('WWW-Authenticate')}, want [{challenge!r}]")
    seen = upstream_saw(answer)
    assert not seen, f"a denied request reached the upstream: {seen}"


def access_token(client_id: str, secret: str) -> str:
    r = requests.post(env("APIKEYS_URL").rstrip("/") + "/auth/token",
                      json={"clientId": client_id, "clientSecret": secret}, timeout=TIMEOUT)
    assert r.status_code == 200, f"POST /auth/token -> {r.status_code} {r.text[:200]!r}"
    return r.json()["access_token"]


# --------------------------------------------------------------------------- live


def live() -> None:
    admin = Admin(env("APIKEYS_TARGET"), env("TOKEN_OWNER"))
    try:
        live_checks(admin)
    finally:
        admin.close()
        save_state(env("STATE_FILE"), state)


def live_checks(admin: Admin) -> None:
    cid, secret = admin.create_key(ACCOUNT, f"{GATEWAY}@example.com")
    state.update(cid=cid, secret=secret)
    good = ("Authorization", basic(cid, secret))

    checks.run("Basic client_id:client_secret -> 200 upstream with x-account-id, x-client-id, "
               "no Authorization", lambda: assert_allowed(send([good]), cid))

    def _bearer():
        state["token"] = access_token(cid, secret)
        assert_allowed(send([("Authorization", f"Bearer {state['token']}")]), cid)
    checks.run("Bearer access token from /auth/token -> 200 upstream, identity headers, "
               "no Authorization", _bearer)

    checks.run("x-api-key client_id:client_secret -> 200 upstream, no x-api-key",
               lambda: assert_allowed(send([("X-Api-Key", f"{cid}:{secret}")]), cid))

    checks.run("forged X-Account-Id / X-Client-Id with valid credentials -> the upstream sees "
               "only the real ones",
               lambda: assert_allowed(send([good, ("X-Account-Id", "victim-corp"),
                                            ("x-account-id", "victim-corp-2"),
                                            ("X-Client-Id", "akc_forged")]), cid))

    checks.run("forged X-Account-Id without credentials -> 401, upstream not reached",
               lambda: assert_denied(send([("X-Account-Id", ACCOUNT)]), 401, 'Bearer realm="api"'))
    checks.run("wrong secret (Basic) -> 401 WWW-Authenticate Basic, upstream not reached",
               lambda: assert_denied(send([("Authorization", basic(cid, wrong_secret(secret)))]),
                                     401, 'Basic realm="api"'))
    checks.run("wrong secret (x-api-key) -> 401 WWW-Authenticate Bearer, upstream not reached",
               lambda: assert_denied(send([("X-Api-Key", f"{cid}:{wrong_secret(secret)}")]),
                                     401, 'Bearer realm="api"'))
    checks.run("no credentials -> 401 WWW-Authenticate Bearer, upstream not reached",
               lambda: assert_denied(send(), 401, 'Bearer realm="api"'))
    checks.run("garbage bearer token -> 401, upstream not reached",
               lambda: assert_denied(send([("Authorization", "Bearer not.a.jwt")]), 401,
                                     'Bearer realm="api"'))

    def _post_body():
        body = json.dumps({"order": "x" * 3000}).encode()
        record = assert_allowed(send([good], method="POST", path="/orders", body=body), cid,
                                path="/orders")
        assert record["method"] == "POST" and record["body_length"] == len(body), (
            f"upstream got {record['method']} with {record['body_length']} bytes, want POST with "
            f"{len(body)}")
    checks.run("POST with a body -> the upstream gets method and body (only the auth request "
               "goes without)", _post_body)

    if GATEWAY == "nginx":
        checks.run("nginx's internal auth location is not reachable from outside -> 404",
                   lambda: assert_denied(send([good], path="/_apikeys_auth"), 404))

    def _revocation():
        cid2, secret2 = admin.create_key(ACCOUNT, f"revoked-{GATEWAY}@example.com")
        token2 = access_token(cid2, secret2)
        assert_allowed(send([("Authorization", basic(cid2, secret2))]), cid2)
        assert_allowed(send([("Authorization", f"Bearer {token2}")]), cid2)
        admin.revoke_key(ACCOUNT, cid2)
        # No waiting: every request asks apikeys, and RevokeKey has evicted its cache.
        assert_denied(send([("Authorization", basic(cid2, secret2))]), 401, 'Basic realm="api"')
        assert_denied(send([("Authorization", f"Bearer {token2}")]), 401, 'Bearer realm="api"')
        assert_denied(send([("X-Api-Key", f"{cid2}:{secret2}")]), 401, 'Bearer realm="api"')
    checks.run("RevokeKey -> the very next request (Basic, its access token, x-api-key) is 401, "
               "upstream not reached", _revocation)

    def _misconfigured():
        bad = env("GATEWAY_MISCONFIGURED_URL")
        assert_denied(send([good], base=bad), 403)
        # Neither the partner's x-gateway-authorization nor its Authorization is taken for the
        # gateway's: the configuration sends its own, apikeys reads that one only.
        gateway = env("TOKEN_GATEWAY")
        assert_denied(send([good, ("X-Gateway-Authorization", f"Bearer {gateway}")], base=bad),
                      403)
        assert_denied(send([("Authorization", f"Bearer {gateway}")], base=bad), 403)
        log = Path(env("APIKEYS_STDERR"))
        wait_until(lambda: "forward-auth gateway not authenticated" in log.read_text(),
                   "apikeys logs 'forward-auth gateway not authenticated'", timeout=5)
    checks.run("the same configuration with a gateway token lacking the introspect scope -> 403 "
               "(also with the partner's own x-gateway-authorization), logged by apikeys",
               _misconfigured)


# --------------------------------------------------------------------------- outage


def outage() -> None:
    saved = load_state(env("STATE_FILE"))
    status, retry_after = OUTAGE

    def closed(headers):
        def f():
            a = send(headers)
            assert_denied(a, status)
            if retry_after is not None:
                got = a.header("Retry-After")
                assert got == retry_after, f"Retry-After {got}, want {retry_after}"
        return f
    checks.run(f"apikeys down: valid Basic credentials -> {status}, upstream not reached",
               closed([("Authorization", basic(saved["cid"], saved["secret"]))]))
    if "token" in saved:
        checks.run(f"apikeys down: a live access token -> {status}, upstream not reached",
                   closed([("Authorization", f"Bearer {saved['token']}")]))
    checks.run(f"apikeys down: no credentials -> {status}, upstream not reached", closed([]))


def main() -> int:
    print(f"INFO  {GATEWAY} at {URL}, phase {PHASE}", flush=True)
    # Set-up failing (no key, no saved state) counts as one failed check, not a crash.
    checks.run(f"{GATEWAY} {PHASE} phase ran to its end", {"live": live, "outage": outage}[PHASE])
    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
