# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of monai_ext.transforms.shadow_imitation (USShadowImitation / USShadowImitationd)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import Compose, LoadImaged, RandFlipd
from PIL import Image

from monai_ext.data.phantom import USProbeGeometry
from monai_ext.transforms import (
    USShadowImitation,
    USShadowImitationD,
    USShadowImitationd,
    USShadowImitationDict,
    load_shadow_mask_file,
)

SECTOR = USProbeGeometry("sector", apex_x=0.5, apex_y=0.0, r_min=0.01, r_max=0.98, half_angle=0.7)


def _meta_image(size: int = 64, seed: int = 0, name: str = "case.png") -> MetaTensor:
    x = torch.as_tensor(np.random.RandomState(seed).uniform(-1, 1, (3, size, size)).astype(np.float32))
    return MetaTensor(x, meta={"filename_or_obj": f"/data/images/{name}"})


def test_mat_small_dict_output_and_seeding():
    t = USShadowImitationd("image").set_random_state(3)
    img = _meta_image()
    out = t({"image": img})
    m = out["shadow_mask"]
    assert isinstance(m, MetaTensor) and m.shape == (1, 64, 64) and m.dtype == torch.float32
    assert set(torch.unique(m).tolist()) == {0.0, 1.0}
    assert m.meta["filename_or_obj"] == "/data/images/case.png"
    assert torch.equal(out["image"], img)  # fill_value None: the image is not modified
    again = USShadowImitationd("image").set_random_state(3)({"image": img})["shadow_mask"]
    assert torch.equal(m, again)
    other = USShadowImitationd("image").set_random_state(4)({"image": img})["shadow_mask"]
    assert not torch.equal(m, other)
    assert USShadowImitationD is USShadowImitationd and USShadowImitationDict is USShadowImitationd


def test_fill_value_and_original_key():
    t = USShadowImitationd("image", mode="mat_large", fill_value=0.0, original_key="target").set_random_state(0)
    img = _meta_image()
    out = t({"image": img})
    m = out["shadow_mask"]
    assert torch.equal(out["target"], img)
    assert torch.all(out["image"][:, m[0] == 0] == 0) and torch.equal(out["image"][:, m[0] == 1], img[:, m[0] == 1])


def test_prob_zero_gives_all_visible():
    out = USShadowImitationd("image", prob=0.0)({"image": _meta_image()})
    assert torch.all(out["shadow_mask"] == 1)


def test_seeding_through_compose():
    pipeline = Compose([USShadowImitationd("image")])
    a = pipeline.set_random_state(11)({"image": _meta_image()})["shadow_mask"]
    b = pipeline.set_random_state(11)({"image": _meta_image()})["shadow_mask"]
    assert torch.equal(a, b)


def test_mat_mode_orientation_follows_layout():
    img = np.zeros((1, 48, 80), np.float32)
    xy = USShadowImitation(layout="xy").set_random_state(5)(img)[1]
    yx = USShadowImitation(layout="yx").set_random_state(5)(np.zeros((1, 80, 48), np.float32))[1]
    assert xy.shape == (1, 48, 80) and np.array_equal(xy, np.swapaxes(yx, 1, 2))


def test_acoustic_mode_shadows_along_depth_of_the_reader_layout():
    geom_fov = SECTOR.fov(64)  # (H, W): rows are depth
    img = np.full((1, 64, 64), 0.2, np.float32)
    fov_xy = geom_fov.T[None].astype(np.float32)  # PILReader layout (X, Y)
    t = USShadowImitationd("image", mode="acoustic", fov_key="fov", original_key="target").set_random_state(9)
    out = t({"image": img.copy(), "fov": fov_xy})
    m = out["shadow_mask"]
    assert m.shape == (1, 64, 64)
    holes = m[0] == 0  # (X, Y): depth is the last axis
    assert holes.any() and not np.any(holes & ~geom_fov.T)
    assert np.array_equal(out["target"], img)
    assert np.all(out["image"][0][holes] < 0.2) and np.array_equal(out["image"][0][~geom_fov.T], img[0][~geom_fov.T])
    # the same draw in row-major layout is the transpose
    t_yx = USShadowImitation(mode="acoustic", layout="yx").set_random_state(9)
    img_yx, m_yx = t_yx(img.copy(), fov=geom_fov)
    assert np.array_equal(m, np.swapaxes(m_yx, 1, 2)) and np.allclose(out["image"], np.swapaxes(img_yx, 1, 2))
    assert t.shadow.last_shadows and t.shadow.last_shadows[0].width > 0


def test_acoustic_linear_columns_in_reader_layout():
    t = USShadowImitation(mode="acoustic", acoustic={"probe": "linear"}).set_random_state(2)
    _, m = t(torch.zeros(1, 40, 56))
    holes = m[0].numpy() == 0  # (X, Y)
    assert holes.any()
    for x in range(40):  # holes of a scan line run from the onset to the deepest sample
        ys = np.flatnonzero(holes[x])
        if ys.size:
            assert np.array_equal(ys, np.arange(ys[0], 56))


def _write_png(path, arr: np.ndarray) -> None:
    Image.fromarray(arr).save(path)


def test_file_mode_keyed_by_image_stem_inverted_and_augmented_jointly(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "heatmask").mkdir()
    rng = np.random.RandomState(0)
    heat = np.zeros((16, 16), np.uint8)  # 4x smaller than the image: nearest-neighbour resize
    heat[2:9, 3:14] = 255
    heat[12:, :5] = 255
    image = np.kron(heat, np.ones((4, 4), np.uint8))  # the image shows where the heat is
    image = np.where(image > 0, 200, 50).astype(np.uint8) + rng.randint(0, 5, image.shape).astype(np.uint8)
    _write_png(tmp_path / "images" / "p0001_00.png", image)
    _write_png(tmp_path / "heatmask" / "p0001_00.png", heat)
    pipeline = Compose(
        [
            LoadImaged("image", reader="PILReader", ensure_channel_first=True),
            USShadowImitationd("image", mode="file", mask_dir=tmp_path / "heatmask"),
            RandFlipd(["image", "shadow_mask"], prob=1.0, spatial_axis=0),
            RandFlipd(["image", "shadow_mask"], prob=0.5, spatial_axis=1),
        ]
    ).set_random_state(1)
    for _ in range(3):
        out = pipeline({"image": str(tmp_path / "images" / "p0001_00.png")})
        m = out["shadow_mask"]
        assert m.shape == (1, 64, 64) and set(torch.unique(m).tolist()) == {0.0, 1.0}
        # bright heat = hole, and after the joint flips the holes are still where the image is bright
        assert torch.equal(m[0] == 0, out["image"][0] > 120)
    assert float((m == 0).float().mean()) == pytest.approx((heat > 0).mean())


def test_file_mode_item_path_wins_and_missing_files_are_named(tmp_path):
    img = _meta_image(32, name="a.png")
    heat = np.zeros((32, 32), np.uint8)
    heat[:, :8] = 1  # a {0, 1} file is not divided by 255
    _write_png(tmp_path / "own.png", heat)
    t = USShadowImitationd("image", mode="file", mask_dir=tmp_path)
    m = t({"image": img, "shadow_mask": str(tmp_path / "own.png")})["shadow_mask"]
    assert float((m == 0).float().mean()) == pytest.approx(0.25)
    with pytest.raises(FileNotFoundError, match=r"image /data/images/a.png not found: .*a\.png"):
        t({"image": img})
    soft = USShadowImitationd("image", mode="file", mask_dir=tmp_path, threshold=None, invert=False)
    m = soft({"image": img, "shadow_mask": str(tmp_path / "own.png")})["shadow_mask"]
    assert float(m.mean()) == pytest.approx(0.25)
    loaded = torch.as_tensor(255.0 * heat)[None]  # e.g. LoadImaged on the mask key: 0-255 values are scaled
    m = USShadowImitationd("image", mode="file")({"image": img, "shadow_mask": loaded})["shadow_mask"]
    assert float((m == 0).float().mean()) == pytest.approx(0.25)
    with pytest.raises(ValueError, match=r"values in \[-1.0, -?0.0\], expected"):
        USShadowImitationd("image", mode="file")({"image": img, "shadow_mask": -torch.as_tensor(heat)[None].float()})
    with pytest.raises(ValueError, match="needs mask_dir"):
        USShadowImitationd("image", mode="file")({"image": img})


def test_load_shadow_mask_file_scales_and_bounds(tmp_path):
    arr = np.array([[0, 255], [128, 255]], np.uint8)
    _write_png(tmp_path / "m.png", arr)
    m = load_shadow_mask_file(tmp_path / "m.png")
    assert m.shape == (1, 2, 2) and float(m.max()) == 1.0 and float(m[0, 0, 1]) == pytest.approx(128 / 255)
    with pytest.raises(ValueError, match="exceeds max_pixels=3"):
        load_shadow_mask_file(tmp_path / "m.png", max_pixels=3)
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="bad.png: not a readable image"):
        load_shadow_mask_file(tmp_path / "bad.png")


def test_bundle_config_instantiates_the_acoustic_mode():
    from monai.bundle import ConfigParser

    config = {
        "shadow": {
            "_target_": "monai_ext.transforms.USShadowImitationd",
            "keys": "image",
            "mode": "acoustic",
            "acoustic": {"probe": "linear", "max_shadows": 1},
        }
    }
    t = ConfigParser(config).get_parsed_content("shadow")
    assert isinstance(t, USShadowImitationd) and t.shadow.simulator.max_shadows == 1
    out = t.set_random_state(0)({"image": np.zeros((1, 32, 32), np.float32)})
    assert len(t.shadow.last_shadows) == 1 and out["shadow_mask"].shape == (1, 32, 32)


def test_errors():
    with pytest.raises(ValueError, match="mode must be one of"):
        USShadowImitationd("image", mode="mat_huge")
    with pytest.raises(ValueError, match="exactly one image key"):
        USShadowImitationd(["image", "label"])
    with pytest.raises(ValueError, match="already has 'shadow_mask'"):
        USShadowImitationd("image")({"image": _meta_image(), "shadow_mask": "x.png"})
    with pytest.raises(ValueError, match=r"image /data/images/case.png must be a 2D channel-first"):
        USShadowImitation()(_meta_image()[0])
    with pytest.raises(ValueError, match=r"field of view of image /data/images/case.png has shape \(32, 32\)"):
        USShadowImitation(mode="acoustic")(_meta_image(), fov=np.ones((32, 32)))
    with pytest.raises(ValueError, match="image /data/images/case.png: .*field of view is empty"):
        USShadowImitation(mode="acoustic")(_meta_image(), fov=np.zeros((64, 64)))
