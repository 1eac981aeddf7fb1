#!/usr/bin/env python
# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Compare bundles on the phantom at a labelled fraction: each bundle's quick config is trained once per seed (the
seed sets the split, the labelled subset and the training seed), and the best validation Dice of each run is
printed, with the mean and standard deviation over seeds and the gain over the first bundle (the baseline).

Usage: python scripts/bench_ssl_phantom.py [--bundles supervised_us_segmentation meanteacher_us_segmentation ...]
       [--seeds 0 1 2] [--labeled 0.125] [--task breast] [--out DIR] [--override '{"max_iterations": 400}']
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEST = re.compile(r"Key metric: val_mean_dice best value: ([0-9.eE+-]+) at epoch: (\d+)")


def run_one(bundle: str, seed: int, labeled: float, task: str, out: Path, override: dict) -> dict:
    """Train one bundle for one seed in its own process; returns its best validation Dice and timing."""
    bdir = ROOT / "bundles" / bundle
    run_dir = out / f"{bundle}_{task}_l{labeled}_s{seed}"
    run_dir.mkdir(parents=True, exist_ok=True)
    args = {"bundle_root": str(bdir), "task": task, "split#seed": seed, "split#labeled": labeled, "seed": seed,
            "ckpt_dir": str(run_dir / "models"), "output_dir": str(run_dir / "eval"), **override}
    cmd = [sys.executable, "-m", "monai.bundle", "run", "--config_file",
           json.dumps([str(bdir / "configs" / "train.json"), str(bdir / "configs" / "quick.json")])]
    for k, v in args.items():
        cmd += [f"--{k}", v if isinstance(v, str) else json.dumps(v)]
    t0 = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(bdir))
    (run_dir / "log.txt").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"{bundle} seed {seed} failed, see {run_dir / 'log.txt'}")
    found = BEST.findall(proc.stdout + proc.stderr)
    best = float(found[-1][0]) if found else float("nan")
    return {"bundle": bundle, "seed": seed, "best_val_dice": best, "seconds": time.time() - t0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundles", nargs="+", default=["supervised_us_segmentation", "meanteacher_us_segmentation",
                                                           "cct_us_segmentation"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--labeled", type=float, default=0.125)
    parser.add_argument("--task", default="breast")
    parser.add_argument("--out", default=str(ROOT / "runs" / "bench_ssl_phantom"))
    parser.add_argument("--override", default="{}", help="JSON dict of config overrides for every run")
    args = parser.parse_args()
    out = Path(args.out)
    results = []
    for seed in args.seeds:
        for bundle in args.bundles:
            r = run_one(bundle, seed, args.labeled, args.task, out, json.loads(args.override))
            results.append(r)
            print(f"{bundle:32s} seed {seed}: best val Dice {r['best_val_dice']:.4f} ({r['seconds']:.0f} s)",
                  flush=True)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    print(f"\nphantom {args.task}, labelled fraction {args.labeled}, seeds {args.seeds} (validation split, best Dice)")
    base = {r["seed"]: r["best_val_dice"] for r in results if r["bundle"] == args.bundles[0]}
    for bundle in args.bundles:
        vals = [r["best_val_dice"] for r in results if r["bundle"] == bundle]
        gains = [r["best_val_dice"] - base[r["seed"]] for r in results if r["bundle"] == bundle]
        sd = statistics.pstdev(vals) if len(vals) > 1 else 0.0
        print(f"{bundle:32s} {statistics.mean(vals):.4f} ± {sd:.4f}   gain over {args.bundles[0]}: "
              f"{statistics.mean(gains):+.4f}   per seed: {', '.join(f'{v:.4f}' for v in vals)}")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    main()
