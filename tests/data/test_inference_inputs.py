# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of list_inference_inputs."""

from __future__ import annotations

import pytest

from monai_ext.data import list_inference_inputs


def test_lists_images_sorted_and_recursive(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("b.png", "a.dcm", "sub/c.jpg", "notes.txt", ".hidden.png"):
        (tmp_path / name).write_bytes(b"x")
    items = list_inference_inputs(str(tmp_path))
    assert [i["image"].replace(str(tmp_path), "") for i in items] == ["/a.dcm", "/b.png", "/sub/c.jpg"]
    assert list_inference_inputs(str(tmp_path / "b.png"))[0]["image"].endswith("b.png")


def test_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list_inference_inputs(str(tmp_path / "nope"))
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match="no input images"):
        list_inference_inputs(str(tmp_path))
