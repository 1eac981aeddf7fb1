# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""int8 static quantisation of a small trained U-Net: calibration from the training split only, masks that agree
with fp32 on the phantom test split, test Dice within 0.01 of fp32, and the quantize command."""

from __future__ import annotations

import json

import onnx
import pytest
import torch

from monai_ext.cli import main
from monai_ext.data.splits import load_split
from monai_ext.deploy import (
    MAX_CALIBRATION_IMAGES,
    USOnnxRuntimeInferer,
    USOpenVINOInferer,
    calibration_images,
    load_network_weights,
    output_head_nodes,
    quantize_bundle,
    segmentation_agreement,
)
from monai_ext.deploy.bundle_config import read_inference_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def int8_model(trained_unet):
    t = trained_unet
    result = quantize_bundle(t["bundle"], t["split"], t["work"] / "model_int8.onnx", t["onnx"],
                             overrides=t["overrides"])
    return {**t, **result}


def test_calibration_uses_training_images_only(trained_unet, tmp_path):
    split = load_split(trained_unet["split"])
    training = {it["image"].split("/")[-1] for it in split["training"]}
    held_out = {it["image"].split("/")[-1] for part in ("validation", "test") for it in split[part]}
    images = calibration_images(trained_unet["split"], max_images=10, seed=1)
    assert len(images) == 10 and {p.split("/")[-1] for p in images} <= training
    assert images == calibration_images(trained_unet["split"], max_images=10, seed=1)  # seeded
    assert len(calibration_images(trained_unet["split"])) == len(training) < MAX_CALIBRATION_IMAGES
    assert held_out and not held_out & training
    for bad in (0, 101):
        with pytest.raises(ValueError, match="max_images must be 1 to 100"):
            calibration_images(trained_unet["split"], max_images=bad)


def test_int8_model_and_its_record(int8_model):
    record = json.loads(open(int8_model["record"]).read())
    split = load_split(int8_model["split"])
    training = {it["image"].split("/")[-1] for it in split["training"]}
    assert record["part"] == "training" and set(record["images"]) <= training
    assert int8_model["images"] == len(record["images"]) == len(training)
    model = onnx.load(int8_model["model"])
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("QuantizeLinear") > 20 and ops.count("DequantizeLinear") > 20
    head = output_head_nodes(model)
    assert len(head) == 1  # the final 1x1 conv stays fp32: its weight is not dequantised from int8
    node = next(n for n in model.graph.node if n.name == head[0])
    assert node.op_type == "Conv" and node.input[1] in {i.name for i in model.graph.initializer}


def test_int8_masks_agree_with_fp32_on_the_test_split(int8_model):
    t = int8_model
    parser = read_inference_config(t["bundle"], t["overrides"])
    network = load_network_weights(parser.get_parsed_content("network_def"), t["ckpt"]).eval()
    runners = {"torch": lambda x: network(x.as_tensor() if hasattr(x, "as_tensor") else x),
               "fp32": USOnnxRuntimeInferer(t["onnx"]), "int8": USOnnxRuntimeInferer(t["model"]),
               "openvino_int8": USOpenVINOInferer(t["model"])}
    with torch.no_grad():
        r = segmentation_agreement(t["bundle"], runners, t["split"], reference="fp32", overrides=t["overrides"])
    print(json.dumps(r, indent=1))
    assert r["fp32"]["images"] == len(load_split(t["split"])["test"]) > 0
    assert r["fp32"]["mean_dice"] > 0.6  # a trained network: its masks mean something
    assert r["torch"]["mean_agreement"] > 0.999
    for name in ("int8", "openvino_int8"):
        assert min(r[name]["agreement"].values()) >= 0.98, r[name]["agreement"]
        assert abs(r[name]["mean_dice"] - r["fp32"]["mean_dice"]) <= 0.01


def test_quantize_command(int8_model, tmp_path, capsys):
    t = int8_model
    argv = ["quantize", "--bundle", str(t["bundle"]), "--split", str(t["split"]), "--model", str(t["onnx"]),
            "--out", str(tmp_path / "q.onnx"), "--max-images", "12"]
    argv += [a for k, v in t["overrides"].items() for a in ("--override", f"{k}={json.dumps(v)}")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "calibrated on 12 training images" in out and "accepted: lowest agreement" in out
    assert "lv:" in out and "myocardium:" in out and "la:" in out
    assert main(argv) == 2  # the int8 model exists: not overwritten
    assert "exists; pass overwrite=True (--overwrite)" in capsys.readouterr().err
    assert main(argv + ["--overwrite", "--no-check", "--max-images", "101"]) == 2
    assert "max_images must be 1 to 100" in capsys.readouterr().err
