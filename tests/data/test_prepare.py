# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of the bundles' data preparation (phantom default dataset, split file reuse)."""

from __future__ import annotations

import json

import pytest

from monai_ext.data import prepare_split_file, resolve_dataset_dir


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


def test_user_dataset_must_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_dataset_dir(str(tmp_path / "nope"), str(tmp_path / "p"))
    assert resolve_dataset_dir(str(tmp_path), "unused") == str(tmp_path.resolve())
