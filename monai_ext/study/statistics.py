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

"""Statistics of the comparison study (``docs/study.md``): mean +- std over seeds, the paired per-image Wilcoxon
signed-rank test of a method against the labelled-only baseline with its matched-pairs rank-biserial correlation,
and Spearman's rank correlation (uncertainty against Dice).

Wilcoxon: :func:`scipy.stats.wilcoxon` on the per-image differences ``d = method - baseline``, two-sided, zero
differences dropped (``zero_method="wilcox"``, Wilcoxon's original treatment), exact p-value for small samples
without ties, normal approximation otherwise (scipy's ``method="auto"``). Effect size: the matched-pairs
rank-biserial correlation ``r = (W+ - W-) / (W+ + W-)`` over the same non-zero differences (ranks of ``|d|``, ties
averaged): +1 when the method is better on every image that differs, -1 when worse on every one (Kerby, 2014,
"The simple difference formula").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

__all__ = ["PairedTest", "mean_std", "paired_wilcoxon", "rank_biserial", "spearman"]


@dataclass(frozen=True)
class PairedTest:
    """A paired comparison: pair count, non-zero pairs, mean / median difference, W+, p-value and effect size."""

    n: int
    n_nonzero: int
    mean_diff: float
    median_diff: float
    w_plus: float
    p_value: float
    rank_biserial: float

    def to_dict(self) -> dict:
        return asdict(self)


def mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (``ddof=1``) of finite values; std None for fewer than two values."""
    arr = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if arr.size == 0:
        return None, None
    return float(arr.mean()), (float(arr.std(ddof=1)) if arr.size > 1 else None)


def _differences(x: Sequence[float], y: Sequence[float]) -> np.ndarray:
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired samples must be two 1-D sequences of the same length, got {a.shape} and {b.shape}.")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("paired samples must be finite (the empty-mask policy never gives NaN).")
    return a - b


def rank_biserial(x: Sequence[float], y: Sequence[float]) -> float:
    """Matched-pairs rank-biserial correlation of ``x - y`` (zero differences dropped); 0 when all are zero."""
    d = _differences(x, y)
    d = d[d != 0]
    if d.size == 0:
        return 0.0
    ranks = stats.rankdata(np.abs(d))
    w_plus, w_minus = float(ranks[d > 0].sum()), float(ranks[d < 0].sum())
    return (w_plus - w_minus) / (w_plus + w_minus)


def paired_wilcoxon(x: Sequence[float], y: Sequence[float]) -> PairedTest:
    """Two-sided Wilcoxon signed-rank test of ``x`` against ``y`` (paired, e.g. per-image Dice of a method and of
    the baseline on the same test images) and the rank-biserial effect size.

    With no non-zero difference the test has nothing to rank: p = 1 and r = 0.
    """
    d = _differences(x, y)
    nonzero = d[d != 0]
    if nonzero.size == 0:
        return PairedTest(int(d.size), 0, float(d.mean()) if d.size else 0.0, 0.0, 0.0, 1.0, 0.0)
    ranks = stats.rankdata(np.abs(nonzero))
    res = stats.wilcoxon(nonzero, zero_method="wilcox", alternative="two-sided")
    return PairedTest(
        n=int(d.size),
        n_nonzero=int(nonzero.size),
        mean_diff=float(d.mean()),
        median_diff=float(np.median(d)),
        w_plus=float(ranks[nonzero > 0].sum()),
        p_value=float(res.pvalue),
        rank_biserial=rank_biserial(x, y),
    )


def spearman(x: Sequence[float], y: Sequence[float]) -> tuple[float | None, int]:
    """Spearman's rank correlation and the number of pairs; None when undefined (fewer than 3 pairs, or a
    constant sample)."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"need two 1-D sequences of the same length, got {a.shape} and {b.shape}.")
    if a.size < 3 or np.all(a == a[0]) or np.all(b == b[0]):
        return None, int(a.size)
    rho = stats.spearmanr(a, b).statistic
    return (float(rho) if math.isfinite(rho) else None), int(a.size)
