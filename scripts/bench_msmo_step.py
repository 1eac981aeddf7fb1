#!/usr/bin/env python
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
"""Time one MSMO training step (forward of the four heads, losses, backward, SGD step; data loading excluded) and
the eval forward (inference, main decoder only), and report the peak resident memory of the process.

The step is the bundle's: ``CrossConsistencyMethod(USBCEDiceLoss(0.5, 1.0, 1e-5), activation="sigmoid")`` on
``cat[x_labelled, x_unlabelled]``, SGD 0.01 / 0.9 / 1e-4, gradients set to None. Inputs
are fixed random tensors created once (no data pipeline), labels random binary maps, one channel per object.

Run one configuration per process (the peak RSS is the process's), under the shared lock::

    flock /work/heavy.lock python scripts/bench_msmo_step.py --decoder hconvlstm --dim-mult 1 --size 128 --objects 3
    flock /work/heavy.lock python scripts/bench_msmo_step.py --dim-mult 4 --size 256 --objects 3 --checkpoint-aux

Prints one line of JSON (``--json FILE`` also writes it).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

__all__ = ["main"]


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--decoder", choices=["hconvlstm", "unet_msag"], default="hconvlstm")
    p.add_argument("--dim-mult", type=int, default=1)
    p.add_argument("--size", type=int, default=128, help="square input size (divisible by 16)")
    p.add_argument("--objects", type=int, default=3, help="number of objects (output channels)")
    p.add_argument("--labeled", type=int, default=4, help="labelled images per batch")
    p.add_argument("--unlabeled", type=int, default=4, help="unlabelled images per batch")
    p.add_argument("--iterations", type=int, default=5, help="timed training steps (0 with --warmup 0: inference only)")
    p.add_argument("--warmup", type=int, default=2, help="untimed training steps first")
    p.add_argument("--infer-iterations", type=int, default=5, help="timed eval forwards at batch 1 (0: skip)")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    p.add_argument("--channels-last", action="store_true", help="network and inputs in channels_last")
    p.add_argument("--checkpoint-aux", action="store_true", help="activation checkpointing of the aux decoders")
    p.add_argument("--checkpoint-main", action="store_true", help="activation checkpointing of the main decoder too")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="also write the result to this file")
    return p.parse_args()


def main() -> None:
    args = _parse()
    import torch

    from monai_ext.engines import CrossConsistencyMethod
    from monai_ext.losses import USBCEDiceLoss
    from monai_ext.networks.nets import MSMONet

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    net = MSMONet(
        out_channels=args.objects,
        decoder=args.decoder,
        dim_mult=args.dim_mult,
        checkpoint_aux_decoders=args.checkpoint_aux,
        checkpoint_main_decoder=args.checkpoint_main,
    ).to(memory_format=fmt)
    method = CrossConsistencyMethod(USBCEDiceLoss(0.5, 1.0, 1e-5), activation="sigmoid")
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    shape = (3, args.size, args.size)
    x_l = torch.randn(args.labeled, *shape).contiguous(memory_format=fmt)
    x_u = torch.randn(args.unlabeled, *shape).contiguous(memory_format=fmt)
    y_l = (torch.rand(args.labeled, args.objects, args.size, args.size) > 0.7).float()
    rss_built = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def step() -> float:
        net.train()
        opt.zero_grad(set_to_none=True)
        _, losses = method(net, x_l, y_l, x_u, 0.1)
        losses["loss"].backward()
        opt.step()
        return float(losses["loss"].detach())

    times = []
    loss = float("nan")
    for k in range(args.warmup + args.iterations):
        t = time.perf_counter()
        loss = step()
        if k >= args.warmup:
            times.append(time.perf_counter() - t)
    rss_train = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    infer_ms = None
    if args.infer_iterations > 0:
        net.eval()
        x1 = torch.randn(1, *shape).contiguous(memory_format=fmt)
        with torch.inference_mode():
            net(x1)
            ts = []
            for _ in range(args.infer_iterations):
                t = time.perf_counter()
                net(x1)
                ts.append(time.perf_counter() - t)
        infer_ms = 1000 * statistics.median(ts)

    result = {
        "decoder": args.decoder,
        "dim_mult": args.dim_mult,
        "size": args.size,
        "objects": args.objects,
        "batch": f"{args.labeled}+{args.unlabeled}",
        "threads": torch.get_num_threads(),
        "channels_last": args.channels_last,
        "checkpoint_aux": args.checkpoint_aux,
        "checkpoint_main": args.checkpoint_main,
        "params": net.parameter_count(),
        "step_s_mean": round(statistics.mean(times), 3) if times else None,
        "step_s_median": round(statistics.median(times), 3) if times else None,
        "step_s_min": round(min(times), 3) if times else None,
        "timed_steps": len(times),
        "infer_ms_per_image": None if infer_ms is None else round(infer_ms, 1),
        "peak_rss_gib_after_build": round(rss_built / 2**20, 2),
        "peak_rss_gib_train": round(rss_train / 2**20, 2),
        "last_loss": round(loss, 4),
    }
    line = json.dumps(result)
    print(line)
    sys.stdout.flush()
    if args.json:
        Path(args.json).write_text(line + "\n")


if __name__ == "__main__":
    main()
