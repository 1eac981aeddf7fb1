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
"""Tests of monai_ext.data.phantom.shapes: star-shaped regions, spots and segments."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monai_ext.data.phantom.shapes import USBlob, random_blob, segment, spots


def test_an_ellipse_blob_has_the_area_of_its_semi_axes():
    size = 128
    blob = USBlob(0.5, 0.4, 0.2, 0.1)
    q = blob.q(size)
    inside = q < 1.0
    assert abs(inside.sum() / (math.pi * 0.2 * 0.1 * size**2) - 1.0) < 0.03
    rows, cols = np.nonzero(inside)
    assert (
        abs((cols.max() - cols.min() + 1) / size - 0.4) < 0.03
        and abs((rows.max() - rows.min() + 1) / size - 0.2) < 0.03
    )
    assert q[0, 0] == pytest.approx(3.5)  # outside the computed box: reach + 1
    # a quarter turn swaps the extents
    turned = USBlob(0.5, 0.5, 0.2, 0.1, angle=math.pi / 2).q(size) < 1.0
    rows, cols = np.nonzero(turned)
    assert (rows.max() - rows.min()) > 1.8 * (cols.max() - cols.min())


def test_harmonics_and_spikes_make_the_outline_irregular():
    rng = np.random.default_rng(0)
    blob = random_blob(rng, 0.5, 0.5, 0.15, 0.12, 0.0, 0.25, 10, n_spikes=6)
    assert len(blob.amps) == len(blob.phases) == 10 and len(blob.spikes) == 6
    assert blob == random_blob(np.random.default_rng(0), 0.5, 0.5, 0.15, 0.12, 0.0, 0.25, 10, n_spikes=6)
    irregular = blob.q(128) < 1.0
    smooth = USBlob(0.5, 0.5, 0.15, 0.12).q(128) < 1.0
    assert (irregular ^ smooth).sum() > 0.1 * smooth.sum()


def test_moved_blob_is_a_small_change_of_the_same_shape():
    blob = random_blob(np.random.default_rng(1), 0.5, 0.5, 0.1, 0.08, 0.3, 0.1, 4)
    a = blob.moved(np.random.default_rng(5), 0.04, 0.2, 0.08)
    assert a == blob.moved(np.random.default_rng(5), 0.04, 0.2, 0.08)
    assert a.amps == blob.amps and len(a.phases) == len(blob.phases) and a != blob
    assert abs(a.cx - blob.cx) < 0.2 and abs(math.log(a.ax / blob.ax)) < 0.4


def test_blob_validation_quotes_the_bad_values():
    with pytest.raises(ValueError, match=r"semi-axes must be positive, got ax=0.0, ay=0.1"):
        USBlob(0.5, 0.5, 0.0, 0.1)
    with pytest.raises(ValueError, match="2 amps and 1 phases"):
        USBlob(0.5, 0.5, 0.1, 0.1, amps=(0.1, 0.1), phases=(0.0,))


def test_spots_have_unit_peaks_and_segments_unit_ridges():
    # centres of the pixels (row 31, column 15) and (row 15, column 47)
    out = spots(64, np.array([15.5, 47.5]) / 64, np.array([31.5, 15.5]) / 64, 2.0)
    assert out.shape == (64, 64)
    assert out[31, 15] == pytest.approx(1.0, abs=0.02) and out[15, 47] == pytest.approx(1.0, abs=0.02)
    assert out[0, 0] < 1e-6 and not spots(64, np.array([]), np.array([]), 2.0).any()
    line = segment(64, (0.2, 31.5 / 64), (0.8, 31.5 / 64), 0.02)  # along the centres of row 31
    assert line[31, 20:44].min() > 0.999 and line[10, 32] < 1e-6 and line[31, 2] < 1e-3
