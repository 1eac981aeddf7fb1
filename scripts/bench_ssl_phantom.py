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

``sabr_us_segmentation`` runs its earlier stages first (``warmup.json``, ``pretrain.json``, ``finetune.json`` +
``configs/<preset>.json``, the same arguments, one marker file per finished stage, an interrupted stage resumed), then
``train.json`` (model C) and ``evaluate.json`` like every bundle.

Usage:
    python scripts/bench_ssl_phantom.py --task breast --preset research --jobs 2 \
        --runs supervised_us_segmentation cct_us_segmentation mgcc_us_segmentation mgcc_us_segmentation:synthetic
    python scripts/bench_ssl_phantom.py --summarize --out runs/research
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BEST = re.compile(r"Key metric: val_mean_dice best value: ([0-9.eE+-]+) at epoch: (\d+)")
VARIANTS: dict[str, dict[str, Any]] = {
    "notaps": {"multi_level_taps": False},
    "unet_msag": {"decoder": "unet_msag"},
    "upper": {"split#labeled": 1.0},
    "synthetic": {"unlabeled_sources": ["real", "synthetic"]},
}
LDM_STAGES = ("train_autoencoder.json", "train_diffusion.json", "generate.json")
SABR_STAGES = ("warmup.json", "pretrain.json", "finetune.json")  # before train.json, which trains model C
_lock = threading.Lock()


def cpu_model() -> str:
    """The CPU model and the flags that matter for these numbers (from /proc/cpuinfo)."""
    model, flags = platform.processor() or "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model in ("unknown", "", "x86_64"):
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "avx512_vnni", "avx_vnni")
    return f"{model} ({' '.join(f for f in wanted if f in flags) or 'no AVX2'})"


def run_name(bundle: str, variant: str, task: str, labeled: float, seed: int) -> str:
    return f"{bundle}{'_' + variant if variant else ''}_{task}_l{labeled}_s{seed}"


def _command(bdir: Path, configs: list[str], args: dict[str, Any]) -> list[str]:
    cmd = [sys.executable, "-m", "monai.bundle", "run", "--config_file",
           json.dumps([str(bdir / "configs" / c) for c in configs])]
    for k, v in args.items():
        cmd += [f"--{k}", v if isinstance(v, str) else json.dumps(v)]
    return cmd


def _run(cmd: list[str], cwd: Path, log: Path) -> dict[str, float]:
    """Run one process to its end; its wall time, CPU time (user + system, i.e. time on one core) and peak RSS."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    t0 = time.time()
    with log.open("w") as f:
        proc = subprocess.Popen(cmd, cwd=str(cwd), stdout=f, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-5:])
        raise RuntimeError(f"exit code {proc.returncode}, see {log}:\n{tail}")
    return {"wall_s": round(time.time() - t0, 1), "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def _take_lock(run_dir: Path) -> bool:
    """Claim a run for this process (a lock file with our pid); False while another live process holds it, so several
    runners can share one --out without running the same run twice."""
    lock = run_dir / "run.lock"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                pid = int(lock.read_text().strip() or 0)
                os.kill(pid, 0)
                return False
            except (ValueError, ProcessLookupError, FileNotFoundError):
                lock.unlink(missing_ok=True)  # left by a process that died: take the run over
                continue
            except PermissionError:
                return False
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        return True
    return False


def run_one(bundle: str, variant: str, seed: int, labeled: float, task: str, preset: str, out: Path,
            override: dict[str, Any]) -> dict[str, Any] | None:
    """Train, evaluate and record one run; its result when it exists already, None while another runner has it."""
    name = run_name(bundle, variant, task, labeled, seed)
    run_dir = out / name
    result_file = run_dir / "result.json"
    if result_file.exists():
        return json.loads(result_file.read_text())
    run_dir.mkdir(parents=True, exist_ok=True)
    if not _take_lock(run_dir):
        return None
    try:
        return _train_and_evaluate(bundle, variant, seed, labeled, task, preset, run_dir, override)
    finally:
        (run_dir / "run.lock").unlink(missing_ok=True)


def _train_and_evaluate(bundle: str, variant: str, seed: int, labeled: float, task: str, preset: str, run_dir: Path,
                        override: dict[str, Any]) -> dict[str, Any]:
    result_file = run_dir / "result.json"
    bdir = ROOT / "bundles" / bundle
    args: dict[str, Any] = {"bundle_root": str(bdir), "task": task, "split#seed": seed, "split#labeled": labeled,
                            "seed": seed, "ckpt_dir": str(run_dir / "models"), "output_dir": str(run_dir / "eval"),
                            **override, **VARIANTS.get(variant, {})}
    if variant and variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; known: {sorted(VARIANTS)}")
    timings: dict[str, Any] = {}
    if variant == "synthetic":
        ldm_args = {k: v for k, v in args.items() if k != "unlabeled_sources"}
        ldm_args["synthetic_dir"] = str(run_dir / "synthetic")
        for stage in LDM_STAGES:
            marker = run_dir / f"{stage}.done.json"
            if not marker.exists():
                t = _run(_command(bdir, [stage, f"{preset}_ldm.json"], ldm_args), bdir, run_dir / f"{stage}.log")
                marker.write_text(json.dumps(t))
            timings[stage] = json.loads(marker.read_text())
        args["synthetic_manifest"] = str(run_dir / "synthetic" / "manifest.json")
    if bundle == "sabr_us_segmentation":
        for stage in SABR_STAGES:
            marker = run_dir / f"{stage}.done.json"
            if not marker.exists():
                stage_args = dict(args)
                if any((run_dir / "models" / Path(stage).stem / "resume").glob("*.pt")):
                    stage_args["resume"] = True
                t = _run(_command(bdir, [stage, f"{preset}.json"], stage_args), bdir, run_dir / f"{stage}.log")
                marker.write_text(json.dumps(t))
            timings[stage] = json.loads(marker.read_text())
    train_args = dict(args)
    if any((run_dir / "models" / "resume").glob("*.pt")):
        train_args["resume"] = True
    timings["train"] = _run(_command(bdir, ["train.json", f"{preset}.json"], train_args), bdir,
                            run_dir / "train_log.txt")
    log = (run_dir / "train_log.txt").read_text(errors="replace")
    found = BEST.findall(log)
    timings["evaluate"] = _run(_command(bdir, ["train.json", f"{preset}.json", "evaluate.json"], args), bdir,
                               run_dir / "evaluate_log.txt")
    summary = json.loads((run_dir / "eval" / "test_metrics_summary.json").read_text())
    result = {
        "bundle": bundle, "variant": variant, "task": task, "labeled": labeled, "seed": seed, "preset": preset,
        "override": override, "best_val_dice": float(found[-1][0]) if found else None,
        "best_val_epoch": int(found[-1][1]) if found else None, "test": summary, "timings": timings,
        "command": " ".join(_command(bdir, ["train.json", f"{preset}.json"], train_args)),
        "cpu": cpu_model(), "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                     text=True).stdout.strip(),
    }
    tmp = result_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2))
    tmp.replace(result_file)
    return result


def _structure_means(test: dict[str, Any]) -> dict[str, dict[str, float]]:
    """{structure: {dice, iou, hd95}} of one run's test summary (means over all test images)."""
    out: dict[str, dict[str, float]] = {}
    for s, vals in test.get("structures", {}).items():
        src = vals.get("all", vals)
        out[s] = {m: float(src[m]["mean"] if isinstance(src[m], dict) else src[m]) for m in ("dice", "iou", "hd95")
                  if m in src}
    return out


def summarize(out: Path, baseline: str | None = None) -> dict[str, Any]:
    """Aggregate every result.json under `out`: per task and run name, mean and std over seeds of each structure's
    test Dice / IoU / HD95, the mean Dice gain over the baseline per seed, and the run times."""
    results = [json.loads(p.read_text()) for p in sorted(out.glob("*/result.json"))]
    table: dict[str, Any] = {"cpu": results[0]["cpu"] if results else None, "tasks": {}}
    for task in sorted({r["task"] for r in results}):
        rows = [r for r in results if r["task"] == task]
        names = []
        for r in rows:
            n = r["bundle"] + (":" + r["variant"] if r["variant"] else "")
            if n not in names:
                names.append(n)
        base_name = baseline or next((n for n in names if n.startswith("supervised_us_segmentation") and ":" not in n),
                                     names[0])
        mean_dice = {}
        for r in rows:
            s = _structure_means(r["test"])
            mean_dice[(r["bundle"] + (":" + r["variant"] if r["variant"] else ""), r["seed"])] = statistics.mean(
                v["dice"] for v in s.values())
        entries = {}
        for n in names:
            runs = [r for r in rows if r["bundle"] + (":" + r["variant"] if r["variant"] else "") == n]
            per_structure: dict[str, dict[str, Any]] = {}
            for s in _structure_means(runs[0]["test"]):
                per_structure[s] = {}
                for m in ("dice", "iou", "hd95"):
                    vals = [_structure_means(r["test"])[s][m] for r in runs]
                    per_structure[s][m] = {"mean": statistics.mean(vals),
                                           "std": statistics.pstdev(vals) if len(vals) > 1 else 0.0,
                                           "per_seed": {r["seed"]: v for r, v in zip(runs, vals)}}
            gains = {r["seed"]: mean_dice[(n, r["seed"])] - mean_dice[(base_name, r["seed"])] for r in runs
                     if (base_name, r["seed"]) in mean_dice}
            entries[n] = {
                "seeds": [r["seed"] for r in runs], "structures": per_structure,
                "mean_dice": statistics.mean(mean_dice[(n, r["seed"])] for r in runs),
                "gain_over_baseline": {"baseline": base_name, "per_seed": gains,
                                       "mean": statistics.mean(gains.values()) if gains else None},
                "best_val_dice": {r["seed"]: r["best_val_dice"] for r in runs},
                "train_cpu_s": {r["seed"]: r["timings"]["train"]["cpu_s"] for r in runs},
                "train_wall_s": {r["seed"]: r["timings"]["train"]["wall_s"] for r in runs},
                "ldm_cpu_s": {r["seed"]: sum(v["cpu_s"] for k, v in r["timings"].items() if k in LDM_STAGES)
                              for r in runs if any(k in LDM_STAGES for k in r["timings"])},
                "stages_cpu_s": {r["seed"]: sum(v["cpu_s"] for k, v in r["timings"].items() if k in SABR_STAGES)
                                 for r in runs if any(k in SABR_STAGES for k in r["timings"])},
                "commands": sorted({r["command"] for r in runs}),
            }
        table["tasks"][task] = entries
    (out / "summary.json").write_text(json.dumps(table, indent=2))
    (out / "summary.md").write_text(summary_markdown(table))
    return table


def summary_markdown(table: dict[str, Any]) -> str:
    """The summary as Markdown tables (one per task)."""
    lines = [f"CPU: {table['cpu']}", ""]
    for task, entries in table["tasks"].items():
        structures = list(next(iter(entries.values()))["structures"]) if entries else []
        head = "| run | seeds | " + " | ".join(f"{s} Dice | {s} IoU | {s} HD95 (px)" for s in structures)
        lines += [f"### {task}", "", head + " | mean Dice gain (per seed) | train time, one core (min) |",
                  "|" + " --- |" * (3 * len(structures) + 4)]
        for n, e in entries.items():
            cells = []
            for s in structures:
                for m in ("dice", "iou", "hd95"):
                    v = e["structures"][s][m]
                    cells.append(f"{v['mean']:.3f} ± {v['std']:.3f}" if m != "hd95" else f"{v['mean']:.1f} ± {v['std']:.1f}")
            g = e["gain_over_baseline"]
            gain = "—" if n == g["baseline"] or g["mean"] is None else (
                f"{g['mean']:+.3f} ({', '.join(f'{v:+.3f}' for v in g['per_seed'].values())})")
            minutes = statistics.mean(e["train_cpu_s"].values()) / 60
            lines.append(f"| {n} | {','.join(map(str, e['seeds']))} | " + " | ".join(cells) +
                         f" | {gain} | {minutes:.0f} |")
        lines.append("")
    return "\n".join(lines)


def prepare_data(out: Path, dataset_dir: str, task: str, preset: str, specs: list[tuple[str, str, int]],
                 labeled: float) -> str:
    """One dataset folder and one split file per seed for every run, made here before the runs start (so runs side by
    side never race to write them, and every bundle reads the very same split file)."""
    from monai_ext.data import prepare_split_file, resolve_dataset_dir

    first = ROOT / "bundles" / specs[0][0] / "configs"
    preset_cfg = json.loads((first / f"{preset}.json").read_text())
    split_cfg = json.loads((first / "train.json").read_text())["split"]
    num, size = preset_cfg.get("phantom#num", 200), preset_cfg.get("phantom#size", 256)
    phantom = out / "data" / f"phantom_{task}_n{num}_s{size}_seed0"
    root = resolve_dataset_dir(dataset_dir, str(phantom), task, num, size, 0)
    for seed in sorted({s for _, _, s in specs}):
        for fraction in sorted({1.0 if v == "upper" else labeled for _, v, s in specs if s == seed}):
            prepare_split_file(root, None, split_cfg["val"], split_cfg["test"], fraction, seed, split_cfg["group_by"])
    return root


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
    override["dataset_dir"] = prepare_data(out, args.dataset_dir, args.task, args.preset, specs, args.labeled)
    args.override = json.dumps(override)

    def job(spec: tuple[str, str, int]) -> None:
        bundle, variant, seed = spec
        name = run_name(bundle, variant, args.task, args.labeled, seed)
        t0 = time.time()
        try:
            r = run_one(bundle, variant, seed, args.labeled, args.task, args.preset, out, json.loads(args.override))
        except Exception as e:  # one failed run must not stop the others
            print(f"{name}: FAILED: {e}", flush=True)
            return
        if r is None:
            print(f"{name}: running in another runner, skipped", flush=True)
            return
        with _lock:
            means = _structure_means(r["test"])
            dice = ", ".join(f"{s} {v['dice']:.4f}" for s, v in means.items())
            print(f"{name}: test Dice {dice}; best val {r['best_val_dice']} ({time.time() - t0:.0f} s)", flush=True)
            summarize(out)

    with ThreadPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
        list(pool.map(job, specs))
    print(summary_markdown(summarize(out)))


if __name__ == "__main__":
    main()
