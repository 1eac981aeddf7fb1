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

"""Per-image, per-structure Dice, IoU and HD95 under the project's empty-mask policy (docs/methods/evaluation.md, "Empty
masks").

Inputs are binary structure channels WITHOUT background, ``(B, C, H, W)`` (or a list of ``(C, H, W)`` items,
which may differ in size). Policy per (image, structure), with P the prediction and G the ground truth:

============================  ==========  ==========  ==================
case (category code)          Dice        IoU         HD95 / ASSD
============================  ==========  ==========  ==================
both empty (0)                1           1           0
missed: G > 0, P = 0 (1)      0           0           D_max
false positive: G = 0, P > 0  0           0           D_max
both non-empty (3)            formula     formula     formula (MONAI)
============================  ==========  ==========  ==================

D_max is the image diagonal, ``sqrt(sum_i (n_i * s_i) ** 2)`` over the spatial axes (pixels when no spacing
is given, otherwise in the unit of the spacing, normally mm). HD95 of non-empty pairs is computed with
:py:func:`monai.metrics.compute_hausdorff_distance` (``percentile=95``, symmetric, Euclidean, with spacing).

Spacing is given in the order of the array's spatial axes, as everywhere in MONAI. With MONAI's ``PILReader``
(and the project's ultrasound reader) arrays are ``(C, X, Y)`` = ``(C, columns, rows)``, so spacing is
``(dx, dy)``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor
from monai.metrics import compute_hausdorff_distance
from monai.metrics.utils import get_edge_surface_distance
from monai.utils import convert_to_tensor

__all__ = [
    "US_CASE_BOTH_EMPTY",
    "US_CASE_MISSED",
    "US_CASE_FALSE_POSITIVE",
    "US_CASE_BOTH_NONEMPTY",
    "US_CASE_NAMES",
    "US_SUPPORTED_METRICS",
    "US_DISTANCE_METRICS",
    "compute_us_segmentation_metrics",
    "compute_us_case_categories",
    "us_image_diagonal",
    "normalize_us_spacing",
    "check_us_fixed_spacing",
    "us_same_unit",
    "us_spacing_from_meta",
    "us_spacing_unit",
]

US_CASE_BOTH_EMPTY = 0
US_CASE_MISSED = 1
US_CASE_FALSE_POSITIVE = 2
US_CASE_BOTH_NONEMPTY = 3
#: category code -> name used in reports and CSV files.
US_CASE_NAMES: dict[int, str] = {
    US_CASE_BOTH_EMPTY: "both_empty",
    US_CASE_MISSED: "missed",
    US_CASE_FALSE_POSITIVE: "false_positive",
    US_CASE_BOTH_NONEMPTY: "both_nonempty",
}
US_SUPPORTED_METRICS = ("dice", "iou", "hd95", "assd", "precision", "recall")
#: metrics measured in spacing units (mm or px); their empty-mask value is 0 / D_max instead of 1 / 0.
US_DISTANCE_METRICS = ("hd95", "assd")

_Spacing = tuple[float, ...] | None


def _is_number(x: Any) -> bool:
    if isinstance(x, bool):
        return False
    if isinstance(x, (int, float, np.integer, np.floating)):
        return True
    return isinstance(x, (np.ndarray, torch.Tensor)) and x.ndim == 0


def _check_spacing_values(values: Sequence[float], where: str) -> tuple[float, ...]:
    out = tuple(float(v) for v in values)
    if not all(math.isfinite(v) and v > 0 for v in out):
        raise ValueError(f"spacing values must be finite and > 0, got {out} ({where}).")
    return out


def _one_image_spacing(s: Any, spatial_ndim: int, where: str) -> _Spacing:
    """One image's spacing (None, scalar, length-1 or per-axis sequence) -> per-axis tuple or None."""
    if s is None:
        return None
    if isinstance(s, torch.Tensor):
        s = s.detach().cpu().numpy()
    if _is_number(s):
        return _check_spacing_values([float(s)] * spatial_ndim, where)
    if isinstance(s, (np.ndarray, Sequence)) and not isinstance(s, str):
        arr = np.asarray(s, dtype=object if not isinstance(s, np.ndarray) else None)
        if arr.ndim != 1 or not all(_is_number(v) for v in arr.tolist()):
            raise ValueError(
                f"spacing of one image must be a number or a flat sequence of numbers, got {s!r} ({where})."
            )
        if len(arr) == 1:
            return _check_spacing_values([float(arr[0])] * spatial_ndim, where)
        if len(arr) != spatial_ndim:
            raise ValueError(
                f"spacing of one image must have 1 or {spatial_ndim} values (one per spatial axis), got {len(arr)} "
                f"({where})."
            )
        return _check_spacing_values(arr.tolist(), where)
    raise TypeError(f"unsupported spacing type {type(s).__name__} ({where}).")


def normalize_us_spacing(spacing: Any, batch_size: int, spatial_ndim: int = 2) -> list[_Spacing]:
    """Turn a user/meta spacing into one per-axis tuple (or None = pixels) per image.

    Accepted forms (spatial order of the array, see the module docstring):

    - ``None``: pixels for every image;
    - a number: isotropic spacing for every image;
    - a flat sequence / 1D array of ``spatial_ndim`` numbers: per-axis spacing for every image (a flat sequence
      is always per-axis, never per-image, as in :py:func:`monai.metrics.utils.prepare_spacing`);
    - a sequence of length ``batch_size`` whose items are ``None``, numbers or per-axis sequences, or a 2D
      array/tensor of shape ``(batch_size, spatial_ndim)`` or ``(batch_size, 1)``: one spacing per image.

    Raises:
        ValueError: wrong lengths, non-positive or non-finite values.
        TypeError: unsupported types.
    """
    if spacing is None:
        return [None] * batch_size
    if isinstance(spacing, torch.Tensor):
        spacing = spacing.detach().cpu().numpy()
    if _is_number(spacing):
        return [_one_image_spacing(spacing, spatial_ndim, "spacing")] * batch_size
    if isinstance(spacing, np.ndarray):
        if spacing.ndim == 1:
            return [_one_image_spacing(spacing, spatial_ndim, "spacing")] * batch_size
        if spacing.ndim == 2:
            if spacing.shape[0] != batch_size:
                raise ValueError(
                    f"a 2D spacing array must have one row per image: shape {spacing.shape}, batch size {batch_size}."
                )
            return [_one_image_spacing(row, spatial_ndim, f"spacing of image {i}") for i, row in enumerate(spacing)]
        raise ValueError(f"spacing array must be 0D, 1D or 2D, got shape {spacing.shape}.")
    if isinstance(spacing, Sequence) and not isinstance(spacing, str):
        items = list(spacing)
        if len(items) > 0 and all(_is_number(v) for v in items):
            return [_one_image_spacing(items, spatial_ndim, "spacing")] * batch_size
        if len(items) != batch_size:
            raise ValueError(
                f"a per-image spacing list must have one entry per image: got {len(items)} entries for "
                f"{batch_size} images ({spacing!r})."
            )
        return [_one_image_spacing(s, spatial_ndim, f"spacing of image {i}") for i, s in enumerate(items)]
    raise TypeError(f"unsupported spacing type {type(spacing).__name__}: {spacing!r}.")


def check_us_fixed_spacing(spacing: Any, owner: str) -> None:
    """Validate a spacing that applies to every image: None, a positive number or one value per spatial axis."""
    if spacing is None:
        return
    try:
        if np.ndim(np.asarray(spacing, dtype=float)) > 1:
            raise ValueError("nested (per-image) spacing")
        normalize_us_spacing(spacing, 1, 2)
    except (ValueError, TypeError) as e:
        raise ValueError(
            f"{owner}: a fixed spacing must be a positive number or one value per spatial axis, got {spacing!r} "
            f"({e}); per-image spacing comes from the label meta 'spacing' (or metric(..., spacing=...))."
        ) from e


def us_spacing_unit(spacings: Sequence[_Spacing]) -> str:
    """Return ``"mm"`` when every image has a spacing, ``"px"`` when none has one.

    Raises:
        ValueError: when some images have a spacing and others do not (units must never be mixed).
    """
    known = [s is not None for s in spacings]
    if all(known) and known:
        return "mm"
    if not any(known):
        return "px"
    raise ValueError(
        "spacing is known for some images and unknown for others; distances would mix mm and pixels in one "
        f"aggregate (docs/methods/evaluation.md, 'Units and evaluation grid'). Known per image: {known}."
    )


def us_same_unit(previous: str | None, unit: str, owner: str) -> str:
    """Return ``unit`` after checking it against the unit of the earlier batches of the same aggregate.

    Raises:
        ValueError: when the units differ (an aggregate must never mix mm and pixels).
    """
    if previous is not None and unit != previous:
        raise ValueError(
            f"{owner}: this batch is in {unit} but earlier batches were in {previous}; distances must not mix units "
            "within one aggregate (docs/methods/evaluation.md, 'Units and evaluation grid')."
        )
    return unit


def us_spacing_from_meta(y: Any, batch_size: int, spatial_ndim: int = 2) -> list[_Spacing] | None:
    """Read per-image spacing from a label MetaTensor's meta key ``"spacing"``.

    ``meta["spacing_source"] == "none"`` (the ultrasound DICOM reader's "spacing unknown",
    docs/methods/ultrasound-dicom.md, "Region calibration") means pixels for that image. Returns None when ``y`` carries
    no ``"spacing"`` entry, otherwise one per-axis tuple (or None) per image, ready for :py:func:`normalize_us_spacing`.

    The value must describe the grid the label has when the metric is computed: if the label was resized after
    loading, pass the spacing explicitly instead (a warning is emitted when ``meta["spatial_shape"]`` shows a
    different shape).
    """
    if not isinstance(y, MetaTensor) or "spacing" not in y.meta:
        return None
    spacing = y.meta["spacing"]
    source = y.meta.get("spacing_source")
    shape = y.meta.get("spatial_shape")
    if y.is_batch:
        spacing = _as_per_image(spacing, batch_size, "meta['spacing']")
        sources = _as_per_image(source, batch_size, "meta['spacing_source']") if source is not None else None
        shapes = _as_per_image(shape, batch_size, "meta['spatial_shape']") if shape is not None else None
    else:
        if batch_size != 1:
            raise ValueError(f"a non-batch MetaTensor describes one image, got batch size {batch_size}.")
        spacing, sources, shapes = (
            [spacing],
            ([source] if source is not None else None),
            ([shape] if shape is not None else None),
        )
    out = []
    for i, s in enumerate(spacing):
        if sources is not None and str(sources[i]).lower() == "none":
            s = None
        if s is not None and shapes is not None and shapes[i] is not None:
            expected = tuple(int(v) for v in np.asarray(shapes[i]).reshape(-1).tolist())
            actual = tuple(y.shape[-len(expected) :]) if len(expected) <= y.ndim else None
            if actual is not None and expected != actual:
                warnings.warn(
                    f"label meta 'spacing' was recorded for spatial shape {expected} but the label now has shape "
                    f"{actual}; the spacing may be stale (pass spacing explicitly after resizing).",
                    stacklevel=2,
                )
        out.append(_one_image_spacing(s, spatial_ndim, f"meta['spacing'] of image {i}"))
    return out


def _as_per_image(value: Any, batch_size: int, name: str) -> list[Any]:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        if value.ndim == 0 or value.shape[0] != batch_size:
            raise ValueError(f"batched {name} must have one entry per image (batch {batch_size}), got {value!r}.")
        return list(value)
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == batch_size:
        return list(value)
    raise ValueError(f"batched {name} must have one entry per image (batch {batch_size}), got {value!r}.")


def _as_binary_tensor(x: Any, name: str) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, a numpy array or a list of them, got {type(x).__name__}.")
    x = convert_to_tensor(x, track_meta=False)
    if x.is_floating_point() and torch.isnan(x).any():
        raise ValueError(f"{name} contains NaN; metrics need binary masks.")
    if x.dtype != torch.bool:
        if not torch.logical_or(x == 0, x == 1).all():
            vals = torch.unique(x)[:6].tolist()
            raise ValueError(
                f"{name} must be binary (values 0/1), found values {vals}...; threshold or argmax + one-hot first "
                "(e.g. AsDiscreted(threshold=0.5) or AsDiscreted(argmax=True, to_onehot=N))."
            )
        x = x != 0
    return x


def us_image_diagonal(spatial_shape: Sequence[int], spacing: _Spacing = None) -> float:
    """D_max of docs/methods/evaluation.md, "Empty masks": the diagonal of the evaluated image (pixels, or spacing
    units)."""
    s = spacing if spacing is not None else (1.0,) * len(spatial_shape)
    if len(s) != len(spatial_shape):
        raise ValueError(f"spacing {s} does not match spatial shape {tuple(spatial_shape)}.")
    return float(math.sqrt(sum((float(n) * float(d)) ** 2 for n, d in zip(spatial_shape, s))))


def compute_us_case_categories(y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Case category per (image, structure) for boolean ``(B, C, ...)`` masks (codes ``US_CASE_*``)."""
    dims = tuple(range(2, y.ndim))
    gt_any = y.any(dim=dims) if dims else y
    pred_any = y_pred.any(dim=dims) if dims else y_pred
    cat = torch.full(gt_any.shape, US_CASE_BOTH_EMPTY, dtype=torch.long, device=y.device)
    cat[gt_any & ~pred_any] = US_CASE_MISSED
    cat[~gt_any & pred_any] = US_CASE_FALSE_POSITIVE
    cat[gt_any & pred_any] = US_CASE_BOTH_NONEMPTY
    return cat


def _hd95_pair(p: torch.Tensor, g: torch.Tensor, spacing: _Spacing) -> float:
    with warnings.catch_warnings():
        # MONAI 1.5+ emits a deprecation notice from its own internal call of get_mask_edges
        warnings.filterwarnings("ignore", message=".*always_return_as_numpy.*")
        hd = compute_hausdorff_distance(
            p[None, None].float(),
            g[None, None].float(),
            include_background=True,
            distance_metric="euclidean",
            percentile=95,
            directed=False,
            spacing=list(spacing) if spacing is not None else None,
        )
    return float(hd[0, 0])


def _assd_pair(p: torch.Tensor, g: torch.Tensor, spacing: _Spacing) -> float:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*always_return_as_numpy.*")
        _, (d_pg, d_gp), _ = get_edge_surface_distance(
            p.float(),
            g.float(),
            distance_metric="euclidean",
            spacing=list(spacing) if spacing else None,
            symmetric=True,
        )
    # mean of the two directed average surface distances (docs/methods/evaluation.md, "Metrics")
    return float((d_pg.float().mean() + d_gp.float().mean()) / 2)


def _compute_batch(
    y_pred: torch.Tensor, y: torch.Tensor, spacings: list[_Spacing], metrics: Sequence[str]
) -> dict[str, torch.Tensor]:
    b, c = y.shape[:2]
    dims = tuple(range(2, y.ndim))
    n_pred = y_pred.sum(dim=dims).double()
    n_gt = y.sum(dim=dims).double()
    n_inter = (y_pred & y).sum(dim=dims).double()
    cat = compute_us_case_categories(y_pred, y)
    both = cat == US_CASE_BOTH_NONEMPTY
    empty = cat == US_CASE_BOTH_EMPTY
    one = torch.ones_like(n_gt)
    out: dict[str, torch.Tensor] = {}
    # empty cases are overwritten explicitly below, so the clamped denominators never decide a value
    if "dice" in metrics:
        v = 2 * n_inter / (n_pred + n_gt).clamp_min(1)
        out["dice"] = torch.where(both, v, torch.where(empty, one, 0 * one))
    if "iou" in metrics:
        v = n_inter / (n_pred + n_gt - n_inter).clamp_min(1)
        out["iou"] = torch.where(both, v, torch.where(empty, one, 0 * one))
    if "precision" in metrics:
        v = n_inter / n_pred.clamp_min(1)
        out["precision"] = torch.where(both, v, torch.where(empty, one, 0 * one))
    if "recall" in metrics:
        v = n_inter / n_gt.clamp_min(1)
        out["recall"] = torch.where(both, v, torch.where(empty, one, 0 * one))
    spatial = tuple(y.shape[2:])
    d_max = torch.tensor([us_image_diagonal(spatial, s) for s in spacings], dtype=torch.double, device=y.device)
    pair_fns = {"hd95": _hd95_pair, "assd": _assd_pair}
    for name in US_DISTANCE_METRICS:
        if name not in metrics:
            continue
        v = torch.zeros((b, c), dtype=torch.double, device=y.device)
        v[~empty] = d_max[:, None].expand(b, c)[~empty]
        for bi, ci in both.nonzero().tolist():
            v[bi, ci] = pair_fns[name](y_pred[bi, ci], y[bi, ci], spacings[bi])
        out[name] = v
    result = {k: v.float() for k, v in out.items()}
    result["category"] = cat
    return result


def compute_us_segmentation_metrics(
    y_pred: Any,
    y: Any,
    spacing: Any = None,
    metrics: Sequence[str] | str = ("dice", "iou", "hd95"),
) -> dict[str, torch.Tensor]:
    """Per-image, per-structure segmentation metrics under the empty-mask policy of docs/methods/evaluation.md, "Empty
    masks".

    Args:
        y_pred: binary predictions, ``(B, C, H, W)`` tensor/array or a list of ``(C, H, W)`` items (items may
            have different spatial sizes). Channels are structures, no background. Bool or 0/1 values.
        y: binary ground truth, same form and shape as ``y_pred``.
        spacing: pixel spacing in the array's spatial order: None (pixels), a number, a per-axis sequence, or a
            per-image list of those (see :py:func:`normalize_us_spacing`). Either every image has one or none.
        metrics: any of ``"dice"``, ``"iou"``, ``"hd95"``, ``"assd"``, ``"precision"``, ``"recall"``.

    Returns:
        dict metric name -> float tensor ``(B, C)``, plus ``"category"``: long tensor ``(B, C)`` with the case
        codes (0 both empty, 1 missed, 2 false positive, 3 both non-empty). Never NaN.

    Raises:
        ValueError / TypeError: for unknown metrics, non-binary values, mismatched shapes, bad spacing.
    """
    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    unknown = [m for m in metrics if m not in US_SUPPORTED_METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; supported: {US_SUPPORTED_METRICS}.")
    if isinstance(y_pred, (list, tuple)) or isinstance(y, (list, tuple)):
        if not isinstance(y_pred, (list, tuple)) or not isinstance(y, (list, tuple)):
            raise TypeError("y_pred and y must both be lists of (C, H, W) items or both batch-first (B, C, H, W).")
        if len(y_pred) != len(y) or len(y) == 0:
            raise ValueError(f"y_pred and y must be non-empty lists of equal length, got {len(y_pred)} and {len(y)}.")
        spacings = normalize_us_spacing(spacing, len(y), 2)
        us_spacing_unit(spacings)
        parts = []
        for i, (p, g) in enumerate(zip(y_pred, y)):
            p_t = _as_binary_tensor(p, f"y_pred[{i}]")
            g_t = _as_binary_tensor(g, f"y[{i}]")
            if p_t.ndim != 3 or g_t.ndim != 3:
                raise ValueError(
                    f"list items must be channel-first 2D masks (C, H, W), got shapes {tuple(p_t.shape)} and "
                    f"{tuple(g_t.shape)} at index {i}."
                )
            parts.append(_compute_checked(p_t[None], g_t[None], [spacings[i]], metrics, f" (item {i})"))
        return {k: torch.cat([r[k] for r in parts], dim=0) for k in parts[0]}
    p_t = _as_binary_tensor(y_pred, "y_pred")
    g_t = _as_binary_tensor(y, "y")
    if p_t.ndim != 4 or g_t.ndim != 4:
        raise ValueError(
            f"batch inputs must be (B, C, H, W) binary structure channels, got shapes {tuple(p_t.shape)} and "
            f"{tuple(g_t.shape)}; pass a list for single (C, H, W) images."
        )
    spacings = normalize_us_spacing(spacing, g_t.shape[0], 2)
    us_spacing_unit(spacings)
    return _compute_checked(p_t, g_t, spacings, metrics, "")


def _compute_checked(
    p: torch.Tensor, g: torch.Tensor, spacings: list[_Spacing], metrics: Sequence[str], where: str
) -> dict[str, torch.Tensor]:
    if p.shape != g.shape:
        raise ValueError(f"y_pred and y must have the same shape, got {tuple(p.shape)} and {tuple(g.shape)}{where}.")
    if p.shape[1] == 0 or any(n == 0 for n in p.shape[2:]):
        raise ValueError(f"masks need at least one structure channel and non-empty spatial axes, got {tuple(p.shape)}.")
    if g.device != p.device:
        g = g.to(p.device)
    return _compute_batch(p, g, spacings, metrics)
