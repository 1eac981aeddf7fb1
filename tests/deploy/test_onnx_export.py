# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""ONNX export of every bundle's inference network with MONAI's onnx_export verb (tiny sizes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch

from monai_ext.deploy import EXPORT_ARGS_FILE, USOnnxRuntimeInferer, export_bundle_onnx, load_network_weights
from monai_ext.deploy.bundle_config import read_inference_config

from .conftest import BUNDLES

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("bundle", [b.name for b in BUNDLES])
def test_every_bundle_exports_with_a_dynamic_batch_and_torch_logits(bundle, exported_bundles):
    entry = exported_bundles[bundle]
    report = entry["report"]
    print(f"{bundle}: max abs difference {report['max_abs_diff']:.3g}, relative {report['max_rel_diff']:.3g}")
    assert report["dynamic_batch"] is True
    print(f"{bundle}: output values beyond 1e-4 of the largest logit: {report['mismatch_fraction']:.4%}")
    tolerated = 0.01 if bundle == "sabr_us_segmentation" else 0.0  # SABR's refinement has discrete steps
    assert report["tolerated_mismatch"] == tolerated
    if tolerated:
        assert report["mismatch_fraction"] <= tolerated
    else:
        assert report["max_rel_diff"] <= 1e-4  # max abs difference over the largest torch logit
    assert report["max_abs_logit"] > 0.5  # re-estimated batch norm: logits of a real size, not ~0
    model = onnx.load(str(entry["onnx"]))
    assert [i.name for i in model.graph.input] == ["image"] and [o.name for o in model.graph.output] == ["pred"]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # symbolic batch
    assert not any(entry["onnx"].parent.glob("*.data"))  # the weights are inside the .onnx file
    # batch 3 (not seen during export) gives the torch logits of each sample
    parser = read_inference_config(entry["bundle"], entry["overrides"])
    network = load_network_weights(parser.get_parsed_content("network_def"), entry["ckpt"]).eval()
    frames = entry["frames"][:3].as_tensor()
    with torch.no_grad():
        expected = network(frames)
    got = USOnnxRuntimeInferer(entry["onnx"])(frames)
    assert got.shape == expected.shape and got.shape[0] == 3
    beyond = (got - expected).abs() > 1e-4 * float(expected.abs().max())
    assert float(beyond.float().mean()) <= tolerated


def test_every_bundle_ships_the_export_arguments():
    for bundle in BUNDLES:
        args = json.loads((bundle / EXPORT_ARGS_FILE).read_text())
        assert args["net_id"] == "network_def" and args["config_file"] == "configs/inference.json"
        assert args["converter_kwargs"]["dynamic_axes"] == {"image": [0], "pred": [0]}
        assert args["converter_kwargs"]["external_data"] is False


def test_monai_verb_on_the_command_line(tmp_path, exported_bundles):
    """The README's command, run from the bundle folder; the args file brings the dynamic batch."""
    entry = exported_bundles["msmo_us_segmentation"]  # the HConvLSTM decoder
    bundle = entry["bundle"]
    out = tmp_path / "model.onnx"
    cmd = [sys.executable, "-m", "monai.bundle", "onnx_export", "--net_id", "network_def", "--filepath", str(out),
           "--meta_file", "configs/metadata.json", "--config_file", "configs/inference.json",
           "--bundle_root", str(bundle), "--ckpt_file", str(entry["ckpt"]), "--args_file", EXPORT_ARGS_FILE,
           "--input_shape", "[1, 3, 64, 64]"]
    for key, value in entry["overrides"].items():
        cmd += [f"--{key}", json.dumps(value) if not isinstance(value, str) else value]
    env = dict(os.environ, TMPDIR=str(tmp_path))
    proc = subprocess.run(cmd, cwd=bundle, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]  # nothing left in the temp folder
    frames = entry["frames"][:2].as_tensor()
    a, b = USOnnxRuntimeInferer(out)(frames), USOnnxRuntimeInferer(entry["onnx"])(frames)
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-6)


def test_export_errors(tmp_path, exported_bundles):
    entry = exported_bundles["supervised_us_segmentation"]
    with pytest.raises(FileExistsError, match="exists; pass overwrite=True"):
        export_bundle_onnx(entry["bundle"], entry["onnx"], entry["ckpt"], entry["overrides"])
    with pytest.raises(FileNotFoundError, match="no checkpoint at .*missing.pt"):
        export_bundle_onnx(entry["bundle"], tmp_path / "m.onnx", tmp_path / "missing.pt", entry["overrides"])
    with pytest.raises(ValueError, match="does not fit the bundle's network_def"):  # trained at other widths
        export_bundle_onnx(entry["bundle"], tmp_path / "m.onnx", entry["ckpt"], {**entry["overrides"],
                                                                                  "features": [8, 8, 16, 32, 64]})
    assert not (tmp_path / "m.onnx").exists()


def test_export_command(tmp_path, exported_bundles, capsys):
    from monai_ext.cli import main

    entry = exported_bundles["supervised_us_segmentation"]
    argv = ["export-onnx", "--bundle", str(entry["bundle"]), "--ckpt-file", str(entry["ckpt"]),
            "--out", str(tmp_path / "m.onnx")]
    argv += [a for k, v in entry["overrides"].items() for a in ("--override", f"{k}={json.dumps(v)}")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"exported {tmp_path / 'm.onnx'} (input [1, 1, 64, 64], dynamic batch)" in out
    assert "ONNX Runtime vs torch: max abs difference" in out
    assert main(argv) == 2 and "exists; pass overwrite=True (--overwrite)" in capsys.readouterr().err
