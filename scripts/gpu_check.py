#!/usr/bin/env python
# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""GPU check: full-size MGCC and MSMO training steps and eval forwards, fp32 and AMP, then 1,000-iteration
research runs of MGCC and of the supervised baseline through ``python -m monai.bundle run``. Run by
``scripts/gpu_check.sh`` (which prepares the environment); see that file for the usage.

Part 1, ``steps`` (imports only torch, MONAI and ``monai_ext.networks`` / ``.losses`` / the method and
mixed-precision modules of ``monai_ext.engines``, not the package ``__init__`` files that pull in MLflow, DICOM and
Ignite): for MGCC (breast, one structure) and MSMO (cardiac, three structures, the bundle's decoder), at the bundle's
``train.json`` settings (256 px, ``dim_mult`` 4, 4 + 4, channels-last), each with the activation checkpointing of
``train.json`` and without any: the training step exactly as the trainer runs it (gradients set to None,
``CrossConsistencyMethod`` + ``USBCEDiceLoss`` under ``USMixedPrecision``, backward, SGD), in fp32 and under AMP
(bfloat16 autocast); and the eval forward of one image (batch 1, main decoder), fp32 and AMP. Seconds per step (min
and median of the timed steps after warm-up) and peak GPU memory (``torch.cuda.max_memory_allocated``, reset before
each figure; None on a CPU).

Part 2, ``bundles``: ``python -m monai.bundle run`` of ``mgcc_us_segmentation`` and ``supervised_us_segmentation``
with ``configs/train.json`` + ``configs/research.json`` (``quick.json`` where research.json is absent) and
``--max_iterations 1000`` on the breast phantom, each in its own process with a time limit; outputs, checkpoints and
the phantom go under the output folder. Wall time, exit status, the best validation Dice the log reports, the log's
last lines.

``GPU_CHECK_TINY=1`` (or ``--tiny``): 64 px, ``dim_mult`` 0.25, 1 warm-up + 2 timed steps, 4-iteration bundle runs on a
24-image 64 px phantom; for testing the script on a CPU. The figures are written to ``OUT/gpu_check.json`` after every
part, so a run stopped by its time limit keeps what it measured.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NETWORKS = {"mgcc": ("mgcc_us_segmentation", 1), "msmo": ("msmo_us_segmentation", 3)}
BUNDLE_RUNS = ("mgcc_us_segmentation", "supervised_us_segmentation")
# share of the time left that each run may take (MGCC's four decoders cost more than the one U-Net); the last takes all
BUNDLE_SHARE = {"mgcc_us_segmentation": 0.6, "supervised_us_segmentation": 1.0}
TINY_BUNDLE_OVERRIDES = {
    "phantom#num": 24, "phantom#size": 64, "image_size": [64, 64], "max_iterations": 4, "val_interval": 2,
    "checkpoint_interval": 2, "num_workers": 0, "labeled_batch_size": 2, "unlabeled_batch_size": 2,
    "split#labeled": 0.25,
}
TINY_WIDTH = {"mgcc_us_segmentation": {"dim_mult": 0.25},
              "supervised_us_segmentation": {"features": [4, 8, 16, 32, 64]}}


def import_network_modules(root: Path = ROOT) -> dict:
    """The classes of the step figures, imported without running ``monai_ext/__init__.py`` or
    ``monai_ext/engines/__init__.py`` (which import every subpackage: MLflow, DICOM, Ignite).

    The two packages are registered as bare packages pointing at their folders; their submodules then import
    normally.
    """
    for name in ("monai_ext", "monai_ext.engines"):
        if name not in sys.modules:
            package = types.ModuleType(name)
            package.__path__ = [str(root / name.replace(".", "/"))]
            sys.modules[name] = package
    nets = importlib.import_module("monai_ext.networks.nets")
    methods = importlib.import_module("monai_ext.engines.methods")
    mixed = importlib.import_module("monai_ext.engines.mixed_precision")
    losses = importlib.import_module("monai_ext.losses")
    return {"MGCCNet": nets.MGCCNet, "MSMONet": nets.MSMONet, "CrossConsistencyMethod": methods.CrossConsistencyMethod,
            "USMixedPrecision": mixed.USMixedPrecision, "USBCEDiceLoss": losses.USBCEDiceLoss}


def bundle_settings(bundle: str) -> dict:
    """The literal network / batch settings of a bundle's ``train.json`` (read as JSON, no MONAI parser)."""
    cfg = json.loads((ROOT / "bundles" / bundle / "configs" / "train.json").read_text())
    keys = ("dim_mult", "image_size", "labeled_batch_size", "unlabeled_batch_size", "channels_last",
            "checkpoint_aux_decoders", "checkpoint_main_decoder", "decoder", "kernel_size", "length")
    return {k: cfg[k] for k in keys if k in cfg and not (isinstance(cfg[k], str) and cfg[k].startswith("$"))}


def _sync(torch, device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_peak(torch, device) -> None:
    """Free what the previous figure left (its network, optimiser state, activations) and restart the peak."""
    import gc

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gib(torch, device) -> float | None:
    return round(torch.cuda.max_memory_allocated(device) / 2**30, 3) if device.type == "cuda" else None


class _Setup:
    """One network's configuration (from its bundle's train.json), fixed batch and network factory."""

    def __init__(self, mods: dict, name: str, size: int, dim_mult: float, device) -> None:
        import torch

        self.torch, self.mods, self.name, self.device = torch, mods, name, device
        self.bundle, self.objects = NETWORKS[name]
        self.settings = bundle_settings(self.bundle)
        self.dim_mult = dim_mult
        self.fmt = torch.channels_last if self.settings.get("channels_last", True) else torch.contiguous_format
        self.n_l = self.settings.get("labeled_batch_size", 4)
        self.n_u = self.settings.get("unlabeled_batch_size", 4)
        g = torch.Generator().manual_seed(0)
        self.x_l = self._on_device(torch.randn(self.n_l, 3, size, size, generator=g))
        self.x_u = self._on_device(torch.randn(self.n_u, 3, size, size, generator=g))
        self.y_l = self._on_device((torch.rand(self.n_l, self.objects, size, size, generator=g) > 0.7).float())
        self.x_1 = self._on_device(self.x_l[:1].cpu())
        self.method = mods["CrossConsistencyMethod"](mods["USBCEDiceLoss"](0.5, 1.0, 1e-5), activation="sigmoid")
        self.base = {"network": name, "bundle": self.bundle, "size": size, "dim_mult": dim_mult,
                     "objects": self.objects, "memory_format": str(self.fmt).rsplit(".", 1)[-1], "device": str(device)}
        if name == "msmo":
            self.base["decoder"] = self.settings.get("decoder", "hconvlstm")

    def _on_device(self, t):
        return t.to(self.device).contiguous(memory_format=self.fmt)

    def build(self, aux: bool, main: bool):
        self.torch.manual_seed(0)
        kwargs = {"in_channels": 3, "out_channels": self.objects, "dim_mult": self.dim_mult,
                  "checkpoint_aux_decoders": aux, "checkpoint_main_decoder": main}
        if self.name == "msmo":
            net = self.mods["MSMONet"](decoder=self.settings.get("decoder", "hconvlstm"), **kwargs)
        else:
            net = self.mods["MGCCNet"](**kwargs)
        return net.to(self.device, memory_format=self.fmt)


def _train_figure(s: _Setup, ckpt_name: str, aux: bool, main: bool, amp: bool, warmup: int, timed: int) -> dict:
    torch, device = s.torch, s.device
    _reset_peak(torch, device)
    net = s.build(aux, main)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=0.0001)
    mixed = s.mods["USMixedPrecision"](amp, device, "bfloat16")
    times: list[float] = []
    loss = float("nan")
    for k in range(warmup + timed):
        _sync(torch, device)
        t = time.perf_counter()
        net.train()
        opt.zero_grad(set_to_none=True)
        with mixed.autocast():
            _, losses = s.method(net, s.x_l, s.y_l, s.x_u, 1.0)
        mixed.backward(losses["loss"])
        mixed.step(opt)
        mixed.update()
        _sync(torch, device)
        if k >= warmup:
            times.append(time.perf_counter() - t)
        loss = float(losses["loss"].detach())
    return {**s.base, "figure": "train_step", "batch": f"{s.n_l}+{s.n_u}", "precision": "amp_bf16" if amp else "fp32",
            "checkpointing": ckpt_name, "checkpoint_aux_decoders": aux, "checkpoint_main_decoder": main,
            "parameters": sum(p.numel() for p in net.parameters()), "s_per_step_min": round(min(times), 4),
            "s_per_step_median": round(statistics.median(times), 4), "timed_steps": len(times),
            "peak_gpu_gib": _peak_gib(torch, device), "last_loss": round(loss, 4),
            "loss_finite": loss == loss and abs(loss) != float("inf")}


def _eval_figure(s: _Setup, amp: bool, warmup: int, timed: int) -> dict:
    torch, device = s.torch, s.device
    _reset_peak(torch, device)
    net = s.build(False, False).eval()
    mixed = s.mods["USMixedPrecision"](amp, device, "bfloat16")
    times: list[float] = []
    with torch.inference_mode(), mixed.autocast():
        for k in range(warmup + timed):
            _sync(torch, device)
            t = time.perf_counter()
            out = net(s.x_1)
            _sync(torch, device)
            if k >= warmup:
                times.append(time.perf_counter() - t)
    return {**s.base, "figure": "eval_forward", "batch": "1", "precision": "amp_bf16" if amp else "fp32",
            "parameters_inference": net.parameter_count(inference=True),
            "ms_per_image_min": round(1000 * min(times), 2),
            "ms_per_image_median": round(1000 * statistics.median(times), 2), "timed_forwards": len(times),
            "peak_gpu_gib": _peak_gib(torch, device), "output_shape": list(out.shape)}


def measure_network(mods: dict, name: str, size: int, dim_mult: float, warmup: int, timed: int, device) -> list[dict]:
    """Training-step and eval-forward figures of one network (see the module docstring).

    Training: with the activation checkpointing of train.json and (when that checkpoints anything) without any, each in
    fp32 and AMP. Eval forward (which never checkpoints): fp32 and AMP. Each figure builds its own network after the
    previous one's memory is freed, so every peak is that figure's alone.
    """
    s = _Setup(mods, name, size, dim_mult, device)
    ckpt_cfg = (bool(s.settings.get("checkpoint_aux_decoders", False)),
                bool(s.settings.get("checkpoint_main_decoder", False)))
    checkpointing = [("train.json", ckpt_cfg)] + ([("none", (False, False))] if any(ckpt_cfg) else [])
    rows = [_train_figure(s, ckpt_name, aux, main, amp, warmup, timed)
            for ckpt_name, (aux, main) in checkpointing for amp in (False, True)]
    rows += [_eval_figure(s, amp, warmup, timed) for amp in (False, True)]
    return rows


def figures_from_log(text: str) -> dict:
    """Best validation Dice (the evaluator's key metric as MONAI's StatsHandler logs it), the number of validations,
    and the trainer's run time as Ignite logs it (seconds; None when absent)."""
    best = re.findall(r"Key metric: val_mean_dice best value:\s*([0-9.eE+-]+)", text)
    rounds = re.findall(r"Metrics --.*?val_mean_dice: ([0-9.eE+-]+)", text)
    run = re.findall(r"SemiSupervisedTrainer - INFO - Engine run finished\. Time taken: (\d+):(\d+):([0-9.]+)", text)
    train_s = None if not run else round(int(run[-1][0]) * 3600 + int(run[-1][1]) * 60 + float(run[-1][2]), 1)
    return {"best_val_dice": float(best[-1]) if best else None, "validations": len(rounds),
            "last_val_dice": float(rounds[-1]) if rounds else None, "train_s": train_s}


def run_bundle(bundle: str, out: Path, tiny: bool, iterations: int, timeout_s: float) -> dict:
    """One ``python -m monai.bundle run`` in its own process; outputs, checkpoints and the phantom under ``out``."""
    configs = ROOT / "bundles" / bundle / "configs"
    overlay = "research.json" if (configs / "research.json").is_file() else "quick.json"
    work = out / "runs" / bundle
    work.mkdir(parents=True, exist_ok=True)
    overrides: dict = {"max_iterations": iterations}
    if tiny:
        overrides.update(TINY_BUNDLE_OVERRIDES)
        overrides.update(TINY_WIDTH.get(bundle, {}))
        overrides["max_iterations"] = iterations
    cfg = json.loads((configs / overlay).read_text())
    phantom_num = overrides.get("phantom#num", cfg.get("phantom#num", 200))
    phantom_size = overrides.get("phantom#size", cfg.get("phantom#size", 256))
    overrides.update({
        "bundle_root": str(ROOT / "bundles" / bundle), "ckpt_dir": str(work / "models"),
        "output_dir": str(work / "eval"),
        "phantom#dir": str(out / "data" / f"phantom_breast_n{phantom_num}_s{phantom_size}_seed0"),
    })
    cmd = [sys.executable, "-m", "monai.bundle", "run", "--config_file",
           f"['{configs / 'train.json'}','{configs / overlay}']", "--meta_file", str(configs / "metadata.json"),
           "--logging_file", str(configs / "logging.conf")]
    for k, v in overrides.items():
        cmd += [f"--{k}", json.dumps(v) if not isinstance(v, str) else v]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    t = time.perf_counter()
    timed_out = False
    try:
        proc = subprocess.run(cmd, cwd=str(work), env=env, capture_output=True, text=True, timeout=timeout_s)
        rc, text = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as e:
        timed_out, rc = True, None
        text = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        text += (e.stderr or b"").decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
    wall = time.perf_counter() - t
    lines = text.splitlines()
    (out / f"bundle_{bundle}.log").write_text("\n".join(lines[-300:]) + "\n")
    return {"bundle": bundle, "configs": ["train.json", overlay], "max_iterations": iterations, "rc": rc,
            "timed_out": timed_out, "timeout_s": round(timeout_s, 1), "wall_s": round(wall, 1),
            **figures_from_log(text), "model_saved": (work / "models" / "model.pt").is_file(),
            "log_tail": lines[-12:], "tiny": tiny}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.environ.get("OUT") or str(ROOT / "gpu_check_out"), help="output folder")
    parser.add_argument("--tiny", action="store_true", default=os.environ.get("GPU_CHECK_TINY", "") not in ("", "0"),
                        help="tiny CPU setting (also GPU_CHECK_TINY=1)")
    parser.add_argument("--parts", default=os.environ.get("GPU_CHECK_PARTS", "steps,bundles"),
                        help="comma-separated parts to run: steps, bundles")
    parser.add_argument("--budget-s", type=float, default=float(os.environ.get("GPU_CHECK_BUDGET_S", 470)),
                        help="wall-clock budget of the whole check; the bundle runs get what the steps leave")
    parser.add_argument("--iterations", type=int, default=None, help="bundle-run iterations (1000; tiny: 4)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in parts if p not in ("steps", "bundles")]
    if unknown:
        raise SystemExit(f"--parts: unknown part(s) {unknown}; use steps, bundles.")
    tiny = bool(args.tiny)
    result: dict = {"tiny": tiny, "parts": parts, "budget_s": args.budget_s, "steps": None, "bundle_runs": None}

    def write() -> None:
        result["elapsed_s"] = round(time.perf_counter() - start, 1)
        (out / "gpu_check.json").write_text(json.dumps(result, indent=2) + "\n")

    import torch

    device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    result["device"] = str(device)
    result["device_name"] = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    result["torch"] = torch.__version__
    result["cuda"] = torch.version.cuda
    result["threads"] = torch.get_num_threads()
    write()
    if "steps" in parts:
        mods = import_network_modules()
        import monai

        result["monai"] = monai.__version__
        size, dim_mult, warmup, timed = (64, 0.25, 1, 2) if tiny else (256, 4, 2, 5)
        result["steps"] = []
        for name in NETWORKS:
            result["steps"] += measure_network(mods, name, size, dim_mult, warmup, timed, device)
            write()
        # informational: MONAI's own import loads these when they are installed; the steps never need them
        result["optional_packages_loaded"] = {m: m in sys.modules for m in ("mlflow", "ignite", "pydicom")}
        _reset_peak(torch, device)  # hand the cached GPU memory back before the bundle processes start
        write()
    if "bundles" in parts:
        iterations = args.iterations or (4 if tiny else 1000)
        result["bundle_runs"] = []
        for bundle in BUNDLE_RUNS:
            left = args.budget_s - (time.perf_counter() - start)
            share = left * BUNDLE_SHARE.get(bundle, 1.0)
            if share < 20:
                result["bundle_runs"].append({"bundle": bundle, "skipped": f"budget: {left:.0f} s left"})
                continue
            result["bundle_runs"].append(run_bundle(bundle, out, tiny, iterations, share - 5))
            write()
    write()
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
