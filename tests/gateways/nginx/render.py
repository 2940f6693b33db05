#!/usr/bin/env python3
"""Render deploy/nginx/apikeys-gateway.conf into a temp nginx prefix, placeholders substituted.

Only the four documented placeholders change; everything else is the shipped file byte for
byte, so the nginx under test runs exactly what deploy/ ships. Writes <out>/nginx.conf (the
harness's main context, tests/gateways/nginx/nginx.conf), <out>/apikeys-gateway.conf, and
creates <out>/logs and <out>/tmp.

  render.py --out DIR --listen 127.0.0.1:PORT --apikeys 127.0.0.1:PORT --partner-api 127.0.0.1:PORT
  The gateway token comes from the environment (GATEWAY_TOKEN), not the command line.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
TEMPLATE = ROOT / "deploy" / "nginx" / "apikeys-gateway.conf"
WRAPPER = HERE / "nginx.conf"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--listen", required=True)
    parser.add_argument("--apikeys", required=True)
    parser.add_argument("--partner-api", required=True)
    args = parser.parse_args()
    token = os.environ.get("GATEWAY_TOKEN", "")
    if not token:
        sys.exit("render.py: GATEWAY_TOKEN is required")

    values = {
        "REPLACE_WITH_LISTEN": args.listen,
        "REPLACE_WITH_APIKEYS_ADDRESS": args.apikeys,
        "REPLACE_WITH_PARTNER_API_ADDRESS": args.partner_api,
        "REPLACE_WITH_GATEWAY_TOKEN": token,
    }
    text = TEMPLATE.read_text()
    for placeholder, value in values.items():
        if placeholder not in text:
            sys.exit(f"render.py: {TEMPLATE} has no {placeholder} (placeholders renamed?)")
        text = text.replace(placeholder, value)
    if "REPLACE_WITH_" in text:
        line = next(ln for ln in text.splitlines() if "REPLACE_WITH_" in ln)
        sys.exit(f"render.py: a placeholder this harness does not know is left: {line.strip()!r}")

    out = Path(args.out)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    (out / "tmp").mkdir(exist_ok=True)
    shutil.copyfile(WRAPPER, out / "nginx.conf")
    rendered = out / "apikeys-gateway.conf"
    rendered.write_text(text)
    rendered.chmod(0o600)  # it holds a caller token
    return 0


if __name__ == "__main__":
    sys.exit(main())
