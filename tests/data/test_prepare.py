# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of the bundles' data preparation (phantom default dataset, split file reuse)."""

from __future__ import annotations

import json

import pytest

from monai_ext.data import phantom_dataset_dir, prepare_split_file, resolve_dataset_dir


def test_phantom_made_once_and_split_reused(tmp_path):
    target = tmp_path / "phantom"
    root = resolve_dataset_dir("", str(target), task="breast", num=10, size=64, seed=1)
    assert root == str(target.resolve())
    stamp = (target / "dataset.json").stat().st_mtime_ns
    assert resolve_dataset_dir(None, str(target), task="breast", num=10, size=64, seed=1) == root
    assert (target / "dataset.json").stat().st_mtime_ns == stamp  # not regenerated
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left
    split = prepare_split_file(root, None, val=0.2, test=0.2, labeled=0.25, seed=0)
    again = prepare_split_file(root, None, val=0.2, test=0.2, labeled=0.25, seed=0)
    assert split == again
    content = json.loads(open(split).read())
    assert {"training", "validation", "test"} <= set(content)
    assert prepare_split_file(root, split) == split


def test_phantom_folder_names_the_phantom_identity(tmp_path):
    assert phantom_dataset_dir(".", "breast", 200, 256, 0) == "./data/phantom_breast_n200_s256_seed0"
    assert phantom_dataset_dir(tmp_path, "cardiac", 24, 64, 3) == f"{tmp_path}/data/phantom_cardiac_n24_s64_seed3"
    names = {phantom_dataset_dir(".", t, n, s, seed) for t in ("breast", "cardiac") for n in (24, 200)
             for s in (64, 256) for seed in (0, 1)}
    assert len(names) == 16  # one folder per identity: datasets never overwrite each other


def test_user_dataset_must_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_dataset_dir(str(tmp_path / "nope"), str(tmp_path / "p"))
    assert resolve_dataset_dir(str(tmp_path), "unused") == str(tmp_path.resolve())


def _cardiac_dataset(root):
    """8 images with masks 0/1/2/3 (LV, myocardium, LA) and no dataset.json: only the bundle knows the table."""
    import numpy as np
    from PIL import Image

    for i in range(8):
        (root / "images").mkdir(parents=True, exist_ok=True)
        (root / "masks").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((12, 12), 40 + i, np.uint8)).save(root / "images" / f"c{i}.png")
        m = np.zeros((12, 12), np.uint8)
        m[2:4, 2:4], m[5:7, 5:7], m[8:10, 8:10] = 1, 2, 3
        Image.fromarray(m).save(root / "masks" / f"c{i}.png")
    return root


CARDIAC = {"lv": [1], "myocardium": [2], "la": [3]}


def test_the_bundle_label_table_reaches_the_split_check(tmp_path):
    from monai_ext.data import USDatasetError

    root = _cardiac_dataset(tmp_path / "cardiac")
    # "--task cardiac --dataset_dir D": the bundle's table accepts the masks
    split = prepare_split_file(str(root), None, val=0.2, test=0.2, labeled=0.5, seed=0, labels=CARDIAC)
    assert json.loads(open(split).read())["labels"] == CARDIAC
    # with the breast table the error says how to fix it in the bundle's terms
    with pytest.raises(USDatasetError, match=r"masks/c0\.png: unexpected gray values \[1, 2, 3\].*--task of these"):
        prepare_split_file(str(root), None, val=0.2, test=0.2, labeled=0.25, seed=0, labels={"lesion": [255]})


def test_a_given_split_file_is_rechecked(tmp_path):
    from monai_ext.data import USDatasetError

    root = _cardiac_dataset(tmp_path / "cardiac")
    split = prepare_split_file(str(root), None, val=0.2, test=0.2, labeled=0.5, seed=0, labels=CARDIAC)
    (root / "images" / "c5.png").write_text("not an image any more")
    with pytest.raises(USDatasetError, match=r"unreadable image .*images/c5\.png"):
        prepare_split_file(str(root), split)
