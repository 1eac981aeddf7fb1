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

"""Figures of the comparison study (``docs/study.md``), written as PNG with matplotlib's Agg backend.

- :func:`plot_dice_vs_labeled`: mean test Dice against the labelled fraction, one line per method, error bars =
  std over seeds;
- :func:`plot_per_image`: per-image Dice of each method against the baseline on the same test images (pooled over
  seeds), one panel per method, the diagonal = no change;
- :func:`plot_overlays`: a few fixed test images: the image, its ground truth and each method's mask (from the
  cells' own inference outputs), structures in colour;
- :func:`plot_uncertainty`: for the multi-decoder methods, the uncertainty maps of the same images and the per-image
  uncertainty score against Dice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from monai_ext.study.tables import CellRecord, per_image_mean_dice

__all__ = ["plot_dice_vs_labeled", "plot_overlays", "plot_per_image", "plot_uncertainty", "select_example_images"]

_COLOURS = np.array([[230, 25, 75], [60, 180, 75], [0, 130, 200], [245, 130, 48], [145, 30, 180]], dtype=np.float32)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def plot_dice_vs_labeled(task_entry: Mapping[str, Any], task: str, path: str | Path) -> Path:
    """Mean Dice (over structures) against the labelled fraction, mean +- std over seeds per method."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    fractions = sorted(task_entry["fractions"], key=float)
    methods: list[str] = []
    for f in fractions:
        methods += [m for m in task_entry["fractions"][f] if m not in methods]
    for m in methods:
        xs, ys, es = [], [], []
        for f in fractions:
            entry = task_entry["fractions"][f].get(m)
            if entry is None or entry["mean_dice"]["mean"] is None:
                continue
            xs.append(float(f))
            ys.append(entry["mean_dice"]["mean"])
            es.append(entry["mean_dice"]["std"] or 0.0)
        ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=m)
    ax.set_xscale("log", base=2)
    ax.set_xticks([float(f) for f in fractions], [f"{float(f):g}" for f in fractions])
    ax.set_xlabel("labelled fraction of the training pool")
    ax.set_ylabel("test Dice (mean over structures)")
    ax.set_title(f"{task}: Dice vs labelled fraction (mean ± std over seeds)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, Path(path))


def plot_per_image(records: Sequence[CellRecord], baseline: str, path: str | Path) -> Path | None:
    """Per-image Dice of each method (y) against the baseline (x), the same test images of the same seed."""
    base = {r.cell.seed: per_image_mean_dice(r) for r in records if r.cell.method == baseline}
    methods = []
    for r in records:
        if r.cell.method != baseline and r.cell.method not in methods:
            methods.append(r.cell.method)
    if not base or not methods:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(methods), figsize=(3.2 * len(methods), 3.3), squeeze=False)
    for ax, m in zip(axes[0], methods):
        xs, ys = [], []
        for r in records:
            if r.cell.method == m and r.cell.seed in base:
                mine = per_image_mean_dice(r)
                common = sorted(set(mine) & set(base[r.cell.seed]))
                xs += [base[r.cell.seed][i] for i in common]
                ys += [mine[i] for i in common]
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8)
        ax.scatter(xs, ys, s=8, alpha=0.6)
        better = int(np.sum(np.asarray(ys) > np.asarray(xs)))
        ax.set_title(f"{m}\nbetter on {better} / {len(xs)}", fontsize=9)
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(f"{baseline} Dice")
        ax.set_ylabel(f"{m} Dice")
        ax.set_aspect("equal")
    fig.suptitle("per-image test Dice against the labelled-only baseline", fontsize=10, y=1.08)
    return _save(fig, Path(path))


def _read_gray(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("L"), dtype=np.float32) / 255.0


def _label_index(mask_path: Path, labels: Mapping[str, Sequence[int]]) -> np.ndarray:
    """A mask file (gray values of the dataset's label table) as a label index map (0 background)."""
    from PIL import Image

    with Image.open(mask_path) as im:
        arr = np.asarray(im)
    if arr.ndim == 3:
        arr = arr.max(axis=-1)
    out = np.zeros(arr.shape, dtype=np.int64)
    for i, values in enumerate(labels.values(), start=1):
        out[np.isin(arr, list(values))] = i
    return out


def _overlay(image: np.ndarray, index: np.ndarray) -> np.ndarray:
    rgb = np.repeat(image[..., None], 3, axis=-1)
    for i in range(1, int(index.max()) + 1):
        m = index == i
        rgb[m] = 0.45 * rgb[m] + 0.55 * _COLOURS[(i - 1) % len(_COLOURS)] / 255.0
    return rgb


def select_example_images(split: Mapping[str, Any], labels: Mapping[str, Sequence[int]], n: int = 4) -> list[dict]:
    """``n`` fixed test items of a split: the first ones (sorted by image path) with every structure present, then
    the first with an empty ground truth (when the split has one) in place of the last."""
    root = Path(split["dataset_dir"])
    items = sorted(split["test"], key=lambda it: it["image"])
    full, empty = [], []
    for it in items:
        index = _label_index(root / it["label"], labels)
        if len(full) < n and all((index == i).any() for i in range(1, len(labels) + 1)):
            full.append(it)
        elif not empty and not index.any():
            empty.append(it)
        if len(full) >= n and empty:
            break
    chosen = full[: n - 1] + empty if empty and n > 1 else full[:n]
    return chosen or items[:n]


def plot_overlays(records: Sequence[CellRecord], split: Mapping[str, Any], labels: Mapping[str, Sequence[int]],
                  path: str | Path, n: int = 4) -> Path | None:
    """Rows: fixed test images of one seed; columns: image, ground truth, each method's predicted mask."""
    from monai_ext.data import output_stem

    items = select_example_images(split, labels, n)
    methods = [r for r in records if (r.run_dir / "infer").is_dir()]
    if not items or not methods:
        return None
    plt = _pyplot()
    root = Path(split["dataset_dir"])
    cols = 2 + len(methods)
    fig, axes = plt.subplots(len(items), cols, figsize=(2.1 * cols, 2.1 * len(items)), squeeze=False)
    for row, it in enumerate(items):
        image = _read_gray(root / it["image"])
        stem = output_stem(it["image"])
        panels = [("image", image), ("ground truth", _overlay(image, _label_index(root / it["label"], labels)))]
        for r in methods:
            mask = r.run_dir / "infer" / f"{stem}_mask.png"
            dice = r.per_image.get(stem)
            title = r.cell.method + (f" ({np.mean([v['dice'] for v in dice.values()]):.2f})" if dice else "")
            panels.append((title, _overlay(image, _label_index(mask, labels)) if mask.is_file() else None))
        for col, (title, img) in enumerate(panels):
            ax = axes[row][col]
            if img is not None:
                ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
            ax.set_title(title if row == 0 or col >= 2 else "", fontsize=8)
            if col == 0:
                ax.set_ylabel(stem, fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle("test images: ground truth and each method's mask (Dice of the image)", fontsize=9)
    return _save(fig, Path(path))


def plot_uncertainty(records: Sequence[CellRecord], split: Mapping[str, Any], labels: Mapping[str, Sequence[int]],
                     path: str | Path, n: int = 4) -> Path | None:
    """Uncertainty maps of the multi-decoder methods on the example images (one seed), and, in the last row, the
    per-image uncertainty score against Dice pooled over the given cells."""
    from monai_ext.data import output_stem

    with_maps = [r for r in records if r.uncertainty]
    if not with_maps:
        return None
    methods: list[str] = []
    for r in with_maps:
        if r.cell.method not in methods:
            methods.append(r.cell.method)
    seed = min(r.cell.seed for r in with_maps)
    shown = {r.cell.method: r for r in with_maps if r.cell.seed == seed}
    items = select_example_images(split, labels, n)
    plt = _pyplot()
    root = Path(split["dataset_dir"])
    fig, axes = plt.subplots(len(items) + 1, len(methods), figsize=(2.4 * len(methods), 2.3 * (len(items) + 1)),
                             squeeze=False)
    for col, m in enumerate(methods):
        r = shown.get(m)
        for row, it in enumerate(items):
            ax = axes[row][col]
            stem = output_stem(it["image"])
            upath = r.run_dir / "infer" / f"{stem}_uncertainty.png" if r is not None else None
            if upath is not None and upath.is_file():
                ax.imshow(_read_gray(root / it["image"]), cmap="gray", vmin=0, vmax=1)
                u = _read_gray(upath)
                ax.imshow(u, cmap="magma", alpha=0.65, vmin=0, vmax=max(float(u.max()), 1e-3))
            ax.set_title(f"{m} U (seed {seed})" if row == 0 else "", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
        ax = axes[len(items)][col]
        us, ds = [], []
        for rec in with_maps:
            if rec.cell.method == m:
                dice = per_image_mean_dice(rec)
                common = sorted(set(dice) & set(rec.uncertainty))
                us += [rec.uncertainty[i] for i in common]
                ds += [dice[i] for i in common]
        ax.scatter(us, ds, s=8, alpha=0.6)
        ax.locator_params(axis="x", nbins=3)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("mean U of the image", fontsize=8)
        ax.set_ylabel("Dice", fontsize=8)
    fig.suptitle("decoder disagreement (docs/uncertainty.md): maps and per-image score vs Dice", fontsize=9)
    return _save(fig, Path(path))
