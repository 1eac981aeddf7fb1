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
"""Tests of monai_ext.data.phantom.fields: grid, smooth random fields, soft steps and mask blurs."""

from __future__ import annotations

import numpy as np
import pytest

from monai_ext.data.phantom.fields import FIELD_DTYPE, blur_mask, mix, pixel_grid, smooth_field, smooth_step, wave


def _lag1_correlation(f: np.ndarray) -> float:
    return float(np.corrcoef(f[:, :-1].ravel(), f[:, 1:].ravel())[0, 1])


def test_pixel_grid_is_the_normalised_pixel_centres_and_read_only():
    x, y = pixel_grid(4)
    assert x.dtype == y.dtype == FIELD_DTYPE and x.shape == (4, 4)
    np.testing.assert_allclose(x[0], [0.125, 0.375, 0.625, 0.875])
    np.testing.assert_allclose(y[:, 0], [0.125, 0.375, 0.625, 0.875])
    assert (x[:, 1] == x[0, 1]).all() and (y[2] == y[2, 0]).all()  # x lateral (columns), y depth (rows)
    with pytest.raises(ValueError):
        x[0, 0] = 1.0


def test_smooth_field_is_standardised_deterministic_and_correlated_over_its_length():
    a = smooth_field(np.random.default_rng(0), 96, 0.1)
    assert a.shape == (96, 96) and a.dtype == FIELD_DTYPE
    assert abs(float(a.mean())) < 1e-5 and abs(float(a.std()) - 1.0) < 1e-4
    assert np.array_equal(a, smooth_field(np.random.default_rng(0), 96, 0.1))
    assert not np.array_equal(a, smooth_field(np.random.default_rng(1), 96, 0.1))
    # a longer correlation length gives a smoother field
    fine = smooth_field(np.random.default_rng(2), 96, 0.02)
    assert _lag1_correlation(a) > 0.98 and _lag1_correlation(fine) < _lag1_correlation(a)


def test_smooth_step_and_mix():
    x = np.array([-1.0, -0.1, 0.0, 0.1, 1.0])
    s = smooth_step(x, 0.1)
    np.testing.assert_allclose(s, [0.0, 0.0, 0.5, 1.0, 1.0])
    assert np.all(np.diff(smooth_step(np.linspace(-0.2, 0.2, 41), 0.1)) >= 0)
    np.testing.assert_allclose(mix(2.0, 4.0, np.array([0.0, 0.25, 1.0])), [2.0, 2.5, 4.0])


def test_wave_amplitude_is_bounded():
    t = np.linspace(0, 1, 200)
    w = wave(np.random.default_rng(3), t, 0.04)
    assert w.shape == t.shape and np.abs(w).max() <= 1.5 * 0.04 and w.std() > 0.002


@pytest.mark.parametrize("sigma_norm", [0.001, 0.01, 0.05])
def test_blur_mask_keeps_the_mass_and_has_the_requested_width(sigma_norm):
    size = 128
    delta = np.zeros((size, size), dtype=bool)
    delta[64, 64] = True
    out = blur_mask(delta, sigma_norm, size)
    assert out.dtype == FIELD_DTYPE
    if sigma_norm * size < 0.3:  # below a third of a pixel: unchanged
        assert np.array_equal(out, delta.astype(FIELD_DTYPE))
        return
    assert abs(float(out.sum()) - 1.0) < 1e-4
    rows = np.arange(size) - 64.0
    var = float((out.sum(axis=1) * rows**2).sum())  # variance along one axis
    assert abs(np.sqrt(var) / (sigma_norm * size) - 1.0) < 0.1
