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

"""Tests of monai_ext.transforms.image (USImageChannels)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import LoadImaged
from PIL import Image

from monai_ext.transforms.image import USImageChannels, USImageChannelsd

LOAD = LoadImaged("image", reader="PILReader", ensure_channel_first=True)


def _load(tmp_path, arr, name="im.png"):
    path = tmp_path / name
    Image.fromarray(arr).save(path)
    return LOAD({"image": str(path)})["image"], path


def test_rgb_to_luminance_matches_pil(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (16, 12, 3), dtype=np.uint8)
    x, path = _load(tmp_path, rgb)
    out = USImageChannelsd("image", channels=1)({"image": x})["image"]
    assert isinstance(out, MetaTensor) and out.shape == (1, 12, 16) and out.dtype == torch.float32
    assert out.meta["filename_or_obj"] == str(path)
    pil = np.asarray(Image.open(path).convert("L"), dtype=np.float32).T  # PILReader order (W, H)
    assert float((out[0] - torch.as_tensor(pil)).abs().max()) <= 1.0  # PIL rounds to uint8
    r, g, b = (float(x[c, 0, 0]) for c in range(3))
    assert float(out[0, 0, 0]) == pytest.approx(0.299 * r + 0.587 * g + 0.114 * b, rel=1e-5)


def test_gray_to_rgb_and_alpha_dropped(tmp_path):
    gray = np.arange(16 * 12, dtype=np.uint8).reshape(16, 12)
    x, _ = _load(tmp_path, gray)
    out = USImageChannels(3)(x)
    assert out.shape == (3, 12, 16) and all(torch.equal(out[c], x[0]) for c in range(3))
    assert torch.equal(USImageChannels(1)(x), x)
    rgba = np.zeros((16, 12, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 100, 255
    x4, _ = _load(tmp_path, rgba, "rgba.png")
    assert x4.shape[0] == 4
    out3 = USImageChannels(3)(x4)
    assert out3.shape == (3, 12, 16) and float(out3[0].max()) == 100 and float(out3[1:].max()) == 0
    out1 = USImageChannels(1)(x4)
    assert out1.shape == (1, 12, 16) and float(out1.max()) == pytest.approx(29.9, rel=1e-5)
    la = np.stack([gray, np.full_like(gray, 255)], -1)  # saved as an LA (gray + alpha) PNG
    x2, _ = _load(tmp_path, la, "la.png")
    assert x2.shape[0] == 2
    assert torch.equal(USImageChannels(1)(x2), x[:1])
    assert torch.equal(USImageChannels(3)(x2), out)


def test_numpy_and_integer_input():
    rgb = np.zeros((3, 2, 2), np.uint8)
    rgb[1] = 100
    out = USImageChannels(1)(rgb)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == (1, 2, 2)
    assert np.allclose(out, 58.7)
    rgb3 = USImageChannels(3)(rgb)
    assert rgb3.dtype == np.uint8 and np.array_equal(rgb3, rgb)


def test_bad_input():
    with pytest.raises(ValueError, match="channels must be 1 or 3"):
        USImageChannels(2)
    x = MetaTensor(torch.zeros(5, 4, 4), meta={"filename_or_obj": "five.png"})
    with pytest.raises(ValueError, match=r"image five\.png: expected a channel-first image .*got shape \(5, 4, 4\)"):
        USImageChannels(1)(x)
    with pytest.raises(TypeError):
        USImageChannels(1)([1, 2, 3])
    d = USImageChannelsd("image", 3, allow_missing_keys=True)({"label": 1})
    assert d == {"label": 1}


def test_16_bit_png_is_scaled_by_its_bit_depth_not_saturated(tmp_path):
    # a 16-bit gray PNG (PIL mode I;16) holds 0..65535; the bundles' ScaleIntensityRanged expects 0..255
    ramp = (np.arange(16 * 12).reshape(16, 12) * 300).astype(np.uint16)  # 0 .. 57,300
    x, _ = _load(tmp_path, ramp, "g16.png")
    assert x.meta["mode"] == "I;16" and float(x.max()) == 57300
    out = USImageChannels(1)(x)
    assert out.dtype == torch.float32 and float(out.max()) == pytest.approx(57300 * 255 / 65535, rel=1e-6)
    assert torch.allclose(out[0], x[0] * (255 / 65535))
    # after the bundles' 0..255 -> 0..1 scaling almost nothing is clipped (before: 99 % of the pixels were 1.0)
    assert float((out / 255.0 >= 1.0).float().mean()) == 0.0
    assert float(USImageChannels(3)(x).max()) == pytest.approx(57300 * 255 / 65535, rel=1e-6)


def test_dicom_value_range_and_bilevel_scaling():
    frame = MetaTensor(torch.full((1, 4, 4), 4095.0), meta={"value_range": [0.0, 4095.0], "filename_or_obj": "a.dcm"})
    assert float(USImageChannels(1)(frame).max()) == pytest.approx(255.0)  # BitsStored = 12
    eight = MetaTensor(torch.full((1, 4, 4), 200.0), meta={"value_range": [0.0, 255.0]})
    assert float(USImageChannels(1)(eight).max()) == 200.0  # 8-bit frames are unchanged
    bilevel = MetaTensor(torch.ones(1, 4, 4), meta={"mode": "1"})
    assert float(USImageChannels(1)(bilevel).max()) == 255.0


@pytest.mark.parametrize("mode,what", [("P", "palette image"), ("CMYK", "CMYK image"), ("F", "floating-point image")])
def test_images_without_a_known_scale_are_refused_naming_the_file(tmp_path, mode, what):
    gray = np.arange(16 * 12, dtype=np.uint8).reshape(16, 12)
    path = tmp_path / ("im.jpg" if mode == "CMYK" else "im.tif" if mode == "F" else "im.png")
    Image.fromarray(gray).convert(mode).save(path)
    x = LOAD({"image": str(path)})["image"]
    with pytest.raises(ValueError, match=rf"image {path}: a {what}.*cannot be used as an ultrasound image.*convert"):
        USImageChannels(1)(x)
