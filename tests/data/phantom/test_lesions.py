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
"""Tests of monai_ext.data.phantom.lesions: the lesion type and how a lesion is drawn into the maps."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from monai_ext.data.phantom.lesions import USLesion, draw_lesion
from monai_ext.data.phantom.shapes import USBlob

BLOB = USBlob(0.5, 0.5, 0.15, 0.1)
LESION = USLesion("cyst", BLOB, contrast=0.1, heterogeneity=0.0, sigma_sharp=0.001, sigma_soft=0.001, inner_atten=0.1)


def _draw(lesion: USLesion, size: int = 128, seed: int = 0):
    echo = np.full((size, size), 1.0, dtype=np.float32)
    atten = np.ones((size, size), dtype=np.float32)
    mask = draw_lesion(lesion, echo, atten, 1.0, size, np.random.default_rng(seed), 30.0)
    return mask, echo, atten


def test_lesion_mask_is_the_region_its_maps_are_drawn_from():
    mask, echo, atten = _draw(LESION)
    assert mask.dtype == bool and np.array_equal(mask, BLOB.q(128) < 1.0)
    core = BLOB.q(128) < 0.8
    np.testing.assert_allclose(echo[core], 0.1, atol=1e-3)  # contrast relative to the host echogenicity
    np.testing.assert_allclose(atten[core], 0.1, atol=1e-3)  # fluid: low attenuation (posterior enhancement)
    far = BLOB.q(128) > 1.5
    assert np.all(echo[far] == 1.0) and np.all(atten[far] == 1.0)


def test_shadows_halos_and_calcifications():
    _, _, atten = _draw(replace(LESION, inner_atten=1.0, shadow_db=10.0))
    core = BLOB.q(128) < 0.8
    # 10 dB spread over the lesion height (0.2 of the image) at 30 dB per image: +10 / (30 * 0.2) inside
    assert float(np.median(atten[core])) == pytest.approx(1.0 + 10.0 / (30.0 * 0.2), rel=0.05)
    _, echo, _ = _draw(replace(LESION, halo=0.8, halo_width=0.2))
    q = BLOB.q(128)
    assert echo[(q > 1.05) & (q < 1.15)].mean() > 1.2  # echogenic rim just outside the boundary
    _, echo, atten = _draw(replace(LESION, calcs=10))
    assert echo.max() > 2.0 and atten.max() > 5.0  # bright, shadowing specks


def test_a_lesion_outside_the_image_draws_nothing():
    mask, echo, atten = _draw(replace(LESION, blob=USBlob(3.0, 3.0, 0.1, 0.1)))
    assert not mask.any() and np.all(echo == 1.0) and np.all(atten == 1.0)


def test_lesion_validation_quotes_the_bad_value():
    with pytest.raises(ValueError, match=r"USLesion.contrast must be >= 0, got -0.5"):
        replace(LESION, contrast=-0.5)
    with pytest.raises(ValueError, match=r"USLesion.halo_width must be > 0, got 0.0"):
        replace(LESION, halo_width=0.0)
    with pytest.raises(ValueError, match=r"USLesion.calcs must be an integer >= 0, got 2.5"):
        replace(LESION, calcs=2.5)
    with pytest.raises(TypeError, match="USLesion.blob must be a USBlob, got tuple"):
        replace(LESION, blob=(0.5, 0.5, 0.1, 0.1))
    assert replace(LESION, halo=-0.7).halo == -0.7  # a hypoechoic halo is negative
