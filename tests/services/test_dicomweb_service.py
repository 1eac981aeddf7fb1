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
"""Tests of monai_ext.services.dicomweb_service against a tiny loopback DICOMweb server (real HTTP).

The segmentation is an injected function writing one SR-like result per input, so these tests cover the polling,
state, idempotency, failure and retry logic; tests/services/test_dicomweb_orthanc.py runs the real bundle against a
real Orthanc.
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from monai_ext.services import (
    USDicomWebClient,
    USDicomWebService,
    USRetryPolicy,
    USStudyStateStore,
    serve_dicomweb,
)

from .tiny_pacs import TinyPacs, make_us_instance

STUDY_A, STUDY_B = "1.2.826.0.1.3680043.8.498.101", "1.2.826.0.1.3680043.8.498.102"
FAST = USRetryPolicy(max_retries=3, backoff=0.02, max_backoff=0.1)


class FakeInfer:
    """One SR-like result per input, in the input's study; optionally raises for chosen studies."""

    def __init__(self, fail_studies=(), manufacturer="monai_ext"):
        self.calls: list[list[str]] = []
        self.fail_studies = set(fail_studies)
        self.manufacturer = manufacturer

    def __call__(self, bundle_dir, inputs, output_dir, overrides=None):
        headers = [pydicom.dcmread(p, stop_before_pixels=True) for p in inputs]
        self.calls.append([h.SOPInstanceUID for h in headers])
        if headers[0].StudyInstanceUID in self.fail_studies:
            raise RuntimeError("network exploded")
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        out = []
        for i, h in enumerate(headers):
            ds = Dataset()
            ds.file_meta = FileMetaDataset()
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.34"
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
            ds.StudyInstanceUID, ds.SeriesInstanceUID = h.StudyInstanceUID, generate_uid()
            ds.Modality, ds.Manufacturer = "SR", self.manufacturer
            path = Path(output_dir) / f"{i}_sr.dcm"
            ds.save_as(path, enforce_file_format=True)
            out.append(path)
        return out


@pytest.fixture
def bundle(tmp_path):
    (tmp_path / "bundle" / "configs").mkdir(parents=True)
    return tmp_path / "bundle"


@pytest.fixture
def pacs(tmp_path):
    with TinyPacs() as server:
        # study A: a clip and a single frame in two series, plus a non-US series that must not be segmented
        a_clip = make_us_instance(tmp_path / "a1.dcm", STUDY_A, frames=4)
        a_frame = make_us_instance(tmp_path / "a2.dcm", STUDY_A)
        make_us_instance(tmp_path / "a3.dcm", STUDY_A, modality="OT")
        b_frame = make_us_instance(tmp_path / "b1.dcm", STUDY_B)
        for name in ("a1", "a2", "a3", "b1"):
            server.add(tmp_path / f"{name}.dcm")
        server.uids = {"a": sorted([a_clip.SOPInstanceUID, a_frame.SOPInstanceUID]), "b": [b_frame.SOPInstanceUID]}
        yield server


def _service(pacs, bundle, state, infer, **kwargs):
    kwargs.setdefault("settle_seconds", 0)
    return USDicomWebService(USDicomWebClient(pacs.url, retry=FAST), bundle, state, infer=infer, **kwargs)


def test_processes_each_study_once(pacs, bundle, tmp_path):
    infer = FakeInfer()
    service = _service(pacs, bundle, tmp_path / "state.sqlite", infer)
    summary = service.poll_once()
    assert summary.ok and summary.found == 2
    assert summary.processed == [STUDY_A, STUDY_B] and len(summary.stored) == 3
    assert sorted(map(sorted, infer.calls)) == sorted([pacs.uids["a"], pacs.uids["b"]])  # US instances only
    assert len(pacs.datasets(STUDY_A, "SR")) == 2 and len(pacs.datasets(STUDY_B, "SR")) == 1
    rows = {r["study_uid"]: r for r in USStudyStateStore(tmp_path / "state.sqlite").all()}
    assert rows[STUDY_A]["status"] == "done" and rows[STUDY_A]["attempts"] == 1
    assert sorted(rows[STUDY_A]["outputs"]) == sorted(ds.SOPInstanceUID for ds in pacs.datasets(STUDY_A, "SR"))

    # second poll, same state: nothing retrieved, segmented or stored
    gets, posts = pacs.count("GET"), pacs.count("POST")
    summary = service.poll_once()
    assert summary.processed == [] and summary.skipped == [] and summary.stored == []
    assert len(infer.calls) == 2 and pacs.count("POST") == posts and pacs.count("GET") == gets + 1  # the search only

    # a lost state file: the studies already hold our SR series, so they are skipped, not segmented again
    fresh = _service(pacs, bundle, tmp_path / "fresh.sqlite", infer)
    summary = fresh.poll_once()
    assert summary.skipped == [STUDY_A, STUDY_B] and summary.processed == [] and len(infer.calls) == 2
    assert pacs.count("POST") == posts
    assert fresh.state.get(STUDY_B)["status"] == "skipped" and fresh.state.get(STUDY_B)["attempts"] == 0


def test_foreign_sr_does_not_mark_a_study_processed(pacs, bundle, tmp_path):
    # an SR from another vendor (e.g. the scanner's measurements) is not one of our results
    FakeInfer(manufacturer="Scanner Inc.")(bundle, [tmp_path / "b1.dcm"], tmp_path / "foreign")
    pacs.add(tmp_path / "foreign" / "0_sr.dcm")
    infer = FakeInfer()
    summary = _service(pacs, bundle, tmp_path / "s.sqlite", infer).poll_once()
    assert summary.processed == [STUDY_A, STUDY_B] and len(infer.calls) == 2


def test_failed_study_is_recorded_and_retried_a_bounded_number_of_times(pacs, bundle, tmp_path):
    infer = FakeInfer(fail_studies={STUDY_A})
    service = _service(pacs, bundle, tmp_path / "state.sqlite", infer, max_attempts=2)
    summary = service.poll_once()
    assert summary.failed == [STUDY_A] and summary.processed == [STUDY_B] and not summary.ok
    row = service.state.get(STUDY_A)
    assert row["status"] == "failed" and row["attempts"] == 1 and row["error"] == "RuntimeError: network exploded"
    assert pacs.datasets(STUDY_A, "SR") == []
    summary = service.poll_once()  # second and last attempt
    assert summary.failed == [STUDY_A] and service.state.get(STUDY_A)["attempts"] == 2
    summary = service.poll_once()  # given up: not tried again
    assert summary.failed == [] and len(infer.calls) == 1 + 2
    # once the cause is fixed, deleting nothing but raising max_attempts lets it through
    infer.fail_studies.clear()
    summary = _service(pacs, bundle, tmp_path / "state.sqlite", infer, max_attempts=3).poll_once()
    assert summary.processed == [STUDY_A] and service.state.get(STUDY_A)["status"] == "done"


def test_refused_results_fail_the_study(pacs, bundle, tmp_path):
    pacs.stow_status = 409
    service = _service(pacs, bundle, tmp_path / "state.sqlite", FakeInfer())
    summary = service.poll_once()
    assert summary.failed == [STUDY_A, STUDY_B]
    assert "refused" in service.state.get(STUDY_A)["error"]


def test_transient_pacs_errors_are_retried(pacs, bundle, tmp_path):
    service = _service(pacs, bundle, tmp_path / "state.sqlite", FakeInfer())
    pacs.faults = [503, 502, 504]  # the study search fails three times, the fourth request answers
    summary = service.poll_once()
    assert summary.ok and summary.processed == [STUDY_A, STUDY_B]
    assert [m for m, _ in pacs.requests[:4]] == ["GET"] * 4


def test_outage_during_a_study_charges_no_attempt(pacs, bundle, tmp_path):
    infer = FakeInfer()
    client = USDicomWebClient(pacs.url, retry=USRetryPolicy(max_retries=1, backoff=0.01))
    service = USDicomWebService(client, bundle, tmp_path / "state.sqlite", infer=infer, settle_seconds=0)
    search_series = client.search_series

    def outage_then_search(*args, **kwargs):
        pacs.faults = [503, 503]  # the PACS goes away after the study search: both tries of the series search fail
        return search_series(*args, **kwargs)

    client.search_series = outage_then_search
    n = len(pacs.requests)
    summary = service.poll_once()
    assert summary.pacs_unavailable and not summary.ok and summary.failed == [] and summary.processed == []
    assert len(pacs.requests) == n + 3  # search, two tries, then the poll stopped (study B not attempted)
    assert service.state.all() == [] and infer.calls == []
    client.search_series = search_series  # back online: the next poll does the work
    summary = service.poll_once()
    assert summary.ok and summary.processed == [STUDY_A, STUDY_B]
    assert service.state.get(STUDY_A)["attempts"] == 1


def test_unreachable_pacs_at_search(bundle, tmp_path):
    pacs = TinyPacs().start()
    url = pacs.url
    pacs.stop()  # nothing listens on the port any more
    service = USDicomWebService(USDicomWebClient(url, retry=FAST), bundle, tmp_path / "s.sqlite", infer=FakeInfer())
    start = time.monotonic()
    summary = service.serve(poll_interval=0, once=True)
    assert summary.pacs_unavailable and summary.found == 0 and time.monotonic() - start < 5


def test_stop_before_a_study(pacs, bundle, tmp_path):
    infer = FakeInfer()
    service = _service(pacs, bundle, tmp_path / "state.sqlite", infer)
    service.stop()
    summary = service.poll_once()
    assert summary.stopped and summary.processed == [] and infer.calls == []


def test_shutdown_during_a_backoff_leaves_the_study_pending(pacs, bundle, tmp_path):
    client = USDicomWebClient(pacs.url, retry=USRetryPolicy(max_retries=5, backoff=30.0, max_backoff=30.0))
    service = USDicomWebService(client, bundle, tmp_path / "state.sqlite", infer=FakeInfer(), settle_seconds=0)
    search_series = client.search_series

    def outage_then_search(*args, **kwargs):
        pacs.faults = [503] * 10
        threading.Timer(0.3, service.stop).start()  # SIGTERM arrives while the client waits 30 s to retry
        return search_series(*args, **kwargs)

    client.search_series = outage_then_search
    start = time.monotonic()
    summary = service.poll_once()
    assert time.monotonic() - start < 5
    assert summary.stopped and not summary.pacs_unavailable and summary.failed == [] and service.state.all() == []


def test_argument_checks(pacs, bundle, tmp_path):
    with pytest.raises(FileNotFoundError, match="configs"):
        USDicomWebService(pacs.url, tmp_path / "nope", tmp_path / "s.sqlite")
    with pytest.raises(ValueError, match="max_attempts"):
        USDicomWebService(pacs.url, bundle, tmp_path / "s.sqlite", max_attempts=0)
    with pytest.raises(ValueError, match="is a directory"):
        USDicomWebService(pacs.url, bundle, tmp_path)
    (tmp_path / "bad.sqlite").write_text("not a database " * 100)
    with pytest.raises(ValueError, match="not a usable sqlite"):
        USStudyStateStore(tmp_path / "bad.sqlite")
    with pytest.raises(ValueError, match="status"):
        USStudyStateStore(tmp_path / "s.sqlite").record("1.2", "pending", attempt=False)


def test_serve_dicomweb_once(pacs, bundle, tmp_path):
    infer = FakeInfer()
    summary = serve_dicomweb(
        bundle, pacs.url, state_file=tmp_path / "st.sqlite", once=True, infer=infer, retry=FAST, settle_seconds=0
    )
    assert summary.ok and len(summary.processed) == 2


def test_cli_service_stops_cleanly_on_sigterm(bundle, tmp_path):
    # the real command in its own process, polling an empty PACS every 60 s: SIGTERM must end it at once
    with TinyPacs() as pacs:
        env = dict(os.environ, OMP_NUM_THREADS="1")
        cmd = [sys.executable, "-m", "monai_ext", "serve-dicomweb", "--bundle", str(bundle), "--url", pacs.url,
               "--poll-interval", "60", "--state", str(tmp_path / "state.sqlite")]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while pacs.count("GET") == 0 and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.1)
            assert pacs.count("GET") == 1, proc.stderr.read() if proc.poll() is not None else "no poll"
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, err
        assert "SIGTERM received" in err and "shutdown complete" in err
        assert (tmp_path / "state.sqlite").is_file()


def test_cli_once_exit_codes(bundle, tmp_path, capsys):
    from monai_ext.cli import main

    pacs = TinyPacs().start()
    url = pacs.url
    pacs.stop()
    common = ["serve-dicomweb", "--bundle", str(bundle), "--url", url, "--state", str(tmp_path / "s.sqlite"), "--once"]
    assert main(common + ["--override", "no-equals-sign"]) == 2
    assert "--override expects KEY=VALUE" in capsys.readouterr().err
    assert main(common + ["--max-retries", "0", "--log-level", "ERROR"]) == 1  # PACS unreachable
    assert "PACS unavailable" in capsys.readouterr().out
    with TinyPacs() as empty:
        args = ["serve-dicomweb", "--bundle", str(bundle), "--url", empty.url, "--state", str(tmp_path / "s.sqlite")]
        assert main(args + ["--once", "--filter", "StudyDate=20260101-"]) == 0
        assert "0 US studies" in capsys.readouterr().out
        assert "StudyDate=20260101-" in empty.requests[0][1] and "ModalitiesInStudy=US" in empty.requests[0][1]


# -- hostile PACS and operator mistakes ----------------------------------------------------------------------------
def _uid_item(value):
    return {"0020000D": {"vr": "UI", "Value": [value]}, "00080061": {"vr": "CS", "Value": ["US"]}}


def test_invalid_study_uids_fail_those_studies_without_a_request(pacs, bundle, tmp_path, caplog):
    evil = ["1.2.3/../../../etc/evil", "1.2.3?ModalitiesInStudy=CT#x", "1.02.3", 7]
    pacs.extra_studies = [_uid_item(v) for v in evil]
    service = _service(pacs, bundle, tmp_path / "state.sqlite", FakeInfer())
    with caplog.at_level("ERROR"):
        summary = service.poll_once()
    assert summary.processed == [STUDY_A, STUDY_B] and summary.found == 2 and not summary.ok
    assert summary.failed == ["'1.2.3/../../../etc/evil'", "'1.2.3?ModalitiesInStudy=CT#x'", "'1.02.3'", "7"]
    # every request stayed below the DICOMweb root and named only the good studies
    assert all(path.startswith("/dicom-web/studies") for _, path in pacs.requests)
    assert not any("evil" in p or "etc" in p or "CT" in p or "1.02.3" in p for _, p in pacs.requests)
    assert "StudyInstanceUID '1.2.3/../../../etc/evil' from the PACS is not a valid DICOM UID" in caplog.text
    assert [r["study_uid"] for r in service.state.all()] == [STUDY_A, STUDY_B]
    caplog.clear()
    with caplog.at_level("ERROR"):
        assert len(service.poll_once().failed) == 4
    assert "not a valid DICOM UID" not in caplog.text  # reported once per run, not at every poll


def test_invalid_series_and_instance_uids_fail_the_study(pacs, bundle, tmp_path):
    client = USDicomWebClient(pacs.url, retry=FAST)
    service = USDicomWebService(client, bundle, tmp_path / "s.sqlite", infer=FakeInfer(), settle_seconds=0)
    search_series = client.search_series

    def evil_series(study_uid, **kwargs):
        series = search_series(study_uid, **kwargs)
        if study_uid == STUDY_A:
            bad = {"0020000E": {"vr": "UI", "Value": ["1.2/../../x"]}, "00080060": {"vr": "CS", "Value": ["US"]}}
            series.append(bad)
        return series

    client.search_series = evil_series
    summary = service.poll_once()
    assert summary.failed == [STUDY_A] and summary.processed == [STUDY_B]
    assert "SeriesInstanceUID '1.2/../../x'" in service.state.get(STUDY_A)["error"]
    assert not any("x" in p.split("/")[-1] for _, p in pacs.requests if "/series/" in p)
    assert pacs.count("POST") == 1  # study A: nothing retrieved, nothing stored


def test_search_errors_do_not_end_the_service(pacs, bundle, tmp_path, caplog):
    # a 400, then a login page instead of JSON: the service logs, waits longer each time, and goes on
    pacs.faults = [400, (200, b"<html>please log in</html>", "text/html")]
    service = _service(pacs, bundle, tmp_path / "state.sqlite", FakeInfer())
    errors = []

    def run():
        try:
            service.serve(poll_interval=0.05)
        except BaseException as e:  # the test fails on any escape
            errors.append(e)

    with caplog.at_level("INFO"):
        thread = threading.Thread(target=run)
        start = time.monotonic()
        thread.start()
        deadline = time.monotonic() + 30
        while len(service.state.all()) < 2 and time.monotonic() < deadline and thread.is_alive():
            time.sleep(0.05)
        elapsed = time.monotonic() - start
        service.stop()
        thread.join(10)
    assert not thread.is_alive() and errors == []
    assert {r["status"] for r in service.state.all()} == {"done"}
    assert caplog.text.count("study search failed, will retry after a pause") == 2
    assert "failed with HTTP 400" in caplog.text and "did not answer DICOM JSON" in caplog.text
    assert 2.5 <= elapsed < 15  # backoff 1 s, then 2 s
    # --once reports the failed search with exit code 1
    pacs.faults = [404]
    summary = _service(pacs, bundle, tmp_path / "other.sqlite", FakeInfer()).serve(once=True)
    assert summary.search_failed and not summary.ok and summary.processed == []


@pytest.mark.parametrize("mode", ["length", "chunked"])
def test_dropped_download_is_retried_and_not_charged(pacs, bundle, tmp_path, mode):
    pacs.drop_wado, pacs.drop_mode = 2, mode
    service = _service(pacs, bundle, tmp_path / "state.sqlite", FakeInfer())
    summary = service.poll_once()
    assert summary.ok and summary.processed == [STUDY_A, STUDY_B] and pacs.drop_wado == 0
    assert service.state.get(STUDY_A)["attempts"] == 1 and service.state.get(STUDY_A)["error"] is None
    # a download that always breaks: the study's attempt is charged once the retries are exhausted
    pacs.drop_wado = 1000
    service = _service(pacs, bundle, tmp_path / "fresh.sqlite", FakeInfer(), max_attempts=1)
    service.output_manufacturer = "nobody"  # (so the results stored above do not mark the studies processed)
    summary = service.poll_once()
    assert summary.failed == [STUDY_A, STUDY_B] and not summary.pacs_unavailable
    row = service.state.get(STUDY_A)
    assert row["attempts"] == 1 and "transfer kept breaking after 4 attempt" in row["error"]


def test_unconfirmed_store_fails_and_is_retried(pacs, bundle, tmp_path):
    for answer in ((200, b"", "application/dicom+json"), (200, b"{}", "application/dicom+json"),
                   (200, b"<html>Stored!</html>", "text/html")):
        pacs.stow_answer = lambda uids, a=answer: a
        summary = serve_dicomweb(bundle, pacs.url, state_file=tmp_path / f"{len(answer[1])}.sqlite", once=True,
                                 infer=FakeInfer(), retry=FAST, settle_seconds=0, output_manufacturer="nobody")
        assert not summary.ok and summary.failed == [STUDY_A, STUDY_B] and summary.processed == []
    state = USStudyStateStore(tmp_path / "0.sqlite")
    row = state.get(STUDY_A)
    assert row["status"] == "failed" and row["attempts"] == 1 and "empty body" in row["error"]
    assert len(row["sent"]) == 2 and row["outputs"] == []
    pacs.stow_answer = None  # the PACS answers properly again: the next poll stores the results
    summary = _service(pacs, bundle, tmp_path / "0.sqlite", FakeInfer(), output_manufacturer="nobody").poll_once()
    assert summary.processed == [STUDY_A, STUDY_B]
    row = state.get(STUDY_A)
    assert row["status"] == "done" and row["attempts"] == 2 and len(row["outputs"]) == 2


def test_work_dir_is_checked_at_start_up(pacs, bundle, tmp_path, capsys):
    from monai_ext.cli import main

    with pytest.raises(ValueError, match="--work-dir '.*nope' does not exist: create it"):
        _service(pacs, bundle, tmp_path / "s.sqlite", FakeInfer(), work_dir=tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is not a folder"):
        _service(pacs, bundle, tmp_path / "s.sqlite", FakeInfer(), work_dir=tmp_path / "file")
    args = ["serve-dicomweb", "--bundle", str(bundle), "--url", pacs.url, "--state", str(tmp_path / "s.sqlite"),
            "--once", "--work-dir", str(tmp_path / "nope")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --work-dir") and "does not exist" in err and len(err.splitlines()) == 1
    assert pacs.requests == []  # nothing asked of the PACS before the check
    work = tmp_path / "work"
    work.mkdir()
    assert _service(pacs, bundle, tmp_path / "s.sqlite", FakeInfer(), work_dir=work).poll_once().ok
    assert list(work.iterdir()) == []  # per-study folders are removed


def test_unwritable_work_dir_is_refused(pacs, bundle, tmp_path):
    work = tmp_path / "ro"
    work.mkdir(mode=0o500)
    if os.geteuid() == 0:  # root may write into any folder, but sysfs lets no one create files
        work = Path("/sys")
    with pytest.raises(ValueError, match="is not writable"):
        _service(pacs, bundle, tmp_path / "s.sqlite", FakeInfer(), work_dir=work)


def test_study_is_processed_once_settled_and_again_after_it_grows(pacs, bundle, tmp_path):
    infer = FakeInfer()
    service = _service(pacs, bundle, tmp_path / "state.sqlite", infer, settle_seconds=0.5)
    summary = service.poll_once()
    assert summary.waiting == [STUDY_A, STUDY_B] and summary.processed == [] and infer.calls == []
    late = make_us_instance(tmp_path / "a4.dcm", STUDY_A)
    pacs.add(tmp_path / "a4.dcm")  # study A is still being sent
    time.sleep(0.6)
    summary = service.poll_once()
    assert summary.waiting == [STUDY_A] and summary.processed == [STUDY_B]
    time.sleep(0.6)
    summary = service.poll_once()
    assert summary.processed == [STUDY_A] and sorted(infer.calls[-1]) == sorted(pacs.uids["a"] + [late.SOPInstanceUID])
    assert service.poll_once().processed == [] and service.poll_once().waiting == []  # our SRs are not "growth"
    # an instance sent after processing: the study is checked again, only the new image is segmented
    later = make_us_instance(tmp_path / "a5.dcm", STUDY_A)
    pacs.add(tmp_path / "a5.dcm")
    assert service.poll_once().waiting == [STUDY_A]
    time.sleep(0.6)
    summary = service.poll_once()
    assert summary.processed == summary.rechecked == [STUDY_A] and infer.calls[-1] == [later.SOPInstanceUID]
    row = service.state.get(STUDY_A)
    assert row["status"] == "done" and row["attempts"] == 1 and len(row["outputs"]) == 4 and len(row["sources"]) == 4
    assert len(pacs.datasets(STUDY_A, "SR")) == 4  # earlier results kept, one added
    # growth without a new ultrasound image (an OT instance): counted, nothing segmented
    make_us_instance(tmp_path / "a6.dcm", STUDY_A, modality="OT")
    pacs.add(tmp_path / "a6.dcm")
    n = len(infer.calls)
    service.poll_once()
    time.sleep(0.6)
    assert service.poll_once().processed == [] and len(infer.calls) == n
    assert service.poll_once().waiting == [] and service.state.get(STUDY_A)["instances"] == len(pacs.datasets(STUDY_A))


def test_settling_without_instance_counts_and_in_once_mode(pacs, bundle, tmp_path):
    pacs.study_counts = False  # the PACS omits NumberOfStudyRelatedInstances: counted by an instance search
    service = _service(pacs, bundle, tmp_path / "state.sqlite", FakeInfer(), settle_seconds=0.3)
    start = time.monotonic()
    summary = service.serve(poll_interval=60, once=True)  # --once waits for the studies to settle
    assert summary.ok and summary.processed == [STUDY_A, STUDY_B] and summary.waiting == []
    assert 0.3 <= time.monotonic() - start < 10
    assert any(p.startswith(f"/dicom-web/studies/{STUDY_A}/instances") for _, p in pacs.requests)
    assert service.state.get(STUDY_A)["instances"] == len(pacs.datasets(STUDY_A))


def test_study_byte_limit(pacs, bundle, tmp_path):
    first = min(len(data) for data, ds in pacs.instances.values() if ds.StudyInstanceUID == STUDY_A)
    service = _service(pacs, bundle, tmp_path / "state.sqlite", FakeInfer(), max_study_bytes=first + 300)
    summary = service.poll_once()
    assert summary.failed == [STUDY_A] and summary.processed == [STUDY_B]
    assert "exceed --max-study-bytes" in service.state.get(STUDY_A)["error"]


def test_stop_during_a_dripping_search_ends_the_service(bundle, tmp_path):
    from .hostile_http import HostileServer, drip_body

    with HostileServer(drip_body(interval=0.1)) as server:
        client = USDicomWebClient(server.url, retry=FAST, timeout=(5, 60), deadline=600)
        service = USDicomWebService(client, bundle, tmp_path / "s.sqlite", infer=FakeInfer())
        threading.Timer(0.5, service.stop).start()
        start = time.monotonic()
        summary = service.serve(poll_interval=60)
        assert summary.stopped and time.monotonic() - start < 3


# -- credentials -------------------------------------------------------------------------------------------------
PASSWORD = "S3cr3t-pw-4711"
BASIC = "Basic " + base64.b64encode(f"radiology:{PASSWORD}".encode()).decode()


def _leaks(*texts):
    return [t for t in texts if PASSWORD in t or BASIC.split()[1] in t or "Bearer tok" in t]


def test_url_credentials_are_used_and_redacted_everywhere(pacs, bundle, tmp_path, caplog, capsys):
    pacs.auth = BASIC
    pacs.fail_wado_for = set(pacs.uids["b"])  # study B fails with an error naming its URL
    pacs.faults = [503]  # a retry warning naming the URL
    url = pacs.url.replace("http://", f"http://radiology:{PASSWORD}@")
    with caplog.at_level("DEBUG"):
        summary = serve_dicomweb(bundle, url, state_file=tmp_path / "state.sqlite", once=True, infer=FakeInfer(),
                                 retry=FAST, settle_seconds=0)
    assert summary.processed == [STUDY_A] and summary.failed == [STUDY_B]
    assert all(h.get("Authorization") == BASIC for h in pacs.headers_seen)  # used as basic auth
    state = (tmp_path / "state.sqlite").read_bytes().decode("latin-1")
    out = capsys.readouterr()
    assert "HTTP 404" in state and "retry 1/3" in caplog.text
    assert _leaks(caplog.text, out.out, out.err, state) == []
    assert os.stat(tmp_path / "state.sqlite").st_mode & 0o777 == 0o600


def test_cli_reads_credentials_from_env_or_file_and_never_logs_them(pacs, bundle, tmp_path, capsys, caplog,
                                                                    monkeypatch):
    from monai_ext.cli import main

    pacs.fail_wado_for = set(pacs.uids["a"] + pacs.uids["b"])  # both studies fail (no inference needed)
    common = ["serve-dicomweb", "--bundle", str(bundle), "--url", pacs.url, "--once", "--settle-seconds", "0",
              "--max-retries", "1"]
    pacs.auth, pacs.faults = BASIC, [503]
    monkeypatch.setenv("PACS_PW", PASSWORD)
    with caplog.at_level("INFO"):
        code = main(common + ["--state", str(tmp_path / "a.sqlite"), "--username", "radiology",
                              "--password-env", "PACS_PW"])
    out = capsys.readouterr()
    assert code == 1 and "2 failed" in out.out
    assert pacs.headers_seen[-1]["Authorization"] == BASIC
    assert _leaks(caplog.text, out.out, out.err, (tmp_path / "a.sqlite").read_bytes().decode("latin-1")) == []
    # bearer token from a file
    token_file = tmp_path / "token"
    token_file.write_text("tok-" + PASSWORD + "\n")
    token_file.chmod(0o600)
    pacs.auth = f"Bearer tok-{PASSWORD}"
    caplog.clear()
    code = main(common + ["--state", str(tmp_path / "b.sqlite"), "--token-file", str(token_file)])
    out = capsys.readouterr()
    assert code == 1 and pacs.headers_seen[-1]["Authorization"] == f"Bearer tok-{PASSWORD}"
    assert _leaks(caplog.text, out.out, out.err, (tmp_path / "b.sqlite").read_bytes().decode("latin-1")) == []
    # credentials in --url are refused without echoing them; options that do not fit are named
    url = pacs.url.replace("http://", f"http://radiology:{PASSWORD}@")
    for args, message in (
        (["--url", url], "holds credentials: command lines are visible"),
        (["--url", pacs.url, "--username", "radiology"], "--auth basic needs --username USER and the password"),
        (["--url", pacs.url, "--auth", "bearer", "--password-env", "PACS_PW"], "--auth bearer takes --token-env"),
        (["--url", pacs.url, "--token-env", "UNSET_VARIABLE_4711"], "'UNSET_VARIABLE_4711' is not set"),
        (["--url", pacs.url, "--max-instance-bytes", "lots"], "expected a positive byte count"),
    ):
        with pytest.raises(SystemExit) if "byte count" in message else contextlib.nullcontext():
            assert main(common[:3] + common[5:] + ["--state", str(tmp_path / "c.sqlite")] + args) == 2
        err = capsys.readouterr().err
        assert message in err and PASSWORD not in err, err
