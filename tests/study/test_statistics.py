# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of monai_ext.study.statistics against hand-computed small cases."""

from __future__ import annotations

import math

import pytest

from monai_ext.study.statistics import mean_std, paired_wilcoxon, rank_biserial, spearman


def test_wilcoxon_exact_small_case():
    # d = x - y = (1, 2, 3, -4): ranks of |d| 1, 2, 3, 4; W+ = 6, W- = 4. Exact null of W+ for n = 4: 16 sign patterns;
    # W+ <= 4 for {}, {1}, {2}, {3}, {1,2}, {4}, {1,3} = 7 patterns, so p = 2 * 7 / 16 = 0.875; r = (6 - 4) / 10 = 0.2
    x = [1.0, 2.0, 3.0, 0.0]
    y = [0.0, 0.0, 0.0, 4.0]
    t = paired_wilcoxon(x, y)
    assert (t.n, t.n_nonzero, t.w_plus) == (4, 4, 6.0)
    assert t.p_value == pytest.approx(0.875)
    assert t.rank_biserial == pytest.approx(0.2)
    assert t.mean_diff == pytest.approx(0.5) and t.median_diff == pytest.approx(1.5)


def test_wilcoxon_all_better_and_zero_differences():
    # five positive differences, one zero (dropped): W+ = 15, exact two-sided p = 2 / 2**5 = 0.0625, r = +1
    x = [0.9, 0.8, 0.7, 0.6, 0.5, 0.3]
    y = [0.4, 0.4, 0.4, 0.4, 0.4, 0.3]
    t = paired_wilcoxon(x, y)
    assert (t.n, t.n_nonzero) == (6, 5)
    assert t.p_value == pytest.approx(0.0625)
    assert t.rank_biserial == pytest.approx(1.0)
    assert paired_wilcoxon(y, x).rank_biserial == pytest.approx(-1.0)
    same = paired_wilcoxon([0.5, 0.5], [0.5, 0.5])
    assert (same.p_value, same.rank_biserial, same.n_nonzero) == (1.0, 0.0, 0)


def test_rank_biserial_with_ties():
    # d = (1, 1, -1, 2): |d| ranks with ties averaged: 2, 2, 2, 4; W+ = 8, W- = 2; r = 6 / 10
    assert rank_biserial([1, 1, 0, 2], [0, 0, 1, 0]) == pytest.approx(0.6)


def test_mean_std_and_spearman():
    mean, std = mean_std([1.0, 2.0, 4.0])
    assert mean == pytest.approx(7 / 3)
    assert std == pytest.approx(math.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2))
    assert mean_std([0.5]) == (0.5, None) and mean_std([]) == (None, None)
    rho, n = spearman([0.1, 0.2, 0.3, 0.4], [0.9, 0.7, 0.8, 0.1])
    # ranks x 1 2 3 4, y 4 2 3 1: d^2 = 9 + 0 + 0 + 9 = 18, rho = 1 - 6 * 18 / (4 * 15) = -0.8
    assert (rho, n) == (pytest.approx(-0.8), 4)
    assert spearman([1, 1, 1], [1, 2, 3]) == (None, 3)
    with pytest.raises(ValueError, match="same length"):
        paired_wilcoxon([1, 2], [1])
