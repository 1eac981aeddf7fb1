#!/usr/bin/env python
# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""The phantom comparison: train each bundle per seed with one preset, select the checkpoint on the validation split,
score it once on the test split, and report per-structure test Dice / IoU / HD95 with the gain over the first bundle
(the labelled-only lower bound).

Each run goes through ``python -m monai.bundle run`` in its own process (``train.json`` + ``configs/<preset>.json``,
then the same + ``evaluate.json``), one thread each, ``--jobs`` runs side by side. The seed sets the split, the
labelled subset and the training seed. A run writes ``result.json`` as soon as it ends; a run whose ``result.json``
exists is skipped, and an interrupted run resumes from its last resumable checkpoint (``--resume true``), so the whole
set can be restarted with the same command. ``summary.json`` and ``summary.md`` are rewritten from every
``result.json`` found under ``--out`` after each run.

A run name is ``BUNDLE[:VARIANT]``; the variants are:

- ``notaps`` (MGCC): ``multi_level_taps false``, the ablation;
- ``synthetic`` (MGCC): first the three latent-diffusion stages (``train_autoencoder.json``, ``train_diffusion.json``,
  ``generate.json`` + ``configs/<preset>_ldm.json``) on that seed's training split only, then MGCC with real plus
  synthetic unlabelled images;
- ``unet_msag`` (MSMO): the U-Net + MSAG decoder;
- ``upper`` (any bundle): every training image labelled (``split#labeled 1.0``), the upper bound.

The work is done by :mod:`monai_ext.study` (the cells of ``python -m monai_ext study``, ``docs/study.md``); this
script keeps its command line, its run folder names and its ``result.json`` fields, so the runs of either are
finished runs for the other. It trains and evaluates only; the study adds the test-split inference (overlays,
uncertainty maps) to such runs when it reads them.

Usage:
    python scripts/bench_ssl_phantom.py --task breast --preset research --jobs 2 \
        --runs supervised_us_segmentation cct_us_segmentation mgcc_us_segmentation mgcc_us_segmentation:synthetic
    python scripts/bench_ssl_phantom.py --summarize --out runs/research
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from monai_ext.study.cells import LDM_STAGES, VARIANTS, StudyCell, cpu_model, resolve_method, run_cell, run_name
from monai_ext.study.run_summary import structure_means, summarize, summary_markdown
from monai_ext.study.runner import prepare_study_data

ROOT = Path(__file__).resolve().parents[1]
BUNDLES = ROOT / "bundles"
_lock = threading.Lock()
__all__ = ["LDM_STAGES", "VARIANTS", "cpu_model", "run_name", "run_one", "summarize", "summary_markdown"]


def _cell(bundle: str, variant: str, seed: int, labeled: float, task: str, preset: str) -> StudyCell:
    method, bundle, variant = resolve_method(bundle + (f":{variant}" if variant else ""), BUNDLES)
    return StudyCell(method, bundle, variant, task, labeled, seed, preset)


def run_one(bundle: str, variant: str, seed: int, labeled: float, task: str, preset: str, out: Path,
            override: dict[str, Any]) -> dict[str, Any] | None:
    """Train, evaluate and record one run; its result when it exists already, None while another runner has it."""
    outcome = run_cell(_cell(bundle, variant, seed, labeled, task, preset), out, override, bundles_dir=BUNDLES,
                       inference=False)
    return None if outcome is None else outcome["result"]


def prepare_data(out: Path, dataset_dir: str, task: str, preset: str, specs: list[tuple[str, str, int]],
                 labeled: float, override: dict[str, Any] | None = None) -> str:
    """One dataset folder and one split file per seed for every run, made before the runs start."""
    cells = [_cell(b, v, s, labeled, task, preset) for b, v, s in specs]
    roots, _ = prepare_study_data(cells, out, dataset_dir, override or {}, bundles_dir=BUNDLES)
    return roots[task]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", default=["supervised_us_segmentation", "meanteacher_us_segmentation",
                                                        "cct_us_segmentation"], help="BUNDLE[:VARIANT] ...")
    parser.add_argument("--bundles", nargs="+", help="alias of --runs")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--labeled", type=float, default=0.125)
    parser.add_argument("--task", default="breast")
    parser.add_argument("--preset", default="research", help="configs/<preset>.json overlay (research, quick)")
    parser.add_argument("--jobs", type=int, default=1, help="runs side by side (one thread each)")
    parser.add_argument("--out", default=str(ROOT / "runs" / "research"))
    parser.add_argument("--override", default="{}", help="JSON dict of config overrides for every run")
    parser.add_argument("--dataset_dir", default="", help="dataset folder for every run (default: the preset's "
                        "phantom, generated once under OUT/data)")
    parser.add_argument("--summarize", action="store_true", help="only rewrite summary.json / summary.md")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.summarize:
        print(summary_markdown(summarize(out)))
        return
    specs = []
    for seed in args.seeds:
        for spec in args.bundles or args.runs:
            bundle, _, variant = spec.partition(":")
            specs.append((bundle, variant, seed))
    override = json.loads(args.override)
    override["dataset_dir"] = prepare_data(out, args.dataset_dir, args.task, args.preset, specs, args.labeled,
                                           override)

    def job(spec: tuple[str, str, int]) -> None:
        bundle, variant, seed = spec
        name = run_name(bundle, variant, args.task, args.labeled, seed)
        t0 = time.time()
        try:
            r = run_one(bundle, variant, seed, args.labeled, args.task, args.preset, out, dict(override))
        except Exception as e:  # one failed run must not stop the others
            print(f"{name}: FAILED: {e}", flush=True)
            return
        if r is None:
            print(f"{name}: running in another runner, skipped", flush=True)
            return
        with _lock:
            means = structure_means(r["test"])
            dice = ", ".join(f"{s} {v['dice']:.4f}" for s, v in means.items())
            print(f"{name}: test Dice {dice}; best val {r['best_val_dice']} ({time.time() - t0:.0f} s)", flush=True)
            summarize(out)

    with ThreadPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
        list(pool.map(job, specs))
    print(summary_markdown(summarize(out)))


if __name__ == "__main__":
    main()
