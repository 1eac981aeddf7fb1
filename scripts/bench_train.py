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

``--compare-public mgcc|msmo_unet_msag|msmo_hconvlstm``: our training step against the public code's at the same
configuration, interleaved in one process (see ``compare_public``); the bundles' speed targets are ratios
ours / public from this mode, printed with the CPU model and flags and as one JSON line (``--json FILE`` also writes
it).

Usage: python scripts/bench_train.py BUNDLE [--mode train|step|infer] [--config quick|full] [--iterations N]
       [--warmup N] [--threads N] [--override '{"labeled_batch_size": 4}']
       python scripts/bench_train.py --compare-public mgcc --public-repo PATH [--size 128] [--dim-mult 1]
       [--objects 3] [--threads 1] [--repeats 5] [--memory-format channels_last|contiguous] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build_parser() -> argparse.ArgumentParser:
    """The command line of every mode."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", nargs="?", help="bundle name (bundles/<name>) or folder (not with --compare-public)")
    parser.add_argument("--mode", choices=["train", "step", "infer"], default="train",
                        help="train: the bundle trainer with data; step / infer: the network alone on random tensors")
    parser.add_argument("--config", choices=["quick", "full"], default="quick")
    parser.add_argument("--iterations", type=int, default=20, help="timed iterations")
    parser.add_argument("--warmup", type=int, default=None,
                        help="untimed iterations first (default 3; 1 per side with --compare-public)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--override", default="{}", help="JSON dict of extra config overrides")
    add_compare_arguments(parser)
    return parser


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    if args.compare_public:
        compare_public(args)
        return
    if args.bundle is None:
        parser.error("give a BUNDLE, or --compare-public mgcc|msmo_unet_msag|msmo_hconvlstm")
    if Path(args.bundle).name == "sabr_us_segmentation":
        # four stages with their own trainers and an inference with / without refinement: its own benchmark
        import subprocess

        cmd = [sys.executable, str(ROOT / "scripts" / "bench_sabr.py"), "--preset", args.config,
               "--iterations", str(args.iterations)]
        if args.warmup is not None:
            cmd += ["--skip", str(args.warmup)]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        raise SystemExit(subprocess.call(cmd))
    if args.warmup is None:
        args.warmup = 3

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



# --------------------------------------------------------------------------------------------------------------------
# ours against the public code: the speed targets are ratios measured side by side in one process

COMPARISONS = ("mgcc", "msmo_unet_msag", "msmo_hconvlstm")
# fp32 targets, ours / public; the public HConvLSTM computes the object-independent part of every gate convolution once
# per object (and the whole gate convolution on a zero state), ours once per call
FP32_LIMITS = {"mgcc": 1.05, "msmo_unet_msag": 1.05, "msmo_hconvlstm": 0.75}
BF16_LIMIT = 0.5  # ours under bfloat16 autocast against the public fp32 step
PUBLIC_REPO_ENV = {"mgcc": "MONAI_EXT_PUBLIC_MGCC", "msmo": "MONAI_EXT_PUBLIC_MSMO"}
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "avx512_vnni", "avx_vnni")
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``--compare-public``."""
    group = parser.add_argument_group("--compare-public (ours against the public code, one process, interleaved)")
    group.add_argument("--compare-public", choices=COMPARISONS, default=None,
                       help="network to compare: MGCC, MSMO with the U-Net + MSAG decoder, MSMO with HConvLSTM")
    group.add_argument("--public-repo", default=None,
                       help="local checkout of the public code (FengheTan9/"
                            "Multi-Level_Global_Context_Cross_Consistency for mgcc, lol88/MSMO for msmo_*); default: "
                            "$MONAI_EXT_PUBLIC_MGCC / $MONAI_EXT_PUBLIC_MSMO; without one, only our side is timed and "
                            "the ratios are skipped")
    group.add_argument("--size", type=int, default=128, help="square input size (divisible by 16)")
    group.add_argument("--dim-mult", type=float, default=1.0,
                       help="width multiplier (the public code needs an integer)")
    group.add_argument("--objects", type=int, default=None, help="output channels (MGCC: 1; MSMO default 3)")
    group.add_argument("--labeled", type=int, default=4, help="labelled images per batch")
    group.add_argument("--unlabeled", type=int, default=4, help="unlabelled images per batch")
    group.add_argument("--repeats", type=int, default=5, help="timed steps per side")
    group.add_argument("--memory-format", choices=["channels_last", "contiguous"], default="channels_last",
                       help="our network and batch (the bundles' default is channels_last; the public code runs NCHW)")
    group.add_argument("--bf16", choices=["auto", "on", "off"], default="auto",
                       help="time our step under bfloat16 autocast: auto = only on a CPU with native bfloat16")
    group.add_argument("--device", default="cpu", help="torch device of both sides")
    group.add_argument("--seed", type=int, default=0)
    group.add_argument("--json", default=None, help="also write the JSON line to this file")


def cpu_description(cpuinfo: str | None = None, lscpu: str | None = None) -> dict:
    """CPU model (lscpu 'Model name', else /proc/cpuinfo 'model name') and the flags that matter for the ratios.

    Args:
        cpuinfo: text of /proc/cpuinfo (read when None).
        lscpu: output of ``lscpu`` (run when None; tolerated missing).
    """
    import subprocess

    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    if lscpu is None:
        try:
            lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            lscpu = ""
    model = ""
    for line in lscpu.splitlines():
        if line.strip().startswith("Model name:"):
            model = line.split(":", 1)[1].strip()
            break
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and not model:
            model = value.strip()
        if key.strip() == "flags" and not flags:
            flags = set(value.split())
    native = [f for f in NATIVE_BF16_FLAGS if f in flags]
    return {"model": model or "unknown", "flags": {f: f in flags for f in CPU_FLAGS}, "native_bf16": bool(native)}


def evaluate_targets(comparison: str, ours_fp32: dict, public_fp32: dict | None, ours_bf16: dict | None) -> dict:
    """Ratios ours / public (of the minima and of the medians) and pass / fail against the targets.

    The pass / fail uses the ratio of the wall-clock medians. The ratios of process CPU time (``cpu_ratio_*``, when
    both sides have them) are the steadier figures on a loaded machine with one thread: other processes stretch the
    wall clock, not the CPU time a step needs. A figure whose side is missing is None.
    """
    def ratio(a: dict | None, b: dict | None, key: str) -> float | None:
        if a is None or b is None or key not in a or key not in b:
            return None
        return round(a[key] / b[key], 3)

    out: dict = {"fp32": {"limit": FP32_LIMITS[comparison]}, "bf16": {"limit": BF16_LIMIT}}
    for name, ours in (("fp32", ours_fp32), ("bf16", ours_bf16)):
        fig = out[name]
        fig["ratio_min"] = ratio(ours, public_fp32, "min")
        fig["ratio_median"] = ratio(ours, public_fp32, "median")
        fig["cpu_ratio_min"] = ratio(ours, public_fp32, "cpu_min")
        fig["cpu_ratio_median"] = ratio(ours, public_fp32, "cpu_median")
        fig["pass"] = None if fig["ratio_median"] is None else fig["ratio_median"] <= fig["limit"]
    return out


def _load_module(name: str, path: Path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"--public-repo: cannot load {path}.")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_public_code(comparison: str, repo: Path) -> tuple:
    """Import the public network file and its losses from a local checkout (nothing is copied or patched on disk).

    The public MSMO network file imports torchvision names it never uses; without torchvision installed, empty
    placeholder modules stand in for those imports while the file loads, and are removed afterwards.

    Returns:
        ``(network module, losses module, commit or None, notes)``.
    """
    import subprocess
    import types

    net_file, loss_file = repo / "src" / "network" / "MGCC.py", repo / "src" / "utils" / "losses.py"
    mgcc_repo = "FengheTan9/Multi-Level_Global_Context_Cross_Consistency"
    public = "lol88/MSMO" if comparison.startswith("msmo") else mgcc_repo
    for f in (net_file, loss_file):
        if not f.is_file():
            raise SystemExit(f"--public-repo {repo}: {f.relative_to(repo)} not found; give a checkout of {public}.")
    is_msmo_repo = "class CLSTM_Decoder" in net_file.read_text(errors="replace")
    if is_msmo_repo != comparison.startswith("msmo"):
        want = "lol88/MSMO (with CLSTM_Decoder)" if comparison.startswith("msmo") else "the MGCC repository"
        raise SystemExit(f"--public-repo {repo}: {net_file.relative_to(repo)} is not from {want}; --compare-public "
                         f"{comparison} needs a checkout of {want}.")
    notes: list[str] = []
    placeholders: list[str] = []
    if is_msmo_repo:
        try:
            import torchvision  # noqa: F401
        except ImportError:
            for mod_name in ("torchvision", "torchvision.transforms", "torchvision.models",
                             "torchvision.models.resnet"):
                sys.modules[mod_name] = types.ModuleType(mod_name)
                placeholders.append(mod_name)
            sys.modules["torchvision"].transforms = sys.modules["torchvision.transforms"]
            sys.modules["torchvision"].models = sys.modules["torchvision.models"]
            for attr in ("BasicBlock", "Bottleneck", "ResNet"):
                setattr(sys.modules["torchvision.models.resnet"], attr, None)
            notes.append("torchvision not installed: its unused imports in the public network file were satisfied by "
                         "empty modules")
    try:
        tag = "msmo" if is_msmo_repo else "mgcc"
        network = _load_module(f"public_{tag}_network", net_file)
        losses = _load_module(f"public_{tag}_losses", loss_file)
    finally:
        for mod_name in placeholders:
            sys.modules.pop(mod_name, None)
    try:
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return network, losses, commit, notes


def build_public_network(comparison: str, module, dim_mult: int, objects: int):
    """The public network at ``dim_mult``, built from the public classes.

    MGCC: its own ``MGCC(img_ch=3, length=(3, 3, 3), k=7, dim_mult)``. MSMO: its top-level class hard-codes
    ``dim_mult = 4`` (and replaces its ConvLSTM decoders by U-Net decoders), so the same pieces are composed here as
    that class composes them, at ``dim_mult``: residual encoder, three ConvMixer blocks, four decoders
    (``CLSTM_Decoder(hidden_size=128 * dim_mult, msag_dim=[16, 32, 64, 128])`` or ``Decoder``), and its own
    ``MGCC.forward``. The ConvLSTM cells hard-code ``.cuda()`` for their zero state; a zero state on the input's
    device is handed to them instead (the values are the same).
    """
    import types

    from torch import nn

    if comparison == "mgcc":
        return module.MGCC(img_ch=3, length=(3, 3, 3), k=7, dim_mult=dim_mult)
    args = types.SimpleNamespace(class_num=objects)
    d = dim_mult

    def make_decoder():
        if comparison == "msmo_hconvlstm":
            return module.CLSTM_Decoder(args=args, dim_mult=d, hidden_size=128 * d, with_masg=True,
                                        msag_dim=[16, 32, 64, 128])
        return module.Decoder(args=args, dim_mult=d, with_masg=True)

    def init(self):
        nn.Module.__init__(self)
        self.args = args
        self.Maxpool = nn.MaxPool2d(kernel_size=2, stride=2)
        widths = [3] + [16 * d * 2**i for i in range(5)]
        for i in range(5):
            setattr(self, f"Conv{i + 1}", module.ResidualBlock(in_channels=widths[i], out_channels=widths[i + 1]))
        for i in range(3):
            setattr(self, f"ConvMixer{i + 1}", module.ConvMixerBlock(dim=256 * d, depth=3, k=7))
        self.main_decoder = make_decoder()
        self.aux_decoder1, self.aux_decoder2, self.aux_decoder3 = make_decoder(), make_decoder(), make_decoder()

    net = type("PublicMSMOComposed", (nn.Module,), {"__init__": init, "forward": module.MGCC.forward})()
    for cell in net.modules():
        if isinstance(cell, module.ConvLSTMCell):
            _zero_state_on_input_device(cell)
    return net


def _zero_state_on_input_device(cell) -> None:
    public_forward = cell.forward

    def forward(input_, prev_state_spatial):
        if prev_state_spatial is None:
            shape = [input_.shape[0], cell.hidden_size, *input_.shape[2:]]
            prev_state_spatial = (input_.new_zeros(shape), input_.new_zeros(shape))
        return public_forward(input_, prev_state_spatial)

    cell.forward = forward


def public_step_fn(comparison: str, net, losses_module, x, y, n_l: int, objects: int, weight: float = 1.0):
    """One training step as the public ``train.py`` computes it: its ``BCEDiceLoss`` on the labelled slice of all four
    heads (MSMO: per object, averaged over objects), the MSE between the main and each auxiliary sigmoid on the
    unlabelled slice, ``zero_grad``, backward, SGD step."""
    import torch

    criterion = losses_module.BCEDiceLoss()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=0.0001)

    def terms(outs, soft, idx):
        sup = sum(criterion(o[(slice(None, n_l),) + idx], y[(slice(None, n_l),) + idx]) for o in outs) / 4
        cons = sum(torch.mean((soft[0][(slice(n_l, None),) + idx] - s[(slice(n_l, None),) + idx]) ** 2)
                   for s in soft[1:]) / 3
        return sup + weight * cons

    def step():
        net.train()
        outs = net(x)
        soft = [torch.sigmoid(o) for o in outs]
        if comparison == "mgcc":
            loss = terms(outs, soft, ())
        else:
            loss = sum(terms(outs, soft, (i,)) for i in range(objects)) / objects
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    return step


def our_step_fn(comparison: str, net, x_l, y_l, x_u, device: str, amp: bool, weight: float = 1.0):
    """One training step of ours exactly as :class:`~monai_ext.engines.SemiSupervisedTrainer` runs it: gradients set
    to None, the bundle's method and loss under :class:`~monai_ext.engines.USMixedPrecision` (bfloat16 autocast when
    ``amp``), backward, SGD step."""
    import torch

    from monai_ext.engines import CrossConsistencyMethod, USMixedPrecision
    from monai_ext.losses import USBCEDiceLoss

    method = CrossConsistencyMethod(USBCEDiceLoss(0.5, 1.0, 1e-5), activation="sigmoid")
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=0.0001)
    mixed = USMixedPrecision(amp, device, "bfloat16")

    def step():
        net.train()
        optimizer.zero_grad(set_to_none=True)
        with mixed.autocast():
            _, losses = method(net, x_l, y_l, x_u, weight)
        mixed.backward(losses["loss"])
        mixed.step(optimizer)
        mixed.update()
        return losses["loss"]

    return step


def _timed(step, device) -> tuple[float, float]:
    """Wall-clock and process CPU seconds of one step."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t, c = time.perf_counter(), time.process_time()
    step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t, time.process_time() - c


def _gflop(step) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    return round(counter.get_total_flops() / 1e9, 1)


def _summary(times: list[tuple[float, float]]) -> dict:
    import statistics

    wall, cpu = [t[0] for t in times], [t[1] for t in times]
    return {"min": round(min(wall), 4), "median": round(statistics.median(wall), 4),
            "times": [round(t, 4) for t in wall], "cpu_min": round(min(cpu), 4),
            "cpu_median": round(statistics.median(cpu), 4)}


def compare_public(args: argparse.Namespace) -> dict:
    """Time our training step against the public code's at one configuration, interleaved in one process.

    Both sides get the same fixed random batch (``labeled + unlabeled`` images, 3 channels, ``size`` px; binary labels,
    one channel per object), are built with the same seed, use SGD 0.01 / 0.9 / 1e-4 and a consistency weight of 1;
    data loading is excluded. Each repeat runs ours (fp32), the public step (fp32) and, when enabled, ours under
    bfloat16 autocast, in that order, so slow phases of a loaded machine hit every side alike. Reported: min and
    median seconds per step of each side, the ratios ours / public, parameter counts, GFLOP per step
    (``torch.utils.flop_counter``, one step), the CPU model and flags, the load average, and pass / fail against the
    targets (``FP32_LIMITS``, ``BF16_LIMIT``). The bfloat16 figure is skipped on a CPU without native bfloat16
    (``avx512_bf16`` or ``amx_bf16``).
    """
    import os

    import numpy as np
    import torch

    comparison = args.compare_public
    objects = args.objects if args.objects is not None else (1 if comparison == "mgcc" else 3)
    if comparison == "mgcc" and objects != 1:
        raise SystemExit(f"--objects {objects}: the public MGCC has one output channel; use --objects 1 for mgcc.")
    if args.size < 16 or args.size % 16:
        raise SystemExit(f"--size {args.size}: must be a positive multiple of 16.")
    for name, value in (("objects", objects), ("labeled", args.labeled), ("unlabeled", args.unlabeled),
                        ("repeats", args.repeats)):
        if value < 1:
            raise SystemExit(f"--{name} {value}: must be at least 1.")
    warmup = 1 if args.warmup is None else args.warmup
    if warmup < 0:
        raise SystemExit(f"--warmup {warmup}: must be at least 0.")
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    cpu = cpu_description()
    load_before = list(os.getloadavg())

    family = "mgcc" if comparison == "mgcc" else "msmo"
    repo_arg = args.public_repo or os.environ.get(PUBLIC_REPO_ENV[family])
    public_skipped = None
    if not repo_arg:
        public_skipped = (f"no public checkout given (--public-repo or ${PUBLIC_REPO_ENV[family]}): only our side is "
                          "timed, the ratios are skipped")
    elif float(args.dim_mult) != int(args.dim_mult):
        public_skipped = f"--dim-mult {args.dim_mult}: the public code needs an integer width multiplier"
    if args.bf16 == "off":
        bf16_skipped = "--bf16 off"
    elif device.type == "cpu" and not cpu["native_bf16"] and args.bf16 == "auto":
        bf16_skipped = ("this CPU has no native bfloat16 (neither avx512_bf16 nor amx_bf16 in /proc/cpuinfo): "
                        "bfloat16 would be emulated, so the figure says nothing about the target")
    else:
        bf16_skipped = None

    fmt = torch.channels_last if args.memory_format == "channels_last" else torch.contiguous_format
    g = torch.Generator().manual_seed(args.seed)
    shape = (3, args.size, args.size)
    x_l = torch.randn(args.labeled, *shape, generator=g)
    x_u = torch.randn(args.unlabeled, *shape, generator=g)
    y_l = (torch.rand(args.labeled, objects, args.size, args.size, generator=g) > 0.7).float()

    from monai_ext.networks.nets import MGCCNet, MSMONet

    def make_ours():
        torch.manual_seed(args.seed)
        if comparison == "mgcc":
            net = MGCCNet(in_channels=3, out_channels=1, dim_mult=args.dim_mult)
        else:
            net = MSMONet(in_channels=3, out_channels=objects, decoder=comparison[len("msmo_"):],
                          dim_mult=args.dim_mult)
        return net.to(device, memory_format=fmt)

    batch = [t.to(device).contiguous(memory_format=fmt) for t in (x_l, y_l, x_u)]
    ours_fp32_net = make_ours()
    sides = {"ours_fp32": our_step_fn(comparison, ours_fp32_net, batch[0], batch[1], batch[2], args.device, False)}
    if bf16_skipped is None:
        sides["ours_bf16"] = our_step_fn(comparison, make_ours(), batch[0], batch[1], batch[2], args.device, True)
    result: dict = {
        "mode": "compare_public", "comparison": comparison,
        "config": {"size": args.size, "dim_mult": args.dim_mult, "objects": objects, "labeled": args.labeled,
                   "unlabeled": args.unlabeled, "memory_format_ours": args.memory_format,
                   "memory_format_public": "contiguous", "threads": torch.get_num_threads(), "repeats": args.repeats,
                   "warmup": warmup, "device": str(device), "seed": args.seed},
        "cpu": cpu, "torch": torch.__version__,
        "torch_cpu_capability": getattr(torch.backends.cpu, "get_cpu_capability", lambda: None)(),
        "ours": {"parameters": sum(p.numel() for p in ours_fp32_net.parameters())},
        "public": None, "public_skipped": public_skipped, "bf16_skipped": bf16_skipped, "notes": [],
    }
    public_net = None
    if public_skipped is None:
        repo = Path(repo_arg).expanduser().resolve()
        net_module, loss_module, commit, notes = load_public_code(comparison, repo)
        result["notes"] += notes
        torch.manual_seed(args.seed)
        np.random.seed(args.seed)
        public_net = build_public_network(comparison, net_module, int(args.dim_mult), objects).to(device)
        x_public = torch.cat([x_l, x_u]).to(device)
        sides["public_fp32"] = public_step_fn(comparison, public_net, loss_module, x_public, y_l.to(device),
                                              args.labeled, objects)
        result["public"] = {"repo": str(repo), "commit": commit,
                            "parameters": sum(p.numel() for p in public_net.parameters())}

    order = [k for k in ("ours_fp32", "public_fp32", "ours_bf16") if k in sides]
    for _ in range(warmup):
        for k in order:
            sides[k]()
    result["ours"]["gflop_per_step"] = _gflop(sides["ours_fp32"])
    if public_net is not None:
        result["public"]["gflop_per_step"] = _gflop(sides["public_fp32"])
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in order}
    for _ in range(args.repeats):
        for k in order:
            times[k].append(_timed(sides[k], device))
    result["ours"]["fp32"] = _summary(times["ours_fp32"])
    result["ours"]["bf16"] = _summary(times["ours_bf16"]) if "ours_bf16" in times else None
    if public_net is not None:
        result["public"]["fp32"] = _summary(times["public_fp32"])
    result["targets"] = evaluate_targets(comparison, result["ours"]["fp32"],
                                         result["public"]["fp32"] if public_net is not None else None,
                                         result["ours"]["bf16"])
    result["load_average"] = {"before": [round(v, 2) for v in load_before],
                              "after": [round(v, 2) for v in os.getloadavg()]}
    _print_comparison(result)
    line = json.dumps(result)
    print(line)
    sys.stdout.flush()
    if args.json:
        Path(args.json).write_text(line + "\n")
    return result


def _print_comparison(r: dict) -> None:
    c, cpu = r["config"], r["cpu"]
    flags = " ".join(f"{f}{'+' if on else '-'}" for f, on in cpu["flags"].items())
    print(f"CPU: {cpu['model']} ({flags}); native bfloat16: {'yes' if cpu['native_bf16'] else 'no'}; "
          f"torch {r['torch']} ({r['torch_cpu_capability']}), {c['threads']} threads, load {r['load_average']}")
    print(f"{r['comparison']}: {c['labeled']} + {c['unlabeled']} at {c['size']}x{c['size']}, dim_mult {c['dim_mult']}, "
          f"{c['objects']} object(s), {c['repeats']} interleaved repeats after {c['warmup']} warm-up, ours "
          f"{c['memory_format_ours']}, public contiguous")
    o, p = r["ours"], r["public"]
    print(f"  ours   fp32: min {o['fp32']['min']:.3f} s, median {o['fp32']['median']:.3f} s "
          f"(CPU {o['fp32']['cpu_min']:.3f} / {o['fp32']['cpu_median']:.3f} s); "
          f"{o['parameters']:,} parameters, {o['gflop_per_step']} GFLOP per step")
    if o["bf16"] is not None:
        print(f"  ours   bf16: min {o['bf16']['min']:.3f} s, median {o['bf16']['median']:.3f} s "
              f"(CPU {o['bf16']['cpu_min']:.3f} / {o['bf16']['cpu_median']:.3f} s; autocast bfloat16)")
    if p is not None:
        print(f"  public fp32: min {p['fp32']['min']:.3f} s, median {p['fp32']['median']:.3f} s "
              f"(CPU {p['fp32']['cpu_min']:.3f} / {p['fp32']['cpu_median']:.3f} s); "
              f"{p['parameters']:,} parameters, {p['gflop_per_step']} GFLOP per step ({p['repo']} @ {p['commit']})")
    else:
        print(f"  public: skipped ({r['public_skipped']})")
    for name in ("fp32", "bf16"):
        t = r["targets"][name]
        if name == "bf16" and r["bf16_skipped"]:
            print(f"  bf16 target (<= {t['limit']}x public fp32): skipped: {r['bf16_skipped']}")
        elif t["ratio_median"] is None:
            print(f"  {name} target (<= {t['limit']}x public fp32): no ratio (public side skipped)")
        else:
            print(f"  {name} ours / public fp32: {t['ratio_median']:.3f} (medians), {t['ratio_min']:.3f} (minima); "
                  f"CPU time {t['cpu_ratio_median']:.3f} / {t['cpu_ratio_min']:.3f}; "
                  f"target <= {t['limit']}: {'PASS' if t['pass'] else 'FAIL'}")
    for note in r["notes"]:
        print(f"  note: {note}")


if __name__ == "__main__":
    main()
