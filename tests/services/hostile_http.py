# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""A misbehaving HTTP server on 127.0.0.1 for the DICOMweb client tests: drips, floods, redirects, compresses.

Each request is answered by a *behaviour*, a function of the request handler. Every behaviour is bounded: it
stops after ``limit_s`` seconds or a byte budget, or as soon as the client has gone (a failed write), so no test can
leave a thread spinning. The server binds to 127.0.0.1 only and records each request it receives.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["HostileServer", "drip_body", "drip_headers", "flood", "redirect", "answer"]

Behaviour = Callable[[BaseHTTPRequestHandler], None]


def answer(status: int = 200, body: bytes = b"[]", content_type: str = "application/dicom+json", **headers: str):
    """A plain answer (headers given as keyword arguments, ``_`` for ``-``)."""

    def behave(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            h.send_header(name.replace("_", "-"), value)
        h.end_headers()
        h.wfile.write(body)

    return behave


def drip_body(interval: float = 0.1, limit_s: float = 20.0, content_type: str = "application/dicom+json"):
    """Headers at once (a 1 MB Content-Length), then one byte per ``interval``: each read gets data, so a
    per-read timeout never fires."""

    def behave(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(1 << 20))
        h.end_headers()
        h.wfile.flush()
        end = time.monotonic() + limit_s
        while time.monotonic() < end:
            try:
                h.wfile.write(b" ")
                h.wfile.flush()
            except OSError:  # the client hung up
                return
            time.sleep(interval)
        h.close_connection = True

    return behave


def drip_headers(interval: float = 0.1, limit_s: float = 20.0):
    """A status line, then one byte of an endless header per ``interval``: the answer never begins."""

    def behave(h: BaseHTTPRequestHandler) -> None:
        h.close_connection = True
        end = time.monotonic() + limit_s
        try:
            h.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            h.wfile.flush()
            while time.monotonic() < end:
                h.wfile.write(b"a")
                h.wfile.flush()
                time.sleep(interval)
        except OSError:
            return

    return behave


def flood(size: int, *, declare_length: bool, content_type: str = 'multipart/related; type="application/dicom"; '
          "boundary=b0", chunk: int = 64 * 1024):
    """A ``size``-byte body of zeros after a multipart prefix, generated chunk by chunk (never held whole).

    Without ``declare_length`` the body is delimited by closing the connection (no Content-Length), so the client
    cannot refuse it before reading.
    """

    def behave(h: BaseHTTPRequestHandler) -> None:
        h.close_connection = True
        h.send_response(200)
        h.send_header("Content-Type", content_type)
        if declare_length:
            h.send_header("Content-Length", str(size))
        h.end_headers()
        prefix = b"--b0\r\nContent-Type: application/dicom\r\n\r\n"
        block = bytes(chunk)
        sent = 0
        try:
            h.wfile.write(prefix)
            sent = len(prefix)
            while sent < size:
                n = min(chunk, size - sent)
                h.wfile.write(block[:n])
                sent += n
        except OSError:
            return

    return behave


def redirect(location: str, status: int = 307):
    """A redirect to ``location``."""
    return answer(status, b"", "text/plain", Location=location)


class HostileServer:
    """``with HostileServer(behaviour) as s:``; ``s.url`` is a DICOMweb-like root, ``s.requests`` what arrived.

    Args:
        behaviour: answers every request; or a list of behaviours used in turn (the last one repeats).
        tls: an ``ssl.SSLContext`` to serve HTTPS with.
    """

    def __init__(self, behaviour: Behaviour | list[Behaviour], tls: ssl.SSLContext | None = None) -> None:
        self.behaviours = behaviour if isinstance(behaviour, list) else [behaviour]
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.tls = tls
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}/dicom-web"  # type: ignore[union-attr]

    def start(self) -> HostileServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(min(length, 64 << 20))
                with server.lock:
                    server.requests.append((self.command, self.path, dict(self.headers.items())))
                    n = len(server.requests)
                server.behaviours[min(n, len(server.behaviours)) - 1](self)

            do_GET = do_POST = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
