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

"""Aggregation of per-image metrics into the report of docs/methods/evaluation.md, "Aggregation" and "Reports", a text
table and a CSV file.

Per structure and metric: mean ± std (population std, ddof=0) and median over all images; the same mean over
images with the structure present (``|G| > 0``, "present"); for distances additionally the mean over
both-non-empty pairs with the pair count; counts of the four case categories. Overall = mean over structures.
Numbers that do not exist (e.g. no image with the structure present) are ``None`` (JSON ``null``), never NaN.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from monai_ext.metrics.segmentation import (
    US_CASE_BOTH_NONEMPTY,
    US_CASE_MISSED,
    US_CASE_NAMES,
    US_DISTANCE_METRICS,
)
from monai_ext.utils.atomic import atomic_output

__all__ = ["summarize_us_metrics", "format_us_metrics_table", "write_us_metrics_csv", "us_unit_label"]

_UNITS = ("px", "mm")
_LABELS = {"dice": "Dice", "iou": "IoU", "hd95": "HD95", "assd": "ASSD", "precision": "Precision", "recall": "Recall"}


def us_unit_label(unit: str, grid: str | None = None) -> str:
    """Unit label of docs/methods/evaluation.md, "Units and evaluation grid": ``"mm"``, ``"px@<grid>"`` (e.g.
    ``px@256``, ``px@native``) or ``"px"``."""
    if unit not in _UNITS:
        raise ValueError(f"unit must be one of {_UNITS}, got {unit!r}.")
    if unit == "px" and grid:
        return f"px@{grid}"
    return unit


def _to_numpy_2d(x: Any, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be per-image values of shape (N, C), got shape {arr.shape}.")
    return arr


def _check_inputs(
    values: Mapping[str, Any],
    categories: Any,
    structure_names: Sequence[str] | None,
    image_ids: Sequence[Any] | None,
) -> tuple[dict[str, np.ndarray], np.ndarray, list[str], list[str]]:
    if not isinstance(values, Mapping) or not values:
        raise ValueError("values must be a non-empty mapping metric name -> per-image values (N, C).")
    cats = _to_numpy_2d(categories, "categories").astype(np.int64)
    if not np.isin(cats, list(US_CASE_NAMES)).all():
        raise ValueError(f"categories must be case codes {sorted(US_CASE_NAMES)}, got {np.unique(cats).tolist()}.")
    if cats.shape[0] == 0 or cats.shape[1] == 0:
        raise ValueError(f"no per-image values to report (categories shape {cats.shape}).")
    vals: dict[str, np.ndarray] = {}
    for name, v in values.items():
        if name == "category":
            continue
        arr = _to_numpy_2d(v, f"values[{name!r}]").astype(np.float64)
        if arr.shape != cats.shape:
            raise ValueError(f"values[{name!r}] has shape {arr.shape} but categories have shape {cats.shape}.")
        if not np.isfinite(arr).all():
            raise ValueError(
                f"values[{name!r}] contains NaN/inf; the empty-mask policy (docs/methods/evaluation.md, 'Empty masks') "
                "never produces them, compute values with monai_ext.metrics.compute_us_segmentation_metrics."
            )
        vals[name] = arr
    if not vals:
        raise ValueError("values holds no metric besides 'category'.")
    n, c = cats.shape
    names = list(structure_names) if structure_names is not None else [f"structure_{i}" for i in range(c)]
    if len(names) != c:
        raise ValueError(f"got {len(names)} structure names {names} for {c} structure channel(s).")
    if len(set(names)) != len(names):
        raise ValueError(f"structure names must be unique, got {names}.")
    ids = [str(i) for i in image_ids] if image_ids is not None else [f"image_{i:05d}" for i in range(n)]
    if len(ids) != n:
        raise ValueError(f"got {len(ids)} image ids for {n} images.")
    return vals, cats, names, ids


def _mean(a: np.ndarray) -> float | None:
    return float(a.mean()) if a.size else None


def summarize_us_metrics(
    values: Mapping[str, Any],
    categories: Any,
    structure_names: Sequence[str] | None = None,
    image_ids: Sequence[Any] | None = None,
    unit: str = "px",
    grid: str | None = None,
) -> dict[str, Any]:
    """Summarise per-image, per-structure metrics (docs/methods/evaluation.md, "Empty masks" and "Aggregation").

    Args:
        values: metric name -> per-image values ``(N, C)`` (tensor, array or nested list), e.g. the output of
            :py:func:`monai_ext.metrics.compute_us_segmentation_metrics` (a ``"category"`` entry is ignored).
        categories: case codes ``(N, C)`` (0 both empty, 1 missed, 2 false positive, 3 both non-empty).
        structure_names: one name per channel; default ``structure_<i>``.
        image_ids: one id per image (only checked for length here; see :py:func:`write_us_metrics_csv`).
        unit: ``"px"`` or ``"mm"``: the unit of distance metrics.
        grid: evaluation grid label, e.g. ``"native"`` or ``"256"``.

    Returns:
        ``{"num_images", "unit", "grid", "unit_label", "metrics", "structures": {name: {metric: stats, "counts":
        {...}}}, "overall": {metric: stats}}``. Per-structure stats: ``mean``, ``std``, ``median``, ``n``,
        ``mean_present``, ``std_present``, ``n_present`` and, for distances, ``mean_both_nonempty``,
        ``n_both_nonempty``. Overall stats: ``mean`` (mean of the structure means), ``std`` (over images of the
        per-image mean over structures), ``mean_present`` and ``mean_both_nonempty`` (means of the structure
        values that exist).
    """
    vals, cats, names, _ = _check_inputs(values, categories, structure_names, image_ids)
    unit_label = us_unit_label(unit, grid)
    n, c = cats.shape
    present = (cats == US_CASE_MISSED) | (cats == US_CASE_BOTH_NONEMPTY)
    both = cats == US_CASE_BOTH_NONEMPTY
    structures: dict[str, dict[str, Any]] = {}
    for ci, sname in enumerate(names):
        entry: dict[str, Any] = {}
        for m, arr in vals.items():
            col = arr[:, ci]
            stats = {
                "mean": _mean(col),
                "std": float(col.std()) if n else None,
                "median": float(np.median(col)) if n else None,
                "n": int(n),
                "mean_present": _mean(col[present[:, ci]]),
                "std_present": float(col[present[:, ci]].std()) if present[:, ci].any() else None,
                "n_present": int(present[:, ci].sum()),
            }
            if m in US_DISTANCE_METRICS:
                stats["mean_both_nonempty"] = _mean(col[both[:, ci]])
                stats["n_both_nonempty"] = int(both[:, ci].sum())
            entry[m] = stats
        entry["counts"] = {cname: int((cats[:, ci] == code).sum()) for code, cname in US_CASE_NAMES.items()}
        structures[sname] = entry
    overall: dict[str, Any] = {}
    for m, arr in vals.items():
        per_struct = structures.values()
        ov = {
            "mean": _mean(np.array([s[m]["mean"] for s in per_struct])),
            "std": float(arr.mean(axis=1).std()),
        }
        for key in ("mean_present",) + (("mean_both_nonempty",) if m in US_DISTANCE_METRICS else ()):
            existing = np.array([s[m][key] for s in per_struct if s[m][key] is not None])
            ov[key] = _mean(existing)
        overall[m] = ov
    return {
        "num_images": int(n),
        "unit": unit,
        "grid": grid,
        "unit_label": unit_label,
        "policy": (
            "docs/methods/evaluation.md, 'Empty masks': both empty Dice=IoU=1, HD95=0; one empty Dice=IoU=0, HD95=D_max"
        ),
        "metrics": list(vals),
        "structure_names": names,
        "structures": structures,
        "overall": overall,
    }


def _fmt(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def format_us_metrics_table(summary: Mapping[str, Any], digits: int = 3) -> str:
    """A readable text table of a :py:func:`summarize_us_metrics` result, one row per structure plus the mean.

    Columns per metric: ``all`` = mean ± std (median) over all images, ``|G|>0`` = mean over images with the
    structure present, for distances ``both (n)`` = mean over both-non-empty pairs and their count; then the case
    counts ``empty/missed/FP/both``. Distances carry the unit label (``mm``, ``px@256``, ...).
    """
    for key in ("structures", "overall", "metrics", "unit_label", "num_images"):
        if key not in summary:
            raise ValueError(f"summary lacks {key!r}; build it with summarize_us_metrics().")
    unit_label = summary["unit_label"]
    header = ["structure"]
    for m in summary["metrics"]:
        lab = _LABELS.get(m, m)
        suffix = f" [{unit_label}]" if m in US_DISTANCE_METRICS else ""
        header += [f"{lab} all{suffix}", f"{lab} |G|>0"]
        if m in US_DISTANCE_METRICS:
            header.append(f"{lab} both (n)")
    header.append("empty/missed/FP/both")
    rows = []
    for sname, entry in summary["structures"].items():
        row = [sname]
        for m in summary["metrics"]:
            s = entry[m]
            row += [f"{_fmt(s['mean'], digits)} ± {_fmt(s['std'], digits)} ({_fmt(s['median'], digits)})"]
            row += [f"{_fmt(s['mean_present'], digits)}"]
            if m in US_DISTANCE_METRICS:
                row.append(f"{_fmt(s['mean_both_nonempty'], digits)} ({s['n_both_nonempty']})")
        cnt = entry["counts"]
        row.append("/".join(str(cnt[k]) for k in US_CASE_NAMES.values()))
        rows.append(row)
    row = ["mean over structures"]
    for m in summary["metrics"]:
        s = summary["overall"][m]
        row += [f"{_fmt(s['mean'], digits)} ± {_fmt(s['std'], digits)}", _fmt(s["mean_present"], digits)]
        if m in US_DISTANCE_METRICS:
            row.append(_fmt(s["mean_both_nonempty"], digits))
    row.append("")
    rows.append(row)
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    lines = [
        f"US segmentation metrics: {summary['num_images']} images, distances in {unit_label}, "
        "empty-mask policy of docs/methods/evaluation.md, 'Empty masks' (all = every image; |G|>0 = structure present)"
    ]
    for r in [header] + rows:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    return "\n".join(lines)


def write_us_metrics_csv(
    path: str | Path,
    values: Mapping[str, Any],
    categories: Any,
    structure_names: Sequence[str] | None = None,
    image_ids: Sequence[Any] | None = None,
    unit: str = "px",
    grid: str | None = None,
) -> Path:
    """Write one row per (image, structure): ``image_id, structure, case, <metrics...>, unit, grid``.

    ``case`` is the category name (``both_empty``, ``missed``, ``false_positive``, ``both_nonempty``); ``unit`` is
    the unit label of the distance columns (``mm``, ``px@256``...); ``grid`` the evaluation grid (may be empty).
    Parent folders are created. Returns the path written.
    """
    vals, cats, names, ids = _check_inputs(values, categories, structure_names, image_ids)
    unit_label = us_unit_label(unit, grid)
    path = Path(path)
    metric_names = list(vals)
    with atomic_output(path) as tmp, open(tmp, "w", newline="") as f:  # a report appears whole or not at all
        w = csv.writer(f)
        w.writerow(["image_id", "structure", "case", *metric_names, "unit", "grid"])
        for i, image_id in enumerate(ids):
            for ci, sname in enumerate(names):
                w.writerow(
                    [image_id, sname, US_CASE_NAMES[int(cats[i, ci])]]
                    + [f"{vals[m][i, ci]:.6g}" for m in metric_names]
                    + [unit_label, grid or ""]
                )
    return path
