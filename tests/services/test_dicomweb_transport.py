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
"""Tests of monai_ext.services.dicomweb_transport against a misbehaving loopback server
(tests/services/hostile_http.py): wall-clock deadlines and stop requests on dripping servers, size limits in
bounded memory, redirects, compression, dropped connections, Retry-After and TLS verification with a CA bundle."""

from __future__ import annotations

import datetime
import gzip
import ssl
import threading
import time
import tracemalloc

import pytest

from monai_ext.services import (
    USAnswerTooLargeError,
    USDicomWebClient,
    USDicomWebError,
    USPacsUnavailableError,
    USRetryPolicy,
    parse_retry_after,
)

from .hostile_http import HostileServer, answer, drip_body, drip_headers, flood, redirect

NO_RETRY = USRetryPolicy(max_retries=0)


def test_dripping_body_is_cut_at_the_deadline():
    # one byte every 0.1 s: a per-read timeout of 10 s never fires, the 1.5 s wall-clock deadline does
    with HostileServer(drip_body(interval=0.1)) as server:
        client = USDicomWebClient(server.url, retry=NO_RETRY, timeout=(5, 10), deadline=1.5)
        start = time.monotonic()
        with pytest.raises(USDicomWebError, match=r"1.5 s deadline \(--request-deadline\)") as err:
            client.search_studies()
        elapsed = time.monotonic() - start
        assert 1.4 <= elapsed < 3.5, elapsed
        # the server answered: a broken transfer, not an unreachable PACS (so a study would be charged)
        assert not isinstance(err.value, USPacsUnavailableError)


def test_dripping_headers_are_cut_at_the_deadline():
    with HostileServer(drip_headers(interval=0.1)) as server:
        client = USDicomWebClient(server.url, retry=USRetryPolicy(max_retries=1, backoff=0.05), timeout=(5, 10),
                                  deadline=1.0)
        start = time.monotonic()
        # (cut inside the headers, http.client may take the headers as complete: either error class is right)
        with pytest.raises(USDicomWebError, match="after 2 attempt.*1 s deadline"):
            client.search_studies()
        assert time.monotonic() - start < 4.5
        assert len(server.requests) == 2


@pytest.mark.parametrize("behaviour", [drip_body(interval=0.1), drip_headers(interval=0.1)], ids=["body", "headers"])
def test_stop_ends_a_dripping_request_at_once(behaviour):
    with HostileServer(behaviour) as server:
        client = USDicomWebClient(server.url, retry=USRetryPolicy(max_retries=5), timeout=(5, 60), deadline=600)
        threading.Timer(0.5, client.stop_event.set).start()
        start = time.monotonic()
        with pytest.raises(USPacsUnavailableError, match="shutdown requested"):
            client.search_studies()
        assert time.monotonic() - start < 2.5
        assert len(server.requests) == 1  # no retry after the stop


def test_oversize_answer_is_refused_in_bounded_memory(tmp_path):
    limit = 8 << 20
    # no Content-Length: the client must stream, count and stop; 48 MiB offered, 8 MiB allowed
    with HostileServer(flood(48 << 20, declare_length=False)) as server:
        client = USDicomWebClient(server.url, retry=NO_RETRY, max_instance_bytes=limit)
        uid = "1.2.3"
        tracemalloc.start()
        try:
            expected = f"exceeds the limit of {limit} bytes .*--max-instance-bytes"
            with pytest.raises(USAnswerTooLargeError, match=expected):
                client.retrieve_instance(uid, uid, uid, tmp_path / "x.dcm")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < limit // 4, f"peak {peak} bytes of Python memory for a {limit}-byte limit"
        assert list(tmp_path.iterdir()) == []  # the partial file is gone
    # a declared Content-Length over the limit is refused before reading
    with HostileServer(flood(48 << 20, declare_length=True)) as server:
        client = USDicomWebClient(server.url, retry=NO_RETRY, max_instance_bytes=limit)
        start = time.monotonic()
        with pytest.raises(USAnswerTooLargeError, match="declares 50331648 bytes.*nothing was read"):
            client.retrieve_instance(uid, uid, uid, tmp_path / "x.dcm")
        assert time.monotonic() - start < 2


def test_json_answers_are_bounded():
    body = b"[" + b"{}," * 400_000 + b"{}]"  # 1.2 MB of empty datasets
    with HostileServer(answer(body=body)) as server:
        client = USDicomWebClient(server.url, retry=NO_RETRY, max_json_bytes=1 << 20)
        with pytest.raises(USAnswerTooLargeError, match="over the limit of 1048576.*--max-json-bytes"):
            client.search_studies()
    deep = b"[" * 100_000 + b"]" * 100_000  # parses to RecursionError, not a crash of the service
    with HostileServer(answer(body=deep)) as server:
        with pytest.raises(USDicomWebError, match="did not answer DICOM JSON.*nested too deeply"):
            USDicomWebClient(server.url, retry=NO_RETRY).search_studies()


def test_redirect_to_another_origin_is_not_followed():
    with HostileServer(answer(body=b"[]")) as elsewhere:
        target = elsewhere.url.replace("http://", "http://thief:s3cret@") + "/studies"
        with HostileServer(redirect(target, 307)) as server:
            client = USDicomWebClient(server.url, retry=USRetryPolicy(max_retries=3, backoff=0.01),
                                      headers={"X-Api-Token": "tok-123"})
            with pytest.raises(USDicomWebError) as err:
                client.search_studies({"ModalitiesInStudy": "US"})
            message = str(err.value)
            port = elsewhere.url.split(":")[2].split("/")[0]
            assert "HTTP 307" in message and f"redirect to http://127.0.0.1:{port}" in message
            assert "thief" not in message and "s3cret" not in message and "--url" in message
            assert len(server.requests) == 1  # not retried either
        assert elsewhere.requests == []  # the other server received nothing


def test_compressed_answer_is_refused():
    body = gzip.compress(b"[]" + b" " * 10_000)
    with HostileServer(answer(body=body, Content_Encoding="gzip")) as server:
        client = USDicomWebClient(server.url, retry=NO_RETRY)
        with pytest.raises(USDicomWebError, match="Content-Encoding 'gzip' although identity was requested"):
            client.search_studies()
        assert server.requests[0][2]["Accept-Encoding"] == "identity"


def test_dropped_connection_is_retried():
    def cut(h):  # declares 100 bytes, sends 10, hangs up
        h.close_connection = True
        h.send_response(200)
        h.send_header("Content-Type", "application/dicom+json")
        h.send_header("Content-Length", "100")
        h.end_headers()
        h.wfile.write(b"[{}, {}, {")

    with HostileServer([cut, cut, answer(body=b"[{}]")]) as server:
        client = USDicomWebClient(server.url, retry=USRetryPolicy(max_retries=3, backoff=0.01))
        assert client.search_studies() == [{}]
        assert len(server.requests) == 3
    with HostileServer(cut) as server:  # always cut: a broken transfer, reported as such (not "unavailable")
        client = USDicomWebClient(server.url, retry=USRetryPolicy(max_retries=1, backoff=0.01))
        with pytest.raises(USDicomWebError, match="transfer kept breaking after 2 attempt.*connection dropped") as err:
            client.search_studies()
        assert not isinstance(err.value, USPacsUnavailableError)


def test_retry_after_parsing():
    now = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 3 ") == 3.0
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0  # in the past
    for bad in (None, "", "-5", "1.5", "\u00b2", "9" * 11, "soon", "x" * 1000):
        assert parse_retry_after(bad, now=now) is None, bad


def test_retry_after_date_is_honoured_and_capped():
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    busy = answer(503, b"", "text/plain", Retry_After=later.strftime("%a, %d %b %Y %H:%M:%S GMT"))
    with HostileServer([busy, answer(body=b"[]")]) as server:
        client = USDicomWebClient(server.url, retry=USRetryPolicy(max_retries=2, backoff=0.01, max_backoff=0.4))
        start = time.monotonic()
        assert client.search_studies() == []
        assert 0.35 <= time.monotonic() - start < 2.0  # an hour asked for, the 0.4 s cap used


def test_url_checks():
    for bad in ("http:///dicom-web", "http://127.0.0.1/dicom-web?x=1", "http://127.0.0.1/dicom-web#f"):
        with pytest.raises(ValueError, match="must name a host and hold no query or fragment"):
            USDicomWebClient(bad)
    with pytest.raises(ValueError, match="deadline"):
        USDicomWebClient("http://127.0.0.1/dicom-web", deadline=0)
    with pytest.raises(ValueError, match="max_instance_bytes"):
        USDicomWebClient("http://127.0.0.1/dicom-web", max_instance_bytes=0)
    with pytest.raises(ValueError, match="--ca-bundle '/nonexistent/ca.pem' does not exist"):
        USDicomWebClient("https://127.0.0.1/dicom-web", ca_bundle="/nonexistent/ca.pem")
    client = USDicomWebClient("http://127.0.0.1/dicom-web/")
    assert client.transport.url_for(["studies", "1.2/../../x?y#z"]) == (
        "http://127.0.0.1/dicom-web/studies/1.2%2F..%2F..%2Fx%3Fy%23z"
    )
    for seg in ("..", ".", ""):
        with pytest.raises(ValueError, match="dot segment"):
            client.transport.url_for(["studies", seg])


def _self_signed(tmp_path):
    x509 = pytest.importorskip("cryptography.x509")
    import ipaddress

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "monai_ext test PACS")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_pem, key_pem = tmp_path / "ca.pem", tmp_path / "key.pem"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_pem, key_pem)
    return cert_pem, context


def test_tls_is_verified_and_a_ca_bundle_is_accepted(tmp_path):
    cert, context = _self_signed(tmp_path)
    with HostileServer(answer(body=b"[]"), tls=context) as server:
        assert server.url.startswith("https://127.0.0.1:")
        # verification is on by default: a certificate of an unknown CA fails at once, without retries
        client = USDicomWebClient(server.url, retry=USRetryPolicy(max_retries=3, backoff=0.5))
        start = time.monotonic()
        with pytest.raises(USDicomWebError, match="could not be verified.*--ca-bundle PATH") as err:
            client.search_studies()
        assert not isinstance(err.value, USPacsUnavailableError) and time.monotonic() - start < 2
        assert server.requests == []
        # the hospital CA given: the request goes through
        assert USDicomWebClient(server.url, ca_bundle=cert, retry=NO_RETRY).search_studies() == []
        assert len(server.requests) == 1
