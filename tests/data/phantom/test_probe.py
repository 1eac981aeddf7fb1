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
"""Tests of monai_ext.data.phantom.probe: fields of view, beam grids, resampling and random probes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monai_ext.data.phantom import USProbeGeometry
from monai_ext.data.phantom.fields import pixel_grid, smooth_field
from monai_ext.data.phantom.probe import (
    MIN_RENDER_SIZE,
    beam_grid_maps,
    oversampling_factor,
    resample_bilinear,
    sample_convex_probe,
    sample_linear_probe,
    sample_sector_probe,
)

SECTOR = USProbeGeometry("sector", apex_x=0.5, apex_y=0.0, r_min=0.01, r_max=0.98, half_angle=0.7)
CONVEX = USProbeGeometry("convex", apex_x=0.5, apex_y=-0.5, r_min=0.55, r_max=1.45, half_angle=0.35)


def test_geometry_validation_quotes_the_bad_value():
    with pytest.raises(ValueError, match="got 'phased'"):
        USProbeGeometry("phased")
    with pytest.raises(ValueError, match="linear field of view is empty"):
        USProbeGeometry("linear", x_min=0.6, x_max=0.4)
    with pytest.raises(ValueError, match="half_angle < pi / 2: .*half_angle=2.0"):
        USProbeGeometry("sector", half_angle=2.0)
    with pytest.raises(ValueError, match="r_max > r_min"):
        USProbeGeometry("convex", r_min=0.8, r_max=0.5)


def test_linear_field_of_view_and_beam_grid():
    assert USProbeGeometry().fov(64).all()
    geom = USProbeGeometry("linear", x_min=0.1, x_max=0.9, y_min=0.05)
    fov = geom.fov(128)
    assert not fov[:, :12].any() and not fov[:, -12:].any() and not fov[:6].any() and fov[7:, 14:-14].all()
    maps = beam_grid_maps(geom, 128)
    x, y = pixel_grid(128)
    np.testing.assert_allclose(maps.depth, y - 0.05, atol=1e-6)
    assert maps.beam_dir is None and maps.to_beam is None and maps.to_image is None
    assert maps.step == pytest.approx(1 / 128) and maps.beam_depth.shape == (128,)
    assert beam_grid_maps(geom, 128) is maps  # cached: a cine clip reuses the maps
    with pytest.raises(ValueError):
        maps.depth[0, 0] = 1.0


def test_sector_field_of_view_is_a_fan_from_the_apex():
    fov = SECTOR.fov(128)
    assert not fov[:20, :20].any() and not fov[:20, -20:].any()  # black top corners
    assert fov[2:10, 60:68].any() and fov[100, 64]
    assert 0.4 < fov.mean() < 0.8
    maps = beam_grid_maps(SECTOR, 128)
    x, y = pixel_grid(128)
    r = np.hypot(x - 0.5, y)
    np.testing.assert_allclose(maps.depth, r - 0.01, atol=1e-5)
    bx, by = maps.beam_dir
    np.testing.assert_allclose(np.hypot(bx, by), 1.0, atol=1e-5)
    assert by[100, 64] == pytest.approx(1.0, abs=0.01)  # straight down on the axis
    assert maps.step == pytest.approx((0.98 - 0.01) / 128)


def test_convex_field_of_view_starts_below_the_probe_surface():
    fov = CONVEX.fov(128)
    assert not fov[:3, 64].any() and fov[10, 64] and not fov[:, 0].all()
    # image -> beam grid -> image returns a smooth map inside the fan
    maps = beam_grid_maps(CONVEX, 128)
    f = smooth_field(np.random.default_rng(0), 128, 0.2)
    back = resample_bilinear(resample_bilinear(f, maps.to_beam), maps.to_image)
    inner = maps.fov & (maps.depth > 0.05) & (maps.depth < 0.85)
    assert np.abs(back - f)[inner].max() < 0.1


def test_small_images_are_rendered_oversampled():
    assert MIN_RENDER_SIZE == 128
    assert [oversampling_factor(s) for s in (32, 45, 64, 127, 128, 256)] == [4, 3, 2, 2, 1, 1]
    # the field of view of a small image holds every pixel with any sub-pixel inside the fan
    big = beam_grid_maps(SECTOR, 128).fov.reshape(32, 4, 32, 4).any(axis=(1, 3))
    assert np.array_equal(SECTOR.fov(32), big)


def test_random_probes_have_the_documented_shapes():
    for seed in range(30):
        rng = np.random.default_rng(seed)
        lin, con, sec = sample_linear_probe(rng), sample_convex_probe(rng), sample_sector_probe(rng)
        assert lin.kind == "linear" and 0.0 <= lin.x_min <= 0.08 and lin.x_max == 1.0 - lin.x_min
        assert 0.0 <= lin.y_min <= 0.05
        assert con.kind == "convex" and con.apex_y < -0.25 and con.r_min >= 0.3  # apex above the image
        assert sec.kind == "sector" and math.radians(35) <= sec.half_angle <= math.radians(42)
        assert abs(sec.apex_y) <= 0.02 and sec.r_max <= 1.0 - sec.apex_y
