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
"""Tests of monai_ext.data.phantom.dataset: in-memory samples and phantom dataset folders (and the CLI on them)."""

from __future__ import annotations

import json
import multiprocessing
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from monai_ext.data.phantom import (
    PHANTOM_GROUP_REGEX,
    PHANTOM_LABELS,
    PHANTOM_TASKS,
    PHANTOM_VERSION,
    make_phantom_sample,
    write_phantom_dataset,
)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _png(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


@pytest.mark.parametrize("task", PHANTOM_TASKS)
def test_sample_shapes_dtypes_and_gray_values(task):
    rng = np.random.default_rng(0)
    allowed = {0} | {v for vals in PHANTOM_LABELS[task].values() for v in vals}
    for size in (64, 45):
        img, mask, info = make_phantom_sample(task, size, rng)
        assert img.shape == mask.shape == (size, size)
        assert img.dtype == mask.dtype == np.uint8
        assert set(np.unique(mask).tolist()) <= allowed
        assert info["task"] == task and info["probe"] in ("linear", "convex", "sector")
        assert info["fov"].shape == (size, size) and info["fov"].dtype == bool
        assert not mask[~info["fov"]].any()  # structures lie in the field of view
    if task == "cardiac":
        assert info["probe"] == "sector"
        assert set(np.unique(mask).tolist()) == {0, 1, 2, 3}


def test_sample_is_deterministic_for_a_generator_state():
    a = make_phantom_sample("thyroid", 64, np.random.default_rng(11))
    b = make_phantom_sample("thyroid", 64, np.random.default_rng(11))
    c = make_phantom_sample("thyroid", 64, np.random.default_rng(12))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_write_dataset_contents(tmp_path):
    out = write_phantom_dataset(tmp_path / "ph", task="breast", num=40, size=32, seed=1)
    assert out == (tmp_path / "ph").absolute()
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["name"] == "phantom_breast" and meta["task"] == "breast" and meta["modality"] == "US"
    assert meta["image_dir"] == "images" and meta["mask_dir"] == "masks"
    assert meta["labels"] == {"lesion": [255]}
    assert (meta["num_images"], meta["size"], meta["seed"]) == (40, 32, 1)
    ids = sorted(p.stem for p in (out / "images").glob("*.png"))
    assert ids == sorted(p.stem for p in (out / "masks").glob("*.png")) == sorted(meta["classes"])
    assert len(ids) == 40 and all(re.fullmatch(r"p\d{4}_\d{2}", i) for i in ids)
    groups = {}
    for i in ids:
        groups.setdefault(re.match(meta["group_regex"], i).group(1), []).append(i)
    assert all(1 <= len(v) <= 3 for v in groups.values()) and len(groups) < 40
    # views of a patient share the class; about 15 % normal images, with empty masks
    for members in groups.values():
        assert len({meta["classes"][i] for i in members}) == 1
    classes = meta["classes"]
    normal = [i for i in ids if classes[i] == "normal"]
    assert set(classes.values()) == {"benign", "malignant", "normal"}
    assert 0.05 <= len(normal) / 40 <= 0.3
    for i in ids:
        m = _png(out / "masks" / f"{i}.png")
        img = _png(out / "images" / f"{i}.png")
        assert m.shape == img.shape == (32, 32) and m.dtype == img.dtype == np.uint8
        assert set(np.unique(m).tolist()) <= {0, 255}
        if classes[i] == "normal":
            assert not m.any()
    # not just a few big lesions: at least half of the labelled masks are non-empty at 32 px
    labelled = [i for i in ids if classes[i] != "normal"]
    assert sum(_png(out / "masks" / f"{i}.png").any() for i in labelled) >= 0.5 * len(labelled)


def test_dataset_is_deterministic_and_seed_dependent(tmp_path):
    a = _files(write_phantom_dataset(tmp_path / "a", task="cardiac", num=5, size=48, seed=7))
    b = _files(write_phantom_dataset(tmp_path / "b", task="cardiac", num=5, size=48, seed=7))
    c = _files(write_phantom_dataset(tmp_path / "c", task="cardiac", num=5, size=48, seed=8))
    assert a == b
    assert a["images/p0000_00.png"] != c["images/p0000_00.png"]
    meta = json.loads(a["dataset.json"])
    assert meta["labels"] == {"lv": [1], "myocardium": [2], "la": [3]}
    assert set(meta["classes"].values()) <= {"a2c_ed", "a2c_es", "a4c_ed", "a4c_es"}
    # a smaller dataset is a prefix of the same patients
    d = _files(write_phantom_dataset(tmp_path / "d", task="cardiac", num=3, size=48, seed=7))
    assert all(d[k] == a[k] for k in d if k != "dataset.json")


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_parallel_writing_gives_the_same_bytes(tmp_path):
    a = _files(write_phantom_dataset(tmp_path / "a", task="thyroid", num=8, size=40, seed=2, workers=1))
    b = _files(write_phantom_dataset(tmp_path / "b", task="thyroid", num=8, size=40, seed=2, workers=2))
    assert a == b
    assert set(json.loads(a["dataset.json"])["classes"].values()) <= {"benign", "malignant"}


def test_reuse_and_refusal(tmp_path):
    out = write_phantom_dataset(tmp_path / "ph", task="thyroid", num=3, size=32, seed=0)
    stamp = (out / "dataset.json").stat().st_mtime_ns
    assert write_phantom_dataset(out, task="thyroid", num=3, size=32, seed=0) == out
    assert (out / "dataset.json").stat().st_mtime_ns == stamp  # reused, not rewritten
    with pytest.raises(ValueError, match="not empty"):
        write_phantom_dataset(out, task="thyroid", num=4, size=32, seed=0)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        write_phantom_dataset(other, task="breast", num=2, size=32)
    assert (other / "notes.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="not a folder"):
        write_phantom_dataset(other / "notes.txt", task="breast", num=2, size=32)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (write_phantom_dataset(empty, task="breast", num=2, size=32) / "dataset.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "other", "ph"]  # no temporary folder left


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"task": "liver"}, "unknown phantom task"),
        ({"num": 0}, "num"),
        ({"size": 31}, "size"),
        ({"seed": -1}, "seed"),
        ({"num": 2.5}, "num"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, match):
    args = {"task": "breast", "num": 2, "size": 32, "seed": 0} | kwargs
    with pytest.raises(ValueError, match=match):
        write_phantom_dataset(tmp_path / "x", **args)
    assert not (tmp_path / "x").exists()


def test_sample_bad_arguments():
    with pytest.raises(ValueError, match="unknown phantom task"):
        make_phantom_sample("kidney", 64, np.random.default_rng(0))
    with pytest.raises(ValueError, match="at least 32"):
        make_phantom_sample("breast", 16, np.random.default_rng(0))
    with pytest.raises(TypeError, match="Generator"):
        make_phantom_sample("breast", 64, 0)


def test_dataset_json_names_the_generator_and_its_identity(tmp_path):
    out = write_phantom_dataset(tmp_path / "ph", task="thyroid", num=2, size=32, seed=4)
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["generator"] == "monai_ext.data.phantom" and meta["group_regex"] == PHANTOM_GROUP_REGEX
    assert meta["phantom_version"] == PHANTOM_VERSION and "TN-SCUI-like" in meta["description"]
    assert list(meta) == [
        "name", "task", "description", "modality", "image_dir", "mask_dir", "labels", "group_regex",
        "num_images", "size", "seed", "phantom_version", "generator", "classes",
    ]  # fmt: skip


def test_cli_writes_a_dataset(tmp_path, capsys):
    from monai_ext.cli import main

    out = tmp_path / "cli"
    argv = ["phantom", "--task", "thyroid", "--num", "3", "--size", "40", "--seed", "2", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    assert "wrote 3 thyroid phantom images" in capsys.readouterr().out
    assert len(list((out / "images").glob("*.png"))) == 3 and len(list((out / "masks").glob("*.png"))) == 3
    assert json.loads((out / "dataset.json").read_text())["labels"] == {"nodule": [255]}
    assert main(["phantom", "--size", "16", "--out", str(tmp_path / "bad"), "--quiet"]) == 2
    assert "size" in capsys.readouterr().err
