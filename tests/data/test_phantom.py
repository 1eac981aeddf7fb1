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
"""Tests of the embedded B-mode ultrasound phantom (monai_ext.data.phantom)."""

from __future__ import annotations

import json
import math
import multiprocessing
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from monai_ext.data.phantom import (
    PHANTOM_LABELS,
    PHANTOM_TASKS,
    USCardiacParams,
    cardiac_contraction,
    make_cardiac_frame,
    make_cardiac_params,
    make_phantom_sample,
    speckle_envelope,
    write_phantom_dataset,
)

RAYLEIGH_CV = math.sqrt(4.0 / math.pi - 1.0)  # 0.5227


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _png(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def test_public_tables():
    assert PHANTOM_TASKS == ("breast", "cardiac", "thyroid")
    assert PHANTOM_LABELS == {
        "breast": {"lesion": [255]},
        "cardiac": {"lv": [1], "myocardium": [2], "la": [3]},
        "thyroid": {"nodule": [255]},
    }


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


def test_outside_the_sector_is_black():
    img, mask, info = make_phantom_sample("cardiac", 96, np.random.default_rng(3))
    fov = info["fov"]
    assert not img[~fov].any()
    # a phased-array fan: black top corners, apex near the top centre, about half to 3/4 of the frame imaged
    assert not fov[:10, :10].any() and not fov[:10, -10:].any()
    assert fov[10:20, 40:56].any()
    assert 0.4 < fov.mean() < 0.8
    assert img[fov].mean() > 20  # and the fan itself is not black


def test_breast_lesions_are_darker_than_their_surroundings():
    rng = np.random.default_rng(5)
    checked = 0
    while checked < 6:
        img, mask, info = make_phantom_sample("breast", 128, rng)
        if info["class"] == "normal":
            assert not mask.any()
            continue
        lesion = mask == 255
        assert lesion.sum() > 20
        ring = ndimage.binary_dilation(lesion, iterations=8) & ~ndimage.binary_dilation(lesion, iterations=2)
        ring &= info["fov"]
        assert img[lesion].mean() < img[ring].mean(), info
        checked += 1


def test_thyroid_nodules_are_darker_on_average_and_lv_blood_is_dark():
    rng = np.random.default_rng(8)
    inside, around = [], []
    for _ in range(6):
        img, mask, info = make_phantom_sample("thyroid", 96, rng)
        nod = mask == 255
        ring = ndimage.binary_dilation(nod, iterations=6) & ~ndimage.binary_dilation(nod, iterations=2) & info["fov"]
        inside.append(img[nod].mean())
        around.append(img[ring].mean())
    assert np.mean(inside) < np.mean(around)
    for _ in range(3):
        img, mask, _ = make_phantom_sample("cardiac", 96, rng)
        assert img[mask == 1].mean() < img[mask == 2].mean()  # blood pool darker than myocardium


def test_speckle_envelope_is_rayleigh():
    rng = np.random.default_rng(0)
    env = speckle_envelope(np.full((192, 192), 2.0), rng, sigma_axial=1.2, sigma_lateral=2.5)
    cv = env.std() / env.mean()
    assert abs(cv - RAYLEIGH_CV) < 0.03
    assert abs(np.mean(env**2) / 4.0 - 1.0) < 0.1  # mean square = echogenicity squared
    # wide PSFs (box-filter approximation) keep the statistics
    env = speckle_envelope(np.ones((192, 192)), rng, sigma_axial=1.0, sigma_lateral=6.0)
    assert abs(env.std() / env.mean() - RAYLEIGH_CV) < 0.04
    assert abs(np.mean(env**2) - 1.0) < 0.15
    with pytest.raises(ValueError, match="2D"):
        speckle_envelope(np.ones(5), rng)


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


def test_cardiac_frames_follow_the_cycle():
    params = make_cardiac_params(np.random.default_rng(4), view="a4c")
    assert isinstance(params, USCardiacParams) and params.view == "a4c"
    ed_img, ed = make_cardiac_frame(80, params, 0.0)
    es_img, es = make_cardiac_frame(80, params, params.es_phase)
    again_img, again = make_cardiac_frame(80, params, 1.0)  # periodic
    assert np.array_equal(ed, again) and np.array_equal(ed_img, again_img)
    lv_ed, lv_es = (ed == 1).sum(), (es == 1).sum()
    assert lv_es < 0.9 * lv_ed  # the LV contracts
    assert (es == 3).sum() > (ed == 3).sum()  # the LA fills in systole
    # same probe and heart: the fan is the same and the apex stays where it is (the base moves)
    fov = params.geometry.fov(80)
    assert not ed_img[~fov].any() and not es_img[~fov].any()
    top = [int(np.nonzero((m > 0).any(axis=1))[0][0]) for m in (ed, es)]
    assert abs(top[0] - top[1]) <= 2
    assert cardiac_contraction(0.0, 0.35) == 0.0
    assert cardiac_contraction(0.35, 0.35) == pytest.approx(1.0)
    assert 0.0 < cardiac_contraction(0.7, 0.35) < 1.0
    # a generator draws a heart on the fly
    img, mask = make_cardiac_frame(64, np.random.default_rng(1), 0.5)
    assert img.shape == mask.shape == (64, 64) and set(np.unique(mask).tolist()) == {0, 1, 2, 3}
    with pytest.raises(TypeError, match="USCardiacParams"):
        make_cardiac_frame(64, 3, 0.0)
    with pytest.raises(ValueError, match="view"):
        make_cardiac_params(np.random.default_rng(0), view="plax")


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
