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

"""monai_ext.deploy: CPU deployment of the bundles' networks: ONNX export, ONNX Runtime / OpenVINO inferers, int8.

- :func:`export_bundle_onnx`: MONAI's ``onnx_export`` with the bundle's ``configs/onnx_export.json`` (dynamic batch),
  checked against torch.
- :func:`us_backend_inferer`: the ``backend`` switch of ``inference.json`` (``torch`` | ``onnxruntime`` |
  ``openvino``), building :class:`USOnnxRuntimeInferer` or :class:`USOpenVINOInferer` over the exported model.
- :func:`quantize_bundle`: int8 post-training static quantisation with ONNX Runtime, calibrated on at most 100
  training images of a split file; :func:`segmentation_agreement` compares the masks of backends.

The runtimes are the optional extra ``pip install 'monai_ext[deploy]'``. Importing this package needs none of them;
the names of the export, quantisation and agreement modules are loaded on first use (importing ONNX Runtime's
quantiser costs seconds, and every ``inference.json`` imports this package).
"""

from __future__ import annotations

import importlib
from typing import Any

from .backends import BACKENDS, check_backend, deployed_algorithm_version, us_backend_inferer
from .dependencies import DEPLOY_EXTRA, DEPLOY_PACKAGES, require_deploy_package
from .runtime_inferers import OPENVINO_PRECISIONS, USOnnxRuntimeInferer, USOpenVINOInferer, USRuntimeInferer

_LAZY = {
    "EXPORT_ARGS_FILE": "onnx_export",
    "compare_onnx_with_torch": "onnx_export",
    "export_bundle_onnx": "onnx_export",
    "load_network_weights": "onnx_export",
    "CALIBRATION_RECORD_SUFFIX": "quantize",
    "FP32_OP_TYPES": "quantize",
    "quantizable_op_types": "quantize",
    "MAX_CALIBRATION_IMAGES": "quantize",
    "USCalibrationReader": "quantize",
    "calibration_images": "quantize",
    "output_head_nodes": "quantize",
    "quantize_bundle": "quantize",
    "quantize_onnx": "quantize",
    "binary_dice": "agreement",
    "logits_to_masks": "agreement",
    "segmentation_agreement": "agreement",
    "cpu_flags": "cpu_info",
    "cpu_model_name": "cpu_info",
    "has_native_bf16": "cpu_info",
    "has_vnni": "cpu_info",
}

__all__ = [
    "BACKENDS",
    "DEPLOY_EXTRA",
    "DEPLOY_PACKAGES",
    "OPENVINO_PRECISIONS",
    "USOnnxRuntimeInferer",
    "USOpenVINOInferer",
    "USRuntimeInferer",
    "check_backend",
    "deployed_algorithm_version",
    "require_deploy_package",
    "us_backend_inferer",
    *sorted(_LAZY),
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
