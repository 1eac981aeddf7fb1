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
"""A tiny in-memory DICOMweb server (real HTTP on loopback) with fault injection, for the service unit tests.

It answers the subset the service uses: QIDO-RS studies (``ModalitiesInStudy``, with NumberOfStudyRelatedInstances),
series and instances, WADO-RS of one instance (multipart/related) and STOW-RS, over HTTP/1.1 with keep-alive.
Misbehaviour on demand: ``faults`` answers the next requests (an HTTP status, or ``(status, body, content type)``),
``stow_status`` / ``stow_answer`` force the STOW answer, ``drop_wado`` cuts WADO answers short, ``extra_studies``
adds raw (hostile) items to the study search, ``auth`` requires an ``Authorization`` header.
"""

from __future__ import annotations

import io
import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pydicom

from monai_ext.services import parse_multipart_related

__all__ = ["TinyPacs", "make_us_instance"]


def _attr(vr, value):
    return {"vr": vr, "Value": [value]} if value not in (None, "") else {"vr": vr}


def make_us_instance(path, study_uid, *, frames=1, modality="US", manufacturer="Vendor", series_uid=None):
    """Write a small US (multi-frame when frames > 1) DICOM file with the given study; returns its dataset."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1" if frames > 1 else "1.2.840.10008.5.1.4.1.1.6.1"
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid or generate_uid()
    ds.Modality, ds.Manufacturer = modality, manufacturer
    ds.Rows = ds.Columns = 8
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.PixelData = bytes(range(64)) * frames
    ds.save_as(path, enforce_file_format=True)
    return ds


class TinyPacs:
    """Start with ``with TinyPacs() as pacs:``; ``pacs.url`` is the DICOMweb root.

    Attributes:
        instances: SOPInstanceUID -> (file bytes, header dataset).
        requests: ``(method, path)`` of every request received (faulty ones included).
        faults: answers of the next requests: a status (body ``{}``), ``(status, body, content type)`` or None
            (a normal answer).
        stow_status: when set, every STOW answers this status without storing.
        stow_answer: when set, ``stow_answer(stored SOP UIDs) -> (status, body, content type)`` replaces the STOW
            answer (the instances are stored).
        drop_wado: the next this many WADO answers declare their full length but close after half the body
            (``drop_mode="length"``) or break off inside a chunk (``"chunked"``).
        extra_studies: raw DICOM JSON items appended to every study search answer.
        study_counts: include NumberOfStudyRelatedInstances in study search answers.
        auth: the ``Authorization`` value every request must carry (401 otherwise).
        fail_wado_for: SOP Instance UIDs whose WADO answer is 404.
        headers_seen: the headers of every request.
    """

    def __init__(self, port: int = 0) -> None:
        self.instances: dict[str, tuple[bytes, pydicom.Dataset]] = {}
        self.requests: list[tuple[str, str]] = []
        self.headers_seen: list[dict[str, str]] = []
        self.faults: list = []
        self.stow_status: int | None = None
        self.stow_answer = None
        self.drop_wado = 0
        self.drop_mode = "length"
        self.extra_studies: list[dict] = []
        self.study_counts = True
        self.auth: str | None = None
        self.fail_wado_for: set[str] = set()
        self.lock = threading.Lock()
        self.port = port
        self._server: ThreadingHTTPServer | None = None

    # -- content -----------------------------------------------------------------------------------------------
    def add(self, path) -> pydicom.Dataset:
        data = open(path, "rb").read()
        ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
        with self.lock:
            self.instances[ds.SOPInstanceUID] = (data, ds)
        return ds

    def datasets(self, study_uid=None, modality=None):
        with self.lock:
            items = [ds for _, ds in self.instances.values()]
        return [
            ds
            for ds in items
            if (study_uid is None or ds.StudyInstanceUID == study_uid) and (modality is None or ds.Modality == modality)
        ]

    def count(self, method: str) -> int:
        return sum(1 for m, _ in self.requests if m == method)

    # -- server ------------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/dicom-web"

    def start(self) -> "TinyPacs":
        pacs = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def _send(self, status, body=b"", content_type="application/dicom+json"):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _fault(self) -> bool:
                with pacs.lock:
                    pacs.requests.append((self.command, self.path))
                    pacs.headers_seen.append(dict(self.headers.items()))
                    fault = pacs.faults.pop(0) if pacs.faults else None
                if fault is None and pacs.auth is not None and self.headers.get("Authorization") != pacs.auth:
                    fault = (401, b'{"error": "authentication required"}', "application/json")
                if fault is not None:
                    status, body, ctype = (fault, b"{}", "application/dicom+json") if isinstance(fault, int) else fault
                    self._send(status, body, ctype)
                    return True
                return False

            def _send_truncated(self, body, ctype):
                self.close_connection = True
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                if pacs.drop_mode == "chunked":
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    half = body[: len(body) // 2]
                    self.wfile.write(f"{len(body):x}\r\n".encode() + half)  # the chunk announces more than it holds
                else:
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()

            def do_GET(self):
                if self._fault():
                    return
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                segs = parts.path.strip("/").split("/")[1:]  # drop "dicom-web"
                if segs == ["studies"]:
                    wanted = query.get("ModalitiesInStudy", [None])[0]
                    studies = {}
                    for ds in pacs.datasets():
                        studies.setdefault(ds.StudyInstanceUID, set()).add(ds.Modality)
                    counts = {}
                    for ds in pacs.datasets():
                        counts[ds.StudyInstanceUID] = counts.get(ds.StudyInstanceUID, 0) + 1
                    body = [
                        {"0020000D": _attr("UI", uid), "00080061": {"vr": "CS", "Value": sorted(mods)}}
                        | ({"00201208": {"vr": "IS", "Value": [counts[uid]]}} if pacs.study_counts else {})
                        for uid, mods in sorted(studies.items())
                        if wanted is None or wanted in mods
                    ]
                    return self._send(200, json.dumps(body + pacs.extra_studies).encode())
                if len(segs) == 3 and segs[0] == "studies" and segs[2] == "series":
                    series = {}
                    for ds in pacs.datasets(segs[1]):
                        series[ds.SeriesInstanceUID] = {
                            "0020000E": _attr("UI", ds.SeriesInstanceUID),
                            "00080060": _attr("CS", ds.Modality),
                            "00080070": _attr("LO", ds.get("Manufacturer")),
                        }
                    return self._send(200, json.dumps(list(series.values())).encode())
                if len(segs) == 3 and segs[0] == "studies" and segs[2] == "instances":
                    body = [
                        {"0020000E": _attr("UI", ds.SeriesInstanceUID), "00080018": _attr("UI", ds.SOPInstanceUID)}
                        for ds in pacs.datasets(segs[1])
                    ]
                    return self._send(200, json.dumps(body).encode())
                if len(segs) == 5 and segs[2] == "series" and segs[4] == "instances":
                    body = [
                        {
                            "0020000E": _attr("UI", ds.SeriesInstanceUID),
                            "00080016": _attr("UI", ds.SOPClassUID),
                            "00080018": _attr("UI", ds.SOPInstanceUID),
                        }
                        for ds in pacs.datasets(segs[1])
                        if ds.SeriesInstanceUID == segs[3]
                    ]
                    return self._send(200, json.dumps(body).encode())
                if len(segs) == 6 and segs[4] == "instances" and segs[5] in pacs.instances.keys() - pacs.fail_wado_for:
                    boundary = uuid.uuid4().hex
                    data = pacs.instances[segs[5]][0]
                    body = (
                        f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
                        + data
                        + f"\r\n--{boundary}--\r\n".encode()
                    )
                    ctype = f'multipart/related; type="application/dicom"; boundary="{boundary}"'
                    with pacs.lock:
                        drop = pacs.drop_wado > 0
                        pacs.drop_wado -= int(drop)
                    if drop:
                        return self._send_truncated(body, ctype)
                    return self._send(200, body, ctype)
                return self._send(404, b"{}")

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self._fault():
                    return
                if pacs.stow_status is not None:
                    return self._send(pacs.stow_status, b"{}")
                match = re.fullmatch(r"/dicom-web/studies(?:/([0-9.]+))?", self.path)
                if not match:
                    return self._send(404, b"{}")
                stored = []
                for _, content in parse_multipart_related(body, self.headers.get("Content-Type", "")):
                    ds = pydicom.dcmread(io.BytesIO(content), stop_before_pixels=True)
                    if match.group(1) and ds.StudyInstanceUID != match.group(1):
                        return self._send(409, b"{}")
                    with pacs.lock:
                        pacs.instances[ds.SOPInstanceUID] = (content, ds)
                    stored.append({"00081155": _attr("UI", ds.SOPInstanceUID)})
                if pacs.stow_answer is not None:
                    return self._send(*pacs.stow_answer([item["00081155"]["Value"][0] for item in stored]))
                return self._send(200, json.dumps({"00081199": {"vr": "SQ", "Value": stored}}).encode())

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "TinyPacs":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
