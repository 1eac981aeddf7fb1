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

"""Decoder-disagreement uncertainty maps of the multi-decoder networks (CCT, MGCC, MSMO), as defined in
``docs/uncertainty.md``.

The map of an image is ``U = 1/3 sum_k mean_c |p_main,c - p_aux_k,c|`` with ``p`` the per-structure probabilities
(softmax over background + structures, background dropped; or per-structure sigmoids) of the main decoder and of the
three auxiliary decoders run on clean, unperturbed features in evaluation mode (the networks'
``forward_all_heads``). ``U`` lies in ``[0, 1]``: 0 where every head agrees.

Three parts, named by the bundles' ``inference.json`` when ``uncertainty`` is true:

- :class:`USDecoderDisagreementInferer`: runs all heads and returns the main logits with ``U`` appended as one more
  channel (disabled, it is exactly a ``SimpleInferer``);
- :class:`USSplitUncertaintyd` (in :mod:`monai_ext.transforms.uncertainty`, re-exported here): first postprocessing
  step, moves that channel to its own key (then ``Invertd`` brings it back to the source geometry like the prediction);
- :class:`USUncertaintyMapWriter`: a handler writing ``<stem>_uncertainty.png`` (``round(255 U)``),
  ``<stem>_uncertainty.nii.gz`` (float32), plus ``uncertainty_scores.csv`` (per image: mean and max of ``U``).

No DICOM object is written for the map (``docs/uncertainty.md`` says why: highdicom's Parametric Map needs a frame
of reference that ultrasound images lack, and a SEG segment would present a disagreement measure as a structure).
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nibabel as nib
import numpy as np
import torch
from monai.data import MetaTensor
from monai.inferers import Inferer
from monai.utils import IgniteInfo, min_version, optional_import

from monai_ext.data.inference_inputs import output_stem
from monai_ext.transforms.uncertainty import USSplitUncertaintyd
from monai_ext.utils.meta import meta_scalar

Events, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Events")
if TYPE_CHECKING:
    from ignite.engine import Engine
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")

__all__ = [
    "UNCERTAINTY_ACTIVATIONS",
    "USDecoderDisagreementInferer",
    "USSplitUncertaintyd",
    "USUncertaintyMapWriter",
    "decoder_disagreement",
]

UNCERTAINTY_ACTIVATIONS = ("softmax", "sigmoid")
logger = logging.getLogger(__name__)


def decoder_disagreement(heads: Sequence[torch.Tensor], activation: str = "softmax") -> torch.Tensor:
    """``U = mean over auxiliary heads and structures of |p_main - p_aux|``, shape ``(B, 1, *spatial)``.

    Args:
        heads: ``(main, aux1, ...)`` logits, each ``(B, C, *spatial)``; at least one auxiliary head.
        activation: ``"softmax"`` (channel 0 is the background and is dropped after the softmax) or ``"sigmoid"``
            (every channel is a structure).
    """
    if activation not in UNCERTAINTY_ACTIVATIONS:
        raise ValueError(f"activation must be one of {UNCERTAINTY_ACTIVATIONS}, got {activation!r}.")
    if len(heads) < 2:
        raise ValueError(f"need the main head and at least one auxiliary head, got {len(heads)} head(s).")
    shapes = {tuple(h.shape) for h in heads}
    if len(shapes) != 1:
        raise ValueError(f"all heads must have the same shape, got {sorted(shapes)}.")
    if activation == "softmax":
        if heads[0].shape[1] < 2:
            raise ValueError("softmax heads need a background channel and at least one structure channel.")
        probs = [torch.softmax(h.float(), dim=1)[:, 1:] for h in heads]
    else:
        probs = [torch.sigmoid(h.float()) for h in heads]
    diffs = [(probs[0] - p).abs().mean(dim=1, keepdim=True) for p in probs[1:]]
    return torch.stack(diffs, 0).mean(0)


class USDecoderDisagreementInferer(Inferer):
    """Main logits plus the decoder-disagreement map as one extra, last channel.

    Calls ``network.forward_all_heads(inputs)`` (:class:`~monai_ext.networks.nets.CCTUNet`,
    :class:`~monai_ext.networks.nets.MGCCNet`, :class:`~monai_ext.networks.nets.MSMONet`; the network must be in
    evaluation mode, as evaluators put it) and returns ``cat([main, U], dim=1)`` in the logits' dtype. With
    ``enabled=False`` it returns ``network(inputs)`` unchanged, exactly like ``monai.inferers.SimpleInferer``.

    Args:
        enabled: compute the map; False: plain inference.
        activation: how the heads' logits become probabilities: ``"softmax"`` or ``"sigmoid"``.
    """

    def __init__(self, enabled: bool = True, activation: str = "softmax") -> None:
        super().__init__()
        if activation not in UNCERTAINTY_ACTIVATIONS:
            raise ValueError(f"activation must be one of {UNCERTAINTY_ACTIVATIONS}, got {activation!r}.")
        self.enabled = bool(enabled)
        self.activation = activation

    def __call__(self, inputs: torch.Tensor, network: Any, *args: Any, **kwargs: Any) -> torch.Tensor:
        if not self.enabled:
            return network(inputs, *args, **kwargs)
        all_heads = getattr(network, "forward_all_heads", None)
        if all_heads is None:
            raise TypeError(
                f"uncertainty maps need a multi-decoder network with forward_all_heads (CCTUNet, MGCCNet, MSMONet); "
                f"got {type(network).__name__}. Set uncertainty to false for this bundle."
            )
        heads = all_heads(inputs, *args, **kwargs)
        main = heads[0]
        return torch.cat([main, decoder_disagreement(heads, self.activation).to(main.dtype)], dim=1)


class USUncertaintyMapWriter:
    """Write each item's uncertainty map (after ``Invertd``: the source geometry) and the per-image scores.

    Files in ``output_dir`` per input (``<stem>`` = :func:`monai_ext.data.output_stem`, ``<stem>_f0007`` for frame 7
    of a clip): ``<stem>_uncertainty.png`` (uint8 ``round(255 U)``: 255 is full disagreement),
    ``<stem>_uncertainty.nii.gz`` (float32 ``U``, laid out as :func:`monai_ext.io.write_us_nifti` lays out masks:
    ``(x = W, y = H)``, spacing in mm when the reader knew it). At ``COMPLETED``: ``scores_file`` with one row per
    image (``image_id, frame, mean, max``). Every file is written under a hidden temporary name and renamed.

    Args:
        output_dir: output folder (created).
        uncertainty_key: output key holding the ``(1, X, Y)`` map.
        write_png: write the PNG.
        write_nifti: write the NIfTI file.
        scores_file: name of the per-image scores CSV (None: not written).
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        uncertainty_key: str = "uncertainty",
        write_png: bool = True,
        write_nifti: bool = True,
        scores_file: str | None = "uncertainty_scores.csv",
    ) -> None:
        self.output_dir = Path(output_dir)
        self.uncertainty_key = uncertainty_key
        self.write_png = bool(write_png)
        self.write_nifti = bool(write_nifti)
        self.scores_file = scores_file
        self.scores: list[dict[str, Any]] = []
        self.written: list[Path] = []

    def attach(self, engine: Engine) -> None:
        """Reset on ``STARTED``, write per item on ``ITERATION_COMPLETED``, the scores on ``COMPLETED``."""
        engine.add_event_handler(Events.STARTED, self.reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)
        engine.add_event_handler(Events.COMPLETED, self.write_scores)

    def reset(self, engine: Engine | None = None) -> None:
        """Forget the scores and written files of an earlier run."""
        self.scores, self.written = [], []

    def __call__(self, engine: Engine) -> None:
        output = engine.state.output
        if not isinstance(output, list):
            raise TypeError(f"{type(self).__name__} needs decollated engine output (a list of dicts).")
        for out in output:
            if self.uncertainty_key not in out:
                raise KeyError(
                    f"{type(self).__name__}: no {self.uncertainty_key!r} in the output "
                    f"(keys: {sorted(map(str, out))}); "
                    "put USSplitUncertaintyd first in the postprocessing."
                )
            self.add(out[self.uncertainty_key])

    def add(self, umap: Any) -> list[Path]:
        """Write the files of one map (``(1, X, Y)`` MetaTensor with the reader metadata); returns them."""
        meta = dict(umap.meta) if isinstance(umap, MetaTensor) else {}
        source = str(meta_scalar(meta.get("filename_or_obj", "")))
        if not source:
            raise ValueError(f"{type(self).__name__}: the uncertainty map has no 'filename_or_obj' metadata.")
        arr = umap.detach().float().cpu().numpy() if isinstance(umap, torch.Tensor) else np.asarray(umap, np.float32)
        if arr.ndim == 3 and arr.shape[0] == 1:
            arr = arr[0]
        if arr.ndim != 2:
            raise ValueError(f"{source}: expected a (1, X, Y) uncertainty map, got shape {tuple(arr.shape)}.")
        if bool(meta_scalar(meta.get("reverse_indexing", True))):
            arr = arr.T  # (X, Y) -> (H, W)
        arr = np.clip(arr, 0.0, 1.0).astype(np.float32)  # bilinear inversion cannot leave [0, 1]; rounding can
        stem = output_stem(source)
        n_frames = meta_scalar(meta.get("NumberOfFrames", 1))
        frame = meta_scalar(meta.get("frame_index", 0))
        frame = int(frame) if isinstance(frame, (int, np.integer)) else 0
        if isinstance(n_frames, (int, np.integer)) and n_frames > 1:
            stem = f"{stem}_f{frame:04d}"
        self.output_dir.mkdir(parents=True, exist_ok=True)
        paths = []
        if self.write_png:
            from PIL import Image

            paths.append(self.output_dir / f"{stem}_uncertainty.png")
            tmp = paths[-1].with_name(f".{paths[-1].name}")  # hidden until complete, then renamed into place
            Image.fromarray(np.round(arr * 255.0).astype(np.uint8)).save(tmp, format="PNG")
            os.replace(tmp, paths[-1])
        if self.write_nifti:
            paths.append(self._nifti(arr, meta, self.output_dir / f"{stem}_uncertainty.nii.gz"))
        self.scores.append({"image_id": output_stem(source), "frame": frame, "mean": float(arr.mean()),
                            "max": float(arr.max())})
        self.written.extend(paths)
        return paths

    @staticmethod
    def _nifti(arr: np.ndarray, meta: dict, path: Path) -> Path:
        spacing = meta_scalar(meta.get("spacing"))
        known = (
            isinstance(spacing, (list, tuple))
            and len(spacing) == 2
            and str(meta_scalar(meta.get("spacing_source", "none"))) != "none"
        )
        dx, dy = (float(spacing[0]), float(spacing[1])) if known else (1.0, 1.0)
        image = nib.Nifti1Image(np.ascontiguousarray(arr.T), np.diag([dx, dy, 1.0, 1.0]))
        image.header.set_xyzt_units("mm" if known else "unknown")
        image.header.set_data_dtype(np.float32)
        tmp = path.with_name(f".{path.name}")  # keeps the .nii.gz suffix nibabel compresses by
        nib.save(image, tmp)
        os.replace(tmp, path)
        return path

    def write_scores(self, engine: Engine | None = None) -> Path | None:
        """Write ``scores_file`` (atomically: a temporary file renamed into place); returns its path."""
        if not self.scores_file:
            return None
        self.output_dir.mkdir(parents=True, exist_ok=True)
        path = self.output_dir / self.scores_file
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["image_id", "frame", "mean", "max"])
            writer.writeheader()
            for row in self.scores:
                writer.writerow({**row, "mean": f"{row['mean']:.6g}", "max": f"{row['max']:.6g}"})
        os.replace(tmp, path)
        logger.info(f"uncertainty scores of {len(self.scores)} image(s): {path}")
        return path
