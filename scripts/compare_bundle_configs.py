# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Do two versions of a bundle's configs build the same components? Prints every difference of the resolved configs.

Compares the configs of the working tree with those of a git revision (e.g. before a refactoring of bundles/_base,
or another branch whose direct edits of generated files were ported into the base), bundle by bundle::

    python scripts/compare_bundle_configs.py --old-rev 536ba05 [--bundles mgcc_us_segmentation,...]

Each workflow (train.json; train.json + evaluate.json; train.json + multi_gpu_train.json at rank 0 and at rank 1;
inference.json) of both versions is parsed with ``monai.bundle.ConfigParser`` on the same 24-image 64 px phantom
dataset, and every top-level id is resolved (nothing is run). Values are compared recursively: plain values by
equality, tensors by value, every object built from a ``_target_`` by its class and the arguments it was built with
(signature defaults filled in, so an argument passed with its default value equals an absent one), functions by
their expression text or, when the texts differ, by their output on a random tensor. Ids present in one version
only are listed. The multi-GPU workflow runs with a fake rank and world size of 2 and a stand-in for
``DistributedDataParallel`` that records its arguments, so no process group or GPU is needed.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
BUNDLES = ("supervised_us_segmentation", "meanteacher_us_segmentation", "cct_us_segmentation",
           "mgcc_us_segmentation", "msmo_us_segmentation")
WORKFLOWS = {"train": ["train.json"], "evaluate": ["train.json", "evaluate.json"],
             "multi_gpu@0": ["train.json", "multi_gpu_train.json"],
             "multi_gpu@1": ["train.json", "multi_gpu_train.json"], "inference": ["inference.json"]}
NOT_RESOLVED = ("initialize", "run", "finalize", "_meta_")  # they run the workflow: compared as text

BUILT: dict[int, tuple[str, dict]] = {}  # id(object) -> (component path, bound arguments)
EXPRESSIONS: dict[int, str] = {}  # id(value) -> the expression text that made it
KEEP: list = []  # keeps recorded objects alive so that their ids are not reused


def _install_recorders() -> None:
    from monai.bundle.config_item import ComponentLocator, ConfigComponent, ConfigExpression

    instantiate, evaluate = ConfigComponent.instantiate, ConfigExpression.evaluate

    def recorded_instantiate(self, **kwargs):
        obj = instantiate(self, **kwargs)
        if obj is not None:
            name, args = self.resolve_module_name(), dict(self.resolve_args(), **kwargs)
            with contextlib.suppress(TypeError, ValueError):
                module = ComponentLocator().get_component_module_name(name) if "." not in name else None
                cls = _locate(f"{module}.{name}" if isinstance(module, str) else name)
                bound = inspect.signature(cls).bind_partial(**args)
                bound.apply_defaults()
                args = dict(bound.arguments)
                args.update(args.pop("kwargs", {}) if isinstance(args.get("kwargs"), dict) else {})
            BUILT[id(obj)] = (name.rsplit(".", 1)[-1], args)
            KEEP.append(obj)
        return obj

    def recorded_evaluate(self, *args, **kwargs):
        value = evaluate(self, *args, **kwargs)
        EXPRESSIONS.setdefault(id(value), self.get_config())
        KEEP.append(value)
        return value

    ConfigComponent.instantiate, ConfigExpression.evaluate = recorded_instantiate, recorded_evaluate


def _locate(path: str) -> Any:
    module, _, attr = path.rpartition(".")
    return getattr(__import__(module, fromlist=[attr]), attr)


class RecordedDDP(torch.nn.Module):
    """Stands in for DistributedDataParallel: wraps the module, keeps the arguments."""

    def __init__(self, module: torch.nn.Module, device_ids=None, find_unused_parameters: bool = False, **kwargs):
        super().__init__()
        self.module = module


@contextlib.contextmanager
def fake_distributed(rank: int):
    """A real one-process gloo group (for what checks it) whose ``get_rank`` reports ``rank`` to the configs (the
    samplers get ``num_replicas=2, rank=rank`` from :func:`compare_workflow`)."""
    import socket

    import torch.distributed as dist

    if not dist.is_initialized():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    saved = dist.get_rank, torch.nn.parallel.DistributedDataParallel
    dist.get_rank, torch.nn.parallel.DistributedDataParallel = (lambda group=None: rank), RecordedDDP
    try:
        yield
    finally:
        dist.get_rank, torch.nn.parallel.DistributedDataParallel = saved


def same(a: Any, b: Any, path: str, out: list[str], seen: set) -> None:
    """Append to ``out`` a line per difference between the resolved values ``a`` (old) and ``b`` (new)."""
    key = (id(a), id(b))
    if key in seen:
        return
    seen.add(key)
    if id(a) in BUILT and id(b) in BUILT:
        (ca, aa), (cb, ab) = BUILT[id(a)], BUILT[id(b)]
        if ca != cb:
            out.append(f"{path}: class {ca} -> {cb}")
            return
        for k in sorted(set(aa) | set(ab)):
            if k not in aa or k not in ab:
                out.append(f"{path}({ca}).{k}: {'absent' if k not in aa else _short(aa[k])} -> "
                           f"{'absent' if k not in ab else _short(ab[k])}")
            else:
                same(aa[k], ab[k], f"{path}({ca}).{k}", out, seen)
        return
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            out.append(f"{path}: {len(a)} items -> {len(b)} items: {[_short(x) for x in a]} -> "
                       f"{[_short(x) for x in b]}")
            return
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{path}[{i}]", out, seen)
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            if k not in a or k not in b:
                out.append(f"{path}.{k}: {'absent' if k not in a else _short(a[k])} -> "
                           f"{'absent' if k not in b else _short(b[k])}")
            else:
                same(a[k], b[k], f"{path}.{k}", out, seen)
        return
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if a.shape != b.shape or a.dtype != b.dtype or not torch.equal(a, b):
            out.append(f"{path}: tensors differ")
        return
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        if not np.array_equal(a, b):
            out.append(f"{path}: arrays differ")
        return
    if callable(a) and callable(b) and inspect.isfunction(a) and inspect.isfunction(b):
        ta, tb = EXPRESSIONS.get(id(a)), EXPRESSIONS.get(id(b))
        if (ta is not None and ta == tb) or (ta is None and tb is None and a.__qualname__ == b.__qualname__
                                             and a.__module__ == b.__module__):
            return
        x = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0))
        try:
            same_output = torch.equal(a(x.clone()), b(x.clone()))
        except Exception as e:  # noqa: BLE001 - the comparison only reports what it cannot check
            out.append(f"{path}: function {ta or a.__qualname__!r} -> {tb or b.__qualname__!r} (not comparable: {e})")
            return
        out.append(f"{path}: function {ta!r} -> {tb!r}: {'same' if same_output else 'DIFFERENT'} output on a "
                   "random (3, 8, 8) tensor")
        return
    if isinstance(a, type) or isinstance(b, type):
        if a is not b:
            out.append(f"{path}: {_short(a)} -> {_short(b)}")
        return
    if type(a) is not type(b):
        out.append(f"{path}: {type(a).__name__} {_short(a)} -> {type(b).__name__} {_short(b)}")
        return
    if isinstance(a, (str, int, float, bool, type(None), torch.device, torch.dtype, Path)) or type(a).__eq__ is not \
            object.__eq__:
        with contextlib.suppress(Exception):
            if bool(a == b):
                return
        out.append(f"{path}: {_short(a)} -> {_short(b)}")
        return
    ta, tb = EXPRESSIONS.get(id(a)), EXPRESSIONS.get(id(b))
    if ta is not None and ta == tb:
        return  # built by the same expression, whose references are compared on their own
    if hasattr(a, "__dict__"):
        for k in sorted(set(vars(a)) | set(vars(b))):
            if not k.startswith("_"):
                same(vars(a).get(k), vars(b).get(k), f"{path}.{k}", out, seen)
        return
    out.append(f"{path}: {_short(a)} -> {_short(b)} (not comparable)")


def _short(x: Any) -> str:
    if id(x) in BUILT:
        return BUILT[id(x)][0]
    text = repr(x)
    return text if len(text) <= 90 else text[:87] + "..."


def parse(configs: list[Path], overrides: dict):
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config([str(c) for c in configs])
    for k, v in overrides.items():
        parser[k] = v
    return parser


def compare_workflow(old: list[Path], new: list[Path], overrides: dict, rank: int | None) -> list[str]:
    """Differences between the resolved top-level ids of two versions of one workflow."""
    ctx = fake_distributed(rank) if rank is not None else contextlib.nullcontext()
    out: list[str] = []
    with ctx:
        has = parse(old, {}).get()
        po, pn = (parse(c, {k: v for k, v in overrides.items() if k.split("#")[0] in has}) for c in (old, new))
        for p in (po, pn):
            for sampler in ("train#sampler", "train#unlabeled_sampler", "validate#sampler"):
                if rank is not None and sampler in p:
                    p[f"{sampler}#num_replicas"], p[f"{sampler}#rank"] = 2, rank
        keys = list(po.get()) + [k for k in pn.get() if k not in po.get()]
        for k in keys:
            if k not in po.get() or k not in pn.get():
                out.append(f"id {k}: {'only in new' if k not in po.get() else 'only in old'}")
            elif k in NOT_RESOLVED:
                if po[k] != pn[k]:
                    out.append(f"{k}: {po[k]!r} -> {pn[k]!r}")
            else:
                same(po.get_parsed_content(k), pn.get_parsed_content(k), k, out, set())
        tables = {}
        for name, p in (("old", po), ("new", pn)):
            for engine_id in ("train#trainer", "validate#evaluator", "evaluator"):
                if engine_id in p:
                    engine = p.get_parsed_content(engine_id)
                    tables[(name, engine_id)] = _event_table(engine)
                    if engine_id == "train#trainer":
                        out.append(f"note: {name} trainer state max_epochs={engine.state.max_epochs} "
                                   f"epoch_length={engine.state.epoch_length}")
        for engine_id in ("train#trainer", "validate#evaluator", "evaluator"):
            if ("old", engine_id) in tables and ("new", engine_id) in tables:
                to, tn = tables[("old", engine_id)], tables[("new", engine_id)]
                events = [e for e in list(to) + [e for e in tn if e not in to] if to.get(e) != tn.get(e)]
                for e in events:
                    out.append(f"{engine_id} handlers of {e}: {to.get(e)} -> {tn.get(e)}")
                out.append(f"note: {engine_id}: {len(to)} events, handlers in the same order per event"
                           if not events else f"note: {engine_id}: {len(events)} event(s) with other handlers")
    return out


def _event_table(engine) -> dict[str, list[str]]:
    """Event -> the classes (or function names) of its handlers, in firing order."""
    table = {}
    for event, entries in engine._event_handlers.items():
        names = []
        for handler, *_ in entries:
            handler = handler._parent() if hasattr(handler, "_parent") else handler
            owner = getattr(handler, "__self__", None)
            if owner is not None:
                names.append(type(owner).__name__)
            else:
                names.append(handler.__qualname__ if inspect.isfunction(handler) else type(handler).__name__)
        table[str(event)] = names
    return table


def export_revision(rev: str, bundle: str, dst: Path) -> Path:
    """A copy of the bundle folder whose configs/ hold the files of ``rev``."""
    shutil.copytree(ROOT / "bundles" / bundle, dst, ignore=shutil.ignore_patterns("models", "eval", "data"))
    names = subprocess.run(["git", "-C", str(ROOT), "ls-tree", "--name-only", f"{rev}:bundles/{bundle}/configs"],
                           check=True, capture_output=True, text=True).stdout.split()
    for name in names:
        blob = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:bundles/{bundle}/configs/{name}"], check=True,
                              capture_output=True).stdout
        (dst / "configs" / name).write_bytes(blob)
    return dst


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--old-rev", required=True, help="git revision holding the old configs")
    ap.add_argument("--bundles", default=",".join(BUNDLES), help="comma-separated bundle names")
    ap.add_argument("--workflows", default=",".join(WORKFLOWS), help=f"comma-separated, of {', '.join(WORKFLOWS)}")
    args = ap.parse_args()
    from monai_ext.data import write_phantom_dataset

    _install_recorders()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for bundle in args.bundles.split(","):
            old_dir = export_revision(args.old_rev, bundle, tmp / "old" / bundle)
            new_dir = ROOT / "bundles" / bundle
            task = parse([new_dir / "configs" / "train.json"], {}).get("task")
            data = tmp / f"data_{task}"
            if not data.is_dir():
                write_phantom_dataset(data, task=task, num=24, size=64, seed=3, progress=False)
            common = {"bundle_root": str(new_dir), "dataset_dir": str(data), "ckpt_dir": str(tmp / "models"),
                      "output_dir": str(tmp / "eval"),
                      # 24 images: enough labelled ones for one batch (the same override for both versions)
                      "labeled_batch_size": 2, "unlabeled_batch_size": 2, "split#labeled": 0.5,
                      "split#val": 0.2}
            for wf in args.workflows.split(","):
                files = WORKFLOWS[wf]
                overrides = dict(common) if wf != "inference" else {
                    "bundle_root": str(new_dir), "dataset_dir": str(data / "images"), "output_dir": str(tmp / "infer")}
                if wf.startswith("multi_gpu"):
                    overrides["device"] = "$torch.device('cpu')"
                rank = int(wf.split("@")[1]) if "@" in wf else None
                diffs = compare_workflow([old_dir / "configs" / f for f in files],
                                         [new_dir / "configs" / f for f in files], overrides, rank)
                BUILT.clear(), EXPRESSIONS.clear(), KEEP.clear()
                print(f"== {bundle} {wf}: {sum(not d.startswith('note:') for d in diffs)} difference(s)")
                for d in diffs:
                    print(f"   {d}")
                sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
