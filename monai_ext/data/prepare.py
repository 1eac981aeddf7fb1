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
"""Data preparation used by the bundles: the phantom default dataset and the split file, made once and reused."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["phantom_dataset_dir", "resolve_dataset_dir", "prepare_split_file"]


def phantom_dataset_dir(bundle_root: str | os.PathLike, task: str, num: int, size: int, seed: int) -> str:
    """The folder of a bundle's phantom dataset: ``<bundle_root>/data/phantom_<task>_n<num>_s<size>_seed<seed>``.

    One folder per phantom identity, so datasets of different tasks, sizes or seeds never overwrite each other and a
    written one is reused (see :func:`resolve_dataset_dir`). Every bundle config names its phantom folder with this
    function (``"$monai_ext.data.phantom_dataset_dir(@bundle_root, @task, @phantom#num, @phantom#size,
    @phantom#seed)"``).

    Args:
        bundle_root: the bundle folder.
        task: phantom task ("breast", "cardiac", "thyroid").
        num: number of phantom images.
        size: phantom image size.
        seed: phantom seed.
    """
    return f"{os.fspath(bundle_root)}/data/phantom_{task}_n{num}_s{size}_seed{seed}"


def resolve_dataset_dir(
    dataset_dir: str | None, phantom_dir: str, task: str = "breast", num: int = 200, size: int = 256, seed: int = 0
) -> str:
    """
    The dataset folder a bundle trains on: `dataset_dir` when the user gives one (it must exist), otherwise the
    built-in phantom dataset at `phantom_dir`, generated on first use.

    Generation writes into a temporary sibling folder and renames it into place, so concurrent processes (e.g. the
    ranks of a `torchrun` job) never see a half-written dataset; the phantom is deterministic for its seed, so
    whichever process wins the rename leaves the same files.

    Args:
        dataset_dir: the user's dataset folder, or None/"" for the phantom.
        phantom_dir: where the phantom dataset lives.
        task: phantom task ("breast", "cardiac", "thyroid").
        num: number of phantom images.
        size: phantom image size.
        seed: phantom seed.

    Raises:
        FileNotFoundError: when `dataset_dir` is given but does not exist.
    """
    if dataset_dir:
        from monai_ext.data.layouts import USDatasetNotFoundError

        path = Path(dataset_dir).expanduser()
        if not path.is_dir():
            raise USDatasetNotFoundError(f"dataset_dir {path} does not exist or is not a folder.")
        return str(path.resolve())
    from monai_ext.data.phantom import write_phantom_dataset

    target = Path(phantom_dir).expanduser().resolve()
    if (target / "dataset.json").is_file():
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        write_phantom_dataset(tmp / "d", task=task, num=num, size=size, seed=seed, progress=False)
        try:
            os.rename(tmp / "d", target)
        except OSError:
            if not (target / "dataset.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return str(target)


def prepare_split_file(
    dataset_dir: str,
    split_file: str | None = None,
    val: float = 0.1,
    test: float = 0.2,
    labeled: float = 0.125,
    seed: int = 0,
    group_by: str | None = None,
    labels: Mapping[str, Sequence[int]] | None = None,
) -> str:
    """
    The split file a bundle reads: `split_file` when given and present (validated), else the split of
    `dataset_dir` for these parameters, written once under `dataset_dir/splits/` and reused afterwards.

    A split file that is given or reused is not trusted blindly: its files are checked again cheaply (they exist,
    their headers read, masks have their image's size), so a file deleted or corrupted since the split was made is
    reported now, naming it.

    Args:
        dataset_dir: the dataset folder.
        split_file: an existing split file to use, or None.
        val: validation fraction.
        test: test fraction.
        labeled: labelled fraction of the training pool.
        seed: split seed.
        group_by: patient-id regex (default: the dataset's own rule).
        labels: the bundle's label table (``@labels``: structure -> mask gray values of its task); the masks are
            checked against it. None: ``dataset.json`` "labels", else binary 255.
    """
    from monai_ext.data.layouts import check_listed_files
    from monai_ext.data.splits import SPLIT_PARTS, load_split, make_split_file

    if split_file:
        split = load_split(split_file)
        check_listed_files(dataset_dir, [it for part in SPLIT_PARTS for it in split[part]])
        return str(Path(split_file).expanduser().resolve())
    hint = None
    if labels is not None:
        shown = {str(k): list(v) for k, v in dict(labels).items()}
        hint = (
            f"the bundle checks the masks against its label table {shown}, which comes from its 'task': pass the "
            "--task of these masks (breast/thyroid: 255, cardiac: 1/2/3) or --labels with the table that matches them"
        )
    return str(
        make_split_file(
            dataset_dir, val=val, test=test, labeled=labeled, seed=seed, group_by=group_by, labels=labels,
            label_hint=hint,
        )
    )
