# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""USOnnxRuntimeInferer and USOpenVINOInferer on a small exported U-Net: torch's logits, metadata, shapes, errors."""

from __future__ import annotations

import pytest
import torch
from monai.data import MetaTensor
from monai.networks.utils import convert_to_onnx

from monai_ext.deploy import USOnnxRuntimeInferer, USOpenVINOInferer, has_native_bf16
from monai_ext.networks.nets import USUNet


@pytest.fixture(scope="module")
def unet_models(tmp_path_factory):
    """A small U-Net (BN statistics of random images), exported with a dynamic and with a fixed batch of 1."""
    torch.manual_seed(0)
    net = USUNet(2, 1, 3, features=[4, 8, 16, 32, 64])
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
    net.train()
    with torch.no_grad():
        net(torch.rand(8, 1, 32, 32))
    net.eval()
    folder = tmp_path_factory.mktemp("unet")
    x = torch.rand(1, 1, 32, 32)
    common = dict(input_names=["image"], output_names=["pred"], use_trace=True, dynamo=True, external_data=False)
    convert_to_onnx(net, [x], filename=str(folder / "dynamic.onnx"), dynamic_axes={"image": [0], "pred": [0]},
                    **common)
    convert_to_onnx(net, [x], filename=str(folder / "fixed.onnx"), **common)
    return net, folder


@pytest.mark.parametrize("cls", [USOnnxRuntimeInferer, USOpenVINOInferer])
def test_logits_match_torch_for_dynamic_and_fixed_batch(cls, unet_models):
    net, folder = unet_models
    x = torch.rand(3, 1, 32, 32)
    with torch.no_grad():
        expected = net(x)
    for name in ("dynamic.onnx", "fixed.onnx"):
        inferer = cls(folder / name, num_threads=1)
        assert inferer.input_shape == ([None, 1, 32, 32] if name == "dynamic.onnx" else [1, 1, 32, 32])
        got = inferer(x, net)  # the network argument is ignored: the weights are in the file
        assert got.dtype == torch.float32 and got.shape == (3, 3, 32, 32)
        assert float((got - expected).abs().max()) <= 1e-4 * float(expected.abs().max())


def test_meta_tensor_keeps_its_metadata_and_channels_last_works(unet_models):
    net, folder = unet_models
    x = MetaTensor(torch.rand(2, 1, 32, 32), meta={"filename_or_obj": "frame.png"})
    x = x.to(memory_format=torch.channels_last)
    got = USOnnxRuntimeInferer(folder / "dynamic.onnx")(x)
    assert isinstance(got, MetaTensor) and got.meta["filename_or_obj"] == "frame.png"
    with torch.no_grad():
        expected = net(x.as_tensor().contiguous())
    assert float((got.as_tensor() - expected).abs().max()) <= 1e-4 * float(expected.abs().max())


def test_openvino_bf16_where_the_cpu_has_it(unet_models):
    net, folder = unet_models
    if not has_native_bf16():
        with pytest.raises(ValueError, match="needs a CPU with native bf16"):
            USOpenVINOInferer(folder / "dynamic.onnx", precision="bf16")
        return
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        expected = net(x)
    got = USOpenVINOInferer(folder / "dynamic.onnx", precision="bf16")(x)
    error = float((got - expected).abs().max()) / float(expected.abs().max())
    assert 0 < error < 0.1  # bf16 keeps 8 bits of mantissa: close, but not fp32-exact


def test_errors_name_the_model(unet_models, tmp_path):
    _, folder = unet_models
    with pytest.raises(FileNotFoundError, match=r"missing\.onnx: no exported model for the onnxruntime backend"):
        USOnnxRuntimeInferer(tmp_path / "missing.onnx")
    with pytest.raises(ValueError, match=r"dynamic\.onnx: the model takes input \(N, C, H, W\) = \['N', 1, 32, 32\]"):
        USOnnxRuntimeInferer(folder / "dynamic.onnx")(torch.rand(1, 1, 64, 64))
    with pytest.raises(ValueError, match="precision must be one of"):
        USOpenVINOInferer(folder / "dynamic.onnx", precision="int4")
    bad = tmp_path / "truncated.onnx"
    bad.write_bytes((folder / "dynamic.onnx").read_bytes()[:1000])
    with pytest.raises(ValueError, match=r"truncated\.onnx: ONNX Runtime cannot load the model"):
        USOnnxRuntimeInferer(bad)
    with pytest.raises(ValueError, match=r"truncated\.onnx: OpenVINO cannot read the model"):
        USOpenVINOInferer(bad)
    with pytest.raises(ValueError, match="extra arguments"):
        USOnnxRuntimeInferer(folder / "dynamic.onnx")(torch.rand(1, 1, 32, 32), None, 1)
