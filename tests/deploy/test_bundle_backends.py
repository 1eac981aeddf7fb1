# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Every bundle's inference.json with backend torch, onnxruntime and openvino on a phantom clip: same outputs."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest
from PIL import Image

from monai_ext.deploy import BACKENDS
from monai_ext.deploy.bundle_config import read_inference_config
from monai_ext.inference import run_bundle_inference
from monai_ext.utils.errors import find_input_error

from .conftest import BUNDLES

pytestmark = pytest.mark.slow


def _masks(folder):
    return {p.name: np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png"))}


@pytest.mark.parametrize("bundle", [b.name for b in BUNDLES])
def test_three_backends_write_the_same_masks_and_dicom(bundle, exported_bundles, phantom_clip, tmp_path):
    entry = exported_bundles[bundle]
    outputs, written = {}, {}
    for backend in BACKENDS:
        overrides = {**entry["overrides"], "backend": backend, "deploy_model": str(entry["onnx"]),
                     "checkpointloader#load_path": str(entry["ckpt"])}
        written[backend] = [p.name for p in run_bundle_inference(entry["bundle"], [phantom_clip], tmp_path / backend,
                                                                 overrides)]
        outputs[backend] = _masks(tmp_path / backend)
    reference = outputs["torch"]
    assert sorted(reference) == [f"clip_f{i:04d}_mask.png" for i in range(4)]
    values = np.unique(np.concatenate([m.ravel() for m in reference.values()]))
    assert len(values) >= 2, f"torch masks hold only {values}: the comparison would be empty"
    for backend in ("onnxruntime", "openvino"):
        assert written[backend] == written["torch"]
        assert sorted(outputs[backend]) == sorted(reference)
        differing = sum(int((outputs[backend][k] != reference[k]).sum()) for k in reference)
        total = sum(m.size for m in reference.values())
        assert differing <= total // 10000, f"{backend}: {differing} of {total} mask pixels differ from torch"
    # the DICOM results say which runtime produced them
    seg = next(n for n in written["onnxruntime"] if n.endswith("_seg.dcm"))
    versions = {}
    for backend in BACKENDS:
        ds = pydicom.dcmread(tmp_path / backend / seg)
        versions[backend] = ds.SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0].AlgorithmVersion
    assert versions["torch"] == "0.1.0"
    assert versions["onnxruntime"] == "0.1.0 onnxruntime model.onnx"
    assert versions["openvino"] == "0.1.0 openvino model.onnx"


def test_runtime_backends_build_no_torch_network(exported_bundles):
    entry = exported_bundles["mgcc_us_segmentation"]
    for backend, network_type in (("torch", "MGCCNet"), ("onnxruntime", "Identity"), ("openvino", "Identity")):
        parser = read_inference_config(entry["bundle"], {**entry["overrides"], "backend": backend,
                                                         "deploy_model": str(entry["onnx"])})
        assert type(parser.get_parsed_content("network")).__name__ == network_type
        assert type(parser.get_parsed_content("inferer")).__name__ == {
            "torch": "USDecoderDisagreementInferer",  # the multi-decoder bundles' torch inferer (uncertainty maps)
            "onnxruntime": "USOnnxRuntimeInferer", "openvino": "USOpenVINOInferer"}[backend]
    # the exported graph has the main output only: no decoder disagreement from a runtime backend
    parser = read_inference_config(entry["bundle"], {**entry["overrides"], "backend": "onnxruntime",
                                                     "deploy_model": str(entry["onnx"]), "uncertainty": True})
    with pytest.raises(Exception) as raised:  # MONAI wraps it; our excepthook prints it last
        parser.get_parsed_content("inferer")
    assert "uncertainty maps need the outputs of every decoder" in str(find_input_error(raised.value))


def test_missing_model_and_bad_backend_are_named(exported_bundles, phantom_clip, tmp_path):
    entry = exported_bundles["supervised_us_segmentation"]
    missing = tmp_path / "nope.onnx"
    with pytest.raises(FileNotFoundError, match=r"backend 'onnxruntime' has no exported model at .*nope\.onnx"):
        run_bundle_inference(entry["bundle"], [phantom_clip], tmp_path / "out",
                             {**entry["overrides"], "backend": "onnxruntime", "deploy_model": str(missing)})
    with pytest.raises(ValueError, match="backend must be one of"):
        run_bundle_inference(entry["bundle"], [phantom_clip], tmp_path / "out",
                             {**entry["overrides"], "backend": "tensorrt"})
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_serve_dicomweb_backend_option(exported_bundles, phantom_clip, tmp_path, capsys):
    """`serve-dicomweb --backend onnxruntime` against a DICOMweb server on loopback: the results come from ONNX
    Runtime (their algorithm version says so)."""
    from monai_ext.cli import main
    from tests.services.tiny_pacs import TinyPacs

    entry = exported_bundles["supervised_us_segmentation"]
    overrides = {**entry["overrides"], "deploy_model": str(entry["onnx"])}
    argv = ["serve-dicomweb", "--bundle", str(entry["bundle"]), "--state", str(tmp_path / "state.sqlite"), "--once",
            "--backend", "onnxruntime", "--work-dir", str(tmp_path), "--max-retries", "0"]
    for key, value in overrides.items():
        argv += ["--override", f"{key}={value if isinstance(value, str) else json.dumps(value)}"]
    with TinyPacs() as pacs:
        pacs.add(phantom_clip)
        assert main(argv + ["--url", pacs.url]) == 0, capsys.readouterr()
        segs = pacs.datasets(modality="SEG")
    assert "1 US studies: 1 processed" in capsys.readouterr().out
    assert segs and all(
        ds.SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0].AlgorithmVersion
        == "0.1.0 onnxruntime model.onnx"
        for ds in segs
    )
