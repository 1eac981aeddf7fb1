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
"""A small DICOMweb client (QIDO-RS, WADO-RS, STOW-RS) on plain ``requests``, with retries and multipart handling.

Only what the hospital pipeline needs (spec ultrasound-dicom.md §8): search studies / series / instances, retrieve
one instance as stored (``transfer-syntax=*``, so JPEG clips are not transcoded), and store files. Every request is
retried with exponential backoff on connection errors, timeouts and transient statuses (408, 429, 500, 502, 503,
504; ``Retry-After`` is honoured up to the backoff cap), so a PACS that restarts for a few seconds loses nothing.
When the retries are exhausted :class:`USPacsUnavailableError` is raised; any other failure (4xx, a malformed
answer, instances the server refused) raises :class:`USDicomWebError`.

``multipart/related`` bodies (WADO-RS answers, STOW-RS requests) are built and split here in a few lines (RFC 2046
delimiters, the boundary read with :mod:`email`'s header parser) because no installed library does it.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import requests

__all__ = [
    "USDicomWebClient",
    "USDicomWebError",
    "USPacsUnavailableError",
    "USRetryPolicy",
    "dicom_json_value",
    "encode_multipart_related",
    "parse_multipart_related",
]

logger = logging.getLogger(__name__)

_DICOM_JSON = "application/dicom+json"
# "transfer-syntax=*": the instance exactly as stored (Orthanc otherwise transcodes to Explicit VR Little Endian).
_WADO_INSTANCE_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'
_REFERENCED_SOP_SEQUENCE = "00081199"
_FAILED_SOP_SEQUENCE = "00081198"
_FAILURE_REASON = "00081197"
_REFERENCED_SOP_INSTANCE_UID = "00081155"
_KEYWORD_TAGS = {
    "StudyInstanceUID": "0020000D",
    "SeriesInstanceUID": "0020000E",
    "SOPInstanceUID": "00080018",
    "SOPClassUID": "00080016",
    "Modality": "00080060",
    "ModalitiesInStudy": "00080061",
    "Manufacturer": "00080070",
    "SeriesDescription": "0008103E",
    "NumberOfFrames": "00280008",
}


class USDicomWebError(RuntimeError):
    """A DICOMweb request failed for good (client error, malformed answer, refused instances).

    Attributes:
        status: the HTTP status code, when there was an answer.
        url: the request URL.
    """

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.url = url


class USPacsUnavailableError(USDicomWebError):
    """The PACS could not be reached (connection errors, timeouts or 5xx answers) after every retry."""


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


def dicom_json_value(item: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """First value of an attribute of a DICOM JSON dataset (PS3.18 F.2), or ``default`` when absent or empty.

    Args:
        item: one dataset of a QIDO-RS answer.
        key: a keyword known to this module (e.g. ``"StudyInstanceUID"``) or an 8-digit hex tag (``"0020000D"``).
    """
    tag = _KEYWORD_TAGS.get(key, key).upper()
    values = (item.get(tag) or {}).get("Value") or []
    return values[0] if values else default


def _content_type_params(content_type: str) -> tuple[str, dict[str, str]]:
    # email's header parser handles quoting and parameter case, which hand-splitting on ";" gets wrong.
    msg = Message()
    msg["content-type"] = content_type
    params = {k.lower(): v for k, v in msg.get_params()[1:]}
    return msg.get_content_type(), params


def parse_multipart_related(body: bytes, content_type: str) -> list[tuple[dict[str, str], bytes]]:
    """Split a ``multipart/related`` body into its parts.

    Args:
        body: the raw HTTP body.
        content_type: the HTTP ``Content-Type`` header of the body (holds the boundary).

    Returns:
        ``(headers, content)`` per part, header names lower-cased.

    Raises:
        USDicomWebError: when the content type is not multipart or the body is truncated or malformed.
    """
    mime, params = _content_type_params(content_type)
    boundary = params.get("boundary")
    if not mime.startswith("multipart/") or not boundary:
        raise USDicomWebError(f"expected a multipart answer with a boundary, got Content-Type {content_type!r}.")
    delimiter = b"--" + boundary.encode("latin-1")
    pos = body.find(delimiter)
    if pos < 0:
        raise USDicomWebError("multipart body does not contain its boundary.")
    parts: list[tuple[dict[str, str], bytes]] = []
    while True:
        pos += len(delimiter)
        if body[pos : pos + 2] == b"--":  # close delimiter
            return parts
        line_end = body.find(b"\r\n", pos)  # skip transport padding after the delimiter
        end = body.find(b"\r\n" + delimiter, line_end)
        if line_end < 0 or end < 0:
            raise USDicomWebError(f"multipart body is truncated after {len(parts)} part(s).")
        part = body[line_end + 2 : end]
        if part.startswith(b"\r\n"):  # a part without headers
            head, content = b"", part[2:]
        else:
            head, sep, content = part.partition(b"\r\n\r\n")
            if not sep:
                raise USDicomWebError(f"multipart part {len(parts) + 1} has no header/body separator.")
        headers = {}
        for line in head.decode("latin-1").split("\r\n"):
            name, colon, value = line.partition(":")
            if colon:
                headers[name.strip().lower()] = value.strip()
        parts.append((headers, content))
        pos = end + 2


def encode_multipart_related(
    contents: Iterable[bytes], part_type: str = "application/dicom"
) -> tuple[bytes, str]:
    """Build a ``multipart/related`` body (for STOW-RS).

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


class USDicomWebClient:
    """QIDO-RS / WADO-RS / STOW-RS client with retries (see the module docstring).

    Args:
        url: DICOMweb root, e.g. ``http://127.0.0.1:8042/dicom-web``.
        retry: retry policy of every request.
        timeout: ``requests`` timeout: seconds, or ``(connect, read)``.
        stop_event: when set, backoff waits end at once and the request gives up with
            :class:`USPacsUnavailableError` (used for a clean shutdown).
        session: a ``requests.Session`` to use (e.g. with authentication); a new one by default.
        headers: extra headers sent with every request (e.g. an ``Authorization`` token).

    Example::

        client = USDicomWebClient("http://127.0.0.1:8042/dicom-web")
        studies = client.search_studies({"ModalitiesInStudy": "US"})
    """

    def __init__(
        self,
        url: str,
        *,
        retry: USRetryPolicy | None = None,
        timeout: float | tuple[float, float] = (10.0, 300.0),
        stop_event: threading.Event | None = None,
        session: requests.Session | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"DICOMweb url must start with http:// or https://, got {url!r}.")
        self.url = url.rstrip("/")
        self.retry = retry or USRetryPolicy()
        self.timeout = timeout
        self.stop_event = stop_event or threading.Event()
        self.session = session or requests.Session()
        self.headers = dict(headers or {})

    # -- transport -------------------------------------------------------------------------------------------
    def _request(self, method: str, path: str, ok_statuses: Sequence[int] = (), **kwargs: Any) -> requests.Response:
        url = f"{self.url}/{path.lstrip('/')}"
        headers = {**self.headers, **kwargs.pop("headers", {})}
        for attempt in range(self.retry.max_retries + 1):
            wait, problem = None, ""
            try:
                resp = self.session.request(method, url, headers=headers, timeout=self.timeout, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as e:
                problem = f"{type(e).__name__}: {e}"
            else:
                if resp.status_code not in self.retry.statuses:
                    if resp.status_code >= 400 and resp.status_code not in ok_statuses:
                        raise USDicomWebError(
                            f"{method} {url} failed with HTTP {resp.status_code}: {resp.text[:300]!r}",
                            status=resp.status_code,
                            url=url,
                        )
                    return resp
                problem = f"HTTP {resp.status_code}"
                retry_after = resp.headers.get("Retry-After", "")
                if retry_after.strip().isdigit():
                    wait = min(float(retry_after), self.retry.max_backoff)
            if attempt == self.retry.max_retries:
                break
            wait = self.retry.delay(attempt) if wait is None else wait
            logger.warning(
                "%s %s: %s; retry %d/%d in %.1f s", method, url, problem, attempt + 1, self.retry.max_retries, wait
            )
            if self.stop_event.wait(wait):
                raise USPacsUnavailableError(
                    f"{method} {url}: shutdown requested while retrying ({problem}).", url=url
                )
        raise USPacsUnavailableError(
            f"{method} {url}: PACS unavailable after {self.retry.max_retries + 1} attempt(s) ({problem}).", url=url
        )

    def _qido(self, path: str, filters: Mapping[str, Any] | None, includefields: Sequence[str]) -> list[dict]:
        params: list[tuple[str, str]] = [(k, str(v)) for k, v in (filters or {}).items()]
        params += [("includefield", _KEYWORD_TAGS.get(f, f)) for f in includefields]
        resp = self._request("GET", path, params=params, headers={"Accept": _DICOM_JSON})
        if resp.status_code == 204 or not resp.content.strip():
            return []
        try:
            answer = resp.json()
        except ValueError as e:
            raise USDicomWebError(f"QIDO-RS {resp.url} did not answer JSON: {e}", url=resp.url) from e
        if not isinstance(answer, list):
            raise USDicomWebError(
                f"QIDO-RS {resp.url} answered {type(answer).__name__}, expected a list.", url=resp.url
            )
        return answer

    # -- QIDO-RS ---------------------------------------------------------------------------------------------
    def search_studies(
        self, filters: Mapping[str, Any] | None = None, includefields: Sequence[str] = ()
    ) -> list[dict]:
        """QIDO-RS ``GET /studies``: DICOM JSON datasets of the matching studies.

        Args:
            filters: query parameters, e.g. ``{"ModalitiesInStudy": "US", "StudyDate": "20260101-"}``.
            includefields: extra attributes to return (keywords of this module or hex tags).
        """
        return self._qido("studies", filters, includefields)

    def search_series(
        self, study_uid: str, filters: Mapping[str, Any] | None = None, includefields: Sequence[str] = ()
    ) -> list[dict]:
        """QIDO-RS ``GET /studies/{study}/series``."""
        return self._qido(f"studies/{study_uid}/series", filters, includefields)

    def search_instances(
        self,
        study_uid: str,
        series_uid: str | None = None,
        filters: Mapping[str, Any] | None = None,
        includefields: Sequence[str] = (),
    ) -> list[dict]:
        """QIDO-RS ``GET /studies/{study}[/series/{series}]/instances``."""
        path = f"studies/{study_uid}" + (f"/series/{series_uid}" if series_uid else "") + "/instances"
        return self._qido(path, filters, includefields)

    # -- WADO-RS ---------------------------------------------------------------------------------------------
    def retrieve_instance(
        self, study_uid: str, series_uid: str, sop_instance_uid: str, out_path: str | os.PathLike
    ) -> Path:
        """WADO-RS: save one instance, as stored by the PACS, to ``out_path``.

        Raises:
            USDicomWebError: when the answer does not hold exactly one DICOM part.
        """
        path = f"studies/{study_uid}/series/{series_uid}/instances/{sop_instance_uid}"
        resp = self._request("GET", path, headers={"Accept": _WADO_INSTANCE_ACCEPT})
        parts = parse_multipart_related(resp.content, resp.headers.get("Content-Type", ""))
        if len(parts) != 1:
            raise USDicomWebError(f"WADO-RS {resp.url} returned {len(parts)} parts, expected 1.", url=resp.url)
        headers, content = parts[0]
        if content[128:132] != b"DICM":
            raise USDicomWebError(
                f"WADO-RS {resp.url} part ({headers.get('content-type', 'no content type')}) is not a DICOM file.",
                url=resp.url,
            )
        out = Path(out_path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(content)
        return out

    # -- STOW-RS ---------------------------------------------------------------------------------------------
    def store_instances(self, files: Sequence[str | os.PathLike], study_uid: str | None = None) -> list[str]:
        """STOW-RS: store DICOM files in one request (``POST /studies[/{study}]``).

        Args:
            files: DICOM Part 10 files.
            study_uid: when given, the server checks every instance belongs to this study.

        Returns:
            the SOP Instance UIDs the server reports as stored.

        Raises:
            FileNotFoundError: when a file is missing.
            USDicomWebError: when the server refused any instance (its failure reasons in the message).
        """
        files = [Path(f) for f in files]
        if not files:
            return []
        for f in files:
            if not f.is_file():
                raise FileNotFoundError(f"STOW-RS: file {f} does not exist.")
        body, content_type = encode_multipart_related(f.read_bytes() for f in files)
        path = "studies" + (f"/{study_uid}" if study_uid else "")
        # 409 = every instance refused: its body lists the reasons, reported below like a partial failure (202)
        resp = self._request(
            "POST", path, ok_statuses=(409,), data=body, headers={"Content-Type": content_type, "Accept": _DICOM_JSON}
        )
        try:
            answer = resp.json() if resp.content.strip() else {}
        except ValueError:
            answer = {}
        stored = [
            dicom_json_value(item, _REFERENCED_SOP_INSTANCE_UID)
            for item in (answer.get(_REFERENCED_SOP_SEQUENCE) or {}).get("Value", [])
        ]
        failed = (answer.get(_FAILED_SOP_SEQUENCE) or {}).get("Value", [])
        if failed or resp.status_code in (202, 409):
            reasons = []
            for item in failed:
                code = dicom_json_value(item, _FAILURE_REASON)
                code = f"0x{code:04X}" if isinstance(code, int) else str(code)  # e.g. 0x0110 processing failure
                reasons.append(f"{dicom_json_value(item, _REFERENCED_SOP_INSTANCE_UID)}: failure reason {code}")
            refused = len(failed) or (len(files) if resp.status_code == 409 else len(files) - len(stored))
            details = "; ".join(reasons) or f"HTTP {resp.status_code} without failure details"
            raise USDicomWebError(
                f"STOW-RS {resp.url} refused {refused} of {len(files)} instance(s): {details}",
                status=resp.status_code,
                url=resp.url,
            )
        return [s for s in stored if s]

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()
