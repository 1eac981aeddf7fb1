#!/usr/bin/env python
# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""SABR-Net bundle speed: seconds per iteration and peak memory of every training stage, and inference milliseconds
per 256x256 image of model C with and without the boundary refinement.

Each stage (warmup.json, pretrain.json, finetune.json, train.json of ``bundles/sabr_us_segmentation``, in that order,
handing their files on as in a real run) is built from its bundle config with the chosen preset overlay and run in its
own process for ``--skip + --iterations`` iterations on a small phantom (no validation, no checkpoints); the mean time
of the last ``--iterations`` is reported, with the process's peak resident memory (CPU; ``VmHWM`` after the imports)
or the peak allocated CUDA memory. ``--preset full`` uses the shipped widths (the released code's), ``quick`` /
``research`` their overlays; ``--size`` overrides the image size of every stage. Inference: model C at the preset's
widths in evaluation mode, batch 1, ``torch.no_grad``, ``refine=True`` vs ``refine=False`` (coarse logits, no heads).

Usage:
    python scripts/bench_sabr.py --preset full --size 256 --iterations 3 --threads 1
    python scripts/bench_sabr.py --preset research --stages pretrain --iterations 20
    python scripts/bench_sabr.py --inference-only --preset full
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "bundles" / "sabr_us_segmentation"
STAGES = ("warmup", "pretrain", "finetune", "train")
ITERATION_ID = {"warmup": "warmup_iterations", "pretrain": "pretrain_iterations", "finetune": "finetune_iterations",
                "train": "max_iterations"}


def cpu_model() -> str:
    """The CPU model name (from /proc/cpuinfo)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _overrides(args: argparse.Namespace, stage: str, work: Path) -> dict[str, Any]:
    n = args.skip + args.iterations
    size = args.size
    out: dict[str, Any] = {
        "bundle_root": str(BUNDLE), "ckpt_dir": str(work / "models"), "output_dir": f"$'{work / 'eval'}'",
        "dataset_dir": str(work / "data"), "task": args.task, "num_workers": 0, "split#labeled": 0.5,
        ITERATION_ID[stage]: n, "checkpoint_interval": 10 ** 9, "pretrain_val_interval": 10 ** 9,
        "finetune_val_interval": 10 ** 9, "val_interval": 10 ** 9,
    }
    if size:
        out["image_size"] = [size, size]
    if args.batch:
        out["labeled_batch_size"] = out["unlabeled_batch_size"] = args.batch
    if args.device == "cpu":
        out["device"] = "$torch.device('cpu')"
        out["amp"] = False
    return out


def worker(args: argparse.Namespace) -> None:
    """Run one stage (in this process) and print its figures as JSON."""
    import torch
    from ignite.engine import Events
    from monai.bundle import ConfigParser
    from monai.engines.utils import IterationEvents

    from monai_ext.utils import process_status_mb, reset_peak_rss

    torch.set_num_threads(args.threads)
    stage, work = args.worker, Path(args.work)
    configs = [str(BUNDLE / "configs" / f"{stage}.json")]
    if args.preset != "full":
        configs.append(str(BUNDLE / "configs" / f"{args.preset}.json"))
    parser = ConfigParser()
    parser.read_config(configs)
    parser.update(_overrides(args, stage, work))
    trainer = parser.get_parsed_content("train#trainer")
    starts: list[tuple[float, float]] = []
    steps: list[tuple[float, float]] = []

    def _start(engine) -> None:
        starts.append((time.perf_counter(), time.process_time()))

    def _end(engine) -> None:
        steps.append((time.perf_counter() - starts[-1][0], time.process_time() - starts[-1][1]))

    # from fetching the batch to the end of the optimiser steps: validation and checkpoints are not counted
    trainer.add_event_handler(Events.GET_BATCH_STARTED, _start)
    trainer.add_event_handler(IterationEvents.MODEL_COMPLETED, _end)
    cuda = args.device == "cuda" and torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    base = process_status_mb("VmRSS")
    reset = reset_peak_rss()  # the imports peak above the steady state
    trainer.run()
    steps = steps[args.skip:]
    for i in range(1, len(parser["run"])):  # stage 0 writes its hand-over files after training
        parser.get_parsed_content(f"run#{i}")
    n = max(len(steps), 1)
    figures = {"stage": stage, "seconds_per_iteration": sum(w for w, _ in steps) / n,
               "cpu_seconds_per_iteration": sum(c for _, c in steps) / n, "iterations": len(steps),
               "base_rss_mb": round(base, 1),
               "peak_rss_mb": round(process_status_mb("VmHWM"), 1) if reset else float("nan"),
               "peak_cuda_mb": round(torch.cuda.max_memory_allocated() / 2 ** 20, 1) if cuda else None,
               "image_size": parser.get_parsed_content("image_size"),
               "batch": [parser.get("labeled_batch_size"), parser.get("unlabeled_batch_size")]}
    print("BENCH " + json.dumps(figures), flush=True)


def _stage_files(stage: str, work: Path) -> None:
    """Write the files the next stage needs when the benchmark's own run of ``stage`` did not (pretrain and finetune
    save their networks only when validation improves, and the benchmark does not validate)."""
    import torch

    models = work / "models"
    if stage == "pretrain" and not (models / "pretrain" / "generator_ema.pt").exists():
        ckpt = torch.load(models / "pretrain" / "resume" / "checkpoint_final.pt", map_location="cpu", weights_only=True)
        torch.save(ckpt["ema_generator"], models / "pretrain" / "generator_ema.pt")
    if stage == "finetune" and not (models / "finetune" / "generator.pt").exists():
        ckpt = torch.load(models / "finetune" / "resume" / "checkpoint_final.pt", map_location="cpu", weights_only=True)
        torch.save(ckpt["model"], models / "finetune" / "generator.pt")


def inference(args: argparse.Namespace) -> dict[str, Any]:
    """Milliseconds per 256x256 image of model C with and without the refinement."""
    import torch
    from monai.bundle import ConfigParser

    torch.set_num_threads(args.threads)
    parser = ConfigParser()
    parser.read_config(str(BUNDLE / "configs" / "inference.json"))
    if args.preset != "full":  # the preset's widths (its nested training ids do not exist in inference.json)
        preset = json.loads((BUNDLE / "configs" / f"{args.preset}.json").read_text())
        parser.update({k: v for k, v in preset.items() if "#" not in k})
    parser.update({"bundle_root": str(BUNDLE), "task": args.task})
    device = torch.device("cuda" if args.device == "cuda" and torch.cuda.is_available() else "cpu")
    net = parser.get_parsed_content("network_def").to(device).eval()
    x = torch.rand(1, 3, 256, 256, device=device) * 2 - 1
    out: dict[str, Any] = {"parameters": sum(p.numel() for p in net.parameters())}
    for refine in (True, False):
        net.refine = refine
        with torch.no_grad():
            for _ in range(2):
                net(x)
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(args.inference_repeats):
                net(x)
            if device.type == "cuda":
                torch.cuda.synchronize()
        name = "with_refinement" if refine else "without_refinement"
        out[f"ms_{name}"] = round(1000 * (time.perf_counter() - t0) / args.inference_repeats, 2)
        out[f"cpu_ms_{name}"] = round(1000 * (time.process_time() - c0) / args.inference_repeats, 2)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="full", choices=["full", "quick", "research"])
    p.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    p.add_argument("--iterations", type=int, default=3, help="timed iterations per stage")
    p.add_argument("--skip", type=int, default=1, help="untimed first iterations per stage")
    p.add_argument("--size", type=int, default=None, help="image size of every stage (default: the preset's)")
    p.add_argument("--batch", type=int, default=None, help="labelled and unlabelled batch size (default: the preset's)")
    p.add_argument("--task", default="thyroid")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--inference-repeats", type=int, default=10)
    p.add_argument("--inference-only", action="store_true")
    p.add_argument("--out", default=None, help="write the figures as JSON here")
    p.add_argument("--work", default=None, help=argparse.SUPPRESS)
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return
    report: dict[str, Any] = {"cpu": cpu_model(), "threads": args.threads, "device": args.device,
                              "preset": args.preset, "load_average": os.getloadavg(), "stages": {}}
    if not args.inference_only:
        with tempfile.TemporaryDirectory(prefix="bench_sabr_") as tmp:
            work = Path(tmp)
            from monai_ext.data import write_phantom_dataset

            write_phantom_dataset(work / "data", task=args.task, num=40, size=args.size or 128, seed=0, progress=False)
            ordered = [s for s in STAGES if s in args.stages]
            for stage in STAGES[: STAGES.index(ordered[-1]) + 1]:
                timed = stage in ordered
                cmd = [sys.executable, __file__, "--worker", stage, "--work", str(work), "--preset", args.preset,
                       "--iterations", str(args.iterations if timed else 1), "--skip", str(args.skip if timed else 0),
                       "--task", args.task, "--threads", str(args.threads), "--device", args.device]
                if args.size:
                    cmd += ["--size", str(args.size)]
                if args.batch:
                    cmd += ["--batch", str(args.batch)]
                env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads),
                       "PYTHONPATH": str(ROOT)}
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
                lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH ")]
                if proc.returncode != 0 or not lines:
                    raise SystemExit(f"stage {stage} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
                _stage_files(stage, work)
                if timed:
                    report["stages"][stage] = json.loads(lines[-1][len("BENCH "):])
                    s = report["stages"][stage]
                    print(f"{stage:9s} {s['seconds_per_iteration']:8.3f} s/it "
                          f"({s['cpu_seconds_per_iteration']:.3f} CPU s/it)  peak RSS {s['peak_rss_mb']:8.1f} MB"
                          + (f"  peak CUDA {s['peak_cuda_mb']:.1f} MB" if s["peak_cuda_mb"] is not None else "")
                          + f"  ({s['image_size'][0]} px, batch {s['batch']})", flush=True)
    report["inference"] = inference(args)
    inf = report["inference"]
    print(f"model C inference, 256x256, batch 1: {inf['ms_with_refinement']:.1f} ms with refinement, "
          f"{inf['ms_without_refinement']:.1f} ms without (CPU {inf['cpu_ms_with_refinement']:.1f} / "
          f"{inf['cpu_ms_without_refinement']:.1f} ms; {inf['parameters']:,} parameters)")
    print(f"CPU: {report['cpu']}, threads {args.threads}, load average {report['load_average']}")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
