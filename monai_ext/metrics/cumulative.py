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

"""MONAI ``CumulativeIterationMetric`` versions of Dice, IoU and HD95 under the empty-mask policy.

They plug into :py:class:`monai.handlers.IgniteMetricHandler` (see ``monai_ext.handlers.metric_handlers``) and
into plain loops like :py:class:`monai.metrics.DiceMetric`. The buffer holds one value per (image, structure),
so ``get_buffer()`` is ``(N, C)`` and MONAI's ``MetricsSaver(metric_details=...)`` writes per-image rows.
Values are never NaN: empty cases follow docs/methods/evaluation.md, "Empty masks" and count in every mean.
"""

from __future__ import annotations

from typing import Any

import torch
from monai.metrics import CumulativeIterationMetric
from monai.metrics.utils import do_metric_reduction
from monai.utils import MetricReduction

from monai_ext.metrics.segmentation import (
    US_DISTANCE_METRICS,
    check_us_fixed_spacing,
    compute_us_segmentation_metrics,
    normalize_us_spacing,
    us_same_unit,
    us_spacing_from_meta,
    us_spacing_unit,
)

__all__ = ["USSegmentationMetricBase", "USDiceMetric", "USIoUMetric", "USHD95Metric"]


class USSegmentationMetricBase(CumulativeIterationMetric):
    """Shared logic of the cumulative ultrasound metrics; subclasses set ``metric_name``.

    Args:
        reduction: MONAI reduction of the ``(N, C)`` buffer in :py:meth:`aggregate`; default ``"mean"`` = mean over
            images and structures, i.e. the mean over structures of the per-image values (every image has every
            structure, so both orders give the same number). ``"mean_batch"`` gives one value per structure,
            ``"none"`` the buffer itself.
        structure: None scores every structure channel; an int scores only that channel (0-based, counted after
            dropping the background when ``include_background=False``), e.g. to log ``val_dice_lv``.
        spacing: fixed pixel spacing for every image, in the array's spatial order: a number or one value per
            spatial axis. Per-image spacing goes to ``__call__(..., spacing=...)`` (any form accepted by
            :py:func:`monai_ext.metrics.normalize_us_spacing`) or comes from the label meta. Only distance metrics
            use it.
        include_background: True when inputs are structure channels only (the project convention). False drops
            channel 0 first, for one-hot softmax outputs ``AsDiscreted(argmax=True, to_onehot=C + 1)``.
        use_meta_spacing: when no spacing is passed (neither here nor at call time), read it per image from the
            label MetaTensor's ``meta["spacing"]`` (then the prediction's), honouring
            ``meta["spacing_source"] == "none"`` as pixels. No ``"spacing"`` key means pixels.
        get_not_nans: return ``(value, not_nans)`` from :py:meth:`aggregate`, as MONAI metrics do.

    Spacing precedence: ``spacing=`` passed to ``__call__`` > constructor ``spacing`` > meta ``"spacing"`` >
    pixels. Distances of one epoch must share one unit; mixing mm and px raises ``ValueError``.
    """

    metric_name: str = ""

    def __init__(
        self,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        structure: int | None = None,
        spacing: Any = None,
        include_background: bool = True,
        use_meta_spacing: bool = True,
        get_not_nans: bool = False,
    ) -> None:
        super().__init__()
        if structure is not None and (isinstance(structure, bool) or not isinstance(structure, int) or structure < 0):
            raise ValueError(f"structure must be None or a non-negative int channel index, got {structure!r}.")
        check_us_fixed_spacing(spacing, self.__class__.__name__)
        self.reduction = reduction
        self.structure = structure
        self.spacing = spacing
        self.include_background = include_background
        self.use_meta_spacing = use_meta_spacing
        self.get_not_nans = get_not_nans

    def reset(self) -> None:
        self._unit: str | None = None
        super().reset()

    @property
    def unit(self) -> str | None:
        """``"mm"`` or ``"px"`` for distance metrics once data was seen, else None."""
        return self._unit

    def _select_channels(self, x: torch.Tensor, name: str) -> torch.Tensor:
        if x.ndim != 4:
            raise ValueError(f"{self.__class__.__name__}: {name} must be (B, C, H, W), got shape {tuple(x.shape)}.")
        if not self.include_background:
            x = x[:, 1:]
        if self.structure is not None:
            if self.structure >= x.shape[1]:
                raise ValueError(
                    f"{self.__class__.__name__}: structure={self.structure} but {name} has {x.shape[1]} structure "
                    f"channel(s) (include_background={self.include_background})."
                )
            x = x[:, self.structure : self.structure + 1]
        return x

    def _resolve_spacing(self, y_pred: torch.Tensor, y: torch.Tensor, spacing: Any) -> Any:
        batch = y.shape[0]
        if spacing is None:
            spacing = self.spacing
        if spacing is None and self.use_meta_spacing:
            spacing = us_spacing_from_meta(y, batch)
            if spacing is None:
                spacing = us_spacing_from_meta(y_pred, batch)
        spacings = normalize_us_spacing(spacing, batch, 2)
        self._unit = us_same_unit(self._unit, us_spacing_unit(spacings), self.__class__.__name__)
        return spacings

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor | None = None, **kwargs: Any) -> torch.Tensor:
        """Per-image values ``(B, C)`` for a batch-first pair; ``spacing=`` may be passed as a keyword."""
        if y is None:
            raise ValueError(f"{self.__class__.__name__} needs the ground truth y.")
        spacing = kwargs.pop("spacing", None)
        if kwargs:
            raise TypeError(f"{self.__class__.__name__}: unexpected keyword arguments {sorted(kwargs)}.")
        p = self._select_channels(y_pred, "y_pred")
        g = self._select_channels(y, "y")
        spacings = None
        if self.metric_name in US_DISTANCE_METRICS:
            spacings = self._resolve_spacing(y_pred, y, spacing)
        return compute_us_segmentation_metrics(p, g, spacing=spacings, metrics=(self.metric_name,))[self.metric_name]

    def aggregate(
        self, reduction: MetricReduction | str | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Reduce the ``(N, C)`` buffer with MONAI's ``do_metric_reduction`` (default: ``self.reduction``)."""
        data = self.get_buffer()
        if not isinstance(data, torch.Tensor):
            raise ValueError(f"{self.__class__.__name__}: nothing to aggregate, call the metric on some data first.")
        f, not_nans = do_metric_reduction(data, reduction or self.reduction)
        return (f, not_nans) if self.get_not_nans else f


class USDiceMetric(USSegmentationMetricBase):
    """Per-image Dice without smoothing; both empty = 1, one empty = 0 (docs/methods/evaluation.md, "Empty masks").

    The default ``reduction="mean"`` is the project's validation key metric: per-image mean Dice over structures.
    See :py:class:`USSegmentationMetricBase` for the arguments.

    Example::

        metric = USDiceMetric()
        metric(y_pred=[p0, p1], y=[g0, g1])  # lists of (C, H, W) binary masks, or (B, C, H, W)
        key = metric.aggregate().item()
    """

    metric_name = "dice"


class USIoUMetric(USSegmentationMetricBase):
    """Per-image IoU (Jaccard) without smoothing; both empty = 1, one empty = 0 (docs/methods/evaluation.md, "Empty
    masks")."""

    metric_name = "iou"


class USHD95Metric(USSegmentationMetricBase):
    """Per-image symmetric HD95; both empty = 0, one empty = image diagonal D_max (docs/methods/evaluation.md, "Empty
    masks").

    Non-empty pairs use :py:func:`monai.metrics.compute_hausdorff_distance` (percentile 95, Euclidean, spacing).
    Values are in mm when a spacing is known (argument or label meta ``"spacing"``), else in pixels; see
    :py:attr:`unit`.
    """

    metric_name = "hd95"
