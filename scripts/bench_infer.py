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

def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024  # kB -> MB
    return float("nan")

import torch
import monai_ext.inference.results_writer as rw
from monai_ext.inference import run_bundle_inference

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
peak_imports = status("VmHWM")
try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM: the imports (torch, monai, highdicom) peak above steady state
    reset = True
except OSError:
    reset = False
base = status("VmRSS")
cpu0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
written = run_bundle_inference(bundle, [clip], out, overrides)
seconds = time.perf_counter() - t0
cpu1 = resource.getrusage(resource.RUSAGE_SELF)
cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "write_seconds": writing[0], "base_mb": base,
                  "peak_mb": status("VmHWM") if reset else float("nan"), "peak_imports_mb": peak_imports,
                  "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "written": [str(p) for p in written]}))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", help="bundle folder, e.g. bundles/meanteacher_us_segmentation")
    parser.add_argument("--frames", type=int, default=120, help="clip length")
    parser.add_argument("--size", type=int, default=256, help="phantom image size (the frame is size*9/8 x size)")
    parser.add_argument("--task", default="", help="bundle task override (default: the bundle's own)")
    parser.add_argument("--raw", action="store_true", help="uncompressed clip instead of JPEG Baseline")
    parser.add_argument("--threads", type=int, default=2, help="torch / OpenMP threads")
    parser.add_argument("--override", default="{}", help="extra config overrides as JSON")
    parser.add_argument("--keep", default="", help="keep clip and outputs in this folder")
    args = parser.parse_args(argv)

    from monai_ext.io import write_phantom_clip

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
        clip = folder / f"bench_clip_{args.frames}f_{args.size}px.dcm"
        t0 = time.perf_counter()
        write_phantom_clip(clip, task="cardiac", frames=args.frames, size=args.size, seed=0, jpeg=not args.raw)
        print(
            f"clip: {args.frames} frames of {args.size + args.size // 8} x {args.size} px, "
            f"{'uncompressed' if args.raw else 'JPEG Baseline'}, {clip.stat().st_size / 1e6:.1f} MB, "
            f"written in {time.perf_counter() - t0:.1f} s"
        )
        print(f"bundle: {bundle.name}; network: {network}; overrides: {overrides}; threads: {args.threads}")
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, str(bundle), str(clip), str(folder / "out"), json.dumps(overrides),
             str(args.threads)],
            capture_output=True, text=True, env=env, check=False,
        )
        if proc.returncode != 0:
            print(proc.stdout[-3000:], proc.stderr[-6000:], file=sys.stderr)
            return 1
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        names = [Path(p).name for p in r["written"]]
        pngs = len(list((folder / "out").glob("*.png")))
        print(f"outputs: {pngs} PNG masks; DICOM: {', '.join(names)}")
        print(
            f"frames per second: {args.frames / r['seconds']:.2f} (end to end: loading, network, inversion, PNG, "
            f"SR/SEG)\ntotal seconds: {r['seconds']:.1f} (of which writing SR/SEG: {r['write_seconds']:.1f}); CPU "
            f"seconds {r['cpu_seconds']:.1f} (about wall seconds x {args.threads} thread(s) on an idle machine)\n"
            f"peak RSS: {r['ru_maxrss_mb']:.0f} MB (process, incl. imports {r['peak_imports_mb']:.0f} MB); "
            f"during inference {r['peak_mb']:.0f} MB, growth over the {r['base_mb']:.0f} MB after imports "
            f"{r['peak_mb'] - r['base_mb']:.0f} MB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
