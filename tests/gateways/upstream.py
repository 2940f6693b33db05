#!/usr/bin/env python3
"""A stand-in partner API for the gateway checks: records every request it receives.

Binds 127.0.0.1:0, prints `upstream listening on 127.0.0.1:PORT` once it accepts, then appends
one JSON line per request to the file named by its argument: method, path, every header as
received (name, value; repeats kept) and the body length. Answers 200 with that record.

  upstream.py RECORD_FILE
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()


class Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as nginx's upstream keepalive expects
    record_file = ""

    def handle_any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        record = {
            "method": self.command,
            "path": self.path,
            "headers": [[name, value] for name, value in self.headers.items()],
            "body_length": len(body),
        }
        line = json.dumps(record)
        with LOCK, open(self.record_file, "a", encoding="utf-8") as f:
            f.write(line + "\n")
        answer = line.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_any

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's name
        pass  # the record file is the log


def main() -> int:
    Recorder.record_file = sys.argv[1]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    server.daemon_threads = True
    host, port = server.server_address[:2]
    print(f"upstream listening on {host}:{port}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
