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

"""Ignite handler writing the per-structure evaluation report of docs/methods/evaluation.md, "Aggregation" and "Reports"
for an evaluator.

Modelled on :py:class:`monai.handlers.MetricsSaver`: it collects per-image Dice, IoU, HD95 (and case categories,
image ids) during an evaluator epoch and, at the end, writes ``metrics_summary.json`` and
``metrics_per_image.csv``, logs a text table and adds summary numbers to ``engine.state.metrics``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from monai.data import MetaTensor
from monai.handlers import from_engine
from monai.utils import IgniteInfo, evenly_divisible_all_gather, min_version, optional_import, string_list_all_gather

from monai_ext.metrics.report import format_us_metrics_table, summarize_us_metrics, write_us_metrics_csv
from monai_ext.metrics.segmentation import (
    US_SUPPORTED_METRICS,
    check_us_fixed_spacing,
    compute_us_segmentation_metrics,
    normalize_us_spacing,
    us_same_unit,
    us_spacing_from_meta,
    us_spacing_unit,
)
from monai_ext.utils.atomic import atomic_output

idist, _ = optional_import("ignite", IgniteInfo.OPT_IMPORT_VERSION, min_version, "distributed")
Events, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Events")
if TYPE_CHECKING:
    from ignite.engine import Engine
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")

__all__ = ["USMetricsReportHandler"]

_STRIP_SUFFIXES = (".nii.gz", ".nii", ".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".dcm", ".dicom", ".npy")


def _image_id(filename: Any) -> str | None:
    """Image id from ``filename_or_obj``: the file name without its image extension (``p0007_00``)."""
    if filename is None:
        return None
    name = Path(str(filename)).name
    lower = name.lower()
    for suffix in _STRIP_SUFFIXES:
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


class USMetricsReportHandler:
    """Collect per-image metrics on an evaluator and write the evaluation report at each epoch end.

    Events: ``EPOCH_STARTED`` resets the buffers; ``ITERATION_COMPLETED`` computes per-image, per-structure
    values with :py:func:`monai_ext.metrics.compute_us_segmentation_metrics` and stores them with the case
    categories and image ids; ``EPOCH_COMPLETED`` gathers across ranks, then on ``save_rank`` writes
    ``<output_dir>/<prefix>metrics_summary.json`` and ``<output_dir>/<prefix>metrics_per_image.csv`` and logs
    (optionally prints) the table. On every rank it adds to ``engine.state.metrics``: ``dice_<s>``, ``iou_<s>``,
    ``hd95_<s>`` (means over all images), ``dice_present_<s>`` (mean over images with ``|G| > 0``, only when there
    is one) for each structure ``s``, and ``mean_dice``, ``mean_iou``, ``mean_hd95`` (means over structures),
    each name preceded by ``metric_prefix``. The full summary is kept in :py:attr:`summary`.

    Under DDP attach the handler on **every** rank (the gathers are collective), like ``MetricsSaver``.

    Args:
        output_dir: folder for the two files (created).
        structure_names: one name per structure channel (e.g. ``["lv", "myocardium", "la"]``).
        output_transform: extracts ``(y_pred, y)`` from ``engine.state.output``; default
            ``from_engine(["pred", "label"])`` (decollated list of dicts). Binary structure channels, lists of
            ``(C, H, W)`` or ``(B, C, H, W)``.
        spacing: fixed spacing (number or per-axis, array order). None: per image from the label meta
            ``"spacing"`` (then the prediction meta) when ``use_meta_spacing``, honouring ``spacing_source ==
            "none"``; otherwise pixels.
        filename_prefix: prefix of the two file names, e.g. ``"test_"``.
        print_table: also print the table to stdout (it is always logged at INFO level).
        metrics: metrics to compute, any of ``US_SUPPORTED_METRICS``; must contain dice, iou and hd95.
        grid: evaluation grid label for the report (``"native"``, ``"256"``...); pixels become ``px@<grid>``.
        include_background: False drops channel 0 of one-hot softmax outputs first.
        use_meta_spacing: see ``spacing``.
        metric_prefix: prefix of the names put into ``engine.state.metrics`` (e.g. ``"test_"``).
        save_rank: the rank that writes files.
        name: logger name; default ``monai_ext.handlers.USMetricsReportHandler``.

    Image ids come from ``meta["filename_or_obj"]`` of the prediction (else the label), without the image
    extension; ``image_<index>`` when neither exists.
    """

    def __init__(
        self,
        output_dir: str | Path,
        structure_names: Sequence[str],
        output_transform: Callable | None = None,
        spacing: Any = None,
        filename_prefix: str = "",
        print_table: bool = True,
        metrics: Sequence[str] = ("dice", "iou", "hd95"),
        grid: str | None = None,
        include_background: bool = True,
        use_meta_spacing: bool = True,
        metric_prefix: str = "",
        save_rank: int = 0,
        name: str | None = None,
    ) -> None:
        if isinstance(structure_names, str) or not structure_names:
            raise ValueError(f"structure_names must be a non-empty sequence of names, got {structure_names!r}.")
        self.structure_names = [str(s) for s in structure_names]
        if len(set(self.structure_names)) != len(self.structure_names):
            raise ValueError(f"structure_names must be unique, got {self.structure_names}.")
        metrics = tuple(metrics)
        unknown = [m for m in metrics if m not in US_SUPPORTED_METRICS]
        missing = [m for m in ("dice", "iou", "hd95") if m not in metrics]
        if unknown or missing:
            raise ValueError(
                f"metrics must be a subset of {US_SUPPORTED_METRICS} containing dice, iou and hd95; "
                f"unknown {unknown}, missing {missing}."
            )
        check_us_fixed_spacing(spacing, self.__class__.__name__)
        self.output_dir = Path(output_dir)
        self.output_transform = output_transform if output_transform is not None else from_engine(["pred", "label"])
        self.spacing = spacing
        self.filename_prefix = filename_prefix
        self.print_table = print_table
        self.metrics = metrics
        self.grid = grid
        self.include_background = include_background
        self.use_meta_spacing = use_meta_spacing
        self.metric_prefix = metric_prefix
        self.save_rank = save_rank
        self.logger = logging.getLogger(name or "monai_ext.handlers.USMetricsReportHandler")
        self.summary: dict[str, Any] | None = None
        self.reset()

    def attach(self, engine: Engine) -> None:
        """Register the handler's events on ``engine`` (an evaluator)."""
        engine.add_event_handler(Events.EPOCH_STARTED, self.reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.iteration_completed)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self.epoch_completed)

    def reset(self, engine: Engine | None = None) -> None:
        """Clear the buffers (``EPOCH_STARTED``)."""
        self._values: dict[str, list[torch.Tensor]] = {m: [] for m in self.metrics}
        self._categories: list[torch.Tensor] = []
        self._ids: list[str] = []
        self._unit: str | None = None

    # ------------------------------------------------------------------ per iteration
    def _split(self, x: Any, name: str) -> list[Any]:
        if isinstance(x, (list, tuple)):
            return list(x)
        if isinstance(x, torch.Tensor) and x.ndim == 4:
            return [x[i] for i in range(x.shape[0])]
        raise ValueError(
            f"{self.__class__.__name__}: {name} must be a list of (C, H, W) masks or a (B, C, H, W) tensor, "
            f"got {type(x).__name__} with shape {getattr(x, 'shape', None)}."
        )

    def _ids_and_spacing(self, preds: list[Any], labels: list[Any], batch_pred: Any, batch_label: Any) -> tuple:
        n = len(labels)
        ids: list[str | None] = [None] * n
        for source in (batch_label, batch_pred):  # pred ids win: read the label first, then overwrite
            if isinstance(source, MetaTensor) and source.is_batch and "filename_or_obj" in source.meta:
                names = source.meta["filename_or_obj"]
                for i in range(min(n, len(names))):
                    ids[i] = _image_id(names[i]) or ids[i]
        for items in (labels, preds):
            for i, item in enumerate(items):
                if isinstance(item, MetaTensor) and not item.is_batch and "filename_or_obj" in item.meta:
                    ids[i] = _image_id(item.meta["filename_or_obj"]) or ids[i]
        start = len(self._ids)
        ids = [s if s is not None else f"image_{start + i:05d}" for i, s in enumerate(ids)]

        if self.spacing is not None:
            return ids, normalize_us_spacing(self.spacing, n, 2)
        spacings: list[Any] = [None] * n
        if self.use_meta_spacing:
            for batch_src, items in ((batch_label, labels), (batch_pred, preds)):
                found = us_spacing_from_meta(batch_src, n) if isinstance(batch_src, MetaTensor) else None
                if found is None:
                    per_item = [us_spacing_from_meta(it, 1) if isinstance(it, MetaTensor) else None for it in items]
                    if any(p is not None for p in per_item):
                        found = [p[0] if p is not None else None for p in per_item]
                if found is not None:
                    spacings = found
                    break
        return ids, normalize_us_spacing(spacings, n, 2)

    def iteration_completed(self, engine: Engine) -> None:
        """Compute and buffer the per-image values of one iteration (``ITERATION_COMPLETED``)."""
        out = self.output_transform(engine.state.output)
        if not isinstance(out, (list, tuple)) or len(out) != 2:
            raise ValueError(f"{self.__class__.__name__}: output_transform must return (y_pred, y), got {type(out)}.")
        batch_pred, batch_label = out
        preds, labels = self._split(batch_pred, "y_pred"), self._split(batch_label, "y")
        if len(preds) != len(labels):
            raise ValueError(f"{self.__class__.__name__}: {len(preds)} predictions but {len(labels)} labels.")
        if not preds:
            return
        ids, spacings = self._ids_and_spacing(preds, labels, batch_pred, batch_label)
        self._unit = us_same_unit(self._unit, us_spacing_unit(spacings), self.__class__.__name__)
        if not self.include_background:
            preds, labels = [p[1:] for p in preds], [g[1:] for g in labels]
        n_struct = len(self.structure_names)
        for i, g in enumerate(labels):
            if g.ndim != 3 or g.shape[0] != n_struct:
                raise ValueError(
                    f"{self.__class__.__name__}: image {ids[i]} has label shape {tuple(g.shape)}, expected "
                    f"({n_struct}, H, W) for structures {self.structure_names} "
                    f"(include_background={self.include_background})."
                )
        res = compute_us_segmentation_metrics(preds, labels, spacing=spacings, metrics=self.metrics)
        for m in self.metrics:
            self._values[m].append(res[m].detach().cpu())
        self._categories.append(res["category"].detach().cpu())
        self._ids.extend(ids)

    # ------------------------------------------------------------------ epoch end
    def _gathered(self) -> tuple[dict[str, torch.Tensor], torch.Tensor, list[str]]:
        c = len(self.structure_names)
        values = {
            m: torch.cat(v, 0) if v else torch.zeros((0, c), dtype=torch.float32) for m, v in self._values.items()
        }
        cats = torch.cat(self._categories, 0) if self._categories else torch.zeros((0, c), dtype=torch.long)
        ids = list(self._ids)
        if idist.get_world_size() > 1:
            values = {m: evenly_divisible_all_gather(v, concat=True) for m, v in values.items()}
            cats = evenly_divisible_all_gather(cats, concat=True)
            ids = string_list_all_gather(ids)
        return values, cats, ids

    def epoch_completed(self, engine: Engine) -> None:
        """Gather, summarise, write the files on ``save_rank`` and fill ``engine.state.metrics``."""
        ws = idist.get_world_size()
        if self.save_rank >= ws:
            raise ValueError(f"save_rank {self.save_rank} is not below the world size {ws}.")
        if ws > 1:  # every rank must agree on the unit before gathering numbers measured in it
            units = string_list_all_gather([self._unit or ""])
            if len({u for u in units if u}) > 1:
                raise ValueError(f"{self.__class__.__name__}: ranks measured distances in different units {units}.")
            unit = next((u for u in units if u), "px")
        else:
            unit = self._unit or "px"
        values, cats, ids = self._gathered()
        if cats.shape[0] == 0:
            self.logger.warning(f"{self.__class__.__name__}: no images were evaluated, no report written.")
            self.summary = None
            return
        summary = summarize_us_metrics(values, cats, self.structure_names, ids, unit=unit, grid=self.grid)
        self.summary = summary
        self._put_metrics(engine, summary)
        if idist.get_rank() != self.save_rank:
            return
        self.output_dir.mkdir(parents=True, exist_ok=True)
        csv_path = write_us_metrics_csv(
            self.output_dir / f"{self.filename_prefix}metrics_per_image.csv",
            values,
            cats,
            self.structure_names,
            ids,
            unit=unit,
            grid=self.grid,
        )
        summary_path = self.output_dir / f"{self.filename_prefix}metrics_summary.json"
        with atomic_output(summary_path) as tmp, open(tmp, "w") as f:
            json.dump({**summary, "per_image_csv": csv_path.name}, f, indent=2)
        table = format_us_metrics_table(summary)
        self.logger.info(f"\n{table}\nwritten: {summary_path}, {csv_path}")
        if self.print_table:
            print(table)

    def _put_metrics(self, engine: Engine, summary: dict[str, Any]) -> None:
        p = self.metric_prefix
        state_metrics = engine.state.metrics
        for s, entry in summary["structures"].items():
            for m in ("dice", "iou", "hd95"):
                state_metrics[f"{p}{m}_{s}"] = entry[m]["mean"]
            if entry["dice"]["mean_present"] is not None:
                state_metrics[f"{p}dice_present_{s}"] = entry["dice"]["mean_present"]
        for m in ("dice", "iou", "hd95"):
            state_metrics[f"{p}mean_{m}"] = summary["overall"][m]["mean"]
