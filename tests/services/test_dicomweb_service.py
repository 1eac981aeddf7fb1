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
    service = USDicomWebService(client, bundle, tmp_path / "state.sqlite", infer=infer)
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
    service = USDicomWebService(client, bundle, tmp_path / "state.sqlite", infer=FakeInfer())
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
    summary = serve_dicomweb(bundle, pacs.url, state_file=tmp_path / "st.sqlite", once=True, infer=infer, retry=FAST)
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
