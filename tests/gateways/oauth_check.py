#!/usr/bin/env python3
"""OAuth 2.0 clients this project did not write, against a running `apikeys serve`.

- authlib (OAuth2Session on requests): the token endpoint is discovered from
  /.well-known/oauth-authorization-server (RFC 8414), then the client-credentials grant
  (RFC 6749 §4.4) with client_secret_basic and with client_secret_post; its errors.
- PyJWT's PyJWKClient: the issued token's EdDSA signature against the published jwks_uri, its
  `iss` (= the metadata's issuer) and `exp`.
- RFC 7662 introspection of that token (authlib's introspect_token, the gateway's caller token
  as a bearer token): active, then exactly {"active": false} after RevokeKey.
- The company's published flow, the literal curl of docs/http.md: JSON {clientId, clientSecret}.

Environment (set by run.sh): APIKEYS_URL (http://127.0.0.1:PORT), APIKEYS_TARGET, APIKEYS_ACCOUNT
(enabled), TOKEN_OWNER (owner of the account), TOKEN_GATEWAY (scope introspect), TOKEN_NO_SCOPE
(a valid caller token without it). Ends with `oauth: N passed, M failed`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import jwt
import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError

from common import TIMEOUT, Admin, Checks, env, wrong_secret

URL = env("APIKEYS_URL").rstrip("/")
ACCOUNT = env("APIKEYS_ACCOUNT")
T_GATEWAY = env("TOKEN_GATEWAY")
T_NO_SCOPE = env("TOKEN_NO_SCOPE")
METADATA_PATH = "/.well-known/oauth-authorization-server"

checks = Checks("oauth")
state: dict = {}


class BearerAuth(requests.auth.AuthBase):
    """The gateway's caller token, the way RFC 7662 §2.1 lets a protected resource present one."""

    def __init__(self, token: str):
        self.token = token

    def __call__(self, r):
        r.headers["Authorization"] = f"Bearer {self.token}"
        return r


def get(path: str) -> requests.Response:
    return requests.get(URL + path, timeout=TIMEOUT)


def json_of(r: requests.Response, what: str):
    assert r.headers.get("Content-Type", "").startswith("application/json"), (
        f"{what}: Content-Type {r.headers.get('Content-Type')!r}, body {r.text[:200]!r}")
    return r.json()


def session(method: str, client_id: str, secret: str, **kw) -> tuple[OAuth2Session, list]:
    """An authlib session for `method`, and the list its sent requests are appended to."""
    s = OAuth2Session(client_id, secret, token_endpoint_auth_method=method, **kw)
    sent: list = []
    s.hooks["response"].append(lambda r, *a, **k: sent.append(r))
    return s, sent


def oauth_error(fn) -> OAuthError:
    try:
        got = fn()
    except OAuthError as e:
        return e
    raise AssertionError(f"expected authlib to raise OAuthError, got {got!r}")


# --------------------------------------------------------------------------- health, metadata


def _probes():
    for path in ("/livez", "/readyz"):
        r = get(path)
        assert r.status_code == 200, f"GET {path} -> {r.status_code} {r.text[:200]!r}"
        assert json_of(r, path) == {"status": "SERVING"}, f"GET {path} -> {r.text!r}"


def _metadata():
    r = get(METADATA_PATH)
    assert r.status_code == 200, f"GET {METADATA_PATH} -> {r.status_code} {r.text[:200]!r}"
    meta = json_of(r, METADATA_PATH)
    state["meta"] = meta
    # Without --public-url the base is the listen address, the issuer `apikeys` (docs/http.md).
    want = {
        "issuer": "apikeys",
        "token_endpoint": f"{URL}/auth/token",
        "jwks_uri": f"{URL}/.well-known/jwks.json",
        "introspection_endpoint": f"{URL}/oauth/introspect",
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": [],
    }
    wrong = {k: (meta.get(k), v) for k, v in want.items() if meta.get(k) != v}
    assert not wrong, f"metadata (got, want): {wrong}; whole document {meta}"
    methods = meta.get("token_endpoint_auth_methods_supported")
    assert sorted(methods or []) == ["client_secret_basic", "client_secret_post"], (
        f"token_endpoint_auth_methods_supported {methods!r}")
    assert "authorization_endpoint" not in meta, f"authorization_endpoint in {meta}"
    cache = r.headers.get("Cache-Control", "")
    assert cache.replace(" ", "") == "public,max-age=300", f"Cache-Control {cache!r}"


# --------------------------------------------------------------------------- authlib


def _fetch(method: str):
    def f():
        s, sent = session(method, state["cid"], state["secret"])
        token = s.fetch_token(state["meta"]["token_endpoint"], grant_type="client_credentials")
        req = sent[-1].request
        if method == "client_secret_basic":
            assert req.headers.get("Authorization", "").startswith("Basic "), (
                f"authlib sent no Basic header: {dict(req.headers)}")
            assert "client_secret" not in (req.body or ""), f"secret in the body: {req.body!r}"
        else:
            assert "Authorization" not in req.headers, (
                f"authlib sent Authorization {req.headers['Authorization']!r}")
            assert "client_secret=" in (req.body or ""), f"no client_secret in {req.body!r}"
        assert sent[-1].headers.get("Cache-Control") == "no-store", (
            f"token answer Cache-Control {sent[-1].headers.get('Cache-Control')!r}")
        assert token.get("token_type") == "Bearer", f"token_type in {dict(token)}"
        assert isinstance(token.get("expires_in"), int) and token["expires_in"] > 0, (
            f"expires_in in {dict(token)}")
        assert str(token.get("access_token", "")).count(".") == 2, f"not a JWT: {dict(token)}"
        assert "refresh_token" not in token and "scope" not in token, f"extra fields {dict(token)}"
        state[f"token_{method}"] = dict(token)
    return f


def _wrong_secret(method: str):
    def f():
        s, sent = session(method, state["cid"], wrong_secret(state["secret"]))
        e = oauth_error(lambda: s.fetch_token(state["meta"]["token_endpoint"],
                                                 grant_type="client_credentials"))
        assert e.error == "invalid_client", f"error {e.error!r} ({e.description!r})"
        assert e.description == "invalid client credentials", f"description {e.description!r}"
        r = sent[-1]
        assert r.status_code == 401, f"status {r.status_code}"
        challenge = r.headers.get("WWW-Authenticate")
        if method == "client_secret_basic":
            assert challenge == 'Basic realm="apikeys"', f"WWW-Authenticate {challenge!r}"
        else:
            assert challenge is None, f"WWW-Authenticate {challenge!r} without Basic"
    return f


def _scope_refused():
    s, sent = session("client_secret_basic", state["cid"], state["secret"], scope="orders:read")
    e = oauth_error(lambda: s.fetch_token(state["meta"]["token_endpoint"],
                                             grant_type="client_credentials"))
    assert e.error == "invalid_scope", f"error {e.error!r} ({e.description!r})"
    assert sent[-1].status_code == 400, f"status {sent[-1].status_code}"


# --------------------------------------------------------------------------- PyJWT


def _verify(token_key: str):
    def f():
        token = state[token_key]["access_token"]
        jwks = jwt.PyJWKClient(state["meta"]["jwks_uri"], cache_keys=False, timeout=TIMEOUT)
        key = jwks.get_signing_key_from_jwt(token)
        header = jwt.get_unverified_header(token)
        assert header.get("alg") == "EdDSA" and header.get("kid") == key.key_id, (
            f"header {header}, JWKS key {key.key_id!r}")
        claims = jwt.decode(token, key.key, algorithms=["EdDSA"], issuer=state["meta"]["issuer"],
                            options={"require": ["exp", "iat", "iss", "sub", "jti"]})
        assert claims["sub"] == state["cid"], f"sub {claims['sub']!r}"
        assert claims.get("account_id") == ACCOUNT, f"account_id {claims.get('account_id')!r}"
        lifetime = claims["exp"] - claims["iat"]
        assert lifetime == state[token_key]["expires_in"], (
            f"exp - iat = {lifetime}, expires_in {state[token_key]['expires_in']}")
        assert abs(claims["iat"] - time.time()) < 300, f"iat {claims['iat']} is not now"
        state["claims"] = claims
    return f


def _verify_rejects():
    token = state["token_client_secret_basic"]["access_token"]
    jwks = jwt.PyJWKClient(state["meta"]["jwks_uri"], timeout=TIMEOUT)
    key = jwks.get_signing_key_from_jwt(token).key
    head, payload, sig = token.split(".")
    forged = ".".join([head, payload, ("A" if sig[0] != "A" else "B") + sig[1:]])
    expectations = [
        ("a changed signature", forged, {}, jwt.InvalidSignatureError),
        ("another issuer", token, {"issuer": "https://elsewhere.example"}, jwt.InvalidIssuerError),
        # The same token as seen once its lifetime has passed (a negative leeway moves PyJWT's
        # clock forward; iat would then be "in the past" by more than that, so it is not checked).
        ("the token after exp", token,
         {"leeway": -(state["token_client_secret_basic"]["expires_in"] + 5),
          "options": {"verify_iat": False}},
         jwt.ExpiredSignatureError),
    ]
    for what, tok, kw, error in expectations:
        kw.setdefault("issuer", state["meta"]["issuer"])
        try:
            jwt.decode(tok, key, algorithms=["EdDSA"], **kw)
        except error:
            continue
        except jwt.PyJWTError as e:
            raise AssertionError(f"{what}: {type(e).__name__} {e}, want {error.__name__}") from e
        raise AssertionError(f"{what}: PyJWT accepted it")


def _jwks_document():
    r = get("/.well-known/jwks.json")
    assert r.status_code == 200, f"status {r.status_code}"
    doc = json_of(r, "jwks")
    keys = doc.get("keys") or []
    assert keys, f"no keys: {doc}"
    for k in keys:
        assert (k.get("kty"), k.get("crv"), k.get("alg"), k.get("use")) == (
            "OKP", "Ed25519", "EdDSA", "sig"), f"key {k}"
        assert k.get("kid") and k.get("x") and "d" not in k, f"key {k}"
    cache = r.headers.get("Cache-Control", "")
    assert cache.replace(" ", "") == "public,max-age=300", f"Cache-Control {cache!r}"


# --------------------------------------------------------------------------- RFC 7662


def introspect(token: str, auth=None) -> requests.Response:
    s = OAuth2Session()
    return s.introspect_token(state["meta"]["introspection_endpoint"], token=token,
                              auth=auth or BearerAuth(T_GATEWAY), timeout=TIMEOUT)


def _introspect_active():
    token = state["token_client_secret_post"]["access_token"]
    r = introspect(token)
    assert r.status_code == 200, f"status {r.status_code} {r.text[:200]!r}"
    cache = r.headers.get("Cache-Control")
    assert cache == "no-store", f"Cache-Control {cache!r}"
    got = json_of(r, "introspection")
    claims = jwt.decode(token, options={"verify_signature": False})
    want = {"active": True, "client_id": state["cid"], "sub": state["cid"], "account_id": ACCOUNT,
            "exp": claims["exp"], "iat": claims["iat"], "iss": state["meta"]["issuer"],
            "token_type": "Bearer"}
    assert got == want, f"introspection {got}, want {want}"


def error_body(r: requests.Response, error: str) -> None:
    """An RFC 6750 §3 error body: `error` as given, at most an `error_description` beside it."""
    body = json_of(r, str(r.status_code))
    assert body.get("error") == error, f"error in {body}, want {error!r}"
    assert set(body) <= {"error", "error_description"}, f"unexpected fields in {body}"


def _introspect_caller_auth():
    token = state["token_client_secret_post"]["access_token"]
    endpoint = state["meta"]["introspection_endpoint"]
    r = requests.post(endpoint, data={"token": token}, timeout=TIMEOUT)
    assert r.status_code == 401, f"no caller token: {r.status_code} {r.text[:200]!r}"
    error_body(r, "invalid_token")
    assert r.headers.get("WWW-Authenticate") == 'Bearer realm="apikeys"', (
        f"WWW-Authenticate {r.headers.get('WWW-Authenticate')!r}")
    r = introspect(token, auth=BearerAuth(T_NO_SCOPE))
    assert r.status_code == 403, f"caller token without scope: {r.status_code} {r.text[:200]!r}"
    error_body(r, "insufficient_scope")
    challenge = r.headers.get("WWW-Authenticate", "")
    assert 'error="insufficient_scope"' in challenge and 'scope="introspect"' in challenge, (
        f"WWW-Authenticate {challenge!r}")
    r = requests.post(endpoint, data={"token_type_hint": "access_token"},
                      auth=BearerAuth(T_GATEWAY), timeout=TIMEOUT)
    assert r.status_code == 400, f"no token parameter: {r.status_code} {r.text[:200]!r}"
    error_body(r, "invalid_request")


def _introspect_garbage():
    r = introspect("eyJhbGciOiJFZERTQSJ9.e30.c2lnbmF0dXJl")
    assert r.status_code == 200 and r.json() == {"active": False}, f"{r.status_code} {r.text!r}"


def _revoke_then_inactive():
    state["admin"].revoke_key(ACCOUNT, state["cid"])
    for key in ("token_client_secret_basic", "token_client_secret_post", "token_company"):
        if key not in state:
            continue
        r = introspect(state[key]["access_token"])
        assert r.status_code == 200, f"{key}: status {r.status_code}"
        assert r.json() == {"active": False}, f"{key} after RevokeKey: {r.text!r}"
    s, _ = session("client_secret_basic", state["cid"], state["secret"])
    e = oauth_error(lambda: s.fetch_token(state["meta"]["token_endpoint"],
                                             grant_type="client_credentials"))
    assert e.error == "invalid_client", f"token for a revoked key: {e.error!r}"


# --------------------------------------------------------------------------- the company's curl


def company_curl(client_id: str, secret: str) -> tuple[int, str, dict]:
    """docs/http.md's curl, verbatim but for the host; -sS and -w/-D only to read the answer."""
    body = json.dumps({"clientId": client_id, "clientSecret": secret}, separators=(",", ":"))
    argv = ["curl", "-X", "POST", f"{URL}/auth/token", "-H", "Content-Type: application/json",
            "-d", body, "-sS", "-D", "-", "--max-time", str(int(TIMEOUT))]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT + 10)
    assert p.returncode == 0, f"curl exit {p.returncode}: {p.stderr.strip()}"
    head, _, text = p.stdout.replace("\r\n", "\n").partition("\n\n")
    status = int(head.split("\n", 1)[0].split()[1])
    headers = {}
    for line in head.split("\n")[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, text, headers


def _company_flow():
    status, text, headers = company_curl(state["cid"], state["secret"])
    assert status == 200, f"status {status}, body {text[:200]!r}"
    assert headers.get("content-type", "").startswith("application/json"), f"headers {headers}"
    cache = headers.get("cache-control")
    assert cache == "no-store", f"Cache-Control {cache!r}"
    got = json.loads(text)
    assert set(got) == {"access_token", "expires_in", "token_type"}, f"fields {sorted(got)}"
    assert got["token_type"] == "Bearer" and isinstance(got["expires_in"], int), f"{got}"
    jwks = jwt.PyJWKClient(state["meta"]["jwks_uri"], timeout=TIMEOUT)
    claims = jwt.decode(got["access_token"], jwks.get_signing_key_from_jwt(got["access_token"]).key,
                        algorithms=["EdDSA"], issuer=state["meta"]["issuer"])
    assert claims["sub"] == state["cid"] and claims["account_id"] == ACCOUNT, f"claims {claims}"
    state["token_company"] = got


def _company_wrong_secret():
    status, text, headers = company_curl(state["cid"], wrong_secret(state["secret"]))
    assert status == 401, f"status {status}, body {text[:200]!r}"
    assert json.loads(text) == {"error": "invalid_client",
                                "error_description": "invalid client credentials"}, text
    assert "www-authenticate" not in headers, f"WWW-Authenticate without Basic: {headers}"


def _unknown_path_and_method():
    r = get("/auth/tokens")
    assert r.status_code == 404 and json_of(r, "404") == {"error": "not_found"}, (
        f"GET /auth/tokens -> {r.status_code} {r.text[:200]!r}")
    r = get("/auth/token")
    assert r.status_code == 405, f"GET /auth/token -> {r.status_code}"
    assert "POST" in r.headers.get("Allow", ""), f"Allow {r.headers.get('Allow')!r}"


def main() -> int:
    import authlib
    print(f"INFO  authlib {authlib.__version__}, PyJWT {jwt.__version__}, requests "
          f"{requests.__version__} against {URL}", flush=True)
    checks.run("GET /livez and /readyz -> 200 {\"status\":\"SERVING\"}", _probes)
    if not checks.run(f"GET {METADATA_PATH} (RFC 8414) -> endpoints on this address, "
                      "issuer, methods, Cache-Control", _metadata):
        # authlib cannot discover anything; the rest has nothing to point at.
        return checks.finish()

    def _key():
        state["admin"] = Admin(env("APIKEYS_TARGET"), env("TOKEN_OWNER"))
        state["cid"], state["secret"] = state["admin"].create_key(ACCOUNT, "oauth@example.com")
    if not checks.run("CreateKey over gRPC for the OAuth client", _key):
        return checks.finish()
    admin = state["admin"]
    try:
        for method in ("client_secret_basic", "client_secret_post"):
            checks.run(f"authlib client_credentials, {method}, token endpoint from the "
                       "metadata -> Bearer JWT", _fetch(method))
            checks.run(f"authlib {method} with a wrong secret -> invalid_client 401",
                       _wrong_secret(method))
        checks.run("authlib with a scope -> invalid_scope 400", _scope_refused)
        checks.run("JWKS document: OKP/Ed25519/EdDSA/sig keys with kid, no private part, "
                   "Cache-Control", _jwks_document)
        for method in ("client_secret_basic", "client_secret_post"):
            if f"token_{method}" in state:
                checks.run(f"PyJWT PyJWKClient verifies the {method} token: EdDSA signature "
                           "from jwks_uri, iss = metadata issuer, exp, sub, account_id",
                           _verify(f"token_{method}"))
        if "claims" in state:
            checks.run("PyJWT rejects a changed signature, another issuer, the token after exp",
                       _verify_rejects)
        checks.run("curl -X POST /auth/token -H 'Content-Type: application/json' "
                   "-d '{clientId, clientSecret}' (the company's docs) -> 200 token", _company_flow)
        checks.run("the company's curl with a wrong secret -> 401 invalid_client",
                   _company_wrong_secret)
        if "token_client_secret_post" in state:
            checks.run("RFC 7662 introspection (authlib, gateway bearer token) -> active with "
                       "client_id, sub, account_id, exp, iat, iss, token_type",
                       _introspect_active)
            checks.run("introspection without a caller token -> 401, without the scope -> "
                       "403, without token -> 400", _introspect_caller_auth)
        checks.run("introspection of a garbage token -> exactly {\"active\":false}",
                   _introspect_garbage)
        checks.run("RevokeKey -> the issued tokens introspect exactly {\"active\":false}, "
                   "authlib gets invalid_client", _revoke_then_inactive)
        checks.run("unknown path -> 404 not_found, GET /auth/token -> 405 with Allow",
                   _unknown_path_and_method)
    finally:
        admin.close()
    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
