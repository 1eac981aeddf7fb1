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

"""MONAI inferers that run an exported model file (ONNX, or OpenVINO IR) with ONNX Runtime or OpenVINO on the CPU.

They take the place of ``SimpleInferer`` in a bundle's ``inference.json`` (``backend: onnxruntime | openvino``, see
:func:`monai_ext.deploy.us_backend_inferer`): the evaluator, pre-processing, post-processing, frame streaming and the
SEG / SR writers are the bundle's own, only the network call changes. The weights come from the model file, not from
the ``network`` argument (which the ``Inferer`` interface passes and these classes ignore). The model has one input
(N, C, H, W) and its first output is the logits; a model exported with a fixed batch of 1 (MONAI's ``onnx_export``
without the bundle's ``configs/onnx_export.json``) is run one sample at a time.

The output is converted back to the type of the input (a ``MetaTensor`` keeps the image's metadata and transform
history, as the torch network's output does), on the input's device, in float32.
"""

from __future__ import annotations

import os
from abc import abstractmethod
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence

import numpy as np
import torch
from monai.inferers import Inferer
from monai.utils import convert_to_dst_type

from monai_ext.deploy.dependencies import require_deploy_package

__all__ = ["OPENVINO_PRECISIONS", "USRuntimeInferer", "USOnnxRuntimeInferer", "USOpenVINOInferer"]

OPENVINO_PRECISIONS = ("f32", "bf16")
"""Inference precisions of :class:`USOpenVINOInferer` (an int8 model runs its quantised layers in int8 with either)."""


class USRuntimeInferer(Inferer):
    """Base of the inferers that run a model file with a CPU runtime instead of the torch network.

    Subclasses open the runtime in :meth:`open_model` (returning the model's input shape, ``None`` for dynamic
    dimensions) and run one float32 array in :meth:`run_array`.

    Args:
        model_path: the exported model file.
        num_threads: intra-op threads of the runtime; default (None or 0) ``torch.get_num_threads()``, which follows
            ``OMP_NUM_THREADS`` as the torch backend does.

    Raises:
        FileNotFoundError: no model at ``model_path`` (the message says how to export one).
        ValueError: the model does not have exactly one 4D input, or ``num_threads`` is negative.
    """

    backend = ""

    def __init__(self, model_path: str | os.PathLike, num_threads: Optional[int] = None) -> None:
        super().__init__()
        path = Path(model_path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: no exported model for the {self.backend} backend. Export the bundle's network first: "
                "python -m monai_ext export-onnx --bundle <bundle folder> (int8: python -m monai_ext quantize ...), "
                "or set deploy_model to an existing .onnx file."
            )
        if num_threads is not None and (isinstance(num_threads, bool) or int(num_threads) < 0):
            raise ValueError(f"{type(self).__name__}: num_threads must be >= 0, got {num_threads!r}.")
        self.model_path = path
        self.num_threads = int(num_threads) if num_threads else torch.get_num_threads()
        shape = list(self.open_model())
        if len(shape) != 4:
            raise ValueError(f"{path}: expected a model with one (N, C, H, W) input, got input shape {shape}.")
        self.input_shape: List[Optional[int]] = shape

    @abstractmethod
    def open_model(self) -> Sequence[Optional[int]]:
        """Load ``self.model_path`` into the runtime; return the input shape (None for a dynamic dimension)."""

    @abstractmethod
    def run_array(self, array: np.ndarray) -> np.ndarray:
        """Run the model on a C-contiguous float32 array of the model's input shape; return the first output."""

    def check_input(self, shape: Sequence[int]) -> None:
        """Raise a ValueError naming the model file when ``shape`` (N, C, H, W) does not fit the model's input."""
        expected = self.input_shape
        if len(shape) != 4 or any(e is not None and e != s for e, s in zip(expected[1:], shape[1:])):
            wanted = ["N" if e is None else e for e in expected]
            raise ValueError(
                f"{self.model_path}: the model takes input (N, C, H, W) = {wanted}, got {list(shape)}; export the "
                "network again at this bundle's in_channels and image_size (python -m monai_ext export-onnx)."
            )

    def __call__(self, inputs: torch.Tensor, network: Optional[Callable] = None, *args: Any, **kwargs: Any) -> Any:
        """Run the model file on ``inputs`` (N, C, H, W); ``network`` is ignored (the weights are in the file).

        Raises:
            ValueError: extra network arguments are given, or the input shape does not fit the model.
        """
        if args or kwargs:
            raise ValueError(f"{type(self).__name__}: the exported model takes the image only, got extra arguments.")
        self.check_input(tuple(inputs.shape))
        array = np.ascontiguousarray(inputs.detach().to("cpu", torch.float32).numpy())
        batch = self.input_shape[0]
        if batch is None or batch == array.shape[0]:
            out = self.run_array(array)
        else:  # a fixed-batch model: one call per group of `batch` samples
            if array.shape[0] % batch != 0:
                raise ValueError(f"{self.model_path}: fixed batch {batch} does not divide the batch {array.shape[0]}.")
            out = np.concatenate([self.run_array(array[i : i + batch]) for i in range(0, array.shape[0], batch)])
        return convert_to_dst_type(np.asarray(out, dtype=np.float32), inputs, dtype=torch.float32)[0]


class USOnnxRuntimeInferer(USRuntimeInferer):
    """Run an ONNX model (fp32, or int8 with QuantizeLinear / DequantizeLinear nodes) with ONNX Runtime.

    Example (``inference.json``; normally built by :func:`monai_ext.deploy.us_backend_inferer`)::

        "inferer": {"_target_": "monai_ext.deploy.USOnnxRuntimeInferer", "model_path": "models/model.onnx"}

    Args:
        model_path: the ``.onnx`` file.
        num_threads: intra-op threads (default ``torch.get_num_threads()``); inter-op parallelism is off.
        providers: ONNX Runtime execution providers, in order of preference. Default CPU only.
    """

    backend = "onnxruntime"

    def __init__(
        self,
        model_path: str | os.PathLike,
        num_threads: Optional[int] = None,
        providers: Sequence[str] = ("CPUExecutionProvider",),
    ) -> None:
        self.providers = list(providers)
        super().__init__(model_path, num_threads)

    def open_model(self) -> Sequence[Optional[int]]:
        ort = require_deploy_package("onnxruntime")
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.num_threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(self.model_path), options, providers=self.providers)
        except Exception as e:  # onnxruntime raises its own exception types for bad or truncated files
            raise ValueError(f"{self.model_path}: ONNX Runtime cannot load the model: {e}") from e
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ValueError(f"{self.model_path}: expected a model with one input, got {[i.name for i in inputs]}.")
        self.input_name = inputs[0].name
        return [d if isinstance(d, int) else None for d in inputs[0].shape]

    def run_array(self, array: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: array})[0]


class USOpenVINOInferer(USRuntimeInferer):
    """Run an ONNX model or an OpenVINO IR (``.xml``) with OpenVINO on the CPU, in f32 or bf16.

    An int8 ONNX model (QuantizeLinear / DequantizeLinear pairs, as written by :func:`monai_ext.deploy.quantize_onnx`)
    runs its quantised layers in int8; ``precision`` then applies to the layers left in floating point.

    Args:
        model_path: the ``.onnx`` or ``.xml`` file.
        num_threads: inference threads (default ``torch.get_num_threads()``).
        precision: ``"f32"`` (default; OpenVINO would otherwise choose bf16 by itself on CPUs that have it) or
            ``"bf16"`` (needs a CPU with native bf16: AVX512_BF16 or AMX).
        device: OpenVINO device name. Default ``"CPU"``.

    Raises:
        ValueError: an unknown precision, or bf16 on a CPU without native bf16.
    """

    backend = "openvino"

    def __init__(
        self,
        model_path: str | os.PathLike,
        num_threads: Optional[int] = None,
        precision: str = "f32",
        device: str = "CPU",
    ) -> None:
        if precision not in OPENVINO_PRECISIONS:
            raise ValueError(f"USOpenVINOInferer: precision must be one of {OPENVINO_PRECISIONS}, got {precision!r}.")
        self.precision = precision
        self.device = device
        super().__init__(model_path, num_threads)

    def open_model(self) -> Sequence[Optional[int]]:
        ov = require_deploy_package("openvino")
        core = ov.Core()
        if self.precision == "bf16" and "BF16" not in core.get_property(self.device, "OPTIMIZATION_CAPABILITIES"):
            raise ValueError(
                f"USOpenVINOInferer: precision 'bf16' needs a CPU with native bf16 (avx512_bf16 or amx_bf16 in "
                f"/proc/cpuinfo); this {self.device} lacks it: use precision 'f32'."
            )
        try:
            model = core.read_model(str(self.model_path))
        except Exception as e:  # OpenVINO raises RuntimeError subclasses for unreadable models
            raise ValueError(f"{self.model_path}: OpenVINO cannot read the model: {e}") from e
        if len(model.inputs) != 1:
            raise ValueError(f"{self.model_path}: expected a model with one input, got {len(model.inputs)}.")
        shape = model.inputs[0].get_partial_shape()
        config = {
            "INFERENCE_NUM_THREADS": self.num_threads,
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": self.precision,
        }
        self.compiled = core.compile_model(model, self.device, config)
        self.request = self.compiled.create_infer_request()
        return [d.get_length() if d.is_static else None for d in shape]

    def run_array(self, array: np.ndarray) -> np.ndarray:
        self.request.infer({0: array})
        return np.array(self.request.get_output_tensor(0).data, dtype=np.float32, copy=True)
