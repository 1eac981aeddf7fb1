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

"""Masks of several backends on a split's images: Dice against the labels and against a reference backend.

Used to accept an int8 (or bf16) model: on the test part of a split, its masks should agree with the fp32 masks
(Dice between the two close to 1 for every structure) and its Dice against the labels should stay within a small
margin of fp32. Each image goes through the bundle's inference pre-processing, each backend's logits through the
bundle's activation rule and the inversion back to the source geometry (``Invertd`` of the pre-processing, as the
bundles' post-processing does), then per structure:

- networks with ``num_structures + 1`` output channels (softmax, background first): structure ``s`` is
  ``argmax == s + 1``;
- networks with ``num_structures`` output channels (one sigmoid each, MGCC / MSMO): structure ``s`` is
  ``p_s > 0.5`` (masks may overlap).

Dice of two empty masks is 1 (both agree there is nothing). Labels are read with the bundle's gray-value table
(``labels`` of ``inference.json``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, Optional

import numpy as np
import torch

from monai_ext.data.splits import split_datalist
from monai_ext.deploy.bundle_config import read_inference_config

__all__ = ["binary_dice", "logits_to_masks", "segmentation_agreement"]


def binary_dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice of two boolean masks; 1.0 when both are empty."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * float(np.logical_and(a, b).sum()) / total


def logits_to_masks(probabilities: torch.Tensor, num_structures: int) -> np.ndarray:
    """Boolean (num_structures, *spatial) masks from activated network outputs (C, *spatial), rule of the module doc.

    Raises:
        ValueError: the channel count is neither ``num_structures`` nor ``num_structures + 1``.
    """
    p = torch.as_tensor(probabilities).detach().cpu()
    if p.shape[0] == num_structures + 1:
        index = p.argmax(0)
        return np.stack([(index == s + 1).numpy() for s in range(num_structures)])
    if p.shape[0] == num_structures:
        return (p > 0.5).numpy()
    raise ValueError(f"network output has {p.shape[0]} channels; expected {num_structures} or {num_structures + 1}.")


def segmentation_agreement(
    bundle_dir: str | os.PathLike,
    runners: Mapping[str, Callable[[torch.Tensor], torch.Tensor]],
    split_file: str | os.PathLike,
    reference: str,
    part: str = "test",
    overrides: Optional[Mapping[str, Any]] = None,
    dataset_dir: Optional[str | os.PathLike] = None,
    max_images: Optional[int] = None,
) -> dict[str, dict[str, Any]]:
    """Per-structure Dice of each runner's masks against the labels and against the ``reference`` runner's masks.

    Args:
        bundle_dir: the bundle folder (its ``inference.json`` gives the pre-processing and the label table).
        runners: name -> callable mapping a (1, C, H, W) network input to logits, e.g. an ONNX Runtime inferer, or
            ``lambda x: net(x)`` for torch (called under ``torch.no_grad``).
        split_file: the split file.
        reference: the runner the others are compared with (e.g. the fp32 one).
        part: the split part (``"test"`` by default).
        overrides: ``inference.json`` overrides (sizes, task) matching the models.
        dataset_dir: dataset root when the split's ``dataset_dir`` does not exist here.
        max_images: use only the first images of the part.

    Returns:
        name -> ``{"dice": {structure: mean Dice vs labels}, "mean_dice": ..., "agreement": {structure: mean Dice
        vs reference}, "mean_agreement": ..., "images": n}``.
    """
    from monai.transforms import Invertd

    from monai_ext.transforms import USMaskToLabel

    if reference not in runners:
        raise ValueError(f"reference {reference!r} is not one of the runners {sorted(runners)}.")
    parser = read_inference_config(bundle_dir, overrides)
    preprocessing = parser.get_parsed_content("preprocessing")
    labels = parser.get_parsed_content("labels")
    names = list(labels)
    to_channels = USMaskToLabel(labels, mode="channels")
    invert = Invertd(keys="pred", transform=preprocessing, orig_keys="image", nearest_interp=False, to_tensor=True)
    items = split_datalist(split_file, part, base_dir=dataset_dir)[: max_images or None]
    if not items:
        raise ValueError(f"{split_file}: no {part} images.")
    dice = {r: np.zeros((len(items), len(names))) for r in runners}
    agree = {r: np.zeros((len(items), len(names))) for r in runners}
    for i, item in enumerate(items):
        data = preprocessing({"image": item["image"]})
        truth = to_channels(item["label"]).numpy() > 0.5
        masks = {}
        with torch.no_grad():
            for name, run in runners.items():
                logits = run(data["image"][None])[0]
                activated = torch.softmax(logits, 0) if logits.shape[0] == len(names) + 1 else torch.sigmoid(logits)
                pred = invert({"image": data["image"], "pred": activated})["pred"]
                masks[name] = logits_to_masks(pred, len(names))
        for name, m in masks.items():
            if m.shape != truth.shape:
                raise ValueError(f"{item['image']}: mask shape {m.shape} differs from its label {truth.shape}.")
            dice[name][i] = [binary_dice(m[s], truth[s]) for s in range(len(names))]
            agree[name][i] = [binary_dice(m[s], masks[reference][s]) for s in range(len(names))]
    out = {}
    for name in runners:
        d, a = dice[name].mean(0), agree[name].mean(0)
        out[name] = {
            "dice": dict(zip(names, d.tolist())),
            "mean_dice": float(d.mean()),
            "agreement": dict(zip(names, a.tolist())),
            "mean_agreement": float(a.mean()),
            "images": len(items),
        }
    return out
