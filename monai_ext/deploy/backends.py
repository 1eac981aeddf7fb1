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

"""The ``backend`` switch of the bundles' ``inference.json``: ``torch`` (default), ``onnxruntime`` or ``openvino``.

``inference.json`` builds its ``inferer`` with :func:`us_backend_inferer`; with ``torch`` it is MONAI's
``SimpleInferer`` over the bundle's network (loaded from ``models/model.pt``), with the others an inferer over the
exported model file ``deploy_model`` (``models/model.onnx`` by default; ``models/model_int8.onnx`` for int8), the
torch network then being neither built nor loaded. Everything else in the config (pre-processing, post-processing,
frame streaming, SEG / SR writers) is shared by the three, so their outputs differ only by the numerics of the
runtime.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from monai.inferers import Inferer, SimpleInferer

from monai_ext.deploy.runtime_inferers import USOnnxRuntimeInferer, USOpenVINOInferer
from monai_ext.utils.errors import USInputError
from monai_ext.utils.flags import parse_flag

__all__ = ["BACKENDS", "check_backend", "deployed_algorithm_version", "us_backend_inferer"]

BACKENDS = ("torch", "onnxruntime", "openvino")
"""Values of ``backend`` in ``inference.json`` (and of ``serve-dicomweb --backend``)."""


def check_backend(backend: str) -> str:
    """Return ``backend`` if it is one of :data:`BACKENDS`, else raise a ValueError listing them."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r} (inference.json 'backend').")
    return backend


def us_backend_inferer(
    backend: str = "torch",
    model_path: Optional[str | os.PathLike] = None,
    num_threads: Optional[int] = None,
    openvino_precision: str = "f32",
    torch_inferer: Optional[Inferer] = None,
    uncertainty: bool = False,
) -> Inferer:
    """The inferer of a bundle's ``inference.json`` for ``backend``.

    Args:
        backend: ``"torch"``, ``"onnxruntime"`` or ``"openvino"``.
        model_path: the exported model (``.onnx``; ``.xml`` also for openvino); not used by ``torch``.
        num_threads: runtime threads (default ``torch.get_num_threads()``); not used by ``torch``.
        openvino_precision: ``"f32"`` or ``"bf16"`` for ``openvino``.
        torch_inferer: the bundle's inferer for the torch network (default ``SimpleInferer()``), e.g. the
            decoder-disagreement inferer of the multi-decoder bundles.
        uncertainty: the bundle's ``uncertainty`` switch; uncertainty maps need every decoder's output, which the
            exported model (main output only) does not have, so a runtime backend refuses it.

    Returns:
        ``torch_inferer`` for torch, :class:`USOnnxRuntimeInferer` or :class:`USOpenVINOInferer` otherwise.

    Raises:
        ValueError: an unknown backend, no ``model_path`` for a runtime backend, or ``uncertainty`` with a runtime
            backend.
        FileNotFoundError: ``model_path`` does not exist (the message says how to export it).
        ImportError: the runtime is not installed (``pip install 'monai_ext[deploy]'``).
    """
    check_backend(backend)
    if backend == "torch":
        torch_inferer = torch_inferer if torch_inferer is not None else SimpleInferer()
        if parse_flag(uncertainty, "uncertainty") and not getattr(torch_inferer, "enabled", False):
            # without this the post-processing would split a class channel off as the "uncertainty" map
            raise USInputError(
                f"uncertainty maps are the disagreement between a network's decoders, and this bundle's inferer "
                f"({type(torch_inferer).__name__}) has one decoder: set uncertainty false (CCT, MGCC and MSMO have "
                "them)."
            )
        return torch_inferer
    if parse_flag(uncertainty, "uncertainty"):
        raise USInputError(
            f"uncertainty maps need the outputs of every decoder, and the exported model of backend {backend!r} "
            "gives the main output only: set uncertainty false, or backend torch."
        )
    if not model_path:
        raise ValueError(f"backend {backend!r} needs the exported model file (inference.json 'deploy_model').")
    if backend == "onnxruntime":
        return USOnnxRuntimeInferer(model_path, num_threads=num_threads)
    return USOpenVINOInferer(model_path, num_threads=num_threads, precision=openvino_precision)


def deployed_algorithm_version(
    version: Optional[str],
    backend: str,
    model_path: Optional[str | os.PathLike] = None,
    openvino_precision: str = "f32",
) -> Optional[str]:
    """The algorithm version the DICOM SEG / SR writers record for a backend.

    The bundle version for ``torch``; for a runtime backend the version followed by the runtime (and the OpenVINO
    precision when not f32) and the model file name, e.g. ``"0.1.0 onnxruntime model_int8.onnx"``, so a reader of
    the results can tell an int8 or bf16 run from the fp32 one. Cut to 64 characters (DICOM LO).
    """
    check_backend(backend)
    if backend == "torch" or version is None:
        return version
    runtime = backend if backend != "openvino" or openvino_precision == "f32" else f"{backend}-{openvino_precision}"
    name = Path(model_path).name if model_path else "model"
    return f"{version} {runtime} {name}"[:64]
