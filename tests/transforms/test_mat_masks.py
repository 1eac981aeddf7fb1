# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of monai_ext.transforms.mat_masks (MAT free-form hole masks of SABR-Net)."""

from __future__ import annotations

import numpy as np
import pytest

from monai_ext.transforms.mat_masks import MAT_MASK_PRESETS, USMatMaskPreset, mat_hole_mask


def _ratios(preset: str, size: int, draws: int, seed: int = 0, reference_size: int | None = 256) -> np.ndarray:
    rng = np.random.RandomState(seed)
    return np.array(
        [1.0 - mat_hole_mask(rng, size, preset=preset, reference_size=reference_size).mean() for _ in range(draws)]
    )


def test_mat_small_mean_hole_ratio_over_1000_draws():
    ratios = _ratios("mat_small", 256, 1000)
    assert ratios.mean() == pytest.approx(0.22, abs=0.03)  # measured 0.228 with seed 0
    assert 0.15 <= np.median(ratios) <= 0.25
    assert np.all((ratios > 0) & (ratios < 1))  # the source's rejection rule
    assert 0.03 < np.mean(ratios > 0.5) < 0.10  # the released generator: 5 % above one half


def test_mat_large_mean_hole_ratio():
    ratios = _ratios("mat_large", 256, 1000, seed=1)
    assert ratios.mean() == pytest.approx(0.41, abs=0.03)


def test_reference_size_keeps_the_distribution_at_other_sizes():
    scaled = _ratios("mat_small", 128, 400, seed=2)
    absolute = _ratios("mat_small", 128, 400, seed=2, reference_size=None)
    assert scaled.mean() == pytest.approx(0.22, abs=0.03)
    assert absolute.mean() > scaled.mean() + 0.03  # 12-48 px strokes are relatively twice as thick at 128 px


def test_mask_format_and_reproducibility():
    m = mat_hole_mask(np.random.RandomState(5), 96, 128)
    assert m.shape == (1, 96, 128) and m.dtype == np.float32
    assert set(np.unique(m)) == {0.0, 1.0}
    assert np.array_equal(m, mat_hole_mask(np.random.RandomState(5), 96, 128))
    others = [mat_hole_mask(np.random.RandomState(s), 96, 128) for s in range(6, 10)]
    assert not any(np.array_equal(m, o) for o in others)


def test_presets_and_errors():
    assert MAT_MASK_PRESETS["mat_small"] == USMatMaskPreset(2, 2, 3)
    assert MAT_MASK_PRESETS["mat_large"] == USMatMaskPreset(4, 2, 8)
    with pytest.raises(ValueError, match="preset must be one of"):
        mat_hole_mask(np.random.RandomState(0), 64, preset="huge")
    with pytest.raises(ValueError, match=">= 8 px"):
        mat_hole_mask(np.random.RandomState(0), 4)
    with pytest.raises(ValueError, match="every count must be >= 1"):
        USMatMaskPreset(0, 2, 3)
