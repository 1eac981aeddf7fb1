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
"""``multipart/related`` bodies of DICOMweb (WADO-RS answers, STOW-RS requests), split and built in bounded memory.

:class:`USMultipartSplitter` is an incremental parser (RFC 2046 delimiters, the boundary read with :mod:`email`'s
header parser, which handles quoting and parameter case): fed the body chunk by chunk, it writes each part's
content to a file-like object of the caller's choosing, so a WADO-RS answer goes from the socket to disk without
being held in memory. It holds at most one chunk plus a delimiter's length, and refuses a boundary longer than
RFC 2046's 70 characters, part headers over ``max_header_bytes``, a preamble over ``max_preamble_bytes`` and more
than ``max_parts`` parts. Header values (names, Content-Location) are never used to name files.

No installed library parses multipart/related incrementally, hence this module.
"""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Callable, Iterable, Sequence
from email.message import Message
from pathlib import Path
from typing import BinaryIO

from .dicomweb_transport import USDicomWebError

__all__ = [
    "USMultipartSplitter",
    "content_type_params",
    "encode_multipart_related",
    "parse_multipart_related",
    "write_multipart_related",
]

_MAX_BOUNDARY = 70  # RFC 2046 section 5.1.1
_MAX_DELIMITER_LINE = 1024  # a delimiter line: the boundary, "--" or transport padding, CRLF


def content_type_params(content_type: str) -> tuple[str, dict[str, str]]:
    """The media type (lower case) and parameters (names lower-cased) of a ``Content-Type`` value."""
    msg = Message()
    msg["content-type"] = content_type[:4096]
    params = {k.lower(): v for k, v in (msg.get_params() or [])[1:]}
    return msg.get_content_type(), params


class USMultipartSplitter:
    """Incremental ``multipart/related`` parser (see the module docstring).

    Args:
        content_type: the body's ``Content-Type`` header (holds the boundary).
        open_part: ``open_part(index, headers) -> binary file`` for each part (0-based index, header names
            lower-cased); the splitter closes it when the part ends.
        max_parts: the most parts accepted.
        max_header_bytes: the most bytes of one part's header block.
        max_preamble_bytes: the most bytes before the first delimiter.

    Raises:
        USDicomWebError: from the constructor when the type is not multipart or the boundary is missing or too
            long; from :meth:`write` / :meth:`close` when the body is malformed, truncated or over a limit.
    """

    def __init__(
        self,
        content_type: str,
        open_part: Callable[[int, dict[str, str]], BinaryIO],
        *,
        max_parts: int = 1000,
        max_header_bytes: int = 16 * 1024,
        max_preamble_bytes: int = 64 * 1024,
    ) -> None:
        mime, params = content_type_params(content_type or "")
        boundary = params.get("boundary", "")
        if not mime.startswith("multipart/") or not boundary:
            raise USDicomWebError(
                f"expected a multipart answer with a boundary, got Content-Type {content_type[:200]!r}."
            )
        if len(boundary) > _MAX_BOUNDARY or not boundary.isascii():
            raise USDicomWebError(
                f"multipart boundary {boundary[:100]!r} is not 1 to {_MAX_BOUNDARY} ASCII characters (RFC 2046)."
            )
        self._delimiter = b"--" + boundary.encode("ascii")
        self._open_part = open_part
        self.max_parts = max_parts
        self.max_header_bytes = max_header_bytes
        self.max_preamble_bytes = max_preamble_bytes
        self._buf = bytearray()
        self._state = "preamble"
        self._skipped = 0  # preamble bytes dropped
        self._out: BinaryIO | None = None
        self.parts: list[dict[str, str]] = []  # headers of each part seen
        self.sizes: list[int] = []  # content bytes of each part

    @property
    def done(self) -> bool:
        """True once the close delimiter was read."""
        return self._state == "done"

    def write(self, data: bytes) -> None:
        """Feed the next bytes of the body."""
        if self._state == "done":
            return  # the epilogue is ignored
        self._buf += data
        while self._step():
            pass

    def _step(self) -> bool:  # one state transition; False when more data is needed
        buf, delim = self._buf, self._delimiter
        if self._state == "preamble":
            pos = buf.find(delim)
            if pos < 0:
                keep = len(delim) - 1
                drop = max(0, len(buf) - keep)
                self._skipped += drop
                del buf[:drop]
                if self._skipped > self.max_preamble_bytes:
                    raise USDicomWebError(
                        f"multipart body has no boundary in its first {self.max_preamble_bytes} bytes."
                    )
                return False
            del buf[: pos + len(delim)]
            self._state = "delimiter"
            return True
        if self._state == "delimiter":
            if len(buf) < 2:
                return False
            if buf[:2] == b"--":
                self._state = "done"
                buf.clear()
                return False
            eol = buf.find(b"\r\n")
            if eol < 0:
                if len(buf) > _MAX_DELIMITER_LINE:
                    raise USDicomWebError("multipart delimiter line is not followed by a line break.")
                return False
            del buf[: eol + 2]
            self._state = "headers"
            return True
        if self._state == "headers":
            if len(buf) < 2:
                return False
            if buf[:2] == b"\r\n":  # a part without headers
                head, skip = b"", 2
            else:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(buf) > self.max_header_bytes:
                        raise USDicomWebError(
                            f"multipart part {len(self.parts) + 1} has no end of headers within "
                            f"{self.max_header_bytes} bytes."
                        )
                    return False
                if end > self.max_header_bytes:
                    raise USDicomWebError(
                        f"multipart part {len(self.parts) + 1} has {end} bytes of headers, over "
                        f"{self.max_header_bytes}."
                    )
                head, skip = bytes(buf[:end]), end + 4
            if len(self.parts) >= self.max_parts:
                raise USDicomWebError(f"multipart body holds more than {self.max_parts} part(s).")
            headers = {}
            for line in head.decode("latin-1").split("\r\n"):
                name, colon, value = line.partition(":")
                if colon:
                    headers[name.strip().lower()] = value.strip()
            del buf[:skip]
            self.parts.append(headers)
            self.sizes.append(0)
            self._out = self._open_part(len(self.parts) - 1, headers)
            self._state = "body"
            return True
        if self._state == "body":
            pattern = b"\r\n" + delim
            pos = buf.find(pattern)
            if pos < 0:
                safe = len(buf) - (len(pattern) - 1)
                if safe > 0:
                    self._emit(buf[:safe])
                    del buf[:safe]
                return False
            self._emit(buf[:pos])
            del buf[: pos + len(pattern)]
            self._out.close()  # type: ignore[union-attr]
            self._out = None
            self._state = "delimiter"
            return True
        return False

    def _emit(self, data: bytearray) -> None:
        if data:
            self._out.write(data)  # type: ignore[union-attr]
            self.sizes[-1] += len(data)

    def close(self) -> list[dict[str, str]]:
        """End of the body: returns the headers of every part.

        Raises:
            USDicomWebError: when the close delimiter was not reached (truncated body).
        """
        if self._state != "done":
            complete = len(self.parts) - int(self._state == "body")
            self.discard()
            raise USDicomWebError(f"multipart body is truncated after {complete} complete part(s).")
        return self.parts

    def discard(self) -> None:
        """Close the part being written (after an error)."""
        if self._out is not None:
            self._out.close()
            self._out = None


def parse_multipart_related(
    body: bytes, content_type: str, max_parts: int = 1000
) -> list[tuple[dict[str, str], bytes]]:
    """Split a ``multipart/related`` body held in memory into its parts.

    Args:
        body: the raw HTTP body.
        content_type: the HTTP ``Content-Type`` header of the body (holds the boundary).
        max_parts: the most parts accepted.

    Returns:
        ``(headers, content)`` per part, header names lower-cased.

    Raises:
        USDicomWebError: when the content type is not multipart or the body is truncated or malformed.
    """
    contents: list[io.BytesIO] = []

    def open_part(index: int, headers: dict[str, str]) -> BinaryIO:
        contents.append(_KeptBytesIO())
        return contents[-1]

    splitter = USMultipartSplitter(content_type, open_part, max_parts=max_parts)
    splitter.write(body)
    headers = splitter.close()
    return [(h, c.getvalue()) for h, c in zip(headers, contents)]


class _KeptBytesIO(io.BytesIO):
    def close(self) -> None:  # keep the value readable after the splitter closes the part
        pass


def encode_multipart_related(contents: Iterable[bytes], part_type: str = "application/dicom") -> tuple[bytes, str]:
    """Build a ``multipart/related`` body in memory.

    Args:
        contents: the payload of each part.
        part_type: the media type of every part.

    Returns:
        the body and the matching ``Content-Type`` header value.
    """
    contents = list(contents)
    boundary = uuid.uuid4().hex
    while any(boundary.encode() in c for c in contents):  # practically never; keeps the body unambiguous
        boundary = uuid.uuid4().hex
    chunks = []
    for c in contents:
        chunks += [b"--", boundary.encode(), b"\r\nContent-Type: ", part_type.encode(), b"\r\n\r\n", c, b"\r\n"]
    chunks += [b"--", boundary.encode(), b"--\r\n"]
    return b"".join(chunks), f'multipart/related; type="{part_type}"; boundary={boundary}'


def write_multipart_related(
    files: Sequence[str | os.PathLike], out_path: str | os.PathLike, part_type: str = "application/dicom"
) -> str:
    """Write a ``multipart/related`` body of files to ``out_path`` (copied in chunks, never whole in memory).

    Returns:
        the matching ``Content-Type`` header value.
    """
    files = [Path(f) for f in files]
    while True:
        boundary = uuid.uuid4().hex.encode()
        with open(out_path, "wb") as out:
            clash = False
            for f in files:
                out.write(b"--" + boundary + b"\r\nContent-Type: " + part_type.encode() + b"\r\n\r\n")
                tail = b""
                with f.open("rb") as src:
                    while chunk := src.read(1 << 20):
                        if boundary in tail + chunk:  # practically never; a new boundary keeps the body unambiguous
                            clash = True
                            break
                        out.write(chunk)
                        tail = chunk[-len(boundary) :]
                if clash:
                    break
                out.write(b"\r\n")
            if not clash:
                out.write(b"--" + boundary + b"--\r\n")
                return f'multipart/related; type="{part_type}"; boundary={boundary.decode()}'

