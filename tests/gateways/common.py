"""Shared by the gateway checks: PASS/FAIL bookkeeping, the environment run.sh sets, and the
few gRPC calls that make and revoke keys (stubs generated at run time by tests/interop's
`generate_stubs`, so nothing generated is committed and nothing is copied)."""

from __future__ import annotations

import base64
import importlib
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests" / "interop"))

import grpc  # noqa: E402 - after the path set-up above
from client import generate_stubs  # noqa: E402 - tests/interop/client.py

TIMEOUT = float(os.environ.get("APIKEYS_RPC_TIMEOUT", "20"))


def env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        sys.exit(f"{Path(sys.argv[0]).name}: environment variable {name} is required")
    return value


class Checks:
    """Runs named checks, prints `PASS  name` / `FAIL  name: why`, ends with a count line."""

    def __init__(self, label: str):
        self.label = label
        self.passed = 0
        self.failed: list[str] = []

    def run(self, name: str, fn) -> bool:
        try:
            fn()
        except AssertionError as e:
            self.failed.append(name)
            print(f"FAIL  {name}: {e}", flush=True)
            return False
        except Exception as e:  # noqa: BLE001 - anything else is a failure too, with its trace
            self.failed.append(name)
            print(f"FAIL  {name}: {type(e).__name__}: {e}", flush=True)
            traceback.print_exc(file=sys.stdout)
            return False
        self.passed += 1
        print(f"PASS  {name}", flush=True)
        return True

    def finish(self) -> int:
        print(f"{self.label}: {self.passed} passed, {len(self.failed)} failed", flush=True)
        for name in self.failed:
            print(f"  failed: {name}")
        return 0 if not self.failed else 1


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def wrong_secret(secret: str) -> str:
    """The same secret with its last character changed: well formed, wrong."""
    return secret[:-1] + ("a" if secret[-1] != "a" else "b")


class Admin:
    """CreateKey / RevokeKey over gRPC as the account's owner."""

    def __init__(self, target: str, owner_token: str):
        self._dir = tempfile.mkdtemp(prefix="apikeys-gateways-stubs-")
        self._channel = None
        try:
            generate_stubs(str(ROOT / "proto"), self._dir)
            sys.path.insert(0, self._dir)
            self._pb = importlib.import_module("apikeys.v1.api_key_service_pb2")
            grpc_mod = importlib.import_module("apikeys.v1.api_key_service_pb2_grpc")
            self._channel = grpc.insecure_channel(target)
            grpc.channel_ready_future(self._channel).result(timeout=TIMEOUT)
        except BaseException:
            self.close()
            raise
        self._keys = grpc_mod.ApiKeyServiceStub(self._channel)
        self._md = (("authorization", f"Bearer {owner_token}"),)

    def create_key(self, account: str, email: str) -> tuple[str, str]:
        r = self._keys.CreateKey(self._pb.CreateKeyRequest(account_id=account, email=email),
                                 timeout=TIMEOUT, metadata=self._md)
        return r.key.client_id, r.client_secret

    def revoke_key(self, account: str, client_id: str) -> None:
        r = self._keys.RevokeKey(self._pb.RevokeKeyRequest(account_id=account,
                                                           client_id=client_id),
                                 timeout=TIMEOUT, metadata=self._md)
        assert r.key.HasField("revoke_time"), "RevokeKey answered a key without revoke_time"

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
        shutil.rmtree(self._dir, ignore_errors=True)


def wait_until(predicate, what: str, timeout: float = 10.0, step: float = 0.05):
    """Poll `predicate()` until it returns something truthy, or fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(step)


def save_state(path: str, state: dict) -> None:
    Path(path).write_text(json.dumps(state))


def load_state(path: str) -> dict:
    return json.loads(Path(path).read_text())
