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
"""Tests of monai_ext.data.phantom.breast: BUSI-like patients, their views and images."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from monai_ext.data.phantom import USBreastPatient, make_phantom_sample
from monai_ext.data.phantom.breast import breast_view, render_breast, sample_breast_patient


def test_breast_lesions_are_darker_than_their_surroundings():
    rng = np.random.default_rng(5)
    checked = 0
    while checked < 6:
        img, mask, info = make_phantom_sample("breast", 128, rng)
        if info["class"] == "normal":
            assert not mask.any()
            continue
        lesion = mask == 255
        assert lesion.sum() > 20
        ring = ndimage.binary_dilation(lesion, iterations=8) & ~ndimage.binary_dilation(lesion, iterations=2)
        ring &= info["fov"]
        assert img[lesion].mean() < img[ring].mean(), info
        checked += 1


def test_patient_classes_and_lesion_kinds():
    kinds = {"benign": set(), "malignant": set()}
    for seed in range(40):
        rng = np.random.default_rng(seed)
        assert sample_breast_patient(rng, "normal").lesion is None
        for cls in kinds:
            p = sample_breast_patient(rng, cls)
            assert isinstance(p, USBreastPatient) and p.patient_class == cls
            assert p.fat_depth + 0.9 * p.lesion.blob.ay < p.lesion.blob.cy < p.gland_depth  # in the glandular layer
            kinds[cls].add(p.lesion.kind)
    assert kinds == {"benign": {"cyst", "fibroadenoma"}, "malignant": {"carcinoma"}}
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="got 'cancer'"):
        sample_breast_patient(rng, "cancer")
    assert rng.random() == np.random.default_rng(0).random()  # refused before drawing anything


def test_views_share_the_tissue_and_the_lesion():
    p = sample_breast_patient(np.random.default_rng(2), "benign")
    rng = np.random.default_rng(9)
    assert breast_view(p, rng, 0) is p
    v = breast_view(p, rng, 1)
    assert v != p and (v.skin_depth, v.echo_gland, v.probe, v.has_rib) == (
        p.skin_depth,
        p.echo_gland,
        p.probe,
        p.has_rib,
    )
    assert v.lesion.kind == p.lesion.kind and v.lesion.contrast == p.lesion.contrast
    assert abs(v.fat_depth - p.fat_depth) < 0.1 and v.fat_depth + 0.25 <= v.gland_depth <= 0.9
    assert 0.25 <= v.lesion.blob.cx <= 0.75


def test_render_breast():
    p = sample_breast_patient(np.random.default_rng(4), "malignant")
    img, mask, info = render_breast(p, 128, np.random.default_rng(1))
    again = render_breast(p, 128, np.random.default_rng(1))
    assert np.array_equal(img, again[0]) and np.array_equal(mask, again[1])
    assert img.shape == mask.shape == (128, 128) and img.dtype == mask.dtype == np.uint8
    assert set(np.unique(mask).tolist()) == {0, 255}
    assert np.array_equal(mask == 255, (p.lesion.blob.q(128) < 1.0) & info["fov"])
    assert (info["task"], info["class"], info["kind"]) == ("breast", "malignant", "carcinoma")
    assert info["probe"] == p.probe
    _, empty, info = render_breast(
        sample_breast_patient(np.random.default_rng(4), "normal"), 128, np.random.default_rng(1)
    )
    assert not empty.any() and info["kind"] == "normal"
