"""A hostile endpoint on 127.0.0.1: every request is refused with a status whose body echoes the request headers.

So a client's exception text carries whatever the request carried (an ``Authorization`` bearer token, an
``X-API-KEY``), as a misconfigured proxy or mirror would make it. ``/heartbeat`` (mp-api's startup check) answers
200 so that the Materials Project client goes on to a request that carries its key.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class EchoServer:
    """The status every request gets, the endpoint URL (trailing slash) and the headers it received."""

    status: int
    url: str = ""
    received: list[dict[str, str]] = field(default_factory=list)


def _handler(state: EchoServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            pass

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            headers = dict(self.headers.items())
            state.received.append(headers)
            if self.path.startswith("/heartbeat"):
                status, body = 200, {"db_version": "2025.09.25", "access_controlled_batch_ids": [], "version": "0"}
            else:
                echo = f"refused {self.command} {self.path}; request headers were {headers}"
                status, body = state.status, {"error": echo, "detail": echo, "message": echo}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _answer

    return Handler


@contextmanager
def echo_server(status: int) -> Iterator[EchoServer]:
    """Serve on a free port of 127.0.0.1 in a thread while the block runs."""
    state = EchoServer(status)
    with ThreadingHTTPServer(("127.0.0.1", 0), _handler(state)) as server:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        state.url = f"http://127.0.0.1:{server.server_address[1]}/"
        try:
            yield state
        finally:
            server.shutdown()
