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

"""Ignite metric handlers for Dice, IoU and HD95 under the project's empty-mask policy (docs/methods/evaluation.md,
"Empty masks").

Drop-in replacements for MONAI's ``MeanDice`` / ``MeanIoUHandler`` / ``HausdorffDistance`` in bundle configs
(``key_val_metric``, ``additional_metrics``). They wrap :py:mod:`monai_ext.metrics.cumulative`, so MONAI
all-gathers the per-image buffers across ranks and, with ``save_details=True``, stores them in
``engine.state.metric_details[name]`` (``(N, C)``) for ``MetricsSaver(metric_details=[...])``.

Example (bundle JSON)::

    "key_val_metric": {"val_mean_dice": {"_target_": "monai_ext.handlers.USDiceHandler",
                                         "output_transform": "$monai.handlers.from_engine(['pred', 'label'])"}},
    "additional_metrics": {"val_dice_lv": {"_target_": "monai_ext.handlers.USDiceHandler", "structure": 0,
                                           "output_transform": "$monai.handlers.from_engine(['pred', 'label'])"}}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from monai.handlers import IgniteMetricHandler
from monai.utils import MetricReduction

from monai_ext.metrics.cumulative import USDiceMetric, USHD95Metric, USIoUMetric

__all__ = ["USDiceHandler", "USIoUHandler", "USHD95Handler"]


class USDiceHandler(IgniteMetricHandler):
    """Per-image Dice (no smoothing; both empty = 1, one empty = 0), reduced over images and structures.

    Args:
        structure: None for all structure channels, or one channel index (e.g. to log ``val_dice_lv``).
        reduction: MONAI reduction; ``"mean"`` (default) = per-image mean Dice over structures, the key metric.
        include_background: False drops channel 0 first (one-hot softmax outputs); default True because the
            project's inputs are structure channels only.
        output_transform: callable extracting ``(y_pred, y)`` from ``engine.state.output``, e.g.
            ``from_engine(["pred", "label"])`` for decollated outputs.
        save_details: store the ``(N, C)`` per-image values in ``engine.state.metric_details[name]``.
    """

    def __init__(
        self,
        structure: int | None = None,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        include_background: bool = True,
        output_transform: Callable = lambda x: x,
        save_details: bool = True,
    ) -> None:
        metric_fn = USDiceMetric(reduction=reduction, structure=structure, include_background=include_background)
        super().__init__(metric_fn=metric_fn, output_transform=output_transform, save_details=save_details)


class USIoUHandler(IgniteMetricHandler):
    """Per-image IoU (no smoothing; both empty = 1, one empty = 0); arguments as :py:class:`USDiceHandler`."""

    def __init__(
        self,
        structure: int | None = None,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        include_background: bool = True,
        output_transform: Callable = lambda x: x,
        save_details: bool = True,
    ) -> None:
        metric_fn = USIoUMetric(reduction=reduction, structure=structure, include_background=include_background)
        super().__init__(metric_fn=metric_fn, output_transform=output_transform, save_details=save_details)


class USHD95Handler(IgniteMetricHandler):
    """Per-image symmetric HD95 (both empty = 0, one empty = image diagonal), in mm when the spacing is known.

    Args:
        structure, reduction, include_background, output_transform, save_details: as :py:class:`USDiceHandler`.
        spacing: fixed spacing (a number or one value per spatial axis, array order); None reads the label
            meta ``"spacing"`` per image when ``use_meta_spacing`` (``spacing_source == "none"`` = pixels), else
            pixels. The unit in use is ``handler.metric_fn.unit`` (``"mm"`` / ``"px"``).
        use_meta_spacing: see above.
    """

    def __init__(
        self,
        structure: int | None = None,
        spacing: Any = None,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        include_background: bool = True,
        use_meta_spacing: bool = True,
        output_transform: Callable = lambda x: x,
        save_details: bool = True,
    ) -> None:
        metric_fn = USHD95Metric(
            reduction=reduction,
            structure=structure,
            spacing=spacing,
            include_background=include_background,
            use_meta_spacing=use_meta_spacing,
        )
        super().__init__(metric_fn=metric_fn, output_transform=output_transform, save_details=save_details)
