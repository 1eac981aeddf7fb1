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

"""Speed and memory of a bundle's inference.json on a DICOM ultrasound clip (streamed frame by frame).

Writes a phantom cine clip (``monai_ext.io.write_phantom_clip``: cardiac, JPEG Baseline like most cine exports, or
uncompressed with ``--raw``), then, in a fresh subprocess, runs ``monai_ext.inference.run_bundle_inference`` on it
with the bundle's own settings (full-size network and input size unless overridden) and prints frames per second,
the total time, the time spent writing SR / SEG, the CPU time used (a competing load shows as CPU seconds well below
wall seconds times threads), and the peak resident set size (Linux ``VmHWM``, also after a reset past the imports so
the growth due to inference is visible). Nothing is trained: the network is the bundle's
``models/model.pt`` when present, else randomly initialised (``load_pretrain: False``); the output says which.
A random network may predict many small blobs, which makes the SR larger than a trained one would.

Usage: ``python scripts/bench_infer.py BUNDLE [--frames 120] [--size 256] [--task TASK] [--raw] [--threads 2]``
(run it under the CPU lock: ``flock /work/heavy.lock python scripts/bench_infer.py bundles/...``).

Backends (``--compare``, needs ``pip install 'monai_ext[deploy]'``): in one run, for the supervised U-Net and
full-size MGCC (``dim_mult`` 4, 256 x 256; the bundles' own sizes), exports the network to ONNX, quantises it to int8
(calibrated on at most 100 images of the training split of a phantom dataset written for the run), then streams the
same clip through the bundle's inference.json with each backend: torch fp32, ONNX Runtime fp32 and int8, OpenVINO
fp32 and int8, and OpenVINO bf16 where the CPU has native bf16. Each backend runs in a fresh subprocess and gets
frames per second (end to end, and of the network call alone) and peak memory. Then the masks of every backend on the
phantom test split are compared with torch fp32 (Dice between the masks, per structure) and with the labels. The CPU
model and its relevant flags (lscpu) head the output; the last line gives the speed-up of the best int8 backend over
torch fp32 (network frames per second, as the issue's per-image figures; end to end too) against the target (3x with
VNNI, 1.5x without). Without ``models/model.pt`` the networks are untrained: randomly initialised, with batch-norm
statistics estimated on phantom training images (with MONAI's default statistics an untrained network predicts empty
masks, which would make the agreement meaningless), and the clip runs write PNG masks but no SR / SEG (the contours of
an untrained network's noise masks would make the SR writer dominate the run); the output says which.

Usage: ``python scripts/bench_infer.py --compare [--frames 30] [--threads 2] [--bundles supervised mgcc]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["main"]

_CHILD = r"""
import json, resource, sys, time

import torch
import monai_ext.inference.results_writer as rw
from monai_ext.inference import run_bundle_inference
from monai_ext.utils import process_status_mb as status, reset_peak_rss

bundle, clip, out, overrides = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
torch.set_num_threads(int(sys.argv[5]))
writing = [0.0]
finish = rw.USInferenceResultsWriter._finish

def timed_finish(self, source):  # time spent writing SR / SEG (the rest is loading, network and PNG saving)
    t = time.perf_counter()
    try:
        return finish(self, source)
    finally:
        writing[0] += time.perf_counter() - t

rw.USInferenceResultsWriter._finish = timed_finish
network = []  # (wall, process CPU) seconds of each network call

def timed(call):  # time of the network call alone (the inferer), whatever the backend
    def wrapper(self, *args, **kwargs):
        t, c = time.perf_counter(), time.process_time()
        try:
            return call(self, *args, **kwargs)
        finally:
            network.append((time.perf_counter() - t, time.process_time() - c))
    return wrapper

import monai.inferers
import monai_ext.deploy
monai.inferers.SimpleInferer.__call__ = timed(monai.inferers.SimpleInferer.__call__)
monai_ext.deploy.USRuntimeInferer.__call__ = timed(monai_ext.deploy.USRuntimeInferer.__call__)
peak_imports = status("VmHWM")
reset = reset_peak_rss()  # the imports (torch, monai, highdicom) peak above steady state
base = status("VmRSS")
cpu0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
written = run_bundle_inference(bundle, [clip], out, overrides)
seconds = time.perf_counter() - t0
cpu1 = resource.getrusage(resource.RUSAGE_SELF)
cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "write_seconds": writing[0], "base_mb": base,
                  "network": network,
                  "peak_mb": status("VmHWM") if reset else float("nan"), "peak_imports_mb": peak_imports,
                  "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "written": [str(p) for p in written]}))
"""


def run_clip(bundle: Path, clip: Path, out: Path, overrides: dict, threads: int) -> dict:
    """Run the bundle's inference.json on ``clip`` in a fresh subprocess; its timing and memory figures."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(bundle), str(clip), str(out), json.dumps(overrides), str(threads)],
        capture_output=True, text=True, env=env, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"inference failed ({overrides}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def process_peak_mb(r: dict) -> float:
    """The child's peak resident set: the larger of its peak during the imports and during inference (VmHWM). Not
    ``ru_maxrss``: Linux carries it over ``exec`` from the forking parent, so it would show the parent's size."""
    return max(r["peak_imports_mb"], r["peak_mb"]) if r["peak_mb"] == r["peak_mb"] else r["ru_maxrss_mb"]


def write_clip(folder: Path, frames: int, size: int, raw: bool) -> Path:
    from monai_ext.io import write_phantom_clip

    clip = folder / f"bench_clip_{frames}f_{size}px.dcm"
    t0 = time.perf_counter()
    write_phantom_clip(clip, task="cardiac", frames=frames, size=size, seed=0, jpeg=not raw)
    print(
        f"clip: {frames} frames of {size + size // 8} x {size} px, {'uncompressed' if raw else 'JPEG Baseline'}, "
        f"{clip.stat().st_size / 1e6:.1f} MB, written in {time.perf_counter() - t0:.1f} s"
    )
    return clip


def single(args: argparse.Namespace) -> int:
    bundle = Path(args.bundle).resolve()
    model = bundle / "models" / "model.pt"
    overrides = json.loads(args.override)
    if args.task:
        overrides["task"] = args.task
    if model.is_file():
        network = f"trained checkpoint {model}"
    else:
        overrides["load_pretrain"] = False
        network = "randomly initialised network (no models/model.pt)"

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        clip = write_clip(folder, args.frames, args.size, args.raw)
        print(f"bundle: {bundle.name}; network: {network}; overrides: {overrides}; threads: {args.threads}")
        try:
            r = run_clip(bundle, clip, folder / "out", overrides, args.threads)
        except RuntimeError as e:
            print(e, file=sys.stderr)
            return 1
        names = [Path(p).name for p in r["written"]]
        pngs = len(list((folder / "out").glob("*.png")))
        print(f"outputs: {pngs} PNG masks; DICOM: {', '.join(names)}")
        print(
            f"frames per second: {args.frames / r['seconds']:.2f} (end to end: loading, network, inversion, PNG, "
            f"SR/SEG)\ntotal seconds: {r['seconds']:.1f} (of which writing SR/SEG: {r['write_seconds']:.1f}); CPU "
            f"seconds {r['cpu_seconds']:.1f} (about wall seconds x {args.threads} thread(s) on an idle machine)\n"
            f"peak RSS: {process_peak_mb(r):.0f} MB (process, imports alone {r['peak_imports_mb']:.0f} MB); "
            f"during inference {r['peak_mb']:.0f} MB, growth over the {r['base_mb']:.0f} MB after imports "
            f"{r['peak_mb'] - r['base_mb']:.0f} MB"
        )
    return 0


# ---------------------------------------------------------------------------------------------------- --compare
COMPARE_BUNDLES = {"supervised": "supervised_us_segmentation", "mgcc": "mgcc_us_segmentation"}


def cpu_report() -> tuple[str, bool, bool]:
    """Print the CPU model, threads and the flags that matter here (lscpu); return (model, has VNNI, has bf16)."""
    from monai_ext.deploy import cpu_flags, cpu_model_name, has_native_bf16, has_vnni

    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        lscpu = ""
    fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
    model = fields.get("Model name", cpu_model_name()).strip()
    wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "amx_tile")
    flags = sorted(f for f in cpu_flags() if f in wanted)
    print(f"CPU: {model}; {fields.get('CPU(s)', '?').strip()} CPU(s), "
          f"{fields.get('Thread(s) per core', '?').strip()} thread(s) per core")
    print(f"CPU flags (of {', '.join(wanted)}): {' '.join(flags) or 'none'}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return model, has_vnni(), has_native_bf16()


def prepare_network(bundle: Path, work: Path, overrides: dict, train_images: list[str]) -> tuple[Path, str]:
    """The checkpoint to benchmark: models/model.pt if the bundle has one, else an untrained network whose
    batch-norm statistics are estimated on (at most 16 of) the phantom training images."""
    import torch

    from monai_ext.deploy.bundle_config import read_inference_config

    trained = bundle / "models" / "model.pt"
    if trained.is_file():
        return trained, f"trained checkpoint {trained}"
    parser = read_inference_config(bundle, overrides)
    preprocessing = parser.get_parsed_content("preprocessing")
    torch.manual_seed(0)
    network = parser.get_parsed_content("network_def")
    for m in network.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average
    network.train()
    with torch.no_grad():
        for path in train_images[:16]:
            network(preprocessing({"image": path})["image"][None].as_tensor())
    network.eval()
    ckpt = work / f"{bundle.name}_untrained.pt"
    torch.save(network.state_dict(), ckpt)
    return ckpt, "untrained (random initialisation, batch-norm statistics of 16 phantom training images)"


def compare_bundle(name: str, bundle: Path, work: Path, split: Path, clip: Path, args, has_bf16: bool) -> dict:
    import torch

    from monai_ext.deploy import (
        USOnnxRuntimeInferer,
        USOpenVINOInferer,
        calibration_images,
        export_bundle_onnx,
        load_network_weights,
        quantize_bundle,
        segmentation_agreement,
    )
    from monai_ext.deploy.bundle_config import read_inference_config

    overrides = json.loads(args.override)
    train_images = calibration_images(split, args.calib_images, seed=0)
    ckpt, network_note = prepare_network(bundle, work, overrides, train_images)
    untrained = network_note.startswith("untrained")
    t0 = time.perf_counter()
    export = export_bundle_onnx(bundle, work / f"{name}.onnx", ckpt, overrides)
    t1 = time.perf_counter()
    q = quantize_bundle(bundle, split, work / f"{name}_int8.onnx", export["filepath"], max_images=args.calib_images,
                        overrides=overrides)
    t2 = time.perf_counter()
    print(f"\n== {bundle.name}: network {network_note}; input {export['input_shape']}")
    print(f"ONNX export {t1 - t0:.0f} s: ONNX Runtime vs torch max abs difference {export['max_abs_diff']:.3g} "
          f"(relative {export['max_rel_diff']:.3g}); int8 calibration on {q['images']} training images "
          f"{t2 - t1:.0f} s")
    fp32, int8 = export["filepath"], q["model"]
    ort, ov = {"backend": "onnxruntime"}, {"backend": "openvino"}
    configs = [("torch fp32", {"backend": "torch"}, None),
               ("onnxruntime fp32", {**ort, "deploy_model": fp32}, lambda: USOnnxRuntimeInferer(fp32)),
               ("onnxruntime int8", {**ort, "deploy_model": int8}, lambda: USOnnxRuntimeInferer(int8)),
               ("openvino fp32", {**ov, "deploy_model": fp32}, lambda: USOpenVINOInferer(fp32)),
               ("openvino int8", {**ov, "deploy_model": int8}, lambda: USOpenVINOInferer(int8))]
    if has_bf16:
        configs.append(("openvino bf16", {"backend": "openvino", "deploy_model": fp32, "openvino_precision": "bf16"},
                        lambda: USOpenVINOInferer(fp32, precision="bf16")))
    if untrained:
        # an untrained network's masks are noise: its contour SR would be ~12 MB per 30 frames and its writing would
        # dominate the run; the masks are still written as PNGs
        overrides = {**overrides, "handlers": [{"_target_": "StatsHandler", "iteration_log": False}]}
        print("SR / SEG writers off for the clip runs (untrained network); PNG masks are written")
    rows = {}
    for label, backend, _ in configs:
        run_overrides = {**overrides, **backend, "checkpointloader#load_path": str(ckpt)}
        r = run_clip(bundle, clip, work / f"out_{name}_{label.replace(' ', '_')}", run_overrides, args.threads)
        rows[label] = r
        print(f"  ran {label}: {args.frames / r['seconds']:.2f} frames/s", flush=True)
    # agreement on the phantom test split, every backend against torch fp32
    parser = read_inference_config(bundle, json.loads(args.override))
    network = load_network_weights(parser.get_parsed_content("network_def"), ckpt).eval()
    torch.set_num_threads(args.threads)
    runners = {"torch fp32": lambda x: network(x.as_tensor())}
    runners.update({label: make() for label, _, make in configs if make is not None})
    with torch.no_grad():
        agreement = segmentation_agreement(bundle, runners, split, reference="torch fp32",
                                           overrides=json.loads(args.override), max_images=args.test_images)
    structures = list(agreement["torch fp32"]["dice"])
    print(f"agreement on {agreement['torch fp32']['images']} phantom test images (Dice of the masks against torch fp32 "
          f"per structure; test Dice against the labels, mean over {', '.join(structures)}):")
    print("  frames/s: end to end (decode, pre-processing, network, inversion, PNG, SR/SEG when on); network ms / "
          "fps: the network call alone (wall clock, first call excluded); speed-up: its frames/s over torch fp32; "
          "CPU ms: process CPU time per network call, and its speed-up (steadier than wall time when other jobs share "
          "the CPU); peak MB: process peak RSS; inference MB: its growth during inference; vs torch: lowest "
          "per-structure Dice of the masks against torch fp32")
    header = (f"  {'backend':<18} {'frames/s':>9} {'network ms':>11} {'network fps':>12} {'speed-up':>9} "
              f"{'CPU ms':>12} {'speed-up':>9} {'peak MB':>8} {'inference MB':>13} {'vs torch':>9} {'test Dice':>10}")
    print(header)
    def network_fps(r: dict, column: int = 0) -> float:
        calls = r["network"][1:] or r["network"]  # the first call carries one-time costs (allocation, compilation)
        return len(calls) / max(sum(c[column] for c in calls), 1e-9)

    base, base_cpu = network_fps(rows["torch fp32"]), network_fps(rows["torch fp32"], 1)
    for label in rows:
        r, a = rows[label], agreement[label]
        fps, cpu_fps = network_fps(r), network_fps(r, 1)
        print(f"  {label:<18} {args.frames / r['seconds']:>9.2f} {1000 / fps:>11.0f} {fps:>12.2f} {fps / base:>8.2f}x "
              f"{1000 / cpu_fps:>12.0f} {cpu_fps / base_cpu:>8.2f}x {process_peak_mb(r):>8.0f} "
              f"{r['peak_mb'] - r['base_mb']:>13.0f} {min(a['agreement'].values()):>9.4f} {a['mean_dice']:>10.4f}")
    fps = {label: network_fps(r) for label, r in rows.items()}
    cpu = {label: network_fps(r, 1) for label, r in rows.items()}
    e2e = {label: args.frames / r["seconds"] for label, r in rows.items()}
    return {"fps": fps, "cpu": cpu, "e2e": e2e, "agreement": agreement, "note": network_note, "runs": rows,
            "export": export, "calibration_images": q["images"]}


def compare(args: argparse.Namespace) -> int:
    from monai_ext.data import make_split_file, write_phantom_dataset

    root = Path(__file__).resolve().parents[1]
    model, vnni, bf16 = cpu_report()
    print(f"threads: {args.threads}; clip: {args.frames} frames; calibration: at most {args.calib_images} training "
          "images; agreement: phantom test split")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.keep or tmp)
        work.mkdir(parents=True, exist_ok=True)
        clip = write_clip(work, args.frames, args.size, args.raw)
        for name in args.bundles:
            bundle = root / "bundles" / COMPARE_BUNDLES[name]
            task = json.loads((bundle / "configs" / "inference.json").read_text())["task"]
            data = write_phantom_dataset(work / f"phantom_{task}", task=task, num=args.phantom_images, size=args.size,
                                         seed=0)
            split = make_split_file(data, val=0.1, test=0.2, labeled=0.125, seed=0)
            results[name] = compare_bundle(name, bundle, work, split, clip, args, bf16)
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        Path(args.json).write_text(json.dumps({"cpu": model, "threads": args.threads, "results": results}, indent=1,
                                              default=str))
    if "mgcc" in results:
        r = results["mgcc"]
        best = max((k for k in r["fps"] if "int8" in k), key=r["fps"].get)
        target = 3.0 if vnni else 1.5
        ratio, ratio_e2e = r["fps"][best] / r["fps"]["torch fp32"], r["e2e"][best] / r["e2e"]["torch fp32"]
        ratio_cpu = r["cpu"][best] / r["cpu"]["torch fp32"]
        worst = min(r["agreement"][best]["agreement"].values())
        print(f"full-size MGCC on {model}, {args.threads} thread(s): best int8 backend {best}, network "
              f"{r['fps'][best]:.2f} frames/s = {ratio:.2f}x torch fp32 ({r['fps']['torch fp32']:.2f} frames/s), end "
              f"to end {ratio_e2e:.2f}x, CPU time {ratio_cpu:.2f}x; target {target}x ({'VNNI' if vnni else 'no VNNI'}) "
              f"{'met' if ratio >= target else 'NOT met'}; its lowest mask Dice against torch fp32 {worst:.4f} "
              f"({r['note']})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", nargs="?", help="bundle folder, e.g. bundles/meanteacher_us_segmentation")
    parser.add_argument("--compare", action="store_true", help="all backends for the U-Net and full-size MGCC")
    parser.add_argument("--bundles", nargs="+", choices=sorted(COMPARE_BUNDLES), default=["supervised", "mgcc"],
                        help="--compare: bundles to run (default both)")
    parser.add_argument("--frames", type=int, default=None, help="clip length (default 120; 30 with --compare)")
    parser.add_argument("--size", type=int, default=256, help="phantom image size (the frame is size*9/8 x size)")
    parser.add_argument("--task", default="", help="bundle task override (default: the bundle's own)")
    parser.add_argument("--raw", action="store_true", help="uncompressed clip instead of JPEG Baseline")
    parser.add_argument("--threads", type=int, default=2, help="torch / OpenMP / runtime threads")
    parser.add_argument("--override", default="{}", help="extra config overrides as JSON")
    parser.add_argument("--calib-images", type=int, default=100, help="--compare: int8 calibration images (<= 100)")
    parser.add_argument("--phantom-images", type=int, default=120, help="--compare: phantom dataset size")
    parser.add_argument("--test-images", type=int, default=None, help="--compare: use only the first test images")
    parser.add_argument("--keep", default="", help="keep clip and outputs in this folder")
    parser.add_argument("--json", default="", help="--compare: also write every figure to this JSON file")
    args = parser.parse_args(argv)
    if args.frames is None:
        args.frames = 30 if args.compare else 120
    if args.compare:
        return compare(args)
    if not args.bundle:
        parser.error("give a bundle folder, or --compare")
    return single(args)


if __name__ == "__main__":
    sys.exit(main())
