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
"""Integration test of the hospital pipeline: a real Orthanc (Debian ``orthanc`` + ``orthanc-dicomweb``) on
loopback, the Mean Teacher bundle with a randomly initialised small network, and ``serve-dicomweb --once``.

Round trip: upload a phantom JPEG cine clip and pydicom's single-frame ``examples_rgb_color.dcm`` (two studies) ->
the service finds them (QIDO-RS), retrieves them (WADO-RS), segments them with the real
``monai_ext.inference.run_bundle_inference`` and stores the results (STOW-RS) -> Orthanc holds an SR for the clip
and a SEG for the single frame, in the source studies, referencing the source instances -> a second run (same
state, via the command line) and a third (fresh state) store nothing. Skipped only when Orthanc is not installed.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pydicom
import pytest
import requests
import torch
from pydicom.data import get_testdata_file

from monai_ext.io import write_phantom_clip
from monai_ext.services import serve_dicomweb

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "bundles" / "meanteacher_us_segmentation"
ORTHANC = shutil.which("Orthanc") or next((p for p in ("/usr/sbin/Orthanc",) if os.access(p, os.X_OK)), None)
PLUGIN = next(
    iter(
        glob.glob("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
        + sorted(glob.glob("/usr/lib/orthanc/libOrthancDicomWeb.so*"))
    ),
    None,
)
SMALL = {"task": "cardiac", "image_size": [64, 64], "features": [4, 8, 16, 32, 64], "keyframes": "extremes"}

pytestmark = pytest.mark.skipif(
    ORTHANC is None, reason="Orthanc binary absent (Debian: apt-get install orthanc orthanc-dicomweb)"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    if PLUGIN is None:
        pytest.skip("Orthanc DICOMweb plugin absent (Debian: apt-get install orthanc-dicomweb)")
    work = tmp_path_factory.mktemp("orthanc")
    (work / "db").mkdir()
    http_port, dicom_port = _free_port(), _free_port()
    config = {
        "Name": "monai_ext-test",
        "StorageDirectory": str(work / "db"),
        "IndexDirectory": str(work / "db"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomServerEnabled": False,  # the test uses DICOMweb only; no DIMSE listener
        "RemoteAccessAllowed": False,  # HTTP from localhost only
        "AuthenticationEnabled": False,
        "SaveJobs": False,
        "Plugins": [PLUGIN],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
    }
    (work / "orthanc.json").write_text(json.dumps(config, indent=1))
    log = open(work / "orthanc.log", "w")
    proc = subprocess.Popen([ORTHANC, str(work / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT, cwd=work)
    base = f"http://127.0.0.1:{http_port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"Orthanc exited ({proc.returncode}): {(work / 'orthanc.log').read_text()[-2000:]}")
            try:
                if "dicom-web" in requests.get(f"{base}/plugins", timeout=2).json():
                    break
            except (requests.ConnectionError, ValueError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"Orthanc did not answer in 30 s: {(work / 'orthanc.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield SimpleNamespace(base=base, url=f"{base}/dicom-web", proc=proc, work=work)
    finally:
        proc.send_signal(signal.SIGTERM)  # Orthanc closes its index cleanly on SIGTERM
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    assert proc.returncode == 0, (work / "orthanc.log").read_text()[-2000:]


def _upload(base: str, path: Path) -> None:
    r = requests.post(f"{base}/instances", data=path.read_bytes(), timeout=30)
    r.raise_for_status()
    assert r.json()["Status"] == "Success"


def _study_instances(base: str, study_uid: str, tmp: Path) -> list[pydicom.Dataset]:
    """Every instance Orthanc holds for a study, read back through its REST API (independent of the service)."""
    found = requests.post(
        f"{base}/tools/find", json={"Level": "Instance", "Query": {"StudyInstanceUID": study_uid}}, timeout=30
    ).json()
    out = []
    for orthanc_id in found:
        path = tmp / f"{orthanc_id}.dcm"
        path.write_bytes(requests.get(f"{base}/instances/{orthanc_id}/file", timeout=30).content)
        out.append(pydicom.dcmread(path))
    return out


def _referenced_sop_uids(ds: pydicom.Dataset) -> set[str]:
    return {e.value for e in ds.iterall() if e.keyword == "ReferencedSOPInstanceUID"}


def _instance_count(base: str) -> int:
    return requests.get(f"{base}/statistics", timeout=10).json()["CountInstances"]


def _small_checkpoint(path: Path) -> Path:
    """A randomly initialised network built from the bundle's own inference config, saved as a checkpoint."""
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(BUNDLE / "configs" / "inference.json"))
    parser.update({k: v for k, v in SMALL.items() if k in ("task", "features")})
    torch.manual_seed(0)
    net = parser.get_parsed_content("network_def")
    torch.save({"model": net.state_dict()}, path)
    return path


def test_orthanc_round_trip_is_idempotent(orthanc, tmp_path):
    clip, _ = write_phantom_clip(tmp_path / "clip.dcm", task="cardiac", frames=6, size=96, seed=5, jpeg=True)
    frame = get_testdata_file("examples_rgb_color.dcm", download=False)
    assert frame is not None, "pydicom's examples_rgb_color.dcm ships in the pydicom wheel"
    clip_ds, frame_ds = pydicom.dcmread(clip, stop_before_pixels=True), pydicom.dcmread(frame, stop_before_pixels=True)
    assert clip_ds.Modality == frame_ds.Modality == "US" and int(clip_ds.NumberOfFrames) == 6
    assert "NumberOfFrames" not in frame_ds
    for path in (clip, Path(frame)):
        _upload(orthanc.base, path)
    assert _instance_count(orthanc.base) == 2

    overrides = {**SMALL, "checkpointloader#load_path": str(_small_checkpoint(tmp_path / "model.pt"))}
    state = tmp_path / "state.sqlite"
    summary = serve_dicomweb(BUNDLE, orthanc.url, state_file=state, once=True, overrides=overrides, settle_seconds=0)
    assert summary.ok and summary.found == 2, summary
    assert sorted(summary.processed) == sorted([clip_ds.StudyInstanceUID, frame_ds.StudyInstanceUID]), summary

    # the clip's study: the source clip, an SR with contours referencing it, key frames of it and their SEGs
    clip_study = _study_instances(orthanc.base, clip_ds.StudyInstanceUID, tmp_path)
    by_modality = {}
    for ds in clip_study:
        by_modality.setdefault(ds.Modality, []).append(ds)
    (sr,) = by_modality["SR"]
    assert sr.Manufacturer == "monai_ext" and sr.StudyInstanceUID == clip_ds.StudyInstanceUID
    assert clip_ds.SOPInstanceUID in _referenced_sop_uids(sr)
    numbers = [e.value for e in sr.iterall() if e.keyword == "ReferencedFrameNumber"]
    frames = {int(f) for v in numbers for f in (v if isinstance(v, pydicom.multival.MultiValue) else [v])}
    assert frames <= set(range(1, 7)) and frames, "SR contours reference frames 1..6 of the clip"
    keyframes = [ds for ds in by_modality["US"] if ds.SOPInstanceUID != clip_ds.SOPInstanceUID]
    assert keyframes and all(clip_ds.SOPInstanceUID in _referenced_sop_uids(k) for k in keyframes)
    assert len(by_modality["SEG"]) == len(keyframes)
    keyframe_uids = {k.SOPInstanceUID for k in keyframes}
    assert all(_referenced_sop_uids(seg) & keyframe_uids for seg in by_modality["SEG"])

    # the single frame's study: the source and one SEG referencing it, same geometry
    frame_study = _study_instances(orthanc.base, frame_ds.StudyInstanceUID, tmp_path)
    assert sorted(ds.Modality for ds in frame_study) == ["SEG", "US"]
    (seg,) = [ds for ds in frame_study if ds.Modality == "SEG"]
    assert seg.StudyInstanceUID == frame_ds.StudyInstanceUID and seg.Manufacturer == "monai_ext"
    referenced = seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0].ReferencedSOPInstanceUID
    assert referenced == frame_ds.SOPInstanceUID
    assert (seg.Rows, seg.Columns) == (frame_ds.Rows, frame_ds.Columns) and len(seg.SegmentSequence) == 3
    stored = _instance_count(orthanc.base)
    assert stored == 2 + 1 + 2 * len(keyframes) + 1
    sources = (clip_ds.SOPInstanceUID, frame_ds.SOPInstanceUID)
    results = [d.SOPInstanceUID for d in clip_study + frame_study if d.SOPInstanceUID not in sources]
    assert sorted(summary.stored) == sorted(results)

    # second run, same state, through the command line: nothing new
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "monai_ext", "serve-dicomweb", "--bundle", str(BUNDLE), "--url", orthanc.url]
    cmd += ["--state", str(state), "--once", "--settle-seconds", "0"]
    for key, value in overrides.items():
        cmd += ["--override", f"{key}={value if isinstance(value, str) else json.dumps(value)}"]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "2 US studies: 0 processed, 0 skipped, 0 failed, 0 instances stored" in run.stdout
    assert _instance_count(orthanc.base) == stored

    # third run with the state lost: the studies already hold our SR/SEG, so they are skipped
    summary = serve_dicomweb(
        BUNDLE, orthanc.url, state_file=tmp_path / "fresh.sqlite", once=True, overrides=overrides, settle_seconds=0
    )
    assert summary.ok and sorted(summary.skipped) == sorted([clip_ds.StudyInstanceUID, frame_ds.StudyInstanceUID])
    assert summary.processed == [] and _instance_count(orthanc.base) == stored
