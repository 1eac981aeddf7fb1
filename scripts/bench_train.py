#!/usr/bin/env python
# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Training throughput of a bundle: seconds per iteration, images per second, share of time waiting for data, peak
memory. Runs the bundle's own train config (plus quick.json with --config quick) on its default phantom data,
without validation or checkpoints, for a few timed iterations after a warm-up.

Two more modes time the network alone on random tensors shaped as the config says (no data loading, no datasets):
``--mode step``: one training step of the bundle's ``method`` (forward of all heads on the labelled + unlabelled batch,
losses, backward, optimiser step; gradients set to None first, as the trainer does); ``--mode infer``: the eval-mode
forward pass of ``network`` on one image (batch 1) under ``torch.inference_mode``, in milliseconds per image.

Usage: python scripts/bench_train.py BUNDLE [--mode train|step|infer] [--config quick|full] [--iterations N]
       [--warmup N] [--threads N] [--override '{"labeled_batch_size": 4}']
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
    parser.add_argument("--mode", choices=["train", "step", "infer"], default="train",
                        help="train: the bundle trainer with data; step / infer: the network alone on random tensors")
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
    if args.mode != "train":
        _bench_network(cfg, args, bundle)
        return
    total = args.warmup + args.iterations
    overrides = {"bundle_root": str(bundle), "max_iterations": total, "val_interval": 10**9,
                 "checkpoint_interval": 10**9, **json.loads(args.override)}
    for k, v in overrides.items():
        cfg[k] = v
    # timing only: drop validation, checkpoints, logging and parameter handlers
    cfg["train#rank0_handlers"] = []
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


def _bench_network(cfg, args: argparse.Namespace, bundle: Path) -> None:
    """Time the training step (``--mode step``) or the eval forward pass (``--mode infer``) on random tensors."""
    import torch

    cfg["bundle_root"] = str(bundle)
    for k, v in json.loads(args.override).items():
        cfg[k] = v
    device = cfg.get_parsed_content("device")
    size = list(cfg.get_parsed_content("image_size"))
    in_channels = cfg.get_parsed_content("in_channels")
    fmt = cfg.get_parsed_content("memory_format") if "memory_format" in cfg else torch.contiguous_format
    network = cfg.get_parsed_content("network")
    n_params = sum(p.numel() for p in network.parameters())
    clock = time.perf_counter
    times: list[float] = []
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if args.mode == "infer":
        network.eval()
        x = torch.rand(1, in_channels, *size, device=device).to(memory_format=fmt)
        with torch.inference_mode():
            for i in range(args.warmup + args.iterations):
                t = clock()
                network(x)
                if i >= args.warmup:
                    times.append(clock() - t)
        label = "eval forward, batch 1"
    else:
        method = cfg.get_parsed_content("method")
        optimizer = cfg.get_parsed_content("optimizer")
        n_l = cfg.get_parsed_content("labeled_batch_size")
        n_u = cfg.get_parsed_content("unlabeled_batch_size") if "unlabeled_batch_size" in cfg else 0
        n_out = cfg.get_parsed_content("network_def#out_channels")
        activation = getattr(method, "activation", "softmax")
        x_l = torch.rand(n_l, in_channels, *size, device=device).to(memory_format=fmt)
        x_u = torch.rand(n_u, in_channels, *size, device=device).to(memory_format=fmt) if n_u else None
        if activation == "sigmoid":  # one {0,1} channel per structure
            y_l = (torch.rand(n_l, n_out, *size, device=device) > 0.7).float().to(memory_format=fmt)
        else:  # label index map 0..C-1, as the softmax bundles' loss expects
            y_l = torch.randint(0, n_out, (n_l, 1, *size), device=device)
        network.train()
        for i in range(args.warmup + args.iterations):
            t = clock()
            optimizer.zero_grad(set_to_none=True)
            _, losses = method(network, x_l, y_l, x_u, 1.0)
            losses["loss"].backward()
            optimizer.step()
            if i >= args.warmup:
                times.append(clock() - t)
        label = f"training step, batch {n_l} + {n_u}"
    median = sorted(times)[len(times) // 2]
    print(f"bundle {bundle.name} ({args.config}, --mode {args.mode}): {label} at {size[0]}x{size[1]}, "
          f"{n_params / 1e6:.2f} M parameters, {torch.get_num_threads()} threads, {len(times)} timed runs, "
          f"memory format {str(fmt).rsplit('.', 1)[-1]}")
    if args.mode == "infer":
        print(f"  ms/image            {1000 * sum(times) / len(times):.0f} (median {1000 * median:.0f})")
    else:
        print(f"  seconds/step        {sum(times) / len(times):.3f} (median {median:.3f})")
    print(f"  peak RSS            {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB "
          f"(after building the network {rss0 / 2**20:.2f} GiB)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
