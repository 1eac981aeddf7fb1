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
"""Bounded HTTP transport of the DICOMweb client: retries, wall-clock deadlines, size limits, no redirects.

Everything a PACS answers is treated as hostile:

- *Bounded in size*: answers are streamed in chunks and refused as soon as they exceed the caller's limit (a
  declared ``Content-Length`` over the limit is refused before reading). Compressed answers are not requested
  (``Accept-Encoding: identity``) and refused, since their decoded size is unknown until decoded.
- *Bounded in time*: besides ``requests``' per-read timeout, each attempt has a wall-clock deadline. A watchdog
  thread shuts the attempt's socket down when the deadline passes or the stop event is set, which also ends a
  read that is blocked on a server sending one byte at a time (a per-read timeout never fires there). The socket
  is registered by the connection classes below as soon as it exists, so connecting, the TLS handshake, sending,
  waiting for the headers and reading the body are all covered.
- *No redirects*: a 3xx answer is an error naming the status and the origin it points to. Following it would send
  the request, its credentials and (for STOW-RS) patient data to whatever host the answer names.
- *Retries*: connection errors, timeouts, transient statuses (408, 429, 500, 502, 503, 504, honouring
  ``Retry-After`` as seconds or an HTTP date, up to the backoff cap) and connections dropped mid-answer are retried
  with exponential backoff. When they are exhausted, :class:`USPacsUnavailableError` is raised if the server could
  not be reached or kept failing (nothing to blame on one study); a transfer that kept breaking after the server
  answered raises :class:`USDicomWebError` (the study's problem, e.g. an instance the server cannot send).
- TLS certificates are verified (``ca_bundle`` for a hospital CA); a failed verification is not retried.

Every message goes through the client's :class:`~monai_ext.services.dicomweb_auth.USSecretRedactor`.
"""

from __future__ import annotations

import datetime
import email.utils
import http.client
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from .dicomweb_auth import USDicomWebAuth, USSecretRedactor, split_url_credentials, url_origin

__all__ = [
    "USAnswerTooLargeError",
    "USDicomWebError",
    "USDicomWebTransport",
    "USHttpAnswer",
    "USPacsUnavailableError",
    "USRetryPolicy",
    "parse_retry_after",
]

logger = logging.getLogger(__name__)

_CHUNK = 64 * 1024
_ERROR_SNIPPET_BYTES = 1024  # of an error answer's body, quoted in the message
_WATCH_TICK = 0.05  # seconds between the watchdog's looks at the deadline and the stop event


class USDicomWebError(RuntimeError):
    """A DICOMweb request failed for good (client error, malformed or oversize answer, refused instances).

    Attributes:
        status: the HTTP status code, when there was an answer.
        url: the request URL (never with credentials).
    """

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.url = url


class USPacsUnavailableError(USDicomWebError):
    """The PACS could not be reached (connection errors, timeouts, 5xx answers) after every retry, or a shutdown
    was requested during the request."""


class USAnswerTooLargeError(USDicomWebError):
    """An answer exceeded its byte limit (it was not read further)."""


@dataclass(frozen=True)
class USRetryPolicy:
    """Retries of one DICOMweb request.

    The k-th retry (k = 0, 1, ...) waits ``min(backoff * 2**k, max_backoff)`` seconds, so the defaults wait
    0.5 + 1 + 2 + 4 + 8 + 16 = 31.5 s in total before giving up.

    Args:
        max_retries: retries after the first attempt (0 = no retry).
        backoff: first wait in seconds.
        max_backoff: cap of one wait (also of a server's ``Retry-After``).
        statuses: HTTP statuses treated as transient.
    """

    max_retries: int = 6
    backoff: float = 0.5
    max_backoff: float = 30.0
    statuses: tuple[int, ...] = (408, 429, 500, 502, 503, 504)

    def __post_init__(self) -> None:
        if int(self.max_retries) != self.max_retries or self.max_retries < 0:
            raise ValueError(f"max_retries must be a non-negative integer, got {self.max_retries!r}.")
        if self.backoff < 0 or self.max_backoff < 0:
            raise ValueError(f"backoff and max_backoff must be >= 0, got {self.backoff!r}, {self.max_backoff!r}.")

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (0-based)."""
        return float(min(self.backoff * (2**retry), self.max_backoff))


def parse_retry_after(value: str | None, now: datetime.datetime | None = None) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delay-seconds or HTTP-date, RFC 9110), or None when absent
    or unparsable. Only ASCII digits count (``str.isdigit`` also accepts e.g. superscripts); dates in the past
    give 0."""
    value = (value or "").strip()
    if not value or len(value) > 64:
        return None
    if re.fullmatch(r"[0-9]{1,10}", value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return max(0.0, (when - now).total_seconds())


# -- wall-clock deadline -----------------------------------------------------------------------------------------
class _AttemptWatch:
    """Shuts the sockets of one request attempt down at its deadline or when ``stop_event`` is set."""

    def __init__(self, seconds: float, stop_event: threading.Event) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.stop_event = stop_event
        self.reason: str | None = None  # "deadline" or "stop" once fired
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dicomweb-deadline", daemon=True)
        self._thread.start()

    def attach(self, sock: socket.socket) -> None:
        try:  # a duplicate of the descriptor: urllib3 may wrap (TLS) or close its own object meanwhile
            dup = socket.fromfd(sock.fileno(), sock.family, sock.type, sock.proto)
        except OSError:
            return
        with self._lock:
            self._socks.append(dup)
            if self.reason is not None:
                self._shutdown(dup)

    @staticmethod
    def _shutdown(sock: socket.socket) -> None:
        try:  # shutdown, not close: it wakes a thread blocked in recv() or send() on the same socket
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _run(self) -> None:
        while not self._done.wait(_WATCH_TICK):
            reason = "stop" if self.stop_event.is_set() else "deadline" if time.monotonic() >= self.deadline else None
            if reason is not None:
                with self._lock:
                    self.reason = reason
                    for sock in self._socks:
                        self._shutdown(sock)
                return

    def finish(self) -> None:
        self._done.set()
        self._thread.join()
        with self._lock:
            for sock in self._socks:
                sock.close()
            self._socks.clear()


_CURRENT = threading.local()  # the watch of the attempt running in this thread (requests is synchronous)


def _watch_socket(sock: socket.socket | None) -> None:
    watch = getattr(_CURRENT, "watch", None)
    if watch is not None and sock is not None:
        watch.attach(sock)


class _WatchedConnectionMixin:
    # _new_conn() returns the socket before any TLS handshake or proxy tunnel reads from it; request() covers a
    # kept-alive connection reused from the pool (its socket exists already).
    def _new_conn(self):  # type: ignore[no-untyped-def]
        sock = super()._new_conn()  # type: ignore[misc]
        _watch_socket(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch_socket(self.sock)  # type: ignore[attr-defined]
        return super().request(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_WatchedConnectionMixin, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedConnectionMixin, HTTPSConnection):
    pass


class _WatchedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS = {"http": _WatchedHTTPConnectionPool, "https": _WatchedHTTPSConnectionPool}


class _WatchedAdapter(HTTPAdapter):
    """requests adapter whose connections register their sockets with the running attempt's watch."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_WATCHED_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS pools are their own classes: deadline checks per chunk
            manager.pool_classes_by_scheme = dict(_WATCHED_POOLS)
        return manager


# -- answers -----------------------------------------------------------------------------------------------------
class USBodySink(Protocol):
    """Where a streamed answer goes (e.g. a multipart splitter writing to disk)."""

    def write(self, data: bytes) -> Any: ...

    def close(self) -> Any: ...

    def discard(self) -> None: ...


@dataclass
class USHttpAnswer:
    """One answer: status, headers, final URL, and the body (``content``) or what the sink's ``close()`` returned.

    Attributes:
        status: HTTP status.
        headers: response headers (case-insensitive).
        url: the request URL.
        content: the body, when no sink was given.
        result: the sink's ``close()`` value, when a sink was given.
        size: bytes received.
    """

    status: int
    headers: Mapping[str, str]
    url: str
    content: bytes | None = None
    result: Any = None
    size: int = 0


class _Transient(Exception):
    def __init__(self, problem: str, *, reached: bool, retry_after: float | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.reached = reached  # the server answered (headers received): a broken transfer, not an outage
        self.retry_after = retry_after


class USDicomWebTransport:
    """HTTP requests under a DICOMweb root with the guarantees of the module docstring.

    Args:
        url: DICOMweb root, e.g. ``https://pacs.example.org/dicom-web``. Credentials in it are removed from the
            URL and used as basic authentication (with a warning: give them through ``auth`` instead).
        auth: authentication of every request.
        ca_bundle: CA certificates (file or ``c_rehash`` folder) to verify the server with, instead of the system
            ones. Verification cannot be turned off.
        retry: retry policy of every request.
        timeout: ``requests`` timeout: seconds, or ``(connect, read)``; applies per socket operation.
        deadline: wall-clock seconds one attempt may take, headers and body together.
        stop_event: when set, a running attempt and any backoff wait end at once with
            :class:`USPacsUnavailableError`.
        session: a ``requests.Session`` to use; its http/https adapters are replaced by watched ones.
        headers: extra headers sent with every request; values of headers named like a credential (auth, token,
            key, cookie, secret) are redacted.
    """

    def __init__(
        self,
        url: str,
        *,
        auth: USDicomWebAuth | None = None,
        ca_bundle: str | os.PathLike | None = None,
        retry: USRetryPolicy | None = None,
        timeout: float | tuple[float, float] = (10.0, 300.0),
        deadline: float = 900.0,
        stop_event: threading.Event | None = None,
        session: requests.Session | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.redactor = USSecretRedactor()
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            shown = self.redactor.redact(str(url))
            raise ValueError(f"DICOMweb url must start with http:// or https://, got {shown!r}.")
        clean, user, password = split_url_credentials(url)
        if user is not None or password is not None:
            if auth is not None:
                raise ValueError(
                    f"the DICOMweb url {self.redactor.redact(url)!r} holds credentials and an authentication is "
                    "given too: remove user:password@ from the url."
                )
            if not password:
                raise ValueError(
                    f"the DICOMweb url {self.redactor.redact(url)!r} names a user but no password: give the user "
                    "with --username and the password with --password-env or --password-file."
                )
            auth = USDicomWebAuth.basic(user or "", password)
            logger.warning("credentials in the DICOMweb url are used as basic authentication; pass them through "
                           "--username and --password-env/--password-file instead")
        parts = urlsplit(clean)
        if not parts.hostname or parts.query or parts.fragment:
            raise ValueError(f"DICOMweb url {clean!r} must name a host and hold no query or fragment.")
        if deadline is None or not deadline > 0:
            raise ValueError(f"deadline must be a positive number of seconds, got {deadline!r}.")
        pair = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        if len(pair) != 2 or not all(isinstance(x, (int, float)) and x > 0 for x in pair):
            raise ValueError(f"timeout must be positive seconds or a (connect, read) pair of them, got {timeout!r}.")
        self.url = clean.rstrip("/")
        self.auth = auth
        if auth is not None:
            self.redactor.add(auth.secrets)
            if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
                logger.warning("credentials are sent unencrypted over http:// to %s: use https://", parts.hostname)
        self.headers = {"Accept-Encoding": "identity", **dict(headers or {})}
        secret_header = re.compile(r"(?i)auth|token|key|cookie|secret")
        self.redactor.add(v for k, v in self.headers.items() if secret_header.search(k) and isinstance(v, str))
        if ca_bundle is not None:
            ca = Path(ca_bundle).expanduser()
            if not ca.exists():
                raise ValueError(f"--ca-bundle {str(ca)!r} does not exist: give the PEM file of the hospital CA.")
            self.verify: bool | str = str(ca)
        else:
            self.verify = True
        self.retry = retry or USRetryPolicy()
        self.timeout = timeout
        self.deadline = float(deadline)
        self.stop_event = stop_event or threading.Event()
        self.session = session or requests.Session()
        adapter = _WatchedAdapter()
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def redact(self, text: str) -> str:
        """``text`` with the credentials of this transport replaced by ``***``."""
        return self.redactor.redact(text)

    def url_for(self, segments: Sequence[str]) -> str:
        """The URL of a path below the root, each segment percent-encoded (``/``, ``?``, ``#`` included).

        Raises:
            ValueError: on an empty, ``.`` or ``..`` segment (they would move the path).
        """
        for seg in segments:
            if not isinstance(seg, str) or seg in ("", ".", ".."):
                raise ValueError(f"URL path segment {seg!r} is empty or a dot segment.")
        return "/".join([self.url, *(quote(seg, safe="") for seg in segments)])

    # -- one request -------------------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        segments: Sequence[str],
        *,
        params: Sequence[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
        data: bytes | Path | None = None,
        ok_statuses: Sequence[int] = (),
        max_bytes: int,
        limit_hint: str = "",
        sink_factory: Callable[[Mapping[str, str]], USBodySink] | None = None,
    ) -> USHttpAnswer:
        """Send a request with retries and read its answer within ``max_bytes``.

        Args:
            method: HTTP method.
            segments: path segments below the root (encoded by :meth:`url_for`).
            params: query parameters.
            headers: extra headers of this request.
            data: request body: bytes, or a file sent from disk (re-read at each retry).
            ok_statuses: statuses >= 400 returned instead of raised (e.g. 409 of STOW-RS).
            max_bytes: the most answer bytes accepted.
            limit_hint: how to raise the limit, for the error message (e.g. ``"--max-instance-bytes"``).
            sink_factory: ``f(response headers) -> sink`` receiving the body instead of memory; called anew for
                each attempt; the sink is discarded when the attempt fails.

        Raises:
            USPacsUnavailableError: retries exhausted without a usable answer, or the stop event was set.
            USAnswerTooLargeError: the answer exceeded ``max_bytes``.
            USDicomWebError: any other failure (4xx, a redirect, a broken transfer after every retry, ...).
        """
        url = self.url_for(segments)
        headers = {**self.headers, **dict(headers or {})}
        problem, reached = "", False
        for attempt in range(self.retry.max_retries + 1):
            if self.stop_event.is_set():
                raise USPacsUnavailableError(f"{method} {url}: shutdown requested.", url=url)
            try:
                return self._attempt(method, url, params, headers, data, ok_statuses, max_bytes, limit_hint,
                                     sink_factory)
            except _Transient as e:
                problem, reached, retry_after = self.redact(e.problem), e.reached, e.retry_after
            if attempt == self.retry.max_retries:
                break
            wait = self.retry.delay(attempt) if retry_after is None else min(retry_after, self.retry.max_backoff)
            logger.warning("%s %s: %s; retry %d/%d in %.1f s", method, url, problem, attempt + 1,
                           self.retry.max_retries, wait)
            if self.stop_event.wait(wait):
                raise USPacsUnavailableError(f"{method} {url}: shutdown requested while retrying ({problem}).",
                                             url=url)
        cls = USDicomWebError if reached else USPacsUnavailableError
        what = "the transfer kept breaking" if reached else "PACS unavailable"
        raise cls(f"{method} {url}: {what} after {self.retry.max_retries + 1} attempt(s) ({problem}).", url=url)

    def _attempt(self, method, url, params, headers, data, ok_statuses, max_bytes, limit_hint, sink_factory):
        watch = _AttemptWatch(self.deadline, self.stop_event)
        _CURRENT.watch = watch
        resp = body_file = None
        try:
            if isinstance(data, Path):
                body_file = data.open("rb")
            try:
                resp = self.session.request(
                    method, url, params=list(params), headers=headers, data=body_file or data, auth=self.auth,
                    verify=self.verify, timeout=self.timeout, allow_redirects=False, stream=True,
                )
            except requests.exceptions.SSLError as e:
                if watch.reason is None and "CERTIFICATE_VERIFY_FAILED" in str(e):
                    raise USDicomWebError(
                        self.redact(f"{method} {url}: the server's TLS certificate could not be verified ({e}); "
                                    "if the PACS uses a hospital CA, give its PEM file with --ca-bundle PATH."),
                        url=url,
                    ) from None
                raise self._cut_or_transient(watch, method, url, e, reached=False) from None
            except (requests.ConnectionError, requests.Timeout) as e:
                raise self._cut_or_transient(watch, method, url, e, reached=False) from None
            except requests.RequestException as e:
                raise USDicomWebError(self.redact(f"{method} {url} failed: {type(e).__name__}: {e}"), url=url) from None
            return self._read_answer(resp, watch, method, url, ok_statuses, max_bytes, limit_hint, sink_factory)
        finally:
            watch.finish()
            _CURRENT.watch = None
            if resp is not None:
                resp.close()  # never hands a half-read connection back to the pool
            if body_file is not None:
                body_file.close()

    def _cut_or_transient(self, watch, method, url, error, *, reached):
        if watch.reason == "stop":
            return USPacsUnavailableError(f"{method} {url}: shutdown requested during the request.", url=url)
        if watch.reason == "deadline":
            return _Transient(f"no complete answer within the {watch.seconds:g} s deadline (--request-deadline)",
                              reached=reached)
        return _Transient(f"{type(error).__name__}: {error}", reached=reached)

    def _read_answer(self, resp, watch, method, url, ok_statuses, max_bytes, limit_hint, sink_factory):
        status = resp.status_code
        if 300 <= status < 400:
            target = url_origin(resp.headers.get("Location", ""), base=url) if resp.headers.get("Location") else "?"
            raise USDicomWebError(
                f"{method} {url} answered HTTP {status}, a redirect to {target}: redirects are not followed (they "
                "would carry the request and its credentials elsewhere); set --url to the final DICOMweb root.",
                status=status,
                url=url,
            )
        if status in self.retry.statuses:
            retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            raise _Transient(f"HTTP {status}", reached=False, retry_after=retry_after)
        if status >= 400 and status not in ok_statuses:
            snippet = self._snippet(resp)
            raise USDicomWebError(self.redact(f"{method} {url} failed with HTTP {status}: {snippet!r}"),
                                  status=status, url=url)
        encoding = resp.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise USDicomWebError(
                f"{method} {url} answered with Content-Encoding {encoding[:40]!r} although identity was requested: "
                "compressed answers are refused (their size is unknown until decoded); disable compression of the "
                "PACS's DICOMweb answers.",
                status=status,
                url=url,
            )
        declared = resp.headers.get("Content-Length", "")
        hint = f" (raise it with {limit_hint})" if limit_hint else ""
        if declared.strip().isascii() and declared.strip().isdigit() and int(declared) > max_bytes:
            raise USAnswerTooLargeError(
                f"{method} {url}: the answer declares {int(declared)} bytes, over the limit of {max_bytes}{hint}; "
                "nothing was read.",
                status=status,
                url=url,
            )
        sink = sink_factory(resp.headers) if sink_factory is not None else None
        buf = bytearray()
        size = 0
        try:
            try:
                for chunk in resp.raw.stream(_CHUNK, decode_content=False):
                    size += len(chunk)
                    if size > max_bytes:
                        raise USAnswerTooLargeError(
                            f"{method} {url}: the answer exceeds the limit of {max_bytes} bytes{hint}; refused "
                            "after reading that much.",
                            status=status,
                            url=url,
                        )
                    if sink is not None:
                        sink.write(chunk)
                    else:
                        buf += chunk
                    if watch.reason is not None:
                        raise self._cut_or_transient(watch, method, url, None, reached=True)
            except (urllib3.exceptions.HTTPError, requests.RequestException, http.client.HTTPException, OSError) as e:
                # ProtocolError / IncompleteRead / a reset: the connection broke mid-answer (or the watch cut it)
                cut = self._cut_or_transient(watch, method, url, e, reached=True)
                if isinstance(cut, _Transient) and watch.reason is None:
                    cut = _Transient(f"connection dropped after {size} byte(s) of the answer ({type(e).__name__}: "
                                     f"{e})", reached=True)
                raise cut from None
            if watch.reason is not None:  # the watch fired right after the last chunk
                raise self._cut_or_transient(watch, method, url, None, reached=True)
            result = sink.close() if sink is not None else None
        except BaseException:
            if sink is not None:
                sink.discard()
            raise
        return USHttpAnswer(status, resp.headers, url, None if sink is not None else bytes(buf), result, size)

    @staticmethod
    def _snippet(resp: requests.Response) -> str:
        try:
            data = resp.raw.read(_ERROR_SNIPPET_BYTES, decode_content=False) or b""
        except Exception:  # the body of an error answer is a courtesy; its absence is not another error
            data = b""
        return data.decode("utf-8", "replace")

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()
