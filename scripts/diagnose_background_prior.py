#!/usr/bin/env python
# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Measure whether a bundle's training sits at the all-background solution, iteration by iteration.

The bundle's own trainer is built from its configs (train.json + overlays + overrides) and run for `--iterations`
iterations (validation handlers stay attached, so the best validation Dice is printed as usual). A forward hook on the
main decoder records, on the labelled slice of every batch, the fraction of pixels predicted as foreground
(sigmoid > 0.5, or argmax for softmax heads) against the true fraction, the mean foreground probability, and, after the
backward pass, the L2 norm of the weight gradient of its output convolution and the supervised loss. Rows are printed every
`--every` iterations and all of them are written to `--out` as JSON.

Usage:
    python scripts/diagnose_background_prior.py --bundle msmo_us_segmentation --iterations 200 \
        --configs train.json quick.json --override '{"learning_rate": 0.01}' --out runs/diag/msmo_sgd001.json
    python scripts/diagnose_background_prior.py --table runs/diag/*.json      # one Markdown row per run
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def find_head(network: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The main decoder (whose output is the main logits) and its last convolution (the output layer), for MGCC / MSMO
    (``main_decoder``), CCT (``main_decoder``) or any other network (the network itself)."""
    decoder = getattr(network, "main_decoder", network)
    convs = [m for m in decoder.modules() if isinstance(m, torch.nn.Conv2d)]
    return decoder, convs[-1]


def table(paths: list[str]) -> str:
    """One Markdown row per diagnostic run: predicted vs true foreground fraction and the head's gradient norm at a
    few iterations, the first iteration from which no pixel is predicted as foreground, and the best validation Dice."""
    marks = (1, 50, 100, 200)
    head = ("| run | " + " | ".join(f"it {m}: predicted / true foreground, grad" for m in marks)
            + " | all-background from | best val Dice |")
    lines = [head, "|" + " --- |" * (len(marks) + 3)]
    for path in paths:
        r = json.loads(Path(path).read_text())
        rows = {row["iteration"]: row for row in r["rows"]}
        cells = []
        for m in marks:
            row = rows.get(m)
            cells.append("—" if row is None else
                         f"{sum(row['pred_fg']) / len(row['pred_fg']):.3f} / {sum(row['true_fg']) / len(row['true_fg']):.3f}, "
                         f"{row['head_grad_norm']:.1e}")
        collapsed = next((row["iteration"] for row in r["rows"] if max(row["pred_fg"]) == 0.0), None)
        best = r.get("best_val_dice")
        lines.append(f"| {Path(path).stem} | " + " | ".join(cells) + f" | {collapsed or 'never'} | "
                     f"{'—' if best is None else f'{best:.3f}'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", nargs="+", help="print the Markdown table of finished runs and exit")
    parser.add_argument("--bundle")
    parser.add_argument("--configs", nargs="+", default=["train.json", "quick.json"])
    parser.add_argument("--override", default="{}", help="JSON dict of config overrides")
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.table:
        print(table(args.table))
        return
    if not args.bundle or not args.out:
        parser.error("--bundle and --out are required (or --table FILES)")

    from monai.bundle import ConfigParser
    from monai.engines.utils import IterationEvents

    bdir = ROOT / "bundles" / args.bundle
    out = Path(args.out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.with_suffix("")
    cfg = ConfigParser()
    cfg.read_config([str(bdir / "configs" / c) for c in args.configs])
    cfg.update({"bundle_root": str(bdir), "ckpt_dir": str(work / "models"), "output_dir": str(work / "eval"),
                "max_iterations": args.iterations})
    for key, value in json.loads(args.override).items():
        cfg[key] = value
    cfg.parse()
    activation = cfg.get("method#activation", "softmax")
    cfg.get_parsed_content("initialize", default=[])  # set_determinism(seed), as `monai.bundle run` does first
    trainer = cfg.get_parsed_content("train#trainer")
    network = trainer.network
    decoder, head = find_head(network)
    n_l = int(cfg.get_parsed_content("labeled_batch_size"))
    captured: dict[str, torch.Tensor] = {}

    def hook(_module: torch.nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        if network.training:
            captured["logits"] = output.detach()[:n_l].float()

    decoder.register_forward_hook(hook)
    rows: list[dict] = []
    t0 = time.time()

    # BACKWARD_COMPLETED: the output is still the iteration's dictionary (before decollation) and the gradients exist
    @trainer.on(IterationEvents.BACKWARD_COMPLETED)
    def record(engine) -> None:  # type: ignore[no-untyped-def]
        logits = captured.get("logits")
        label = engine.state.output["label"]
        label = label.as_tensor() if hasattr(label, "as_tensor") else label
        if activation == "sigmoid":
            prob = torch.sigmoid(logits)
            pred_fg = (prob > 0.5).float().mean(dim=(0, 2, 3))
            true_fg = label.float().mean(dim=(0, 2, 3))
            mean_p = prob.mean(dim=(0, 2, 3))
        else:
            prob = torch.softmax(logits, dim=1)
            hard = prob.argmax(1)
            c = prob.shape[1]
            pred_fg = torch.stack([(hard == k).float().mean() for k in range(1, c)])
            lab = label[:, 0] if label.shape[1] == 1 else label.argmax(1)
            true_fg = torch.stack([(lab == k).float().mean() for k in range(1, c)])
            mean_p = prob[:, 1:].mean(dim=(0, 2, 3))
        grad = head.weight.grad
        rows.append({
            "iteration": engine.state.iteration,
            "loss": float(engine.state.output["loss"]),
            "loss_sup": float(engine.state.output.get("loss_sup", engine.state.output["loss"])),
            "pred_fg": [round(float(v), 4) for v in pred_fg],
            "true_fg": [round(float(v), 4) for v in true_fg],
            "mean_p": [round(float(v), 4) for v in mean_p],
            "head_grad_norm": float(grad.norm()) if grad is not None else 0.0,
            "head_bias": [round(float(v), 3) for v in head.bias.detach()][:4] if head.bias is not None else [],
            "seconds": round(time.time() - t0, 1),
        })
        if engine.state.iteration % args.every == 0 or engine.state.iteration == 1:  # noqa: SIM102
            r = rows[-1]
            print(f"it {r['iteration']:4d} loss_sup {r['loss_sup']:.4f} pred_fg {r['pred_fg']} true_fg {r['true_fg']} "
                  f"mean_p {r['mean_p']} |grad head| {r['head_grad_norm']:.2e} ({r['seconds']:.0f} s)", flush=True)

    trainer.run()
    best = None
    evaluator = cfg.get_parsed_content("validate#evaluator")
    if evaluator.state.best_metric is not None and evaluator.state.best_metric > -1:
        best = float(evaluator.state.best_metric)
    metrics = {k: float(v) for k, v in evaluator.state.metrics.items() if isinstance(v, (int, float))}
    result = {"bundle": args.bundle, "configs": args.configs, "override": json.loads(args.override),
              "iterations": args.iterations, "best_val_dice": best, "last_val_metrics": metrics,
              "torch_threads": torch.get_num_threads(), "rows": rows}
    out.write_text(json.dumps(result, indent=1))
    print(f"best validation Dice {best} ; written {out}")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
