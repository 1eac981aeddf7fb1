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
"""Per-structure metric handlers for a bundle's evaluator, named after the structures."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from monai.handlers import from_engine

from monai_ext.handlers.metric_handlers import USDiceHandler, USHD95Handler, USIoUHandler

__all__ = ["structure_metric_handlers"]


def structure_metric_handlers(
    structure_names: Sequence[str], prefix: str = "val_", output_transform: Callable | None = None
) -> dict:
    """
    Metric handlers for every structure (`<prefix>dice_<name>`, `<prefix>iou_<name>`, `<prefix>hd95_<name>`) and,
    with several structures, the means over structures of IoU and HD95 (`<prefix>mean_iou`, `<prefix>mean_hd95`);
    the mean Dice is the bundles' key metric and is declared there. All follow the project's empty-mask policy
    (monai_ext.metrics). With one structure the means would repeat the per-structure values (and HD95, the costly
    one, would be computed twice), so they are left out.

    Args:
        structure_names: structure names in channel order (background excluded).
        prefix: metric name prefix ("val_", "test_").
        output_transform: maps the engine output to `(pred, label)`; default `from_engine(["pred", "label"])`.
    """
    if not structure_names:
        raise ValueError("structure_names must name at least one structure.")
    ot = output_transform or from_engine(["pred", "label"])
    handlers: dict = {}
    if len(structure_names) > 1:
        handlers[f"{prefix}mean_iou"] = USIoUHandler(output_transform=ot)
        handlers[f"{prefix}mean_hd95"] = USHD95Handler(output_transform=ot)
    for i, name in enumerate(structure_names):
        handlers[f"{prefix}dice_{name}"] = USDiceHandler(structure=i, output_transform=ot)
        handlers[f"{prefix}iou_{name}"] = USIoUHandler(structure=i, output_transform=ot)
        handlers[f"{prefix}hd95_{name}"] = USHD95Handler(structure=i, output_transform=ot)
    return handlers
