# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of monai_ext.transforms.segfix_targets (SegFix boundary and direction targets)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from scipy.spatial import cKDTree

from monai_ext.transforms import SEGFIX_OFFSETS, USSegFixTargets, USSegFixTargetsd


def _brute_distance(label: np.ndarray) -> np.ndarray:
    """Distance of every pixel to the nearest pixel centre of another label (nearest-neighbour search)."""
    pts = np.stack(np.nonzero(np.ones_like(label)), 1)
    out = np.empty(label.shape)
    for value in np.unique(label):
        own = label.reshape(-1) == value
        out.reshape(-1)[own] = cKDTree(pts[~own]).query(pts[own])[0]
    return out


def test_offset_table_matches_the_angle_bins():
    for k, (dy, dx) in enumerate(SEGFIX_OFFSETS):
        theta = math.atan2(dy, dx)
        assert round((theta + math.pi) / (math.pi / 4)) % 8 == k


def test_half_plane_by_hand():
    label = np.zeros((1, 8, 64), np.int64)
    label[..., 32:] = 1
    boundary, direction, distance = USSegFixTargets()(label)
    # d = 32 - col on the left (label 0), col - 31 on the right: the 5 px band is columns 27..36
    assert np.array_equal(distance[0, 0, 25:39], [7, 6, 5, 4, 3, 2, 1, 1, 2, 3, 4, 5, 6, 7])
    assert np.array_equal(np.flatnonzero(boundary[0, 3]), np.arange(27, 37))
    assert boundary.dtype == np.int64 and direction.dtype == np.int64 and distance.dtype == np.float32
    # left pixels point left into their segment (k 0: (0, -1)), right pixels right (k 4: (0, 1))
    assert np.all(direction[0, :, 20:32] == 0) and np.all(direction[0, :, 32:44] == 4)


def test_disc_boundary_directions_point_into_their_segment():
    size, radius, c = 64, 20.0, 31.5
    yy, xx = np.mgrid[:size, :size]
    disc = (((yy - c) ** 2 + (xx - c) ** 2) <= radius**2).astype(np.int64)
    boundary, direction, _ = USSegFixTargets()(torch.as_tensor(disc)[None])
    assert isinstance(boundary, torch.Tensor) and boundary.shape == (1, size, size)
    b, k = boundary[0].numpy(), direction[0].numpy()
    offsets = np.asarray(SEGFIX_OFFSETS, np.float64)
    ring = np.hypot(yy - c, xx - c)
    assert np.array_equal(b == 1, _brute_distance(disc) <= 5.0)
    assert np.all((ring[b == 1] >= radius - 6.0) & (ring[b == 1] <= radius + 6.0))
    for inside, sign in ((1, 1.0), (0, -1.0)):  # disc pixels point to the centre, background pixels away from it
        sel = (b == 1) & (disc == inside)
        assert sel.sum() > 400 and np.all(k[sel] >= 0)
        o = offsets[k[sel]]
        v = sign * np.stack([c - yy[sel], c - xx[sel]], 1)
        cos = (o * v).sum(1) / np.linalg.norm(o, axis=1) / np.linalg.norm(v, axis=1)
        assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() <= 22.5 + 2.0  # one bin of 45 degrees


def test_single_label_has_no_boundary_and_no_direction():
    boundary, direction, distance = USSegFixTargets(ignore_index=255)(np.ones((1, 16, 16), np.int64))
    assert boundary.sum() == 0 and np.all(direction == 255) and np.all(np.isinf(distance))


def test_dict_version_and_meta():
    label = MetaTensor(torch.zeros(1, 32, 32), meta={"filename_or_obj": "m.png"})
    label[:, 8:24, 8:24] = 2
    out = USSegFixTargetsd("label", distance_key="dist")({"label": label})
    assert isinstance(out["segfix_boundary"], MetaTensor) and out["segfix_direction"].dtype == torch.int64
    assert out["segfix_boundary"].meta["filename_or_obj"] == "m.png"
    expected = _brute_distance(label[0].numpy().astype(np.int64)) <= 5.0
    assert np.array_equal(out["segfix_boundary"][0].numpy() == 1, expected)
    assert int(expected[8:24, 8:24].sum()) == 16 * 16 - 6 * 6  # inside the square: all but the 6 x 6 core
    assert float(out["dist"][0, 16, 16]) == 8.0
    skipped = USSegFixTargetsd("label", allow_missing_keys=True)({"image": 1})
    assert set(skipped) == {"image"}


def test_errors():
    with pytest.raises(ValueError, match="m.png has non-integer values"):
        USSegFixTargets()(MetaTensor(torch.full((1, 4, 4), 0.5), meta={"filename_or_obj": "m.png"}))
    with pytest.raises(ValueError, match="one-hot maps: take the argmax first"):
        USSegFixTargets()(np.zeros((2, 4, 4), np.int64))
    with pytest.raises(ValueError, match="must not be a direction"):
        USSegFixTargets(ignore_index=3)
    with pytest.raises(ValueError, match="must differ"):
        USSegFixTargetsd("label", boundary_key="label")
