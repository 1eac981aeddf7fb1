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
"""Tests of monai_ext.data.phantom.bmode: speckle statistics, B-mode formation and oversampled rendering."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monai_ext.data.phantom import USImagingParams, USProbeGeometry, speckle_envelope
from monai_ext.data.phantom.bmode import render_bmode, render_oversampled, sample_imaging_params, scatterer_field

RAYLEIGH_CV = math.sqrt(4.0 / math.pi - 1.0)  # 0.5227
LINEAR = USProbeGeometry("linear")
SECTOR = USProbeGeometry("sector", apex_x=0.5, apex_y=0.0, r_min=0.01, r_max=0.98, half_angle=0.7)


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
    with pytest.raises(ValueError, match="non-negative"):
        speckle_envelope(-np.ones((8, 8)), rng)


def test_imaging_params_ranges_per_task():
    for seed in range(20):
        heart = sample_imaging_params(np.random.default_rng(seed), "cardiac")
        breast = sample_imaging_params(np.random.default_rng(seed), "breast")
        assert 0.005 <= heart.sigma_axial <= 0.008 and 0.003 <= breast.sigma_axial <= 0.006
        assert 45.0 <= heart.dynamic_range_db <= 58.0 and 45.0 <= breast.dynamic_range_db <= 65.0
        assert len(heart.tgc_wobble) == 2 and all(len(t) == 3 for t in heart.tgc_wobble)
        assert 22.0 <= breast.atten_db <= 40.0 and -0.3 <= breast.tgc_error <= 0.1


def test_scatterer_field_has_unit_power_plus_glints():
    plain = scatterer_field(np.random.default_rng(0), 256, USImagingParams(glint_density=0.0))
    assert plain[0].dtype == np.float32 and plain[0].shape == (256, 256)
    assert abs(float(np.mean(plain[0] ** 2 + plain[1] ** 2)) - 1.0) < 0.02
    glints = scatterer_field(np.random.default_rng(0), 256, USImagingParams(glint_density=0.01, glint_gain=3.0))
    # 1 % of the scatterers at 9x the power: mean power 1 + 0.01 * 8
    assert abs(float(np.mean(glints[0] ** 2 + glints[1] ** 2)) - 1.08) < 0.03


def _uniform(size: int, value: float = 1.0) -> np.ndarray:
    return np.full((size, size), value, dtype=np.float32)


def test_bmode_brightness_shadows_and_field_of_view():
    size, imaging = 128, USImagingParams(tgc_error=0.0)
    img = render_bmode(_uniform(size), _uniform(size), LINEAR, imaging, size, np.random.default_rng(0))
    assert img.dtype == np.uint8 and img.shape == (size, size)
    assert np.array_equal(
        img, render_bmode(_uniform(size), _uniform(size), LINEAR, imaging, size, np.random.default_rng(0))
    )
    # compensated attenuation: about as bright deep as shallow; stronger echoes are brighter
    assert abs(float(img[10:40].mean()) - float(img[-40:-10].mean())) < 15
    bright = render_bmode(_uniform(size, 4.0), _uniform(size), LINEAR, imaging, size, np.random.default_rng(0))
    assert bright.mean() > img.mean() + 20
    # a strong attenuator shadows the tissue below it, not beside it
    atten = _uniform(size)
    atten[30:40, 50:78] = 30.0
    shadowed = render_bmode(_uniform(size), atten, LINEAR, imaging, size, np.random.default_rng(0))
    assert shadowed[60:120, 56:72].mean() < 0.5 * shadowed[60:120, 5:30].mean()
    # a fan is black outside its field of view
    fan = render_bmode(_uniform(size), _uniform(size), SECTOR, imaging, size, np.random.default_rng(0))
    fov = SECTOR.fov(size)
    assert not fan[~fov].any() and fan[fov].mean() > 40


def test_render_oversampled_reduces_image_mask_and_field_of_view():
    calls = []

    def render(n):
        calls.append(n)
        img = np.zeros((n, n), dtype=np.uint8)
        img[:, : n // 2] = 200
        mask = np.zeros((n, n), dtype=np.uint8)
        mask[: n // 4 + 1, :] = 1  # rows 0..n/4: the last row of a 4x4 block holds one label row of four
        fov = np.zeros((n, n), dtype=bool)
        fov[:, n - 1] = True  # one sub-pixel column is enough to be inside
        return img, mask, {"fov": fov, "task": "x"}

    img, mask, info = render_oversampled(render, 32)
    assert calls == [128] and img.shape == mask.shape == info["fov"].shape == (32, 32)
    assert (img[:, :16] == 200).all() and not img[:, 16:].any()
    assert (mask[:8] == 1).all() and not mask[8:].any()  # a 1-of-4 row minority is background
    assert info["fov"][:, 31].all() and not info["fov"][:, :31].any() and info["task"] == "x"
    img, mask, info = render_oversampled(render, 130)  # large enough: rendered as is
    assert calls[-1] == 130 and img.shape == (130, 130)
