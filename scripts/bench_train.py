#!/usr/bin/env python
# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Training throughput of a bundle: seconds per iteration, images per second, share of time waiting for data, peak
memory. Runs the bundle's own train config (plus quick.json with --config quick) on its default phantom data,
without validation or checkpoints, for a few timed iterations after a warm-up.

Usage: python scripts/bench_train.py BUNDLE [--config quick|full] [--iterations N] [--warmup N] [--threads N]
       [--override '{"labeled_batch_size": 4}']
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", help="bundle name (bundles/<name>) or folder")
    parser.add_argument("--config", choices=["quick", "full"], default="quick")
    parser.add_argument("--iterations", type=int, default=20, help="timed iterations")
    parser.add_argument("--warmup", type=int, default=3, help="untimed iterations first")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--override", default="{}", help="JSON dict of extra config overrides")
    args = parser.parse_args()

    import torch
    from ignite.engine import Events
    from monai.bundle import ConfigParser

    if args.threads:
        torch.set_num_threads(args.threads)
    bundle = Path(args.bundle) if Path(args.bundle).is_dir() else ROOT / "bundles" / args.bundle
    configs = [str(bundle / "configs" / "train.json")]
    if args.config == "quick":
        configs.append(str(bundle / "configs" / "quick.json"))
    cfg = ConfigParser()
    cfg.read_config(configs)
    total = args.warmup + args.iterations
    overrides = {"bundle_root": str(bundle), "max_iterations": total, "val_interval": 10**9,
                 "checkpoint_interval": 10**9, **json.loads(args.override)}
    for k, v in overrides.items():
        cfg[k] = v
    # timing only: drop validation, checkpoints, logging and parameter handlers
    cfg["train#handlers"] = [h for h in cfg["train#handlers"] if h["_target_"].rsplit(".", 1)[-1] in
                             ("LrScheduleHandler", "ConsistencyRampUpHandler", "EMATeacherHandler")]
    trainer = cfg.get_parsed_content("train#trainer")

    rows: list[dict[str, float]] = []
    clock = time.perf_counter
    trainer.add_event_handler(Events.GET_BATCH_STARTED, lambda e: rows.append({"start": clock(), "data": 0.0}))
    trainer.add_event_handler(Events.GET_BATCH_COMPLETED,
                              lambda e: rows[-1].__setitem__("data", clock() - rows[-1]["start"]))
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: rows[-1].__setitem__("end", clock()))
    next_unlabeled = trainer._next_unlabeled_batch

    def timed_unlabeled():  # the unlabelled batch is drawn inside the iteration: it is data time too
        t = clock()
        batch = next_unlabeled()
        rows[-1]["data"] += clock() - t
        return batch

    trainer._next_unlabeled_batch = timed_unlabeled
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    trainer.run()
    timed = rows[args.warmup:]
    totals = [r["end"] - r["start"] for r in timed]
    total, data = sum(totals), sum(r["data"] for r in timed)
    batch = cfg.get_parsed_content("labeled_batch_size")
    if trainer.unlabeled_data_loader is not None:
        batch += cfg.get_parsed_content("unlabeled_batch_size")
    size = cfg.get_parsed_content("image_size")
    print(f"bundle {bundle.name} ({args.config}): batch {batch} at {size[0]}x{size[1]}, "
          f"{torch.get_num_threads()} threads, {len(timed)} timed iterations")
    print(f"  seconds/iteration   {total / len(timed):.3f} (median {sorted(totals)[len(totals) // 2]:.3f})")
    print(f"  images/second       {batch * len(timed) / total:.1f}")
    print(f"  waiting for data    {100 * data / total:.1f} % of the iteration time")
    print(f"  peak RSS            {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB "
          f"(after building the datasets {rss0 / 2**20:.2f} GiB)")
    if torch.cuda.is_available():
        print(f"  peak CUDA memory       {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
