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

"""Tests of monai_ext.transforms.masks on 16x12 PNG masks loaded the way bundles load them."""

from __future__ import annotations

from pathlib import Path

import monai.transforms
import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import LoadImaged
from PIL import Image

from monai_ext.transforms.masks import (
    USMaskToLabel,
    USMaskToLabeld,
    label_index_to_channels,
    mask_to_label_index,
    normalize_label_table,
)

H, W = 16, 12
LOAD = LoadImaged("label", reader="PILReader", ensure_channel_first=True)


def _png(path: Path, arr: np.ndarray, mode: str | None = None) -> str:
    im = Image.fromarray(np.asarray(arr, dtype=np.uint8))
    if mode is not None:
        im = im.convert(mode)
    im.save(path)
    return str(path)


def _box(y0: int, y1: int, x0: int, x1: int, value: int = 255) -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    m[y0:y1, x0:x1] = value
    return m


def _loaded(path) -> MetaTensor:
    return LOAD({"label": path})["label"]


def test_names_not_in_monai():
    for name in ("USMaskToLabel", "USMaskToLabeld", "USImageChannels", "USImageChannelsd"):
        assert not hasattr(monai.transforms, name)


def test_binary_gray_index(tmp_path):
    f = _png(tmp_path / "m.png", _box(2, 5, 3, 7))
    x = _loaded(f)
    out = USMaskToLabeld("label", {"lesion": [255]})({"label": x})["label"]
    assert isinstance(out, MetaTensor) and out.dtype == torch.int64
    assert out.shape == (1, W, H)  # PILReader: spatial (W, H)
    assert int(out.sum()) == 12 and set(out.unique().tolist()) == {0, 1}
    assert out.meta["filename_or_obj"] == f
    assert torch.equal(out.affine, x.affine)
    # spatial order matches the loaded mask: pixel (row 2, col 3) -> [.., x=3, y=2]
    assert out[0, 3, 2] == 1 and out[0, 2, 2] == 0


def test_multi_object_index_and_channels(tmp_path):
    m = _box(0, 4, 0, 4, 1)
    m[8:10, 8:11] = 2
    m[12, 0] = 3
    f = _png(tmp_path / "cardiac.png", m)
    table = {"lv": [1], "myocardium": [2], "la": [3]}
    idx = USMaskToLabel(table)(_loaded(f))
    assert idx.shape == (1, W, H)
    assert [int((idx == k).sum()) for k in range(4)] == [H * W - 16 - 6 - 1, 16, 6, 1]
    ch = USMaskToLabel(table, mode="channels")(_loaded(f))
    assert ch.shape == (3, W, H) and ch.dtype == torch.float32
    assert ch.sum(dim=(1, 2)).tolist() == [16.0, 6.0, 1.0]
    assert torch.equal(ch.argmax(0)[None] + (ch.sum(0, keepdim=True) > 0).long(), idx)
    # several gray values for one structure
    two = USMaskToLabel({"lv": [1, 3], "myocardium": [2]})(_loaded(f))
    assert int((two == 1).sum()) == 17


def test_rgba_and_rgb_binary(tmp_path):
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[..., 3] = 255  # alpha everywhere must not become foreground
    rgba[1:3, 1:4, :3] = 255
    f = _png(tmp_path / "rgba.png", rgba)
    x = _loaded(f)
    assert x.shape[0] == 4
    out = USMaskToLabel({"lesion": [255]})(x)
    assert out.shape == (1, W, H) and int(out.sum()) == 6
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[5:7, 5:7, 0] = 90  # red only: any channel > 0
    out = USMaskToLabel({"lesion": [255]})(_loaded(_png(tmp_path / "rgb.png", rgb)))
    assert int(out.sum()) == 4


def test_multi_mask_list_loaded_by_monai(tmp_path):
    a = _png(tmp_path / "x_mask.png", _box(0, 2, 0, 2))
    b = _png(tmp_path / "x_mask_1.png", _box(1, 4, 1, 4))  # overlaps a in one pixel
    x = _loaded([a, b])
    assert x.shape == (2, W, H)  # LoadImaged stacks the gray masks
    out = USMaskToLabeld("label", {"lesion": [255]})({"label": x})["label"]
    assert out.shape == (1, W, H) and int(out.sum()) == 4 + 9 - 1
    ra = np.zeros((H, W, 3), np.uint8)
    ra[0:2, 0:2] = 255
    rb = np.zeros((H, W, 3), np.uint8)
    rb[10:12, 10:12, 1] = 255
    x = _loaded([_png(tmp_path / "ra.png", ra), _png(tmp_path / "rb.png", rb)])
    assert x.shape == (6, W, H)  # two RGB files, file after file
    assert int(USMaskToLabel({"lesion": [255]})(x).sum()) == 8
    # three stacked gray files: C = 3 is not mistaken for one RGB file
    c = _png(tmp_path / "x_mask_2.png", _box(14, 16, 10, 12))
    assert int(USMaskToLabel({"lesion": [255]})(_loaded([a, b, c])).sum()) == 12 + 4


def test_paths_with_mixed_modes(tmp_path):
    a = _png(tmp_path / "gray.png", _box(0, 2, 0, 2))
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[10:13, 5:8, :3] = 255
    b = _png(tmp_path / "rgba.png", rgba)
    with pytest.raises(ValueError):
        _loaded([a, b])  # MONAI cannot stack a gray and an RGBA file
    out = USMaskToLabeld("label", {"lesion": [255]})({"label": [a, b]})["label"]
    assert isinstance(out, MetaTensor) and out.shape == (1, W, H) and int(out.sum()) == 13
    assert out.meta["filename_or_obj"] == a
    single = USMaskToLabel({"lesion": [255]}, mode="channels")(a)
    assert single.shape == (1, W, H) and single.dtype == torch.float32 and float(single.sum()) == 4
    with pytest.raises(FileNotFoundError, match="missing.png"):
        USMaskToLabel({"lesion": [255]})(str(tmp_path / "missing.png"))


def test_bilevel_mode(tmp_path):
    f = _png(tmp_path / "one.png", _box(0, 3, 0, 3), mode="1")
    assert Image.open(f).mode == "1"
    out = USMaskToLabel({"lesion": [255]})(_loaded(f))  # PILReader gives 0/1: binarised
    assert int(out.sum()) == 9


def test_unexpected_gray_values_name_the_file(tmp_path):
    m = _box(0, 3, 0, 3)
    m[10, 10] = 128
    m[11, 11] = 7
    f = _png(tmp_path / "odd_mask.png", m)
    with pytest.raises(ValueError, match=r"odd_mask\.png: unexpected gray values \[7, 128\]"):
        USMaskToLabeld("label", {"lesion": [255]})({"label": _loaded(f)})
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[0, 0] = (1, 2, 1)
    g = _png(tmp_path / "colour.png", rgb)
    with pytest.raises(ValueError, match=r"colour\.png: colour mask with differing R, G, B"):
        USMaskToLabel({"a": [1], "b": [2]})(_loaded(g))
    # interpolated masks (non-integer values) are refused
    x = _loaded(_png(tmp_path / "ok.png", _box(0, 3, 0, 3))) * 0.5
    with pytest.raises(ValueError, match=r"ok\.png: non-integer gray values \[127\.5\]"):
        USMaskToLabel({"lesion": [255]})(x)


def test_conflicting_multi_object_files(tmp_path):
    a = _png(tmp_path / "a.png", _box(0, 4, 0, 4, 1))
    b = _png(tmp_path / "b.png", _box(2, 6, 2, 6, 2))
    with pytest.raises(ValueError, match=r"a\.png: file 2 of the mask list marks 4 pixels"):
        USMaskToLabel({"x": [1], "y": [2]})(_loaded([a, b]))


def test_numpy_and_missing_keys():
    arr = np.zeros((1, 4, 5), np.uint8)
    arr[0, 1, 1] = 2
    out = USMaskToLabel([[1], [2]])(arr)
    assert isinstance(out, np.ndarray) and out.dtype == np.int64 and out[0, 1, 1] == 2 and out.sum() == 2
    d = USMaskToLabeld("label", {"l": [2]}, allow_missing_keys=True)({"image": arr})
    assert set(d) == {"image"}
    with pytest.raises(KeyError):
        USMaskToLabeld("label", {"l": [2]})({"image": arr})
    rgb = np.zeros((3, 4, 5), np.float32)  # a plain 3-channel array is one RGB file
    rgb[2, 0, 0] = 10
    assert USMaskToLabel({"l": [255]})(rgb).sum() == 1
    with pytest.raises(ValueError, match=r"<array>: unexpected gray values \[10\]"):  # now 3 gray files
        USMaskToLabel({"l": [255]}, channels_per_file=1)(rgb)


def test_label_table_checks():
    assert normalize_label_table({"a": 1, "b": [2, 3]}) == {"a": (1,), "b": (2, 3)}
    assert normalize_label_table([[255]]) == {"structure_1": (255,)}
    for bad, msg in (
        ({}, "at least one"),
        ({"a": []}, "non-empty"),
        ({"a": [0]}, "> 0"),
        ({"a": [1.5]}, "integers"),
        ({"a": [1], "b": [1]}, "marks both"),
    ):
        with pytest.raises(ValueError, match=msg):
            normalize_label_table(bad)
    with pytest.raises(TypeError):
        normalize_label_table("lesion")
    with pytest.raises(ValueError, match="mode must be one of"):
        USMaskToLabel({"a": [1]}, mode="onehot")


def test_numpy_core():
    m = np.array([[[0, 1], [2, 0]]])
    idx = mask_to_label_index(m, {"a": [1], "b": [2]})
    assert idx.tolist() == [[0, 1], [2, 0]]
    assert label_index_to_channels(idx, 2).tolist() == [[[0, 1], [0, 0]], [[0, 0], [1, 0]]]
    with pytest.raises(ValueError, match="not a multiple"):
        mask_to_label_index(np.zeros((3, 2, 2)), {"a": [1]}, channels_per_file=2)


def test_mask_drawn_in_the_alpha_channel_is_read_from_it(tmp_path):
    # colour 0 everywhere, the lesion drawn as opacity (some annotation tools export masks like this)
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[4:8, 2:6, 3] = 255
    rgba[8, 2:6, 3] = 128  # an anti-aliased edge
    x = _loaded(_png(tmp_path / "alpha.png", rgba))
    assert x.shape[0] == 4 and float(x[:3].max()) == 0
    out = USMaskToLabel({"lesion": [255]})(x)
    assert int(out.sum()) == 4 * 4 + 4  # binarised on alpha > 0, as colour masks are on colour > 0
    la = np.stack([np.zeros((H, W), np.uint8), rgba[..., 3]], -1)
    assert int(USMaskToLabel({"lesion": [255]})(_loaded(_png(tmp_path / "la.png", la))).sum()) == 20
    # BUSI-style RGBA masks (alpha 255 everywhere) still use their colour channels
    busi = np.zeros((H, W, 4), np.uint8)
    busi[..., 3] = 255
    busi[1:3, 1:3, :3] = 255
    assert int(USMaskToLabel({"lesion": [255]})(_loaded(_png(tmp_path / "busi.png", busi))).sum()) == 4
    # colour where the alpha is 0 (and the alpha varies) is ambiguous: refused, naming the file
    ambiguous = rgba.copy()
    ambiguous[12:14, 2:4, :3] = 255
    path = _png(tmp_path / "ambiguous.png", ambiguous)
    with pytest.raises(ValueError, match=r"mask .*ambiguous\.png: has colour in pixels that its alpha channel"):
        USMaskToLabel({"lesion": [255]})(_loaded(path))
