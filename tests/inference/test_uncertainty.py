# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of monai_ext.inference.uncertainty: the decoder-disagreement map, its inferer and writer, and the
``uncertainty`` option of the CCT and MGCC bundles' inference.json (docs/uncertainty.md). The split transform is
tested in tests/transforms/test_uncertainty.py."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from PIL import Image

from monai_ext.inference import (
    USDecoderDisagreementInferer,
    USUncertaintyMapWriter,
    decoder_disagreement,
    run_bundle_inference,
)
from monai_ext.networks.nets import CCTUNet, USUNet

ROOT = Path(__file__).resolve().parents[2]
SMALL = {"image_size": [64, 64], "load_pretrain": False}


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_disagreement_hand_computed_sigmoid_and_softmax():
    shape = (1, 1, 2, 2)
    main = torch.full(shape, 0.0)  # p = 0.5
    aux = [torch.full(shape, _logit(0.75)), torch.full(shape, 0.0), torch.full(shape, _logit(0.25))]
    u = decoder_disagreement([main, *aux], "sigmoid")
    assert u.shape == shape
    torch.testing.assert_close(u, torch.full(shape, (0.25 + 0.0 + 0.25) / 3))
    # softmax: background + one structure; logits (0, log 3) give p_structure = 0.75
    main2 = torch.zeros(1, 2, 2, 2)
    aux2 = torch.zeros(1, 2, 2, 2)
    aux2[:, 1] = math.log(3.0)
    torch.testing.assert_close(decoder_disagreement([main2, aux2], "softmax"), torch.full(shape, 0.25))
    # two structures (sigmoid): the mean over structures
    m = torch.zeros(1, 2, 1, 1)
    a = torch.tensor([_logit(0.9), 0.0]).view(1, 2, 1, 1)
    torch.testing.assert_close(decoder_disagreement([m, a], "sigmoid"), torch.full((1, 1, 1, 1), 0.2))
    with pytest.raises(ValueError, match="at least one auxiliary"):
        decoder_disagreement([main], "sigmoid")
    with pytest.raises(ValueError, match="activation"):
        decoder_disagreement([main, main], "tanh")


def test_inferer_appends_the_map_and_disabled_is_plain_inference():
    torch.manual_seed(0)
    net = CCTUNet(features=(4, 8, 16, 32, 64)).eval()
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        plain = USDecoderDisagreementInferer(enabled=False)(x, net)
        out = USDecoderDisagreementInferer(activation="softmax")(x, net)
        heads = net.forward_all_heads(x)
    torch.testing.assert_close(plain, net(x), rtol=0, atol=0)
    assert out.shape == (2, 3, 32, 32)
    torch.testing.assert_close(out[:, :2], plain, rtol=0, atol=0)
    torch.testing.assert_close(out[:, 2:], decoder_disagreement(heads, "softmax"))
    assert 0.0 < float(out[:, 2].mean()) < 1.0
    with pytest.raises(TypeError, match="multi-decoder network"):
        USDecoderDisagreementInferer()(x, USUNet(features=(4, 8, 16, 32, 64)).eval())
    with pytest.raises(ValueError, match="activation"):
        USDecoderDisagreementInferer(activation="relu")


def test_writer_png_nifti_and_scores(tmp_path):
    u = np.array([[0.0, 0.5, 1.0], [0.25, 0.25, 0.25]], dtype=np.float32)  # (H = 2, W = 3)
    umap = MetaTensor(torch.from_numpy(u.T.copy())[None], meta={"filename_or_obj": "/in/case_07.png"})
    writer = USUncertaintyMapWriter(tmp_path)
    paths = writer.add(umap)
    assert [p.name for p in paths] == ["case_07_uncertainty.png", "case_07_uncertainty.nii.gz"]
    png = np.asarray(Image.open(paths[0]))
    np.testing.assert_array_equal(png, [[0, 128, 255], [64, 64, 64]])
    nifti = nib.load(paths[1])
    np.testing.assert_allclose(nifti.get_fdata(), u.T)  # (x = W, y = H)
    assert writer.write_scores().name == "uncertainty_scores.csv"
    rows = list(csv.DictReader(open(tmp_path / "uncertainty_scores.csv")))
    assert rows == [{"image_id": "case_07", "frame": "0", "mean": f"{u.mean():.6g}", "max": "1"}]


def _inputs(tmp_path: Path, n: int = 3) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (72, 80), dtype=np.uint8)).save(folder / f"img{i}.png")
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("bundle,extra", [("cct_us_segmentation", {"features": [4, 8, 16, 32, 64]}),
                                          ("mgcc_us_segmentation", {"dim_mult": 0.5, "channels_last": False}),
                                          ("msmo_us_segmentation", {"dim_mult": 0.5, "channels_last": False,
                                                                    "hconvlstm_levels": 4})])
def test_bundle_inference_with_uncertainty(bundle, extra, tmp_path):
    inputs = _inputs(tmp_path)
    overrides = {**SMALL, **extra, "device": "$torch.device('cpu')"}
    run_bundle_inference(ROOT / "bundles" / bundle, [inputs], tmp_path / "plain", overrides=overrides)
    run_bundle_inference(ROOT / "bundles" / bundle, [inputs], tmp_path / "unc",
                         overrides={**overrides, "uncertainty": True})
    plain = sorted(p.name for p in (tmp_path / "plain").iterdir())
    assert plain == [f"img{i}_mask.png" for i in range(3)]
    names = sorted(p.name for p in (tmp_path / "unc").iterdir())
    expected = {f"img{i}_{s}" for i in range(3) for s in ("mask.png", "uncertainty.png", "uncertainty.nii.gz")}
    assert set(names) == expected | {"uncertainty_scores.csv"}
    for i in range(3):  # the masks do not change; the map is in the input's geometry
        a = np.asarray(Image.open(tmp_path / "plain" / f"img{i}_mask.png"))
        b = np.asarray(Image.open(tmp_path / "unc" / f"img{i}_mask.png"))
        np.testing.assert_array_equal(a, b)
        umap = np.asarray(Image.open(tmp_path / "unc" / f"img{i}_uncertainty.png"))
        assert umap.shape == (72, 80)
        assert nib.load(tmp_path / "unc" / f"img{i}_uncertainty.nii.gz").shape == (80, 72)
    rows = list(csv.DictReader(open(tmp_path / "unc" / "uncertainty_scores.csv")))
    assert [r["image_id"] for r in rows] == ["img0", "img1", "img2"]
    assert all(0.0 < float(r["mean"]) <= float(r["max"]) <= 1.0 for r in rows)
