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

"""One cell of the comparison study (``docs/study.md``): one bundle (method), task, labelled fraction and seed.

A cell goes through the bundle itself, each step its own ``python -m monai.bundle run`` process (one thread):

1. train: ``train.json`` + ``configs/<preset>.json`` (``full``: ``train.json`` alone); the checkpoint with the best
   validation ``val_mean_dice`` is kept as ``models/model.pt``; an interrupted run resumes (``--resume true``);
2. evaluate: the same + ``evaluate.json``: that checkpoint scored once on the test split
   (``eval/test_metrics_summary.json``, ``eval/test_metrics_per_image.csv``); then ``result.json`` is written;
3. infer: ``inference.json`` on every test image with the same checkpoint (``infer/<id>_mask.png``; for the
   multi-decoder bundles also the uncertainty maps of ``docs/uncertainty.md``), marked done by ``infer.done.json``.

The seed sets the split, the labelled subset and the training seed. A cell folder is
``<bundle>[_<variant>]_<task>_l<fraction>_s<seed>``, the names ``scripts/bench_ssl_phantom.py`` has always used, so
the runs it finished are finished cells here. A per-cell lock file lets several runners (or Ray workers) share one
output folder without running a cell twice.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "EXTERNAL_METHODS",
    "LDM_STAGES",
    "PRE_STAGES",
    "EARLIER_STAGES",
    "METHOD_BUNDLES",
    "PRESETS",
    "VARIANTS",
    "StudyCell",
    "bundle_command",
    "cpu_model",
    "default_bundles_dir",
    "preset_configs",
    "read_cell_json",
    "resolve_method",
    "run_cell",
    "run_logged",
    "run_name",
    "take_cell_lock",
]

#: method name of the study command line -> bundle folder under ``bundles/``.
METHOD_BUNDLES: dict[str, str] = {
    "supervised": "supervised_us_segmentation",
    "meanteacher": "meanteacher_us_segmentation",
    "cct": "cct_us_segmentation",
    "mgcc": "mgcc_us_segmentation",
    "msmo": "msmo_us_segmentation",
    "sabr": "sabr_us_segmentation",
}
#: methods that are not trained by the study: their cells are read from imported predictions (export-nnunet).
EXTERNAL_METHODS = ("nnunet",)
#: bundle variants (``METHOD:VARIANT``) and the config overrides they stand for.
VARIANTS: dict[str, dict[str, Any]] = {
    "notaps": {"multi_level_taps": False},
    "unet_msag": {"decoder": "unet_msag"},
    "upper": {"split#labeled": 1.0},
    "synthetic": {"unlabeled_sources": ["real", "synthetic"]},
}
LDM_STAGES = ("train_autoencoder.json", "train_diffusion.json", "generate.json")
# bundles whose shipped model is trained after earlier stages of their own (each with the preset overlay)
PRE_STAGES = {"sabr_us_segmentation": ("warmup.json", "pretrain.json", "finetune.json")}
# every stage that runs before train.json (counted in a cell's training time)
EARLIER_STAGES = LDM_STAGES + tuple(stage for stages in PRE_STAGES.values() for stage in stages)
PRESETS = ("quick", "research", "full")
BEST_VAL = re.compile(r"Key metric: val_mean_dice best value: ([0-9.eE+-]+) at epoch: (\d+)")
# keys of a training override that inference must not take over: inference has its own inputs and outputs
_NOT_FOR_INFERENCE = {"bundle_root", "dataset_dir", "output_dir", "ckpt_dir", "task", "seed", "split_file", "resume"}


def default_bundles_dir() -> Path:
    """The repository's ``bundles/`` folder (next to the ``monai_ext`` package)."""
    return Path(__file__).resolve().parents[2] / "bundles"


def run_name(bundle: str, variant: str, task: str, labeled: float, seed: int) -> str:
    """Folder name of a cell: ``<bundle>[_<variant>]_<task>_l<labeled>_s<seed>``."""
    return f"{bundle}{'_' + variant if variant else ''}_{task}_l{labeled}_s{seed}"


@dataclass(frozen=True)
class StudyCell:
    """One cell: ``method`` as given on the command line (``cct``, ``mgcc:synthetic``), its bundle and variant."""

    method: str
    bundle: str
    variant: str
    task: str
    labeled: float
    seed: int
    preset: str

    @property
    def name(self) -> str:
        """The cell's folder name (:func:`run_name`)."""
        return run_name(self.bundle, self.variant, self.task, self.labeled, self.seed)

    @property
    def external(self) -> bool:
        """True for a method the study does not train (its cell comes from imported predictions)."""
        return self.bundle in EXTERNAL_METHODS

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_method(spec: str, bundles_dir: str | os.PathLike | None = None) -> tuple[str, str, str]:
    """``(method, bundle, variant)`` of a method spec: ``cct``, ``mgcc:notaps``, a bundle folder name, ``nnunet``.

    Raises:
        ValueError: an unknown method or variant.
        FileNotFoundError: the method's bundle has no ``configs/train.json`` (e.g. SABR-Net before it is built).
    """
    bundles = Path(bundles_dir) if bundles_dir is not None else default_bundles_dir()
    name, _, variant = spec.strip().partition(":")
    if variant and variant not in VARIANTS:
        raise ValueError(f"method {spec!r}: unknown variant {variant!r}; known variants: {sorted(VARIANTS)}.")
    if name in EXTERNAL_METHODS:
        if variant:
            raise ValueError(f"method {spec!r}: {name} takes no variant.")
        return name, name, ""
    by_bundle = {b: m for m, b in METHOD_BUNDLES.items()}
    if name in METHOD_BUNDLES:
        bundle = METHOD_BUNDLES[name]
    elif name in by_bundle or (bundles / name / "configs" / "train.json").is_file():
        bundle, name = name, by_bundle.get(name, name)
    else:
        raise ValueError(
            f"unknown method {name!r}; known: {', '.join(list(METHOD_BUNDLES) + list(EXTERNAL_METHODS))} "
            f"(or a bundle folder under {bundles})."
        )
    if not (bundles / bundle / "configs" / "train.json").is_file():
        raise FileNotFoundError(
            f"method {name!r}: bundle {bundles / bundle} has no configs/train.json (the bundle is not built yet); "
            "leave the method out of --methods."
        )
    return name + (f":{variant}" if variant else ""), bundle, variant


def preset_configs(bundle_dir: Path, preset: str, stage: str = "train.json") -> list[str]:
    """Config files of a stage under a preset: ``[stage, "<preset>.json"]``; ``full``: ``[stage]`` alone.

    LDM stages use ``<preset>_ldm.json``. Any preset whose overlay the bundle has is accepted (``quick``,
    ``research``...).
    """
    if preset == "full":
        return [stage]
    overlay = f"{preset}_ldm.json" if stage in LDM_STAGES else f"{preset}.json"
    if not (bundle_dir / "configs" / overlay).is_file():
        raise FileNotFoundError(f"bundle {bundle_dir.name} has no configs/{overlay} (preset {preset!r}).")
    return [stage, overlay]


def bundle_command(bundle_dir: Path, configs: list[str], args: dict[str, Any]) -> list[str]:
    """``python -m monai.bundle run --config_file [...] --KEY VALUE ...`` (non-string values as JSON)."""
    cmd = [sys.executable, "-m", "monai.bundle", "run", "--config_file",
           json.dumps([str(bundle_dir / "configs" / c) for c in configs])]
    for k, v in args.items():
        cmd += [f"--{k}", v if isinstance(v, str) else json.dumps(v)]
    return cmd


def run_logged(cmd: list[str], cwd: Path, log: Path) -> dict[str, float]:
    """Run one process to its end (one thread), output to ``log``; its wall time, CPU time and peak RSS.

    Raises:
        RuntimeError: a non-zero exit code, with the last lines of the log.
    """
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    t0 = time.time()
    with log.open("w") as f:
        proc = subprocess.Popen(cmd, cwd=str(cwd), stdout=f, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-5:])
        raise RuntimeError(f"exit code {code}, see {log}:\n{tail}")
    return {"wall_s": round(time.time() - t0, 1), "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def take_cell_lock(run_dir: Path) -> bool:
    """Claim a cell for this process (``run.lock`` with our pid); False while another live process holds it."""
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
                lock.unlink(missing_ok=True)  # left by a process that died: take the cell over
                continue
            except PermissionError:
                return False
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        return True
    return False


def cpu_model() -> str:
    """The CPU model and the vector flags that matter for timings (from /proc/cpuinfo)."""
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


def read_cell_json(path: Path) -> dict[str, Any]:
    """A cell's JSON file (``result.json``, ``infer.done.json``), with the file named in the error."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: unreadable ({e}); delete it to run the step again.") from None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)


def _git_commit() -> str:
    root = Path(__file__).resolve().parents[2]
    return subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()


def train_and_evaluate(cell: StudyCell, run_dir: Path, bundle_dir: Path, override: dict[str, Any]) -> dict[str, Any]:
    """Steps 1 and 2 of a cell: train (resuming), evaluate on the test split, write ``result.json``."""
    args: dict[str, Any] = {"bundle_root": str(bundle_dir), "task": cell.task, "split#seed": cell.seed,
                            "split#labeled": cell.labeled, "seed": cell.seed, "ckpt_dir": str(run_dir / "models"),
                            "output_dir": str(run_dir / "eval"), **override, **VARIANTS.get(cell.variant, {})}
    timings: dict[str, Any] = {}
    if cell.variant == "synthetic":
        ldm_args = {k: v for k, v in args.items() if k != "unlabeled_sources"}
        ldm_args["synthetic_dir"] = str(run_dir / "synthetic")
        for stage in LDM_STAGES:
            marker = run_dir / f"{stage}.done.json"
            if not marker.exists():
                cmd = bundle_command(bundle_dir, preset_configs(bundle_dir, cell.preset, stage), ldm_args)
                marker.write_text(json.dumps(run_logged(cmd, bundle_dir, run_dir / f"{stage}.log")))
            timings[stage] = read_cell_json(marker)
        args["synthetic_manifest"] = str(run_dir / "synthetic" / "manifest.json")
    for stage in PRE_STAGES.get(cell.bundle, ()):
        marker = run_dir / f"{stage}.done.json"
        if not marker.exists():
            stage_args = dict(args)
            if any((run_dir / "models" / Path(stage).stem / "resume").glob("*.pt")):
                stage_args["resume"] = True  # an interrupted stage continues where it stopped
            cmd = bundle_command(bundle_dir, preset_configs(bundle_dir, cell.preset, stage), stage_args)
            marker.write_text(json.dumps(run_logged(cmd, bundle_dir, run_dir / f"{stage}.log")))
        timings[stage] = read_cell_json(marker)
    train_args = dict(args)
    if any((run_dir / "models" / "resume").glob("*.pt")):
        train_args["resume"] = True
    configs = preset_configs(bundle_dir, cell.preset)
    train_cmd = bundle_command(bundle_dir, configs, train_args)
    timings["train"] = run_logged(train_cmd, bundle_dir, run_dir / "train_log.txt")
    found = BEST_VAL.findall((run_dir / "train_log.txt").read_text(errors="replace"))
    timings["evaluate"] = run_logged(bundle_command(bundle_dir, configs + ["evaluate.json"], args), bundle_dir,
                                     run_dir / "evaluate_log.txt")
    summary = read_cell_json(run_dir / "eval" / "test_metrics_summary.json")
    result = {
        "bundle": cell.bundle, "variant": cell.variant, "task": cell.task, "labeled": cell.labeled,
        "seed": cell.seed, "preset": cell.preset, "override": override,
        "best_val_dice": float(found[-1][0]) if found else None,
        "best_val_epoch": int(found[-1][1]) if found else None, "test": summary, "timings": timings,
        "command": " ".join(train_cmd), "cpu": cpu_model(),
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": _git_commit(), "method": cell.method,
    }
    _write_json(run_dir / "result.json", result)
    return result


def inference_overrides(bundle_dir: Path, preset: str, override: dict[str, Any], variant: str) -> dict[str, Any]:
    """The training settings inference must share (network size, input grid...): the keys of the preset, the
    override and the variant that ``inference.json`` defines (its top-level ids), minus inputs and outputs."""
    inference = json.loads((bundle_dir / "configs" / "inference.json").read_text())
    preset_cfg = {} if preset == "full" else json.loads((bundle_dir / "configs" / f"{preset}.json").read_text())
    merged = {**preset_cfg, **override, **VARIANTS.get(variant, {})}
    return {k: v for k, v in merged.items() if k.split("#")[0] in inference and k not in _NOT_FOR_INFERENCE}


def infer_test_split(cell: StudyCell, run_dir: Path, bundle_dir: Path, override: dict[str, Any],
                     split_path: str) -> dict[str, Any]:
    """Step 3 of a cell: the bundle's ``inference.json`` on every test image of the split with ``models/model.pt``
    (with uncertainty maps when the bundle has the option); writes and returns ``infer.done.json``."""
    from monai_ext.data import load_split

    split = load_split(split_path)
    root = Path(split.get("dataset_dir") or Path(split_path).parents[1])
    images = [str(root / item["image"]) for item in split["test"]]
    inference = json.loads((bundle_dir / "configs" / "inference.json").read_text())
    args: dict[str, Any] = {"bundle_root": str(bundle_dir), "task": cell.task, "dataset_dir": images,
                            "output_dir": str(run_dir / "infer"),
                            "checkpointloader#load_path": str(run_dir / "models" / "model.pt"),
                            **inference_overrides(bundle_dir, cell.preset, override, cell.variant)}
    # maps only where the bundle's torch inferer is the decoder-disagreement one (the multi-decoder bundles)
    torch_inferer = inference.get("torch_inferer")
    uncertainty = isinstance(torch_inferer, dict) and str(torch_inferer.get("_target_", "")).endswith(
        "USDecoderDisagreementInferer")
    if uncertainty:
        args["uncertainty"] = True
    timings = run_logged(bundle_command(bundle_dir, ["inference.json"], args), bundle_dir, run_dir / "infer_log.txt")
    done = {"dir": "infer", "images": len(images), "uncertainty": uncertainty, "timings": timings,
            "scores": "infer/uncertainty_scores.csv" if uncertainty else None, "split_file": split_path}
    _write_json(run_dir / "infer.done.json", done)
    return done


def run_cell(cell: StudyCell, out: str | os.PathLike, override: dict[str, Any] | None = None,
             split_path: str | None = None, bundles_dir: str | os.PathLike | None = None,
             inference: bool = True) -> dict[str, Any] | None:
    """Run (or reuse) one cell under ``out``; None while another runner holds it.

    Returns ``{"name", "result", "inference", "reused"}``: ``result`` is ``result.json``, ``inference`` the
    ``infer.done.json`` (None with ``inference=False`` or for external cells), ``reused`` True when nothing ran.

    Raises:
        ValueError: the finished cell was made with another preset, or its files are unreadable.
        FileNotFoundError: an external cell (nnU-Net) whose predictions were not imported.
        RuntimeError: a step's process failed (the error quotes the end of its log).
    """
    run_dir = Path(out).expanduser().resolve() / cell.name
    result_file, infer_file = run_dir / "result.json", run_dir / "infer.done.json"
    if cell.external:
        if not result_file.is_file():
            raise FileNotFoundError(
                f"{result_file}: no imported predictions; export the split with `python -m monai_ext export-nnunet "
                f"SPLIT --labeled-only --out nnUNet_raw/DatasetXXX_name`, train nnU-Net, then score its predictions "
                f"with `python -m monai_ext export-nnunet SPLIT --import-nnunet PRED_DIR --out {run_dir}`."
            )
        return {"name": cell.name, "result": read_cell_json(result_file), "inference": None, "reused": True}
    bundle_dir = (Path(bundles_dir) if bundles_dir is not None else default_bundles_dir()) / cell.bundle
    override = dict(override or {})

    def finished() -> dict[str, Any] | None:
        if not result_file.is_file():
            return None
        result = read_cell_json(result_file)
        if result.get("preset") != cell.preset:
            raise ValueError(
                f"{result_file} was made with preset {result.get('preset')!r}, not {cell.preset!r}; use another --out "
                "for another preset."
            )
        return result

    result = finished()
    if result is not None and (not inference or infer_file.is_file()):
        return {"name": cell.name, "result": result, "reused": True,
                "inference": read_cell_json(infer_file) if infer_file.is_file() else None}
    run_dir.mkdir(parents=True, exist_ok=True)
    if not take_cell_lock(run_dir):
        return None
    try:
        result, reused = finished(), True  # another runner may have finished it meanwhile
        if result is None:
            result, reused = train_and_evaluate(cell, run_dir, bundle_dir, override), False
        done = None
        if inference:
            if infer_file.is_file():
                done = read_cell_json(infer_file)
            else:
                if split_path is None:
                    raise ValueError(f"{cell.name}: the split file is needed to run inference on its test images.")
                done, reused = infer_test_split(cell, run_dir, bundle_dir, override, split_path), False
        return {"name": cell.name, "result": result, "inference": done, "reused": reused}
    finally:
        (run_dir / "run.lock").unlink(missing_ok=True)
