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

"""The written results of the comparison study (``docs/study.md``): ``README.md`` with one section per task (what
the tables must state, the tables, the figures) and ``study.json`` (the aggregate), in the results folder
(``docs/results/`` by default).

Tables per task: (1) all test images: mean +- std over seeds of each structure's Dice, IoU and HD95; (2) images with
the structure present (``|G| > 0``) and the empty-mask case counts; (3) against the labelled-only baseline: gain in
mean Dice, paired per-image Wilcoxon p-value and rank-biserial effect size, the uncertainty-Dice correlation,
training time and peak memory. Then the splits (file hashes, counts) and the methods (network, parameters,
iterations).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from monai_ext.study.cells import VARIANTS, StudyCell, default_bundles_dir, preset_configs
from monai_ext.study.plots import plot_dice_vs_labeled, plot_overlays, plot_per_image, plot_uncertainty
from monai_ext.study.tables import METRICS, CellRecord, aggregate_study

__all__ = ["bundle_facts", "format_task_tables", "shown_override", "write_study_report"]

_LABELS = {"dice": "Dice", "iou": "IoU", "hd95": "HD95"}


def _pm(stats: Mapping[str, Any] | None, digits: int = 3) -> str:
    if not stats or stats.get("mean") is None:
        return "n/a"
    std = stats.get("std")
    return f"{stats['mean']:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "")


@lru_cache(maxsize=64)
def _facts(bundle_dir: str, preset: str, override_json: str, variant: str, task: str) -> tuple[str, int, int, str]:
    from monai.bundle import ConfigParser

    bdir = Path(bundle_dir)
    parser = ConfigParser()
    parser.read_config([str(bdir / "configs" / c) for c in preset_configs(bdir, preset)])
    for k, v in {**json.loads(override_json), **VARIANTS.get(variant, {}), "task": task}.items():
        if k.split("#")[0] in parser.config or "#" not in k:
            parser[k] = v
    target = str(parser["network_def"]["_target_"])
    net = parser.get_parsed_content("network_def", instantiate=True)
    transforms = parser["train"]["random_transforms"]
    augmentation = ", ".join(str(t.get("_target_", "?")).rsplit(".", 1)[-1] for t in transforms)
    return (target, int(sum(p.numel() for p in net.parameters())), int(parser.get_parsed_content("max_iterations")),
            augmentation)


def bundle_facts(cell: StudyCell, override: Mapping[str, Any], bundles_dir: str | Path | None = None) -> dict:
    """Network (``network_def`` target), parameter count (training graph), iteration budget and random
    augmentations (``train#random_transforms``) of a cell's config."""
    bdir = (Path(bundles_dir) if bundles_dir is not None else default_bundles_dir()) / cell.bundle
    keep = {k: v for k, v in override.items() if k not in ("dataset_dir", "bundle_root", "output_dir", "ckpt_dir")}
    try:
        target, params, iterations, augmentation = _facts(str(bdir), cell.preset, json.dumps(keep, sort_keys=True),
                                                          cell.variant, cell.task)
    except Exception as e:  # a fact we cannot read must not lose the results
        return {"network": f"unavailable ({type(e).__name__})", "parameters": None, "max_iterations": None,
                "augmentation": "n/a"}
    return {"network": target.rsplit(".", 1)[-1], "parameters": params, "max_iterations": iterations,
            "augmentation": augmentation}


def shown_override(result: Mapping[str, Any]) -> dict[str, Any]:
    """A cell's config override without the dataset folder (stated once per task)."""
    return {k: v for k, v in result.get("override", {}).items() if k != "dataset_dir"}


def format_task_tables(task: str, entry: Mapping[str, Any]) -> list[str]:
    """The three Markdown tables of one task (see the module docstring)."""
    structures, unit = entry["structures"], entry["unit_label"]
    lines: list[str] = []
    head = "| method | labelled | seeds | " + " | ".join(
        f"{s} {_LABELS[m]}" + (f" ({unit})" if m == "hd95" else "") for s in structures for m in METRICS) + " |"
    sep = "|" + " --- |" * (3 + len(structures) * len(METRICS))
    lines += ["**Test split, all images** (mean ± std over seeds; empty-mask policy of `docs/study.md`)", "",
              head, sep]
    for labeled, methods in entry["fractions"].items():
        for m, e in methods.items():
            cells = [_pm(e["structures"][s][k], 1 if k == "hd95" else 3) for s in structures for k in METRICS]
            lines.append(f"| {m} | {float(labeled):g} | {len(e['seeds'])} | " + " | ".join(cells) + " |")
    lines += ["", "**Structure present (|G| > 0)** and case counts over all seeds (both empty / missed / false "
              "positive / both non-empty)", ""]
    head = "| method | labelled | " + " | ".join(
        f"{s} {_LABELS[m]} \\|G\\|>0" for s in structures for m in METRICS) + " | " + " | ".join(
        f"{s} cases" for s in structures) + " |"
    lines += [head, "|" + " --- |" * (2 + len(structures) * (len(METRICS) + 1))]
    for labeled, methods in entry["fractions"].items():
        for m, e in methods.items():
            cells = [_pm(e["structures"][s][f"{k}_present"], 1 if k == "hd95" else 3) for s in structures
                     for k in METRICS]
            counts = ["/".join(str(e["cases"][s].get(c, 0)) for c in
                               ("both_empty", "missed", "false_positive", "both_nonempty")) for s in structures]
            lines.append(f"| {m} | {float(labeled):g} | " + " | ".join(cells + counts) + " |")
    base = entry.get("baseline")
    lines += ["", f"**Against the labelled-only baseline ({base})**: gain in mean Dice (mean ± std of the per-seed "
              "gains), paired per-image Wilcoxon signed-rank test (pairs pooled over seeds), matched-pairs "
              "rank-biserial r; Spearman ρ of the per-image uncertainty score with Dice; training cost per cell", "",
              "| method | labelled | mean Dice | gain | Wilcoxon p (pairs) | rank-biserial r | uncertainty ρ (n) | "
              "train wall (min) | train CPU (min) | peak RSS (MB) |", "|" + " --- |" * 10]
    for labeled, methods in entry["fractions"].items():
        for m, e in methods.items():
            gain, w, u = e.get("gain"), e.get("wilcoxon"), e.get("uncertainty")
            rho = "—" if not u else (f"{u['spearman_rho']:+.2f} ({u['n']})" if u["spearman_rho"] is not None
                                     else f"n/a ({u['n']})")
            train = e["train"]
            row = [m, f"{float(labeled):g}", _pm(e["mean_dice"]),
                   "—",
                   "—" if not w else f"{w['p_value']:.3g} ({w['n']})",
                   "—" if not w else f"{w['rank_biserial']:+.2f}", rho,
                   _pm(train["wall_min"], 1), _pm(train["cpu_min"], 1),
                   "n/a" if train["peak_rss_mb"] is None else f"{train['peak_rss_mb']:.0f}"]
            if gain and gain["mean"] is not None:
                row[3] = f"{gain['mean']:+.3f}" + (f" ± {gain['std']:.3f}" if gain["std"] is not None else "")
            lines.append("| " + " | ".join(row) + " |")
    return lines


def _split_rows(records: Sequence[CellRecord]) -> list[str]:
    from monai_ext.data import load_split, split_file_sha256

    rows, seen = [], set()
    for r in sorted(records, key=lambda r: (r.cell.labeled, r.cell.seed)):
        if not r.split_path or (r.cell.labeled, r.cell.seed) in seen or not Path(r.split_path).is_file():
            continue
        seen.add((r.cell.labeled, r.cell.seed))
        split = load_split(r.split_path)
        c = split.get("counts", {})
        tr = c.get("training", {})
        rows.append(f"| {r.cell.labeled:g} | {r.cell.seed} | `{Path(r.split_path).name}` | "
                    f"`{split_file_sha256(r.split_path)[:12]}` | {tr.get('labeled_images', '?')} | "
                    f"{tr.get('unlabeled_images', '?')} | {c.get('validation', {}).get('images', '?')} | "
                    f"{c.get('test', {}).get('images', '?')} |")
    if not rows:
        return []
    return ["| labelled | seed | split file | SHA-256 | labelled images | unlabelled images | validation | test |",
            "|" + " --- |" * 8] + rows


def write_study_report(records: Sequence[CellRecord], results_dir: str | Path, context: Mapping[str, Any],
                       baseline: str | None = "supervised", overrides: Mapping[str, Mapping[str, Any]] | None = None,
                       bundles_dir: str | Path | None = None, labels: Mapping[str, Mapping[str, Any]] | None = None,
                       failed: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Write ``README.md``, ``study.json`` and the PNG figures into ``results_dir``; returns the aggregate with the
    list of written files under ``"files"``.

    Args:
        records: the finished cells.
        results_dir: output folder (created).
        context: ``command``, ``started``, ``duration_s``, ``cpu``, ``preset``, ``dataset`` (per task) for the header.
        baseline: the labelled-only method.
        overrides: the config override of each method (for the methods table).
        bundles_dir: where the bundles are (methods table).
        labels: per task, the split's label table (structure -> mask values), for the overlays.
        failed: cell name -> error of the cells that failed (listed, never silently left out).
    """
    out = Path(results_dir)
    out.mkdir(parents=True, exist_ok=True)
    agg = aggregate_study(records, baseline)
    files: list[Path] = []
    if context.get("finished_only"):  # a report of cells run earlier: its own duration says nothing
        when = (f"Report of the cells finished under the study folder (`--finished-only`: nothing was run; each "
                f"cell's training time is in the tables), made {context.get('started', '?')}")
    else:
        when = f"Started {context.get('started', '?')}, took {context.get('duration_s', 0) / 60:.1f} min"
    lines = ["# Comparison study", "", f"Command: `{context.get('command', '')}`", "",
             f"{when} on {context.get('cpu', '?')}; preset `{context.get('preset', '?')}`; selection: the checkpoint "
             "with the best validation `val_mean_dice` (validation split), scored once on the test split. Protocol "
             "and definitions: `docs/study.md`; uncertainty: `docs/uncertainty.md`.", ""]
    for task, entry in agg.items():
        task_records = [r for r in records if r.cell.task == task]
        lines += [f"## {task}", "", f"Dataset: {context.get('dataset', {}).get(task, '?')}. Structures: "
                  f"{', '.join(entry['structures'])}; evaluation grid `{entry.get('grid') or 'native'}`, distances in "
                  f"{entry['unit_label']}; policy: {entry.get('policy')}.", ""]
        lines += format_task_tables(task, entry) + [""]
        lines += _split_rows(task_records) + [""]
        facts_rows = []
        for m in {r.cell.method: r for r in task_records}.values():
            f = bundle_facts(m.cell, (overrides or {}).get(m.cell.method, {}), bundles_dir) if not m.cell.external \
                else {"network": "nnU-Net (external)", "parameters": None, "max_iterations": None,
                      "augmentation": "nnU-Net's own"}
            params = "n/a" if f["parameters"] is None else f"{f['parameters'] / 1e6:.2f} M"
            facts_rows.append(f"| {m.cell.method} | `{m.cell.bundle}` | {f['network']} | {params} | "
                              f"{f['max_iterations'] or 'n/a'} | {f['augmentation']} | "
                              f"`{json.dumps(shown_override(m.result))}` |")
        lines += ["| method | bundle | network | parameters | iterations | random augmentation | override |",
                  "|" + " --- |" * 7]
        lines += facts_rows + [""]
        png = plot_dice_vs_labeled(entry, task, out / f"{task}_dice_vs_labeled.png")
        files.append(png)
        lines += [f"![Dice against labelled fraction, {task}]({png.name})", ""]
        for labeled in entry["fractions"]:
            cells = [r for r in task_records if r.cell.labeled == labeled]
            tag = f"{task}_l{float(labeled):g}"
            if baseline is not None:
                p = plot_per_image(cells, baseline, out / f"{tag}_per_image.png")
                if p is not None:
                    files.append(p)
                    lines += [f"![per-image Dice against {baseline}, {tag}]({p.name})", ""]
            seed = min(r.cell.seed for r in cells)
            split_path = next((r.split_path for r in cells if r.cell.seed == seed and r.split_path), None)
            if split_path and labels and task in labels:
                from monai_ext.data import load_split

                split = load_split(split_path)
                shown = [r for r in cells if r.cell.seed == seed]
                for name, fn in (("overlays", plot_overlays), ("uncertainty", plot_uncertainty)):
                    p = fn(shown if name == "overlays" else cells, split, labels[task], out / f"{tag}_{name}.png")
                    if p is not None:
                        files.append(p)
                        lines += [f"![{name}, {tag}, seed {seed}]({p.name})", ""]
    if failed:
        lines += ["## Cells without results (failed, or not run yet)", "", "| cell | error |", "| --- | --- |"]
        lines += [f"| {n} | {e.splitlines()[0][:200] if e else ''} |" for n, e in sorted(failed.items())] + [""]
    readme = out / "README.md"
    readme.write_text("\n".join(lines))
    study_json = out / "study.json"
    study_json.write_text(json.dumps({"context": dict(context), "tasks": agg, "failed": dict(failed or {})},
                                     indent=2, default=str))
    agg["files"] = [str(p) for p in [readme, study_json, *files]]
    return agg
