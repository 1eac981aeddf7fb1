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
"""Tests of monai_ext.data.phantom.cardiac: hearts, apical views, the cardiac cycle and cine frames."""

from __future__ import annotations

import numpy as np
import pytest

from monai_ext.data.phantom import (
    USCardiacParams,
    USCardiacPatient,
    cardiac_contraction,
    make_cardiac_frame,
    make_cardiac_params,
    make_phantom_sample,
)
from monai_ext.data.phantom.cardiac import cardiac_view, render_cardiac


def test_outside_the_sector_is_black():
    img, mask, info = make_phantom_sample("cardiac", 96, np.random.default_rng(3))
    fov = info["fov"]
    assert not img[~fov].any()
    # a phased-array fan: black top corners, apex near the top centre, about half to 3/4 of the frame imaged
    assert not fov[:10, :10].any() and not fov[:10, -10:].any()
    assert fov[10:20, 40:56].any()
    assert 0.4 < fov.mean() < 0.8
    assert img[fov].mean() > 20  # and the fan itself is not black


def test_lv_blood_is_dark():
    rng = np.random.default_rng(8)
    for _ in range(3):
        img, mask, _ = make_phantom_sample("cardiac", 96, rng)
        assert img[mask == 1].mean() < img[mask == 2].mean()  # blood pool darker than myocardium


def test_cardiac_frames_follow_the_cycle():
    params = make_cardiac_params(np.random.default_rng(4), view="a4c")
    assert isinstance(params, USCardiacParams) and params.view == "a4c"
    ed_img, ed = make_cardiac_frame(80, params, 0.0)
    es_img, es = make_cardiac_frame(80, params, params.es_phase)
    again_img, again = make_cardiac_frame(80, params, 1.0)  # periodic
    assert np.array_equal(ed, again) and np.array_equal(ed_img, again_img)
    lv_ed, lv_es = (ed == 1).sum(), (es == 1).sum()
    assert lv_es < 0.9 * lv_ed  # the LV contracts
    assert (es == 3).sum() > (ed == 3).sum()  # the LA fills in systole
    # same probe and heart: the fan is the same and the apex stays where it is (the base moves)
    fov = params.geometry.fov(80)
    assert not ed_img[~fov].any() and not es_img[~fov].any()
    top = [int(np.nonzero((m > 0).any(axis=1))[0][0]) for m in (ed, es)]
    assert abs(top[0] - top[1]) <= 2
    assert cardiac_contraction(0.0, 0.35) == 0.0
    assert cardiac_contraction(0.35, 0.35) == pytest.approx(1.0)
    assert 0.0 < cardiac_contraction(0.7, 0.35) < 1.0
    # a generator draws a heart on the fly
    img, mask = make_cardiac_frame(64, np.random.default_rng(1), 0.5)
    assert img.shape == mask.shape == (64, 64) and set(np.unique(mask).tolist()) == {0, 1, 2, 3}
    with pytest.raises(TypeError, match="USCardiacParams"):
        make_cardiac_frame(64, 3, 0.0)
    with pytest.raises(ValueError, match="view"):
        make_cardiac_params(np.random.default_rng(0), view="plax")


def test_contraction_curve_is_periodic_and_smooth():
    phases = np.linspace(0.0, 1.0, 201)
    c = np.array([cardiac_contraction(p, 0.3) for p in phases])
    assert c.min() >= 0.0 and c.max() <= 1.0 and c[0] == c[-1] == 0.0
    assert np.abs(np.diff(c)).max() < 0.03  # no jumps
    assert cardiac_contraction(1.3, 0.3) == pytest.approx(cardiac_contraction(0.3, 0.3))
    with pytest.raises(ValueError, match="es_phase must be in \\(0, 1\\), got 1.0"):
        cardiac_contraction(0.5, 1.0)


def test_other_views_keep_the_heart_and_change_the_acquisition():
    heart = make_cardiac_params(np.random.default_rng(5), "a4c")
    assert isinstance(heart, USCardiacPatient) and heart.geometry.kind == "sector"
    two = cardiac_view(heart, np.random.default_rng(6), "a2c")
    assert two.view == "a2c" and two.seed != heart.seed and two.geometry != heart.geometry
    same = ("lv_equator", "wall_left", "wall_apex", "shortening", "thickening", "es_phase", "echo_myo")
    assert all(getattr(two, f) == getattr(heart, f) for f in same)
    assert abs(two.lv_length / heart.lv_length - 1.0) < 0.2
    # fitted into its own sector: every labelled structure lies in the field of view at both phases
    for phase in (0.0, two.es_phase):
        img, mask, info = render_cardiac(two, 128, phase)
        assert set(np.unique(mask).tolist()) == {0, 1, 2, 3} and not mask[~info["fov"]].any()
        assert info["class"] == ("a2c_ed" if phase == 0.0 else "a2c_es") and info["view"] == "a2c"
        assert info["contraction"] == pytest.approx(cardiac_contraction(phase, two.es_phase))
    assert render_cardiac(two, 128, 0.6)[2]["class"] == "a2c_mid"


def test_speckle_change_sets_the_frame_to_frame_decorrelation():
    heart = make_cardiac_params(np.random.default_rng(7))

    def correlation(change: float) -> float:
        a, _ = make_cardiac_frame(128, heart, 0.50, speckle_change=change)
        b, _ = make_cardiac_frame(128, heart, 0.51, speckle_change=change)
        fov = heart.geometry.fov(128)
        return float(np.corrcoef(a[fov].astype(float), b[fov].astype(float))[0, 1])

    frozen, default, renewed = correlation(0.0), correlation(0.3), correlation(1.0)
    assert frozen > default > renewed
    assert frozen > 0.9
    with pytest.raises(ValueError, match="speckle_change must be in \\[0, 1\\], got 1.5"):
        make_cardiac_frame(64, heart, 0.0, speckle_change=1.5)
