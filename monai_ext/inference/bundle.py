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

"""Run a bundle's ``configs/inference.json`` in-process on given files: the entry point of services (DICOMweb)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from monai_ext.deploy.backends import check_backend

__all__ = ["DICOM_WRITER_ID", "run_bundle_inference"]

DICOM_WRITER_ID = "dicom_writer"
"""Config id of the :class:`~monai_ext.inference.USInferenceResultsWriter` in the bundles' ``inference.json``."""


def run_bundle_inference(
    bundle_dir: str | os.PathLike,
    inputs: Sequence[str | os.PathLike],
    output_dir: str | os.PathLike,
    overrides: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Run ``<bundle_dir>/configs/inference.json`` with ``monai.bundle.ConfigWorkflow`` on ``inputs``.

    The config is run in this process as ``workflow_type="infer"`` with the overrides ``bundle_root=bundle_dir``,
    ``dataset_dir=[inputs]`` and ``output_dir=output_dir`` (then ``overrides``). Inputs are files or folders of PNG
    (and other 2D images) and DICOM ultrasound files, mixed; clips are streamed one frame at a time. Written to
    ``output_dir``: a PNG mask per image / per clip frame (``<stem>_mask.png``, ``<stem>_f0007_mask.png``) in the
    source geometry, and the DICOM outputs of :class:`~monai_ext.inference.USInferenceResultsWriter` (SR with
    per-frame contours and key-frame SEGs for clips, a SEG for single-frame DICOM).

    The bundle's ``logging.conf`` is not applied (the caller's logging stays as it is). The call sets MONAI's
    determinism (``initialize`` of the config) and is not thread-safe: serialise concurrent calls.

    Args:
        bundle_dir: the bundle root (holding ``configs/inference.json`` and, normally, ``models/model.pt``).
        inputs: files and/or folders (at least one).
        output_dir: folder for the outputs (created).
        overrides: further config overrides, ids as keys (e.g. ``{"task": "cardiac"}``,
            ``{"keyframes": [0, 10]}``, ``{"load_pretrain": False}`` to run an untrained network,
            ``{"checkpointloader#load_path": "/models/model.pt"}``, ``{"device": "$torch.device('cpu')"}``,
            ``{"backend": "onnxruntime", "deploy_model": "/models/model_int8.onnx"}`` for an exported model).

    Returns:
        the DICOM files written (SR, key-frame images and their SEGs, SEGs), in writing order; empty for PNG-only
        inputs.

    Raises:
        FileNotFoundError: no such bundle / config / input, or no checkpoint while ``load_pretrain`` is true (torch
            backend), or no exported model (``deploy_model``) for the onnxruntime / openvino backends.
        ValueError: no input given or no image found; a bad input (``monai_ext.io.USDicomError``,
            ``monai_ext.data.USDatasetError``, naming the file) raised before any frame is processed, or a
            checkpoint that does not fit the network (``monai_ext.handlers.USCheckpointError``).
        KeyError: the config has no ``dicom_writer`` item.

    Examples::

        from monai_ext.inference import run_bundle_inference

        written = run_bundle_inference(
            "bundles/meanteacher_us_segmentation",
            ["/incoming/clip.dcm", "/incoming/pngs"],
            "/outgoing",
            overrides={"task": "cardiac", "keyframes": "extremes"},
        )
        # [/outgoing/clip_sr.dcm, /outgoing/clip_f0011_keyframe.dcm, /outgoing/clip_f0011_seg.dcm, ...]
    """
    from monai.bundle import ConfigWorkflow

    bundle = Path(bundle_dir).expanduser().resolve()
    config = bundle / "configs" / "inference.json"
    if not config.is_file():
        raise FileNotFoundError(f"{config}: no inference config in bundle {bundle}.")
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    files = [Path(p).expanduser().resolve() for p in inputs]
    if not files:
        raise ValueError("run_bundle_inference: no inputs given.")
    for f in files:
        if not f.exists():
            raise FileNotFoundError(f"inference input {f} does not exist.")
    out = Path(output_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    override: dict[str, Any] = {"bundle_root": str(bundle), "dataset_dir": [str(f) for f in files]}
    override["output_dir"] = str(out)
    override.update(dict(overrides or {}))
    meta = bundle / "configs" / "metadata.json"

    workflow = ConfigWorkflow(
        config_file=str(config),
        meta_file=str(meta) if meta.is_file() else None,
        logging_file=False,
        workflow_type="infer",
        **override,
    )
    from monai_ext.utils.flags import parse_flag

    backend = check_backend(workflow.parser.get_parsed_content("backend", default="torch"))
    if backend != "torch":  # the weights come from the exported model file, not from models/model.pt
        model = workflow.parser.get_parsed_content("deploy_model", default=None)
        if model is not None and not Path(str(model)).is_file():
            raise FileNotFoundError(
                f"bundle {bundle.name}: backend {backend!r} has no exported model at {model}; export it first "
                f"(python -m monai_ext export-onnx --bundle {bundle}) or pass overrides={{'deploy_model': <.onnx>}}."
            )
    elif parse_flag(workflow.parser.get_parsed_content("load_pretrain", default=False), "load_pretrain"):
        ckpt = workflow.parser.get_parsed_content("checkpointloader#load_path", default=None)
        if ckpt is not None and not Path(str(ckpt)).is_file():
            raise FileNotFoundError(
                f"bundle {bundle.name}: no checkpoint at {ckpt}; train the bundle first, or pass "
                "overrides={'checkpointloader#load_path': <model.pt>} (or {'load_pretrain': False} for an untrained "
                "network)."
            )
    if DICOM_WRITER_ID not in workflow.parser:
        raise KeyError(f"{config}: no '{DICOM_WRITER_ID}' item; the bundle's inference config cannot write DICOM.")
    saved_path = list(sys.path)
    try:
        try:
            # building the dataset lists (and checks) the inputs: bad DICOM fails here, before any frame is run
            workflow.initialize()
            workflow.run()
        except Exception as e:
            raise (_bad_input(e) or e) from e
        writer = workflow.parser.get_parsed_content(DICOM_WRITER_ID)
        written = list(writer.written)
    finally:
        sys.path[:] = saved_path  # ConfigWorkflow.run() puts the bundle folder on sys.path
    workflow.finalize()
    return written


def _bad_input(error: BaseException) -> BaseException | None:
    """Our input error (USDicomError, USDatasetError, USCheckpointError, ...) behind MONAI's "Failed to evaluate"
    wrappers, if any (it names the file)."""
    from monai_ext.utils.errors import find_input_error

    return find_input_error(error)
