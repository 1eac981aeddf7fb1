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

It answers the subset the service uses: QIDO-RS studies (``ModalitiesInStudy``), series and instances, WADO-RS of
one instance (multipart/related) and STOW-RS. ``faults`` is a list of HTTP statuses returned, one per request and
in order, before normal service resumes; ``stow_status`` forces the STOW answer (e.g. 409).
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
        faults: statuses to answer the next requests with.
        stow_status: when set, every STOW answers this status without storing.
    """

    def __init__(self, port: int = 0) -> None:
        self.instances: dict[str, tuple[bytes, pydicom.Dataset]] = {}
        self.requests: list[tuple[str, str]] = []
        self.faults: list[int] = []
        self.stow_status: int | None = None
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
                    status = pacs.faults.pop(0) if pacs.faults else None
                if status is not None:
                    self._send(status, b"{}")
                    return True
                return False

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
                    body = [
                        {"0020000D": _attr("UI", uid), "00080061": {"vr": "CS", "Value": sorted(mods)}}
                        for uid, mods in sorted(studies.items())
                        if wanted is None or wanted in mods
                    ]
                    return self._send(200, json.dumps(body).encode())
                if len(segs) == 3 and segs[0] == "studies" and segs[2] == "series":
                    series = {}
                    for ds in pacs.datasets(segs[1]):
                        series[ds.SeriesInstanceUID] = {
                            "0020000E": _attr("UI", ds.SeriesInstanceUID),
                            "00080060": _attr("CS", ds.Modality),
                            "00080070": _attr("LO", ds.get("Manufacturer")),
                        }
                    return self._send(200, json.dumps(list(series.values())).encode())
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
                if len(segs) == 6 and segs[4] == "instances" and segs[5] in pacs.instances:
                    boundary = uuid.uuid4().hex
                    data = pacs.instances[segs[5]][0]
                    body = (
                        f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
                        + data
                        + f"\r\n--{boundary}--\r\n".encode()
                    )
                    ctype = f'multipart/related; type="application/dicom"; boundary="{boundary}"'
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
