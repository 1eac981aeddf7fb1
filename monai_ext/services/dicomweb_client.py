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
"""A small DICOMweb client (QIDO-RS, WADO-RS, STOW-RS) for a PACS that may misbehave.

Only what the hospital pipeline needs: search studies / series / instances, retrieve one instance as stored
(``transfer-syntax=*``, so JPEG clips are not transcoded) straight to disk, and store files. The transport
(:mod:`monai_ext.services.dicomweb_transport`) retries, bounds every answer in size and every request in time,
and never follows a redirect; credentials come from :mod:`monai_ext.services.dicomweb_auth`.

What the PACS answers is checked before it is used:

- UIDs that go into a URL (from QIDO answers or the caller) must be valid DICOM UIDs (PS3.5 9.1: digits and dots,
  no empty component, no leading zero, at most 64 characters), and every path segment is percent-encoded, so a
  ``/``, ``..``, ``?`` or ``#`` in a hostile answer cannot move the request elsewhere. A bad UID raises
  :class:`USInvalidUidError` before any request is sent for it.
- QIDO answers must be JSON lists of datasets, within ``max_json_bytes`` (JSON nested too deep is refused too).
- A WADO-RS answer must be a single-part multipart of at most ``max_instance_bytes`` holding a DICOM file whose
  SOPInstanceUID is the one asked for.
- A STOW-RS store succeeds only when the answer's ReferencedSOPSequence lists every instance sent and its
  FailedSOPSequence is empty; an empty, ``{}``, HTML or partial answer fails (nothing may be lost silently).
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import pydicom
import requests

from .dicomweb_auth import USDicomWebAuth, USSecretRedactor
from .dicomweb_multipart import USMultipartSplitter, write_multipart_related
from .dicomweb_transport import USDicomWebError, USDicomWebTransport, USHttpAnswer, USRetryPolicy

__all__ = [
    "DEFAULT_MAX_INSTANCE_BYTES",
    "DEFAULT_MAX_JSON_BYTES",
    "USDicomWebClient",
    "USInvalidUidError",
    "check_dicom_uid",
    "dicom_json_value",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_INSTANCE_BYTES = 1 << 30
"""Default limit of one WADO-RS answer (1 GiB: a long uncompressed RGB clip)."""
DEFAULT_MAX_JSON_BYTES = 32 << 20
"""Default limit of one QIDO-RS or STOW-RS JSON answer (32 MiB: tens of thousands of studies)."""

_DICOM_JSON = "application/dicom+json"
# "transfer-syntax=*": the instance exactly as stored (Orthanc otherwise transcodes to Explicit VR Little Endian).
_WADO_INSTANCE_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'
_REFERENCED_SOP_SEQUENCE = "00081199"
_FAILED_SOP_SEQUENCE = "00081198"
_FAILURE_REASON = "00081197"
_WARNING_REASON = "00081196"
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
    "NumberOfStudyRelatedInstances": "00201208",
}
_UID = re.compile(r"(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))*")
_JSON_RECURSION_MESSAGE = "JSON nested too deeply"


class USInvalidUidError(USDicomWebError):
    """A UID (from a PACS answer or the caller) is not a valid DICOM UID; no request was sent for it.

    Attributes:
        attribute: the attribute that held it (e.g. ``"StudyInstanceUID"``).
        shown: ``repr`` of the value, shortened to 100 characters (safe to log: no line breaks).
    """

    def __init__(self, attribute: str, value: Any) -> None:
        text = value if isinstance(value, str) else repr(value)
        self.attribute = attribute
        self.shown = repr(text[:100] + ("..." if len(text) > 100 else "")) if isinstance(value, str) else text[:100]
        super().__init__(
            f"{attribute} {self.shown} from the PACS is not a valid DICOM UID (1 to 64 characters of digits and dots, "
            "no empty component, no leading zero): no request is sent for it. Correct it on the PACS, or keep the "
            "study out of the search with --filter."
        )


def check_dicom_uid(value: Any, attribute: str = "UID") -> str:
    """``value`` when it is a valid DICOM UID (PS3.5 9.1), else :class:`USInvalidUidError`."""
    if not isinstance(value, str) or len(value) > 64 or not _UID.fullmatch(value):
        raise USInvalidUidError(attribute, value)
    return value


def dicom_json_value(item: Any, key: str, default: Any = None) -> Any:
    """First value of an attribute of a DICOM JSON dataset (PS3.18 F.2), or ``default`` when absent, empty or
    malformed (a hostile answer may hold anything).

    Args:
        item: one dataset of a QIDO-RS answer.
        key: a keyword known to this module (e.g. ``"StudyInstanceUID"``) or an 8-digit hex tag (``"0020000D"``).
    """
    if not isinstance(item, Mapping):
        return default
    element = item.get(_KEYWORD_TAGS.get(key, key).upper())
    values = element.get("Value") if isinstance(element, Mapping) else None
    return values[0] if isinstance(values, list) and values else default


class _InstanceSink:
    """A WADO-RS answer streamed to ``path``: exactly one multipart part, written as it arrives."""

    def __init__(self, content_type: str, path: Path) -> None:
        self.path = path
        self._splitter = USMultipartSplitter(content_type, self._open, max_parts=1)

    def _open(self, index: int, headers: dict[str, str]) -> BinaryIO:
        return open(self.path, "wb")

    def write(self, data: bytes) -> None:
        self._splitter.write(data)

    def close(self) -> list[dict[str, str]]:
        return self._splitter.close()

    def discard(self) -> None:
        self._splitter.discard()
        self.path.unlink(missing_ok=True)


class USDicomWebClient:
    """QIDO-RS / WADO-RS / STOW-RS client (see the module docstring).

    Args:
        url: DICOMweb root, e.g. ``https://pacs.example.org/dicom-web`` (credentials in it are split off and
            used as basic authentication).
        retry: retry policy of every request.
        timeout: ``requests`` timeout: seconds, or ``(connect, read)``; per socket operation.
        stop_event: when set, a running request and any backoff wait end at once with
            :class:`USPacsUnavailableError` (used for a clean shutdown).
        session: a ``requests.Session`` to use; a new one by default.
        headers: extra headers sent with every request.
        auth: basic or bearer authentication (:class:`~monai_ext.services.dicomweb_auth.USDicomWebAuth`).
        ca_bundle: CA certificates to verify the PACS with (TLS verification is always on).
        deadline: wall-clock seconds of one request attempt.
        max_instance_bytes: the most bytes of one WADO-RS answer.
        max_json_bytes: the most bytes of one QIDO-RS or STOW-RS answer.

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
        auth: USDicomWebAuth | None = None,
        ca_bundle: str | os.PathLike | None = None,
        deadline: float = 900.0,
        max_instance_bytes: int = DEFAULT_MAX_INSTANCE_BYTES,
        max_json_bytes: int = DEFAULT_MAX_JSON_BYTES,
    ) -> None:
        for name, value in (("max_instance_bytes", max_instance_bytes), ("max_json_bytes", max_json_bytes)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive number of bytes, got {value!r}.")
        self.transport = USDicomWebTransport(
            url, auth=auth, ca_bundle=ca_bundle, retry=retry, timeout=timeout, deadline=deadline,
            stop_event=stop_event, session=session, headers=headers,
        )
        self.url = self.transport.url
        self.retry = self.transport.retry
        self.stop_event = self.transport.stop_event
        self.max_instance_bytes = max_instance_bytes
        self.max_json_bytes = max_json_bytes

    @property
    def redactor(self) -> USSecretRedactor:
        """Hides this client's credentials (a :class:`logging.Filter` too)."""
        return self.transport.redactor

    def redact(self, text: str) -> str:
        """``text`` with this client's credentials replaced by ``***``."""
        return self.transport.redact(text)

    # -- JSON answers ----------------------------------------------------------------------------------------
    def _decode_json(self, answer: USHttpAnswer, what: str) -> Any:
        body = answer.content or b""
        if answer.status == 204 or not body.strip():
            return None
        try:
            return json.loads(body)
        except RecursionError:
            problem = _JSON_RECURSION_MESSAGE
        except ValueError as e:  # also UnicodeDecodeError and ints over Python's digit limit
            problem = str(e)[:200]
        ctype = answer.headers.get("Content-Type", "")
        raise USDicomWebError(
            self.redact(f"{what} {answer.url} did not answer DICOM JSON (Content-Type {ctype[:80]!r}, {problem}; "
                        f"the answer starts {body[:80]!r})."),
            status=answer.status,
            url=answer.url,
        )

    def _qido(self, segments: Sequence[str], filters: Mapping[str, Any] | None, includefields: Sequence[str]) -> list:
        params: list[tuple[str, str]] = [(k, str(v)) for k, v in (filters or {}).items()]
        params += [("includefield", _KEYWORD_TAGS.get(f, f)) for f in includefields]
        answer = self.transport.request(
            "GET", segments, params=params, headers={"Accept": _DICOM_JSON}, max_bytes=self.max_json_bytes,
            limit_hint="--max-json-bytes",
        )
        items = self._decode_json(answer, "QIDO-RS")
        if items is None:
            return []
        if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
            kind = type(items).__name__ if not isinstance(items, list) else "a list holding non-datasets"
            raise USDicomWebError(f"QIDO-RS {answer.url} answered {kind}, expected a list of DICOM JSON datasets.",
                                  url=answer.url)
        return items

    # -- QIDO-RS ---------------------------------------------------------------------------------------------
    def search_studies(self, filters: Mapping[str, Any] | None = None, includefields: Sequence[str] = ()) -> list[dict]:
        """QIDO-RS ``GET /studies``: DICOM JSON datasets of the matching studies.

        Args:
            filters: query parameters, e.g. ``{"ModalitiesInStudy": "US", "StudyDate": "20260101-"}``.
            includefields: extra attributes to return (keywords of this module or hex tags).
        """
        return self._qido(["studies"], filters, includefields)

    def search_series(
        self, study_uid: str, filters: Mapping[str, Any] | None = None, includefields: Sequence[str] = ()
    ) -> list[dict]:
        """QIDO-RS ``GET /studies/{study}/series``."""
        return self._qido(["studies", check_dicom_uid(study_uid, "StudyInstanceUID"), "series"], filters,
                          includefields)

    def search_instances(
        self,
        study_uid: str,
        series_uid: str | None = None,
        filters: Mapping[str, Any] | None = None,
        includefields: Sequence[str] = (),
    ) -> list[dict]:
        """QIDO-RS ``GET /studies/{study}[/series/{series}]/instances``."""
        segments = ["studies", check_dicom_uid(study_uid, "StudyInstanceUID")]
        if series_uid is not None:
            segments += ["series", check_dicom_uid(series_uid, "SeriesInstanceUID")]
        return self._qido([*segments, "instances"], filters, includefields)

    # -- WADO-RS ---------------------------------------------------------------------------------------------
    def retrieve_instance(
        self,
        study_uid: str,
        series_uid: str,
        sop_instance_uid: str,
        out_path: str | os.PathLike,
        *,
        max_bytes: int | None = None,
    ) -> Path:
        """WADO-RS: stream one instance, as stored by the PACS, to ``out_path`` (written under a temporary name in
        the same folder and renamed once complete and checked).

        Args:
            study_uid, series_uid, sop_instance_uid: the instance.
            out_path: where to save it.
            max_bytes: the most answer bytes (default ``max_instance_bytes``).

        Raises:
            USInvalidUidError: a UID is invalid (nothing was requested).
            USAnswerTooLargeError: the answer is over ``max_bytes``.
            USDicomWebError: the answer is not one DICOM part of the instance asked for.
        """
        segments = [
            "studies", check_dicom_uid(study_uid, "StudyInstanceUID"),
            "series", check_dicom_uid(series_uid, "SeriesInstanceUID"),
            "instances", check_dicom_uid(sop_instance_uid, "SOPInstanceUID"),
        ]
        out = Path(out_path)
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".partial")
        url = self.transport.url_for(segments)
        try:
            answer = self.transport.request(
                "GET", segments, headers={"Accept": _WADO_INSTANCE_ACCEPT},
                max_bytes=max_bytes or self.max_instance_bytes, limit_hint="--max-instance-bytes",
                sink_factory=lambda headers: _InstanceSink(headers.get("Content-Type", ""), partial),
            )
        except USDicomWebError as e:
            if type(e) is USDicomWebError and e.url is None:  # the multipart parser's message: name the request
                raise USDicomWebError(f"WADO-RS {url}: {e}", url=url) from None
            raise
        try:
            parts = answer.result
            if len(parts) != 1:
                raise USDicomWebError(f"WADO-RS {url} returned {len(parts)} parts, expected 1.", url=url)
            with open(partial, "rb") as f:
                magic = f.read(132)[128:]
            if magic != b"DICM":
                raise USDicomWebError(
                    f"WADO-RS {url} part ({parts[0].get('content-type', 'no content type')[:80]}) is not a DICOM file.",
                    url=url,
                )
            try:
                ds = pydicom.dcmread(partial, stop_before_pixels=True, specific_tags=["SOPInstanceUID"])
                got = ds.get("SOPInstanceUID")
            except Exception as e:  # any parse failure of a hostile file
                raise USDicomWebError(f"WADO-RS {url} returned an unreadable DICOM file ({type(e).__name__}).",
                                      url=url) from None
            if str(got) != sop_instance_uid:
                raise USDicomWebError(
                    f"WADO-RS {url} returned instance {str(got)[:80]!r}, not the {sop_instance_uid!r} asked for.",
                    url=url,
                )
            partial.replace(out)
        finally:
            partial.unlink(missing_ok=True)
        return out

    # -- STOW-RS ---------------------------------------------------------------------------------------------
    def store_instances(
        self,
        files: Sequence[str | os.PathLike],
        study_uid: str | None = None,
        work_dir: str | os.PathLike | None = None,
    ) -> list[str]:
        """STOW-RS: store DICOM files in one request (``POST /studies[/{study}]``), the body built on disk.

        Args:
            files: DICOM Part 10 files.
            study_uid: when given, the server checks every instance belongs to this study.
            work_dir: folder of the temporary request body (system default when None).

        Returns:
            the SOP Instance UIDs stored, all confirmed by the server.

        Raises:
            FileNotFoundError: when a file is missing.
            USDicomWebError: when the server refused any instance or did not confirm every one of them (its
                failure reasons in the message).
        """
        files = [Path(f) for f in files]
        if not files:
            return []
        sent = []
        for f in files:
            if not f.is_file():
                raise FileNotFoundError(f"STOW-RS: file {f} does not exist.")
            uid = pydicom.dcmread(f, stop_before_pixels=True, specific_tags=["SOPInstanceUID"]).get("SOPInstanceUID")
            sent.append(check_dicom_uid(str(uid) if uid is not None else None, f"SOPInstanceUID of {f.name}"))
        segments = ["studies"] + ([check_dicom_uid(study_uid, "StudyInstanceUID")] if study_uid else [])
        with tempfile.TemporaryDirectory(prefix="monai_ext_stow_", dir=work_dir) as tmp:
            body = Path(tmp) / "stow_body"
            content_type = write_multipart_related(files, body)
            # 409 = every instance refused: its body lists the reasons, reported below like a partial failure (202)
            answer = self.transport.request(
                "POST", segments, data=body, ok_statuses=(409,), headers={"Content-Type": content_type,
                                                                          "Accept": _DICOM_JSON},
                max_bytes=self.max_json_bytes, limit_hint="--max-json-bytes",
            )
        return self._check_stow_answer(answer, sent)

    def _check_stow_answer(self, answer: USHttpAnswer, sent: list[str]) -> list[str]:
        url, status = answer.url, answer.status
        try:
            result = self._decode_json(answer, "STOW-RS")
        except USDicomWebError as e:
            raise USDicomWebError(f"{e} None of the {len(sent)} instance(s) sent is confirmed as stored.",
                                  status=status, url=url) from None
        if result is None:
            raise USDicomWebError(
                f"STOW-RS {url} answered HTTP {status} with an empty body, which confirms none of the {len(sent)} "
                "instance(s) sent: the store is not done.",
                status=status,
                url=url,
            )
        if not isinstance(result, Mapping):
            raise USDicomWebError(f"STOW-RS {url} answered a JSON {type(result).__name__}, not a DICOM JSON dataset.",
                                  status=status, url=url)
        referenced = result.get(_REFERENCED_SOP_SEQUENCE)
        referenced = referenced.get("Value") if isinstance(referenced, Mapping) else None
        referenced = referenced if isinstance(referenced, list) else []
        failed = result.get(_FAILED_SOP_SEQUENCE)
        failed = failed.get("Value") if isinstance(failed, Mapping) else None
        failed = failed if isinstance(failed, list) else []
        confirmed = {dicom_json_value(i, _REFERENCED_SOP_INSTANCE_UID) for i in referenced}
        missing = [u for u in sent if u not in confirmed]
        if failed or status == 409:
            reasons = []
            for item in failed[:20]:
                code = dicom_json_value(item, _FAILURE_REASON)
                code = f"0x{code:04X}" if isinstance(code, int) else str(code)[:40]  # e.g. 0x0110 processing failure
                uid = str(dicom_json_value(item, _REFERENCED_SOP_INSTANCE_UID))[:80]
                reasons.append(f"{uid}: failure reason {code}")
            refused = len(failed) or len(missing)
            details = "; ".join(reasons) or f"HTTP {status} without failure details"
            raise USDicomWebError(f"STOW-RS {url} refused {refused} of {len(sent)} instance(s): {details}",
                                  status=status, url=url)
        if missing:
            raise USDicomWebError(
                f"STOW-RS {url} (HTTP {status}) confirmed {len(sent) - len(missing)} of the {len(sent)} instance(s) "
                f"sent; not confirmed: {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}. The store is not "
                "done.",
                status=status,
                url=url,
            )
        warnings = [dicom_json_value(i, _WARNING_REASON) for i in referenced]
        if status == 202 or any(w is not None for w in warnings):
            logger.warning("STOW-RS %s stored all %d instance(s) with warnings (HTTP %d)", url, len(sent), status)
        return sent

    def close(self) -> None:
        """Close the HTTP session."""
        self.transport.close()

