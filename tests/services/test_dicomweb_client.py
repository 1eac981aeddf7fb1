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
"""Tests of monai_ext.services.dicomweb_client: multipart coding, retries and backoff over real loopback HTTP."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pydicom
import pytest

from monai_ext.services import (
    USDicomWebClient,
    USDicomWebError,
    USInvalidUidError,
    USPacsUnavailableError,
    USRetryPolicy,
    check_dicom_uid,
    dicom_json_value,
    encode_multipart_related,
    parse_multipart_related,
)

from .tiny_pacs import TinyPacs, make_us_instance

FAST = USRetryPolicy(max_retries=3, backoff=0.05, max_backoff=0.2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_multipart_round_trip_with_binary_parts():
    # parts holding CRLF, "--" and bytes that are not UTF-8 must come back unchanged
    contents = [b"\x00\x01\r\n--not-a-boundary\r\n\r\n\xff", b"", b"DICM" * 100]
    body, ctype = encode_multipart_related(contents)
    assert ctype.startswith('multipart/related; type="application/dicom"; boundary=')
    parts = parse_multipart_related(body, ctype)
    assert [c for _, c in parts] == contents
    assert all(h == {"content-type": "application/dicom"} for h, _ in parts)


def test_multipart_parse_quoted_boundary_preamble_and_errors():
    body = (
        b"preamble\r\n--b1\r\nContent-Type: application/dicom\r\nContent-Length: 3\r\n\r\nabc\r\n"
        b"--b1\r\n\r\nxy\r\n--b1--\r\n"
    )
    parts = parse_multipart_related(body, 'multipart/related; type="application/dicom"; boundary="b1"')
    assert parts == [({"content-type": "application/dicom", "content-length": "3"}, b"abc"), ({}, b"xy")]
    with pytest.raises(USDicomWebError, match="truncated"):
        parse_multipart_related(body[:60], "multipart/related; boundary=b1")
    with pytest.raises(USDicomWebError, match="expected a multipart answer"):
        parse_multipart_related(body, "application/dicom+json")


def test_retry_policy_delays_and_validation():
    policy = USRetryPolicy(max_retries=6, backoff=0.5, max_backoff=30)
    assert [policy.delay(k) for k in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0]
    assert sum(policy.delay(k) for k in range(6)) == 31.5
    with pytest.raises(ValueError, match="max_retries"):
        USRetryPolicy(max_retries=-1)
    with pytest.raises(ValueError, match="backoff"):
        USRetryPolicy(backoff=-1.0)
    with pytest.raises(ValueError, match="http"):
        USDicomWebClient("127.0.0.1:8042/dicom-web")


def test_dicom_json_value():
    item = {"0020000D": {"vr": "UI", "Value": ["1.2.3"]}, "00080070": {"vr": "LO"}}
    assert dicom_json_value(item, "StudyInstanceUID") == "1.2.3"
    assert dicom_json_value(item, "0020000d") == "1.2.3"
    assert dicom_json_value(item, "Manufacturer", "none") == "none"
    assert dicom_json_value(item, "Modality") is None


def test_qido_wado_stow_against_tiny_pacs(tmp_path):
    src = make_us_instance(tmp_path / "a.dcm", "1.2.826.0.1.3680043.8.498.1", frames=3)
    with TinyPacs() as pacs:
        client = USDicomWebClient(pacs.url, retry=FAST)
        assert client.search_studies({"ModalitiesInStudy": "US"}) == []
        assert client.store_instances([tmp_path / "a.dcm"], study_uid=src.StudyInstanceUID) == [src.SOPInstanceUID]
        studies = client.search_studies({"ModalitiesInStudy": "US"})
        assert [dicom_json_value(s, "StudyInstanceUID") for s in studies] == [src.StudyInstanceUID]
        (series,) = client.search_series(src.StudyInstanceUID, includefields=("Manufacturer",))
        assert dicom_json_value(series, "Manufacturer") == "Vendor"
        (inst,) = client.search_instances(src.StudyInstanceUID, src.SeriesInstanceUID)
        uids = (src.StudyInstanceUID, src.SeriesInstanceUID, src.SOPInstanceUID)
        out = client.retrieve_instance(*uids, tmp_path / "o" / "b.dcm")
        assert out.read_bytes() == (tmp_path / "a.dcm").read_bytes()
        assert int(pydicom.dcmread(out).NumberOfFrames) == 3
        # a server that refuses the instances: the error names the request, nothing is retried
        pacs.stow_status = 409
        n = pacs.count("POST")
        with pytest.raises(USDicomWebError, match="refused 1 of 1"):
            client.store_instances([tmp_path / "a.dcm"])
        assert pacs.count("POST") == n + 1
        with pytest.raises(FileNotFoundError, match="missing.dcm"):
            client.store_instances([tmp_path / "missing.dcm"])


def test_retries_transient_statuses_with_backoff():
    with TinyPacs() as pacs:
        client = USDicomWebClient(pacs.url, retry=USRetryPolicy(max_retries=3, backoff=0.1, max_backoff=1.0))
        pacs.faults = [503, 502]
        start = time.monotonic()
        assert client.search_studies() == []
        elapsed = time.monotonic() - start
        assert len(pacs.requests) == 3  # two failures, then the answer
        assert 0.3 <= elapsed < 2.0  # waited 0.1 + 0.2 s
        # permanent client errors are not retried
        pacs.requests.clear()
        pacs.faults = [404]
        with pytest.raises(USDicomWebError) as err:
            client.search_series("1.2.3")
        assert err.value.status == 404 and not isinstance(err.value, USPacsUnavailableError)
        assert len(pacs.requests) == 1
        # retries exhausted: the PACS is reported unavailable after 1 + max_retries requests
        pacs.requests.clear()
        pacs.faults = [500] * 10
        with pytest.raises(USPacsUnavailableError, match="after 4 attempt"):
            client.search_studies()
        assert len(pacs.requests) == 4


def test_waits_for_a_server_that_starts_late():
    port = _free_port()
    pacs = TinyPacs(port=port)
    timer = threading.Timer(0.8, pacs.start)
    timer.start()
    try:
        client = USDicomWebClient(
            f"http://127.0.0.1:{port}/dicom-web", retry=USRetryPolicy(max_retries=8, backoff=0.1, max_backoff=0.4)
        )
        start = time.monotonic()
        assert client.search_studies({"ModalitiesInStudy": "US"}) == []  # connection refused, then answered
        assert time.monotonic() - start >= 0.7
        assert len(pacs.requests) == 1
    finally:
        timer.join()
        pacs.stop()


def test_retry_after_header_is_honoured_and_capped():
    calls = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            calls.append(time.monotonic())
            status, body = (503, b"") if len(calls) == 1 else (200, b"[]")
            self.send_response(status)
            if status == 503:
                self.send_header("Retry-After", "120")  # capped to max_backoff
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = USDicomWebClient(
            f"http://127.0.0.1:{server.server_address[1]}/dicom-web",
            retry=USRetryPolicy(max_retries=2, backoff=0.01, max_backoff=0.5),
        )
        assert client.search_studies() == []
        assert len(calls) == 2 and 0.45 <= calls[1] - calls[0] < 2.0
    finally:
        server.shutdown()
        server.server_close()


def test_stop_event_cuts_backoff_short():
    client = USDicomWebClient(
        f"http://127.0.0.1:{_free_port()}/dicom-web",
        retry=USRetryPolicy(max_retries=5, backoff=10.0, max_backoff=10.0),
    )
    threading.Timer(0.3, client.stop_event.set).start()
    start = time.monotonic()
    with pytest.raises(USPacsUnavailableError, match="shutdown requested"):
        client.search_studies()
    assert time.monotonic() - start < 3.0


# -- hostile answers ---------------------------------------------------------------------------------------------
def test_check_dicom_uid():
    for good in ("1.2.840.10008.5.1.4.1.1.6.1", "0", "1.0.3", "2.25." + "9" * 59):
        assert check_dicom_uid(good) == good
    bad_values = ["", "1..2", "1.02", "01.2", ".1", "1.", "1.2.3/../../../etc/evil", "1.2?x=1", "1.2#f", "1.2 ",
                  "1" * 65, "1.2\n3", None, 12, ["1.2"], {"a": 1}, "\u0661.2"]  # the last: an Arabic-Indic digit
    for bad in bad_values:
        with pytest.raises(USInvalidUidError, match="is not a valid DICOM UID") as err:
            check_dicom_uid(bad, "StudyInstanceUID")
        assert "StudyInstanceUID" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(USInvalidUidError) as err:
        check_dicom_uid("1.2.3/../../../etc/evil", "StudyInstanceUID")
    assert "'1.2.3/../../../etc/evil'" in str(err.value)  # quoted as repr
    long = "9" * 5000
    with pytest.raises(USInvalidUidError) as err:
        check_dicom_uid(long)
    assert len(str(err.value)) < 400


def test_bad_uids_send_no_request(tmp_path):
    with TinyPacs() as pacs:
        client = USDicomWebClient(pacs.url, retry=FAST)
        for call in (
            lambda: client.search_series("1.2.3/../../../etc/evil"),
            lambda: client.search_instances("1.2.3", "1.2?x=1"),
            lambda: client.search_instances("1.2.3#frag"),
            lambda: client.retrieve_instance("1.2.3", "1.2.4", "../../x", tmp_path / "x.dcm"),
            lambda: client.retrieve_instance("1.2.3", None, "1.2.5", tmp_path / "x.dcm"),
        ):
            with pytest.raises(USInvalidUidError):
                call()
        assert pacs.requests == []


def test_hostile_qido_items_are_refused():
    from .hostile_http import HostileServer, answer

    for body, match in ((b'[1, "x"]', "list holding non-datasets"), (b'{"a": 1}', "answered dict"),
                        (b"<html>login</html>", "did not answer DICOM JSON.*text/html")):
        with HostileServer(answer(body=body, content_type="text/html")) as server:
            with pytest.raises(USDicomWebError, match=match):
                USDicomWebClient(server.url, retry=FAST).search_studies()
    # malformed elements read as absent instead of crashing
    assert dicom_json_value({"0020000D": "1.2"}, "StudyInstanceUID") is None
    assert dicom_json_value({"0020000D": {"Value": "1.2"}}, "StudyInstanceUID") is None
    assert dicom_json_value([1], "StudyInstanceUID", "d") == "d"


@pytest.mark.parametrize(
    "status,body,ctype,match",
    [
        (200, b"", "application/dicom+json", "empty body, which confirms none of the 1"),
        (200, b"{}", "application/dicom+json", "confirmed 0 of the 1 instance"),
        (200, b"<html><body>OK</body></html>", "text/html", "did not answer DICOM JSON.*None of the 1 instance"),
        (200, b"[]", "application/dicom+json", "answered a JSON list"),
        (202, b'{"00081198": {"vr": "SQ", "Value": [{"00081197": {"vr": "US", "Value": [272]}}]}}',
         "application/dicom+json", "refused 1 of 1 instance.*failure reason 0x0110"),
    ],
    ids=["empty", "empty-dataset", "html", "list", "failed-sequence"],
)
def test_stow_answer_must_confirm_every_instance(tmp_path, status, body, ctype, match):
    src = make_us_instance(tmp_path / "a.dcm", "1.2.826.0.1.3680043.8.498.1")
    with TinyPacs() as pacs:
        pacs.stow_answer = lambda uids: (status, body, ctype)
        client = USDicomWebClient(pacs.url, retry=FAST)
        with pytest.raises(USDicomWebError, match=match):
            client.store_instances([tmp_path / "a.dcm"], study_uid=src.StudyInstanceUID)
        assert pacs.count("POST") == 1


def test_stow_partial_coverage_fails_and_full_coverage_returns_every_uid(tmp_path):
    study = "1.2.826.0.1.3680043.8.498.1"
    files = [tmp_path / f"{i}.dcm" for i in range(3)]
    uids = [make_us_instance(f, study).SOPInstanceUID for f in files]
    with TinyPacs() as pacs:
        client = USDicomWebClient(pacs.url, retry=FAST)

        def first_only(stored):
            item = {"00081155": {"vr": "UI", "Value": [stored[0]]}}
            return 200, json.dumps({"00081199": {"vr": "SQ", "Value": [item]}}).encode(), "application/dicom+json"

        pacs.stow_answer = first_only
        expected = f"confirmed 1 of the 3 instance.*not confirmed: {uids[1]}, {uids[2]}"
        with pytest.raises(USDicomWebError, match=expected):
            client.store_instances(files, study_uid=study)
        pacs.stow_answer = None
        assert client.store_instances(files, study_uid=study) == uids


def test_wado_answer_checks(tmp_path):
    from .hostile_http import HostileServer, answer

    study = "1.2.826.0.1.3680043.8.498.1"
    src = make_us_instance(tmp_path / "a.dcm", study)
    data = (tmp_path / "a.dcm").read_bytes()

    def multipart(*parts, boundary="bb"):
        body = b"".join(b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n" + p + b"\r\n"
                        for p in parts)
        return answer(body=body + b"--" + boundary.encode() + b"--\r\n",
                      content_type=f"multipart/related; type=\"application/dicom\"; boundary={boundary}")

    uids = (study, src.SeriesInstanceUID, src.SOPInstanceUID)
    cases = [
        (multipart(data, data), "more than 1 part"),
        (multipart(b"not dicom" * 20), "is not a DICOM file"),
        (multipart(data, boundary="x" * 71), "boundary 'x{71}' is not 1 to 70"),
        (answer(body=data, content_type="application/dicom"), "expected a multipart answer"),
        (answer(body=b"--bb\r\nContent-Type: application/dicom\r\n\r\n" + data, content_type="multipart/related; "
                "boundary=bb"), "truncated"),
    ]
    for behaviour, match in cases:
        with HostileServer(behaviour) as server:
            with pytest.raises(USDicomWebError, match=match):
                USDicomWebClient(server.url, retry=FAST).retrieve_instance(*uids, tmp_path / "o" / "x.dcm")
        assert not (tmp_path / "o").exists() or list((tmp_path / "o").iterdir()) == []
    # a valid file, but not the instance asked for
    with HostileServer(multipart(data)) as server:
        other = "1.2.826.0.1.3680043.8.498.999"
        with pytest.raises(USDicomWebError, match=f"returned instance '{src.SOPInstanceUID}', not the '{other}'"):
            USDicomWebClient(server.url, retry=FAST).retrieve_instance(study, src.SeriesInstanceUID, other,
                                                                      tmp_path / "o" / "x.dcm")
        out = USDicomWebClient(server.url, retry=FAST).retrieve_instance(*uids, tmp_path / "o" / "x.dcm")
        assert out.read_bytes() == data and sorted(p.name for p in out.parent.iterdir()) == ["x.dcm"]
