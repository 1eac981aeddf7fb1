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

"""ONNX export of a bundle's inference network with MONAI's ``onnx_export`` verb, checked against PyTorch.

Every bundle ships ``configs/onnx_export.json``, an ``--args_file`` for ``python -m monai.bundle onnx_export``: it
names the network (``network_def`` of ``inference.json``), the default files (run from the bundle folder) and the
converter options MONAI cannot read from a config: input / output names ``image`` / ``pred``, a dynamic batch axis,
opset 20, torch's dynamo exporter, and the weights inside the ``.onnx`` file (MONAI's temporary file would otherwise
leave its external-data file behind in the temp folder). :func:`export_bundle_onnx` runs that verb in-process with
absolute paths and the network input taken from the config (``in_channels``, ``image_size``), then runs the graph with
ONNX Runtime and reports its largest difference from the torch network in eval mode.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

import torch

from monai_ext.deploy.bundle_config import network_input_shape, read_inference_config
from monai_ext.deploy.dependencies import require_deploy_package
from monai_ext.deploy.runtime_inferers import USOnnxRuntimeInferer

__all__ = ["EXPORT_ARGS_FILE", "compare_onnx_with_torch", "export_bundle_onnx", "load_network_weights"]

EXPORT_ARGS_FILE = "configs/onnx_export.json"
"""A bundle's ``--args_file`` for ``python -m monai.bundle onnx_export``, relative to the bundle folder."""


def load_network_weights(network: torch.nn.Module, ckpt_file: str | os.PathLike) -> torch.nn.Module:
    """Load a bundle checkpoint (a state dict, or a dict holding one under ``"model"``) into ``network`` (strict).

    Raises:
        FileNotFoundError: no such checkpoint.
        ValueError: the checkpoint does not fit the network (e.g. a size override that the training did not use).
    """
    path = Path(ckpt_file)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}: train the bundle first or pass the checkpoint file.")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, Mapping) and "model" in state and isinstance(state["model"], Mapping):
        state = state["model"]
    try:
        network.load_state_dict(state)
    except RuntimeError as e:
        raise ValueError(f"{path}: the checkpoint does not fit the bundle's network_def ({str(e)[:300]}).") from e
    return network


def compare_onnx_with_torch(
    network: torch.nn.Module,
    onnx_file: str | os.PathLike,
    input_shape: Sequence[int],
    batch_sizes: Sequence[int] = (1, 2),
    seed: int = 0,
    rtol: float = 1e-4,
) -> dict[str, float]:
    """Largest difference between ONNX Runtime on ``onnx_file`` and ``network`` (eval mode) on random inputs.

    Args:
        network: the torch network with the exported weights.
        onnx_file: the exported graph.
        input_shape: (N, C, H, W); N is replaced by each of ``batch_sizes``.
        batch_sizes: batch sizes to run (more than one checks the dynamic batch axis).
        seed: seed of the uniform [0, 1) inputs.
        rtol: the tolerance, relative to the largest torch logit, of ``mismatch_fraction``.

    Returns:
        ``max_abs_diff``, ``max_abs_logit``, ``max_rel_diff`` (= max abs difference / max abs torch logit) and
        ``mismatch_fraction`` (the fraction of output values that differ by more than ``rtol`` of the largest logit).
    """
    runtime = USOnnxRuntimeInferer(onnx_file)
    generator = torch.Generator().manual_seed(seed)
    network.eval()
    max_abs, max_logit, diffs = 0.0, 0.0, []
    for n in batch_sizes:
        x = torch.rand((int(n), *input_shape[1:]), generator=generator)
        with torch.no_grad():
            expected = network(x)
        got = runtime(x)
        if got.shape != expected.shape:
            raise ValueError(f"{onnx_file}: output shape {list(got.shape)} differs from torch {list(expected.shape)}.")
        diffs.append((got - expected).abs().flatten())
        max_abs = max(max_abs, float(diffs[-1].max()))
        max_logit = max(max_logit, float(expected.abs().max()))
    mismatch = float((torch.cat(diffs) > rtol * max(max_logit, 1e-12)).float().mean())
    return {"max_abs_diff": max_abs, "max_abs_logit": max_logit, "max_rel_diff": max_abs / max(max_logit, 1e-12),
            "mismatch_fraction": mismatch}


def export_bundle_onnx(
    bundle_dir: str | os.PathLike,
    filepath: Optional[str | os.PathLike] = None,
    ckpt_file: Optional[str | os.PathLike] = None,
    overrides: Optional[Mapping[str, Any]] = None,
    overwrite: bool = False,
    rtol: float = 1e-4,
) -> dict[str, Any]:
    """Export a bundle's ``network_def`` to ONNX with MONAI's ``onnx_export`` and check it against torch.

    Args:
        bundle_dir: the bundle folder (with ``configs/onnx_export.json``).
        filepath: the ``.onnx`` file to write; default ``<bundle>/models/model.onnx``.
        ckpt_file: the checkpoint; default ``<bundle>/models/model.pt``.
        overrides: config overrides of ``inference.json`` for the network and its input (e.g. ``{"task": "cardiac"}``,
            ``{"image_size": [128, 128]}``); the export runs at ``image_size`` with a dynamic batch.
        overwrite: replace an existing ``filepath`` (otherwise an existing file is an error).
        rtol: the largest allowed ``max_rel_diff`` (max abs difference over the largest torch logit). A network
            whose output has discrete steps (SABR-Net's boundary refinement moves a pixel's logits by one pixel
            where a boundary probability passes 0.5 or a direction wins an argmax) differs by whole logits wherever
            float rounding flips such a decision; its ``inference.json`` declares ``onnx_tolerated_mismatch``, the
            fraction of output values that may differ by more than ``rtol`` (default 0: none).

    Returns:
        ``filepath``, ``input_shape``, ``dynamic_batch`` and the figures of :func:`compare_onnx_with_torch`
        (batches of 1 and 2).

    Raises:
        FileNotFoundError: no args file or no checkpoint.
        FileExistsError: ``filepath`` exists and ``overwrite`` is False.
        ValueError: the exported graph differs from torch by more than ``rtol`` (the file is then not written).
    """
    from monai.bundle import onnx_export

    onnx = require_deploy_package("onnx")
    require_deploy_package("onnxscript")
    bundle = Path(bundle_dir).expanduser().resolve()
    args_file = bundle / EXPORT_ARGS_FILE
    if not args_file.is_file():
        raise FileNotFoundError(f"{args_file}: the bundle has no ONNX export arguments file.")
    out = Path(filepath).expanduser().resolve() if filepath else bundle / "models" / "model.onnx"
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass overwrite=True (--overwrite) to replace it, or another filepath.")
    ckpt = Path(ckpt_file).expanduser().resolve() if ckpt_file else bundle / "models" / "model.pt"
    overrides = {**dict(overrides or {}), "backend": "torch"}  # network_def is disabled for the runtime backends
    parser = read_inference_config(bundle, overrides)
    network = load_network_weights(parser.get_parsed_content("network_def"), ckpt)
    input_shape = network_input_shape(parser)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".onnx_export_") as tmp:
        tmp_file = Path(tmp) / out.name
        onnx_export(
            args_file=str(args_file),
            filepath=str(tmp_file),
            ckpt_file=str(ckpt),
            meta_file=str(bundle / "configs" / "metadata.json"),
            config_file=str(bundle / "configs" / "inference.json"),
            input_shape=input_shape,
            bundle_root=str(bundle),
            **overrides,
        )
        graph_input = onnx.load(str(tmp_file), load_external_data=False).graph.input[0]
        dynamic_batch = bool(graph_input.type.tensor_type.shape.dim[0].dim_param)
        report = compare_onnx_with_torch(network, tmp_file, input_shape, batch_sizes=(1, 2) if dynamic_batch else (1,),
                                         rtol=rtol)
        tolerated = float(parser.get_parsed_content("onnx_tolerated_mismatch", default=0.0))
        if not (report["max_rel_diff"] <= rtol or report["mismatch_fraction"] <= tolerated):
            raise ValueError(
                f"{bundle.name}: the exported graph differs from torch by {report['max_abs_diff']:.3g} "
                f"(relative {report['max_rel_diff']:.3g} > {rtol:g}) at {report['mismatch_fraction']:.3%} of the "
                f"output values (tolerated: {tolerated:.3%}); the file was not written."
            )
        report["tolerated_mismatch"] = tolerated
        os.replace(tmp_file, out)
    return {"filepath": str(out), "input_shape": input_shape, "dynamic_batch": dynamic_batch, **report}
