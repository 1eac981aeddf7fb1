# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""The backend switch: the inferer per backend, the recorded algorithm version, argument errors."""

from __future__ import annotations

import pytest
from monai.inferers import SimpleInferer

from monai_ext.cli import BACKEND_CHOICES
from monai_ext.deploy import BACKENDS, check_backend, deployed_algorithm_version, us_backend_inferer


def test_torch_is_simple_inferer_and_runtime_backends_need_a_model(tmp_path):
    assert BACKENDS == ("torch", "onnxruntime", "openvino") == BACKEND_CHOICES
    assert type(us_backend_inferer("torch", model_path=tmp_path / "ignored.onnx")) is SimpleInferer
    with pytest.raises(ValueError, match="needs the exported model file"):
        us_backend_inferer("onnxruntime")
    with pytest.raises(FileNotFoundError, match="export-onnx"):
        us_backend_inferer("openvino", model_path=tmp_path / "model.onnx")
    with pytest.raises(ValueError, match=r"backend must be one of .* got 'cuda'"):
        check_backend("cuda")


def test_uncertainty_needs_the_decoder_disagreement_inferer(tmp_path):
    from monai_ext.inference import USDecoderDisagreementInferer
    from monai_ext.utils.errors import USInputError

    disagreement = USDecoderDisagreementInferer(enabled=True, activation="sigmoid")
    assert us_backend_inferer("torch", torch_inferer=disagreement, uncertainty=True) is disagreement
    plain = USDecoderDisagreementInferer(enabled=False)
    assert us_backend_inferer("torch", torch_inferer=plain, uncertainty=False) is plain
    # a single-decoder bundle (SimpleInferer) would have a class channel split off as the "uncertainty" map
    with pytest.raises(USInputError, match=r"this bundle's inferer \(SimpleInferer\) has one decoder"):
        us_backend_inferer("torch", uncertainty=True)
    with pytest.raises(USInputError, match="uncertainty maps need the outputs of every decoder"):
        us_backend_inferer("onnxruntime", model_path=tmp_path / "m.onnx", uncertainty="true")


def test_algorithm_version_names_runtime_precision_and_model():
    assert deployed_algorithm_version("0.1.0", "torch", "models/model.onnx") == "0.1.0"
    version = deployed_algorithm_version("0.1.0", "onnxruntime", "/m/model_int8.onnx")
    assert version == "0.1.0 onnxruntime model_int8.onnx"
    assert deployed_algorithm_version("0.2.0", "openvino", "model.onnx", "bf16") == "0.2.0 openvino-bf16 model.onnx"
    assert deployed_algorithm_version(None, "openvino", "model.onnx") is None
    assert len(deployed_algorithm_version("1.0", "onnxruntime", "x" * 100 + ".onnx")) == 64  # DICOM LO
