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

"""The optional packages of ``monai_ext[deploy]`` (onnx, onnxruntime, openvino), imported only where they are needed.

The core install does not pull them in; a feature that needs one calls :func:`require_deploy_package`, which raises
an ``ImportError`` naming the package and the extra to install instead of a bare ``ModuleNotFoundError`` from deep
inside a call.
"""

from __future__ import annotations

from types import ModuleType

from monai.utils import optional_import

__all__ = ["DEPLOY_EXTRA", "DEPLOY_PACKAGES", "require_deploy_package"]

DEPLOY_EXTRA = "monai_ext[deploy]"
"""The pip extra that installs the deployment runtimes."""

DEPLOY_PACKAGES = {
    "onnx": "ONNX export and graph inspection",
    "onnxruntime": "the onnxruntime backend and int8 quantisation",
    "onnxruntime.quantization": "int8 quantisation",
    "openvino": "the openvino backend",
    "onnxscript": "ONNX export with torch.onnx (dynamo exporter)",
}


def require_deploy_package(name: str) -> ModuleType:
    """Import an optional deployment package or raise an ``ImportError`` that says how to install it.

    Args:
        name: a key of :data:`DEPLOY_PACKAGES` (e.g. ``"onnxruntime"``).

    Returns:
        the imported module.

    Raises:
        ValueError: ``name`` is not one of the deployment packages.
        ImportError: the package is not installed (the message names it and the ``monai_ext[deploy]`` extra).
    """
    if name not in DEPLOY_PACKAGES:
        raise ValueError(f"require_deploy_package: {name!r} is not one of {sorted(DEPLOY_PACKAGES)}.")
    module, ok = optional_import(name)
    if not ok:
        top = name.split(".")[0]
        raise ImportError(
            f"{DEPLOY_PACKAGES[name]} needs the optional package '{top}', which is not installed: "
            f"pip install '{DEPLOY_EXTRA}' (or pip install {top})."
        )
    return module
