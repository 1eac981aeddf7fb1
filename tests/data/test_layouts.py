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

"""Tests of monai_ext.data.layouts on hand-made 16x16 PNG folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from monai_ext.data.layouts import (
    USDatasetError,
    USDatasetNotFoundError,
    check_image_file,
    check_listed_files,
    detect_layout,
    list_dataset,
)


def _png(path: Path, arr: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(np.asarray(arr, dtype=np.uint8))
    if mode is not None:
        im = im.convert(mode)
    im.save(path)
    return path


def _image(seed: int = 0, size: tuple[int, int] = (16, 16)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8)


def _square(y: int, x: int, value: int = 255, size: tuple[int, int] = (16, 16), w: int = 4) -> np.ndarray:
    m = np.zeros(size, np.uint8)
    m[y : y + w, x : x + w] = value
    return m


def make_busi(root: Path) -> Path:
    """benign: one single-mask image, one with two masks; malignant: RGBA mask; normal: empty mask."""
    _png(root / "benign" / "benign (1).png", _image(1))
    _png(root / "benign" / "benign (1)_mask.png", _square(2, 2))
    _png(root / "benign" / "benign (2).png", _image(2))
    _png(root / "benign" / "benign (2)_mask.png", _square(0, 0))
    _png(root / "benign" / "benign (2)_mask_1.png", _square(10, 10))
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 3] = 255  # opaque everywhere, as in BUSI's RGBA masks
    rgba[4:8, 4:8, :3] = 255
    _png(root / "malignant" / "malignant (1).png", np.stack([_image(3)] * 3, -1))
    _png(root / "malignant" / "malignant (1)_mask.png", rgba)
    _png(root / "normal" / "normal (1).png", _image(4))
    _png(root / "normal" / "normal (1)_mask.png", np.zeros((16, 16)))
    return root


def test_busi_layout(tmp_path):
    root = make_busi(tmp_path / "busi")
    assert detect_layout(root) == "busi"
    listing = list_dataset(root)
    assert listing.layout == "busi"
    assert listing.labels == {"lesion": [255]}
    assert listing.name == "busi"
    assert [it["id"] for it in listing.items] == ["benign (1)", "benign (2)", "malignant (1)", "normal (1)"]
    by_id = {it["id"]: it for it in listing.items}
    assert by_id["benign (1)"]["label"] == "benign/benign (1)_mask.png"
    assert by_id["benign (2)"]["label"] == ["benign/benign (2)_mask.png", "benign/benign (2)_mask_1.png"]
    assert by_id["malignant (1)"]["class"] == "malignant"
    assert by_id["normal (1)"]["label"] == "normal/normal (1)_mask.png"
    assert listing.classes == {
        "benign (1)": "benign",
        "benign (2)": "benign",
        "malignant (1)": "malignant",
        "normal (1)": "normal",
    }
    assert all(it["group"] == it["id"] for it in listing.items)
    assert len(listing.file_list()) == 9
    assert listing.input_sha256() == list_dataset(root, check=False).input_sha256()


def test_busi_split_dir_ignored(tmp_path):
    root = make_busi(tmp_path / "busi")
    (root / "splits").mkdir()
    (root / "splits" / "split.json").write_text("{}")
    assert len(list_dataset(root).items) == 4


def test_images_masks_same_name_and_suffix(tmp_path):
    root = tmp_path / "ds"
    _png(root / "images" / "a.png", _image(1))
    _png(root / "masks" / "a.png", _square(1, 1))
    _png(root / "images" / "b.jpg", np.stack([_image(2)] * 3, -1))  # jpg image, png mask
    _png(root / "masks" / "b_mask.png", _square(3, 3))
    (root / "images" / "notes.txt").write_text("ignored")
    assert detect_layout(root) == "images_masks"
    listing = list_dataset(root)
    assert [(it["id"], it["image"], it["label"], it["group"]) for it in listing.items] == [
        ("a", "images/a.png", "masks/a.png", "a"),
        ("b", "images/b.jpg", "masks/b_mask.png", "b"),
    ]
    assert listing.labels == {"foreground": [255]}
    assert listing.labeled


def test_images_masks0(tmp_path):
    root = tmp_path / "mgcc"
    for i in range(3):
        _png(root / "images" / f"benign ({i}).png", _image(i))
        _png(root / "masks" / "0" / f"benign ({i}).png", _square(i, i))
    assert detect_layout(root) == "images_masks0"
    listing = list_dataset(root)
    assert listing.layout == "images_masks0"
    assert [it["label"] for it in listing.items] == [f"masks/0/benign ({i}).png" for i in range(3)]


@pytest.mark.parametrize("sub", ["images", ""])
def test_unlabeled(tmp_path, sub):
    root = tmp_path / "pool"
    for i in range(3):
        _png(root / sub / f"u{i}.png", _image(i))
    assert detect_layout(root) == "unlabeled"
    listing = list_dataset(root)
    assert [it["image"] for it in listing.items] == [str(Path(sub) / f"u{i}.png").lstrip("/") for i in range(3)]
    assert all("label" not in it for it in listing.items)
    assert not listing.labeled


def test_multi_object_table_and_groups(tmp_path):
    root = tmp_path / "cardiac"
    meta = {
        "name": "tiny_cardiac",
        "labels": {"lv": [1], "myocardium": [2], "la": [3]},
        "group_regex": r"^(p\d+)_",
        "classes": {"p0001_00": "a", "p0001_01": "a", "p0002_00": "b"},
    }
    root.mkdir()
    (root / "dataset.json").write_text(json.dumps(meta))
    m = np.zeros((16, 16), np.uint8)
    m[2:6, 2:6] = 1
    m[8:10, 8:10] = 2
    m[12:14, 1:3] = 3
    for i in ("p0001_00", "p0001_01", "p0002_00"):
        _png(root / "images" / f"{i}.png", _image())
        _png(root / "masks" / f"{i}.png", m)
    listing = list_dataset(root)
    assert listing.name == "tiny_cardiac"
    assert listing.labels == {"lv": [1], "myocardium": [2], "la": [3]}
    assert listing.group_rule == r"^(p\d+)_"
    assert [it["group"] for it in listing.items] == ["p0001", "p0001", "p0002"]
    assert [it["class"] for it in listing.items] == ["a", "a", "b"]
    # the argument overrides dataset.json; a regex without group uses the whole match
    listing = list_dataset(root, group_by=r"p\d+_0")
    assert [it["group"] for it in listing.items] == ["p0001_0", "p0001_0", "p0002_0"]
    # with a binary table the multi-valued masks are rejected, naming the file
    with pytest.raises(USDatasetError, match=r"p0001_00\.png.*unexpected gray values \[1, 2, 3\]"):
        list_dataset(root, labels={"foreground": [255]})


def test_labels_argument_sequence(tmp_path):
    root = tmp_path / "ds"
    _png(root / "images" / "a.png", _image())
    _png(root / "masks" / "a.png", _square(0, 0, 128))
    listing = list_dataset(root, labels=[[128]])
    assert listing.labels == {"structure_1": [128]}


# ---------------------------------------------------------------- bad input


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        list_dataset(tmp_path / "nowhere")
    with pytest.raises(USDatasetNotFoundError):
        list_dataset(tmp_path / "nowhere")


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(USDatasetError, match="empty dataset folder.*empty"):
        list_dataset(tmp_path / "empty")


def test_no_images(tmp_path):
    root = tmp_path / "docs"
    root.mkdir()
    (root / "readme.txt").write_text("x")
    with pytest.raises(USDatasetError, match="no images found in .*docs"):
        list_dataset(root)
    (tmp_path / "ds" / "images").mkdir(parents=True)
    (tmp_path / "ds" / "masks").mkdir()
    with pytest.raises(USDatasetError, match="empty image folder .*images"):
        list_dataset(tmp_path / "ds")


def test_unreadable_image(tmp_path):
    root = tmp_path / "ds"
    _png(root / "masks" / "bad.png", _square(0, 0))
    (root / "images").mkdir()
    (root / "images" / "bad.png").write_bytes(b"not a png at all")
    with pytest.raises(USDatasetError, match=r"unreadable image .*bad\.png"):
        list_dataset(root)


def test_truncated_image(tmp_path):
    root = tmp_path / "ds"
    _png(root / "images" / "cut.png", _image(size=(64, 64)))
    _png(root / "masks" / "cut.png", _square(0, 0, size=(64, 64)))
    data = (root / "images" / "cut.png").read_bytes()
    (root / "images" / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(USDatasetError, match=r"unreadable image .*cut\.png"):
        list_dataset(root)


def test_mask_missing(tmp_path):
    root = tmp_path / "ds"
    _png(root / "images" / "a.png", _image())
    _png(root / "images" / "b.png", _image())
    _png(root / "masks" / "a.png", _square(0, 0))
    with pytest.raises(USDatasetError, match=r"mask missing for image .*b\.png"):
        list_dataset(root)


def test_busi_mask_missing_and_orphan(tmp_path):
    root = make_busi(tmp_path / "busi")
    (root / "benign" / "benign (1)_mask.png").unlink()
    with pytest.raises(USDatasetError, match=r"mask missing for image .*benign \(1\)\.png"):
        list_dataset(root)
    root = make_busi(tmp_path / "busi2")
    _png(root / "normal" / "normal (9)_mask.png", np.zeros((16, 16)))
    with pytest.raises(USDatasetError, match=r"normal \(9\)_mask\.png has no image"):
        list_dataset(root)


def test_orphan_mask(tmp_path):
    root = tmp_path / "ds"
    _png(root / "images" / "a.png", _image())
    _png(root / "masks" / "a.png", _square(0, 0))
    _png(root / "masks" / "zz.png", _square(0, 0))
    with pytest.raises(USDatasetError, match=r"zz\.png has no image"):
        list_dataset(root)


def test_mask_size_mismatch(tmp_path):
    root = tmp_path / "ds"
    _png(root / "images" / "a.png", _image())
    _png(root / "masks" / "a.png", _square(0, 0, size=(16, 20)))
    with pytest.raises(USDatasetError, match=r"mask .*a\.png has size 20x16 but image .*a\.png has size 16x16"):
        list_dataset(root)


def test_unexpected_gray_values(tmp_path):
    root = tmp_path / "ds"
    _png(root / "images" / "a.png", _image())
    m = _square(0, 0)
    m[10, 10] = 128
    _png(root / "masks" / "a.png", m)
    with pytest.raises(USDatasetError, match=r"masks/a\.png: unexpected gray values \[128\]"):
        list_dataset(root)
    assert len(list_dataset(root, check=False).items) == 1  # the check is what reads the masks


def test_busi_rgb_mask_values_not_checked_but_multi_table_needs_gray(tmp_path):
    root = make_busi(tmp_path / "busi")
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[1:3, 1:3, 0] = 200  # a red-only mask: binarised on any channel > 0
    _png(root / "malignant" / "malignant (1)_mask.png", rgb)
    assert len(list_dataset(root).items) == 4
    with pytest.raises(USDatasetError, match=r"malignant \(1\)_mask\.png: colour mask with differing"):
        list_dataset(root, labels={"a": [255], "b": [200]})


def test_group_regex_no_match(tmp_path):
    root = tmp_path / "ds"
    _png(root / "images" / "x1.png", _image())
    _png(root / "masks" / "x1.png", _square(0, 0))
    with pytest.raises(USDatasetError, match=r"does not match image id 'x1'"):
        list_dataset(root, group_by=r"^p\d+")
    with pytest.raises(USDatasetError, match="invalid group regex"):
        list_dataset(root, group_by="(")


def test_bad_dataset_json_and_layout(tmp_path):
    root = tmp_path / "ds"
    _png(root / "images" / "a.png", _image())
    _png(root / "masks" / "a.png", _square(0, 0))
    with pytest.raises(ValueError, match="layout must be"):
        list_dataset(root, layout="nifti")
    (root / "dataset.json").write_text("{not json")
    with pytest.raises(USDatasetError, match=r"dataset\.json"):
        list_dataset(root)
    (root / "dataset.json").write_text(json.dumps({"labels": {"a": [0]}}))
    with pytest.raises(USDatasetError, match="invalid label table"):
        list_dataset(root)


def test_images_without_a_known_scale_and_decompression_bombs_are_refused_when_listed(tmp_path, monkeypatch):
    root = tmp_path / "ds"
    _png(root / "images" / "a.png", _image(), mode="P")  # a palette image: PILReader would give palette indices
    _png(root / "masks" / "a.png", _square(0, 0))
    with pytest.raises(USDatasetError, match=r"image .*images/a\.png: a palette image .*convert\('L'\)"):
        list_dataset(root)
    _png(root / "images" / "a.png", _image())
    assert len(list_dataset(root).items) == 1
    from PIL import Image as PILImage

    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 100)  # 16x16 = 256 pixels: above the limit, below twice it
    with pytest.raises(USDatasetError, match=r"unreadable image .*images/a\.png: .*decompression bomb"):
        list_dataset(root)


def test_cheap_checks_find_files_deleted_truncated_or_resized_since(tmp_path):
    root = tmp_path / "ds"
    _png(root / "images" / "a.png", _image())
    _png(root / "masks" / "a.png", _square(0, 0))
    items = [{"image": "images/a.png", "label": "masks/a.png"}]
    check_listed_files(root, items)
    assert check_image_file(root / "images" / "a.png", decode=False) == (16, 16)
    data = (root / "masks" / "a.png").read_bytes()
    (root / "masks" / "a.png").write_bytes(data[: len(data) // 2])  # cut off in a copy
    with pytest.raises(USDatasetError, match=r"unreadable mask .*masks/a\.png"):
        check_listed_files(root, items)
    (root / "masks" / "a.png").write_bytes(b"")
    with pytest.raises(USDatasetError, match=r"unreadable mask .*masks/a\.png: the file is empty"):
        check_listed_files(root, items)
    _png(root / "masks" / "a.png", _square(0, 0, size=(8, 16)))
    with pytest.raises(USDatasetError, match=r"mask .*a\.png has size 16x8 but image .*a\.png has size 16x16"):
        check_listed_files(root, items)
    (root / "masks" / "a.png").unlink()
    with pytest.raises(USDatasetNotFoundError, match=r"mask not found: .*masks/a\.png"):
        check_listed_files(root, items)
