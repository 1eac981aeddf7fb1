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
"""Tests of monai_ext.data.phantom.thyroid: TN-SCUI-like patients, their views and images."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from monai_ext.data.phantom import USThyroidPatient, make_phantom_sample
from monai_ext.data.phantom.thyroid import render_thyroid, sample_thyroid_patient, thyroid_view


def test_thyroid_nodules_are_darker_on_average():
    rng = np.random.default_rng(8)
    inside, around = [], []
    for _ in range(6):
        img, mask, info = make_phantom_sample("thyroid", 96, rng)
        nod = mask == 255
        ring = ndimage.binary_dilation(nod, iterations=6) & ~ndimage.binary_dilation(nod, iterations=2) & info["fov"]
        inside.append(img[nod].mean())
        around.append(img[ring].mean())
    assert np.mean(inside) < np.mean(around)


def test_patients_have_their_nodule_inside_the_gland():
    kinds = {"benign": set(), "malignant": set()}
    for seed in range(40):
        for cls in kinds:
            p = sample_thyroid_patient(np.random.default_rng(seed), cls)
            assert isinstance(p, USThyroidPatient) and p.patient_class == cls and p.trachea_side in (1.0, -1.0)
            g, b = p.gland, p.lesion.blob
            assert abs(b.cx - g.cx) <= 0.5 * g.ax and abs(b.cy - g.cy) <= 0.4 * g.ay and b.ax <= 0.85 * g.ax
            kinds[cls].add(p.lesion.kind)
    assert kinds["malignant"] == {"solid_hypo"}
    assert kinds["benign"] == {"solid_iso_halo", "solid_hypo", "cystic", "spongiform"}
    with pytest.raises(ValueError, match="got 'normal'"):
        sample_thyroid_patient(np.random.default_rng(0), "normal")


def test_views_move_gland_and_nodule_together():
    p = sample_thyroid_patient(np.random.default_rng(2), "malignant")
    rng = np.random.default_rng(3)
    assert thyroid_view(p, rng, 0) is p
    v = thyroid_view(p, rng, 2)
    assert v != p and (v.echo_gland, v.carotid_radius, v.lesion.kind) == (p.echo_gland, p.carotid_radius, "solid_hypo")
    assert v.gland.cy == p.gland.cy  # the gland is not shifted in depth, only laterally with the nodule
    assert abs((v.gland.cx - p.gland.cx) - (v.lesion.blob.cx - p.lesion.blob.cx)) < 0.1


def test_render_thyroid():
    p = sample_thyroid_patient(np.random.default_rng(6), "benign")
    img, mask, info = render_thyroid(p, 128, np.random.default_rng(0))
    again = render_thyroid(p, 128, np.random.default_rng(0))
    assert np.array_equal(img, again[0]) and np.array_equal(mask, again[1])
    assert img.shape == mask.shape == (128, 128) and img.dtype == np.uint8
    assert np.array_equal(mask == 255, (p.lesion.blob.q(128) < 1.0) & info["fov"]) and mask.any()
    assert (info["task"], info["class"], info["kind"], info["probe"]) == ("thyroid", "benign", p.lesion.kind, p.probe)
