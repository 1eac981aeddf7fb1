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
"""Phantom samples and datasets: the patient mix, the views of each patient and the dataset folder writer.

:func:`write_phantom_dataset` writes ``DIR/images/<id>.png``, ``DIR/masks/<id>.png`` and ``DIR/dataset.json``
(the data contract of the project); ids are ``p%04d_%02d`` (patient, view) with 1-3 views per patient sharing the
anatomy (cardiac: end diastole and end systole of an apical four- and/or two-chamber view of one heart).
:func:`make_phantom_sample` renders one independent sample in memory. Patient classes are drawn with a
low-discrepancy sequence over patients (breast: 15 % normal, 30 % malignant, 55 % benign; thyroid: half
malignant), so small datasets hit the fractions too. Everything is deterministic for a seed: patient ``k`` of a
dataset depends only on (seed, task, k), so a smaller dataset is a prefix of a larger one and parallel writing
gives the same bytes.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .bmode import render_oversampled
from .breast import breast_view, render_breast, sample_breast_patient
from .cardiac import cardiac_view, make_cardiac_params, render_cardiac
from .tasks import (
    PHANTOM_GROUP_REGEX,
    PHANTOM_LABELS,
    PHANTOM_MIN_SIZE,
    PHANTOM_VERSION,
    check_phantom_size,
    check_phantom_task,
)
from .thyroid import render_thyroid, sample_thyroid_patient, thyroid_view

__all__ = ["PHANTOM_CLASS_MIX", "make_phantom_sample", "write_phantom_dataset"]

_GOLDEN = 0.6180339887498949
PHANTOM_CLASS_MIX: dict[str, tuple[tuple[str, float], ...]] = {
    "breast": (("normal", 0.15), ("malignant", 0.30), ("benign", 0.55)),
    "thyroid": (("malignant", 0.5), ("benign", 0.5)),
}
"""Task -> (patient class, fraction of the patients) in the order of the low-discrepancy draw (cardiac: "heart")."""
_TASK_CODE = {"breast": 11, "cardiac": 12, "thyroid": 13}


def _class_for_patient(task: str, seed: int, pid: int) -> str:
    """Patient class from a low-discrepancy sequence (fractions of the mix hold on small datasets too)."""
    if task == "cardiac":
        return "heart"
    u = (np.random.default_rng([seed, 999]).random() + pid * _GOLDEN) % 1.0
    acc = 0.0
    for name, frac in PHANTOM_CLASS_MIX[task]:
        acc += frac
        if u < acc:
            return name
    return PHANTOM_CLASS_MIX[task][-1][0]


def _draw_class(task: str, rng: np.random.Generator) -> str:
    if task == "cardiac":
        return "heart"
    names = [n for n, _ in PHANTOM_CLASS_MIX[task]]
    probs = [f for _, f in PHANTOM_CLASS_MIX[task]]
    return str(rng.choice(names, p=probs))


_CARDIAC_VIEWS = (("a4c", 0.0), ("a4c", None), ("a2c", 0.0), ("a2c", None))  # None: end systole


def _patient_samples(
    task: str, size: int, rng: np.random.Generator, patient_class: str, n_views: int
) -> Iterator[tuple[np.ndarray, np.ndarray, dict]]:
    """Yield ``n_views`` views of one random patient: its patient type drawn, then viewed and rendered per view."""
    if task == "cardiac":
        # CAMUS-like: end diastole and end systole of the same clip, apical four- and two-chamber views
        first = "a4c" if rng.random() < 0.5 else "a2c"
        order = sorted(_CARDIAC_VIEWS, key=lambda vp: vp[0] != first)
        hearts = {first: make_cardiac_params(rng, first)}
        for v in range(n_views):
            view, ph = order[v]
            if view not in hearts:
                hearts[view] = cardiac_view(hearts[first], rng, view)
            pv = hearts[view]
            phase = pv.es_phase if ph is None else 0.0
            yield render_oversampled(lambda n, pv=pv, phase=phase: render_cardiac(pv, n, phase, 1.0), size)
        return
    sample, view_fn, render = {
        "breast": (sample_breast_patient, breast_view, render_breast),
        "thyroid": (sample_thyroid_patient, thyroid_view, render_thyroid),
    }[task]
    patient = sample(rng, patient_class)
    for v in range(n_views):
        pv = view_fn(patient, rng, v)
        yield render_oversampled(lambda n, pv=pv: render(pv, n, rng), size)


def make_phantom_sample(task: str, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:
    """Render one independent phantom sample in memory.

    Args:
        task: ``"breast"``, ``"cardiac"`` or ``"thyroid"``.
        size: image height and width in pixels (>= 32).
        rng: numpy random generator; the same generator state gives the same sample.

    Returns:
        image (size, size) uint8 B-mode, mask (size, size) uint8 with the gray values of ``PHANTOM_LABELS[task]``,
        and an info dict: ``task``, ``class`` (breast: benign/malignant/normal; thyroid: benign/malignant;
        cardiac: ``<view>_<ed|es>``), ``kind`` (lesion type) or ``view``/``phase`` (cardiac), ``probe`` (linear,
        convex or sector) and ``fov`` (boolean field-of-view mask; the image is 0 outside it).

    Raises:
        ValueError: an unknown task or a size below 32.
        TypeError: ``size`` is not an integer or ``rng`` not a numpy Generator.
    """
    check_phantom_task(task)
    check_phantom_size(size)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}.")
    patient_class = _draw_class(task, rng)
    return next(_patient_samples(task, int(size), rng, patient_class, 1))


def _dataset_plan(task: str, num: int, seed: int) -> list[tuple[int, int]]:
    """(patient index, number of views) until ``num`` images; patient ``k`` depends only on (seed, task, k)."""
    plan, count, pid = [], 0, 0
    while count < num:
        n_views = int(np.random.default_rng([seed, _TASK_CODE[task], pid]).integers(1, 4))
        k = min(n_views, num - count)
        plan.append((pid, k))
        count += k
        pid += 1
    return plan


def _write_patient(job: tuple[str, str, int, int, int, int]) -> list[tuple[str, str]]:
    """Render and save the views of one patient; returns (id, class) per image (a process-pool task)."""
    folder, task, size, seed, pid, n_views = job
    rng = np.random.default_rng([seed, _TASK_CODE[task], pid])
    rng.integers(1, 4)  # the number of views, drawn by the plan
    patient_class = _class_for_patient(task, seed, pid)
    out = []
    for v, (img, mask, info) in enumerate(_patient_samples(task, size, rng, patient_class, n_views)):
        uid = f"p{pid:04d}_{v:02d}"
        _save_png(Path(folder) / "images" / f"{uid}.png", img)
        _save_png(Path(folder) / "masks" / f"{uid}.png", mask)
        out.append((uid, str(info["class"])))
    return out


def _auto_workers(num: int) -> int:
    """Two processes for real datasets on a multi-core machine with ``fork``; small ones stay in-process.

    A process running other threads (a training job, a server) is never forked: a lock held by another thread
    at fork time could deadlock the child.
    """
    if num < 64 or "fork" not in multiprocessing.get_all_start_methods() or threading.active_count() > 1:
        return 1
    return max(1, min(2, os.cpu_count() or 1))


def _dataset_identity(task: str, num: int, size: int, seed: int) -> dict[str, Any]:
    return {"task": task, "num_images": num, "size": size, "seed": seed, "phantom_version": PHANTOM_VERSION}


def _is_same_phantom(folder: Path, identity: dict[str, Any]) -> bool:
    meta_path = folder / "dataset.json"
    if not meta_path.is_file():
        return False
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(meta, dict) or any(meta.get(k) != v for k, v in identity.items()):
        return False
    n = identity["num_images"]
    return len(list((folder / "images").glob("*.png"))) == n and len(list((folder / "masks").glob("*.png"))) == n


def _save_png(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    # fast zlib level: speckle barely compresses, and the bytes stay deterministic
    Image.fromarray(array).save(path, format="PNG", compress_level=1)


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"phantom {name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def write_phantom_dataset(
    out_dir: str | os.PathLike,
    task: str = "breast",
    num: int = 200,
    size: int = 256,
    seed: int = 0,
    progress: bool = False,
    workers: int | None = None,
) -> Path:
    """Write a phantom dataset folder: ``images/<id>.png``, ``masks/<id>.png`` and ``dataset.json``.

    Ids are ``p%04d_%02d`` (patient, view), 1-3 views per patient sharing the anatomy. The output is
    deterministic: the same task, num, size and seed give byte-identical files whatever ``workers`` is (on one
    platform: numpy/scipy builds for other CPUs may round the last float bit differently), and a smaller ``num``
    gives a prefix of the same patients. A folder that already holds the phantom of the same
    parameters (task, num, size, seed, phantom version) is reused as is; any other non-empty folder is refused.
    The dataset is written to a temporary sibling folder and renamed into place, so an interrupted run never
    leaves a half-written dataset behind.

    Args:
        out_dir: dataset folder (created; must be absent, empty, or the same phantom).
        task: ``"breast"`` (BUSI-like, lesion = 255, ~15 % normal images), ``"cardiac"`` (CAMUS-like, LV = 1,
            myocardium = 2, LA = 3) or ``"thyroid"`` (TN-SCUI-like, nodule = 255).
        num: number of images (>= 1).
        size: image height and width in pixels (>= 32).
        seed: random seed (>= 0).
        progress: show a tqdm progress bar.
        workers: processes rendering patients in parallel (``fork`` start method only). None: 2 on a multi-core
            machine for 64 images or more, else 1.

    Returns:
        the dataset folder (absolute path).

    Raises:
        ValueError: bad arguments, or ``out_dir`` is a file or a non-empty folder that is not this phantom.
    """
    check_phantom_task(task)
    num = _check_int("num", num, 1)
    size = _check_int("size", size, PHANTOM_MIN_SIZE)
    seed = _check_int("seed", seed, 0)
    workers = _auto_workers(num) if workers is None else _check_int("workers", workers, 1)
    if workers > 1 and "fork" not in multiprocessing.get_all_start_methods():
        workers = 1
    out = Path(out_dir).expanduser().absolute()
    identity = _dataset_identity(task, num, size, seed)
    if out.exists():
        if not out.is_dir():
            raise ValueError(f"phantom output {out} exists and is not a folder.")
        if _is_same_phantom(out, identity):
            return out
        if any(out.iterdir()):
            raise ValueError(
                f"phantom output folder {out} is not empty and does not hold the {task} phantom with "
                f"num={num}, size={size}, seed={seed}; choose a new or empty folder."
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    # a hidden sibling (same file system: the final rename is atomic); mkdir honours the umask, unlike mkdtemp
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        (tmp / "images").mkdir()
        (tmp / "masks").mkdir()
        jobs = [(str(tmp), task, size, seed, pid, k) for pid, k in _dataset_plan(task, num, seed)]
        classes: dict[str, str] = {}
        from tqdm import tqdm

        with tqdm(total=num, desc=f"phantom {task}", unit="img", disable=not progress) as bar:
            if workers == 1:
                results: Iterator[list[tuple[str, str]]] = map(_write_patient, jobs)
                for res in results:
                    classes.update(res)
                    bar.update(len(res))
            else:
                # fork: the children inherit the imported modules (no re-import of torch/monai); they only
                # use numpy/scipy/PIL and write their own files, the parent collects (id, class) in order
                with multiprocessing.get_context("fork").Pool(workers) as pool:
                    for res in pool.imap(_write_patient, jobs, chunksize=2):
                        classes.update(res)
                        bar.update(len(res))
        meta = {
            "name": f"phantom_{task}",
            "task": task,
            "description": _DESCRIPTIONS[task],
            "modality": "US",
            "image_dir": "images",
            "mask_dir": "masks",
            "labels": {k: list(v) for k, v in PHANTOM_LABELS[task].items()},
            "group_regex": PHANTOM_GROUP_REGEX,
            **identity,
            "generator": "monai_ext.data.phantom",
            "classes": dict(sorted(classes.items())),
        }
        (tmp / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n")
        try:
            os.rename(tmp, out)  # atomic; also replaces an empty folder
        except OSError:
            if _is_same_phantom(out, identity):  # a concurrent writer finished first
                return out
            raise ValueError(f"could not move the phantom into {out}: the folder is not empty.") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out


_DESCRIPTIONS = {
    "breast": "Synthetic BUSI-like breast ultrasound (monai_ext phantom): speckle, tissue layers, benign (oval, "
    "cysts with posterior enhancement) and malignant (irregular, spiculated, shadowing) hypoechoic lesions, ~15% "
    "normal images with empty masks; linear and convex probes.",
    "cardiac": "Synthetic CAMUS-like apical echocardiography (monai_ext phantom): sector images of apical two- and "
    "four-chamber views at end diastole and end systole; LV cavity (1), myocardium (2), left atrium (3).",
    "thyroid": "Synthetic TN-SCUI-like transverse thyroid ultrasound (monai_ext phantom): one nodule (255) within "
    "the gland, strap muscles, carotid artery, trachea with air shadow; calcifications, halos, cystic nodules.",
}
