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

"""Peak memory of reading a DICOM ultrasound clip frame by frame versus all at once.

Writes one phantom clip (``monai_ext.io.write_phantom_clip``, 120 frames by default), then, each in a fresh
subprocess, reads its first 30 frames and all 120 frames

- through the streaming API ``monai_ext.io.iter_us_frames`` (one processed frame at a time), and
- for contrast through ``pydicom.dcmread(path).pixel_array`` (the whole clip decoded at once, whatever the count),
- and through ``LoadImage(reader=UltrasoundDicomReader(...))`` (the whole clip as one float32 array),

and prints the resident set size after the imports, the peak RSS while reading (Linux ``VmHWM``, reset after the
imports through ``/proc/self/clear_refs``; ``ru_maxrss`` elsewhere, which then includes the import peak), the
growth, and the time.
Streaming should not grow with the number of frames; the whole-clip reads do.

Usage: ``python scripts/bench_dicom_memory.py [--size 384] [--frames 30 120] [--raw] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

__all__ = ["main"]

_CHILD = r"""
import json, resource, sys, time
import numpy as np
import pydicom
from monai.transforms import LoadImage
from monai_ext.io import UltrasoundDicomReader, iter_us_frames
from monai_ext.utils import process_status_mb as status, reset_peak_rss


path, mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
# Imports (torch, monai) peak far above what reading needs: reset the kernel's peak-RSS counter (VmHWM) first.
reset = reset_peak_rss()
base = status("VmRSS") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t0 = time.perf_counter()
checksum = 0.0
if mode == "stream":
    for _, frame, _ in iter_us_frames(path, frames=list(range(n)), overlay_policy="none", warn_uncalibrated=False):
        checksum += float(frame.mean())
elif mode == "stream_overlay":
    for _, frame, _ in iter_us_frames(path, frames=list(range(n)), overlay_policy="blank", warn_uncalibrated=False):
        checksum += float(frame.mean())
elif mode == "pixel_array":
    arr = pydicom.dcmread(path).pixel_array[:n]
    checksum = float(arr.mean())
elif mode == "loadimage":
    img = LoadImage(reader=UltrasoundDicomReader(frames=list(range(n)), overlay_policy="none"), image_only=True)(path)
    checksum = float(img.mean())
else:
    raise SystemExit(f"unknown mode {mode}")
seconds = time.perf_counter() - t0
peak = status("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"mode": mode, "frames": n, "base_mb": base, "peak_mb": peak, "growth_mb": peak - base,
                  "seconds": seconds, "checksum": checksum, "peak_reset": reset}))
"""


def _run(path: str, mode: str, frames: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, path, mode, str(frames)], capture_output=True, text=True, env=env, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{mode}/{frames} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=384, help="phantom image size (pixels)")
    parser.add_argument("--frames", type=int, nargs="+", default=[30, 120], help="frame counts to read")
    parser.add_argument("--raw", action="store_true", help="uncompressed clip instead of JPEG Baseline")
    parser.add_argument("--modes", nargs="+", default=["stream", "stream_overlay", "pixel_array", "loadimage"])
    parser.add_argument("--keep", default="", help="write the clip into this folder and keep it")
    args = parser.parse_args(argv)

    from monai_ext.io import write_phantom_clip

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or tmp
        clip = os.path.join(folder, f"bench_clip_{'raw' if args.raw else 'jpeg'}_{args.size}.dcm")
        t0 = time.perf_counter()
        write_phantom_clip(clip, task="cardiac", frames=max(args.frames), size=args.size, seed=0, jpeg=not args.raw)
        print(
            f"clip: {clip} ({os.path.getsize(clip) / 1e6:.1f} MB, {max(args.frames)} frames, "
            f"{'uncompressed' if args.raw else 'JPEG Baseline'}), written in {time.perf_counter() - t0:.1f} s"
        )
        print(f"{'mode':<15} {'frames':>6} {'RSS after import':>17} {'peak RSS':>9} {'growth':>9} {'time':>7}")
        for mode in args.modes:
            for n in args.frames:
                r = _run(clip, mode, n)
                print(
                    f"{mode:<15} {n:>6} {r['base_mb']:>14.1f} MB {r['peak_mb']:>6.1f} MB {r['growth_mb']:>6.1f} MB "
                    f"{r['seconds']:>6.2f}s"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
