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

"""Tests of monai_ext.metrics.segmentation: the empty-mask policy table, D_max, spacing and MONAI agreement."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.metrics import DiceMetric, HausdorffDistanceMetric, MeanIoU

from monai_ext.metrics.segmentation import (
    US_CASE_BOTH_EMPTY,
    US_CASE_BOTH_NONEMPTY,
    US_CASE_FALSE_POSITIVE,
    US_CASE_MISSED,
    compute_us_segmentation_metrics,
    normalize_us_spacing,
    us_image_diagonal,
    us_spacing_from_meta,
    us_spacing_unit,
)

ALL = ("dice", "iou", "hd95", "assd", "precision", "recall")
DIAG_8 = 8 * math.sqrt(2)  # D_max of an 8x8 image in pixels


def square(r0, r1, c0, c1, size=(8, 8)):
    m = torch.zeros(size)
    m[r0:r1, c0:c1] = 1
    return m


def batch(*pairs):
    """pairs of (pred, gt) 2D masks -> (B, 1, H, W) tensors."""
    p = torch.stack([a for a, _ in pairs])[:, None]
    g = torch.stack([b for _, b in pairs])[:, None]
    return p, g


def test_policy_table_rows():
    empty = torch.zeros(8, 8)
    g = square(2, 6, 2, 6)
    shifted = square(2, 6, 3, 7)  # 4x4 square moved one column: |P∩G| = 12
    p, y = batch((empty, empty), (empty, g), (g, empty), (shifted, g))
    r = compute_us_segmentation_metrics(p, y, metrics=ALL)
    assert r["category"][:, 0].tolist() == [US_CASE_BOTH_EMPTY, US_CASE_MISSED, US_CASE_FALSE_POSITIVE, 3]
    assert r["category"].dtype == torch.long
    # both empty: Dice = IoU = 1, distances 0
    for m, v in (("dice", 1), ("iou", 1), ("hd95", 0), ("assd", 0), ("precision", 1), ("recall", 1)):
        assert r[m][0, 0].item() == v, m
    # one empty (missed, false positive): overlaps 0, distances = D_max
    for i in (1, 2):
        for m in ("dice", "iou", "precision", "recall"):
            assert r[m][i, 0].item() == 0, (i, m)
        assert r["hd95"][i, 0].item() == pytest.approx(DIAG_8, rel=1e-6)
        assert r["assd"][i, 0].item() == pytest.approx(DIAG_8, rel=1e-6)
    # both non-empty: Dice = 2*12/32, IoU = 12/20, no smoothing
    assert r["dice"][3, 0].item() == pytest.approx(0.75, abs=1e-6)
    assert r["iou"][3, 0].item() == pytest.approx(0.6, abs=1e-6)
    assert r["precision"][3, 0].item() == pytest.approx(0.75, abs=1e-6)
    assert r["recall"][3, 0].item() == pytest.approx(0.75, abs=1e-6)
    # boundary distances are 0 for six ring pixels and 1 for six: P95 (linear) = 1, ASSD = (0.5 + 0.5) / 2
    assert r["hd95"][3, 0].item() == pytest.approx(1.0)
    assert r["assd"][3, 0].item() == pytest.approx(0.5)
    for v in r.values():
        assert v.shape == (4, 1) and not torch.isnan(v.float()).any()


def test_identical_and_disjoint_nonempty():
    g = square(1, 3, 1, 3)
    far = square(5, 7, 5, 7)
    p, y = batch((g, g), (far, g))
    r = compute_us_segmentation_metrics(p, y)
    assert set(r) == {"dice", "iou", "hd95", "category"}
    assert r["dice"][:, 0].tolist() == [1.0, 0.0]
    assert r["iou"][:, 0].tolist() == [1.0, 0.0]
    assert r["category"][:, 0].tolist() == [US_CASE_BOTH_NONEMPTY, US_CASE_BOTH_NONEMPTY]
    assert r["hd95"][0, 0].item() == 0.0
    # disjoint 2x2 squares: distances {sqrt(18), 5, 5, sqrt(32)} each way; P95 with linear interpolation at
    # rank 0.95 * 3 = 2.85 -> 5 + 0.85 * (sqrt(32) - 5); a formula value, not D_max
    assert r["hd95"][1, 0].item() == pytest.approx(5 + 0.85 * (math.sqrt(32) - 5), rel=1e-5)


def test_dmax_px_and_mm():
    assert us_image_diagonal((8, 8)) == pytest.approx(DIAG_8)
    assert us_image_diagonal((8, 6)) == pytest.approx(10.0)
    assert us_image_diagonal((8, 6), (0.5, 0.5)) == pytest.approx(5.0)
    assert us_image_diagonal((8, 6), (0.5, 2.0)) == pytest.approx(math.sqrt(4.0**2 + 12.0**2))
    g = torch.zeros(1, 1, 8, 6)
    g[0, 0, 2:4, 2:4] = 1
    p = torch.zeros_like(g)
    assert compute_us_segmentation_metrics(p, g)["hd95"].item() == pytest.approx(10.0)
    assert compute_us_segmentation_metrics(p, g, spacing=0.5)["hd95"].item() == pytest.approx(5.0)
    r = compute_us_segmentation_metrics(g, p, spacing=(0.5, 2.0), metrics=("hd95", "assd"))
    assert r["hd95"].item() == pytest.approx(math.sqrt(160.0))
    assert r["assd"].item() == pytest.approx(math.sqrt(160.0))
    # both empty stays 0 whatever the spacing
    assert compute_us_segmentation_metrics(p, p, spacing=(0.5, 2.0))["hd95"].item() == 0.0


def test_anisotropic_spacing_hand_values():
    p, y = batch((square(2, 6, 3, 7), square(2, 6, 2, 6)))  # shift along axis 1
    # axis-1 steps cost 0.5: every non-zero distance is 0.5
    r = compute_us_segmentation_metrics(p, y, spacing=(2.0, 0.5), metrics=("hd95", "assd", "dice"))
    assert r["hd95"].item() == pytest.approx(0.5)
    assert r["assd"].item() == pytest.approx(0.25)
    assert r["dice"].item() == pytest.approx(0.75)  # overlaps do not depend on spacing
    # axis-1 steps cost 2.0, axis-0 steps 0.5: distances {0 x6, 0.5 x2, 2.0 x4} each way
    r = compute_us_segmentation_metrics(p, y, spacing=[0.5, 2.0], metrics=("hd95", "assd"))
    assert r["hd95"].item() == pytest.approx(2.0)
    assert r["assd"].item() == pytest.approx((2 * 0.5 + 4 * 2.0) / 12)
    # same numbers with numpy / tensor spacing
    assert compute_us_segmentation_metrics(p, y, spacing=np.array([0.5, 2.0]))["hd95"].item() == pytest.approx(2.0)
    assert compute_us_segmentation_metrics(p, y, spacing=torch.tensor([0.5, 2.0]))["hd95"].item() == pytest.approx(2.0)


def test_per_image_spacing():
    empty = torch.zeros(8, 8)
    g = square(2, 6, 2, 6)
    p, y = batch((empty, g), (empty, g), (square(2, 6, 3, 7), g))
    r = compute_us_segmentation_metrics(p, y, spacing=[0.5, (1.0, 2.0), [2.0, 0.5]])
    assert r["hd95"][0, 0].item() == pytest.approx(0.5 * DIAG_8)
    assert r["hd95"][1, 0].item() == pytest.approx(math.sqrt(8.0**2 + 16.0**2))
    assert r["hd95"][2, 0].item() == pytest.approx(0.5)
    # 2D array form (B, 2)
    r2 = compute_us_segmentation_metrics(p, y, spacing=np.array([[0.5, 0.5], [1.0, 2.0], [2.0, 0.5]]))
    assert torch.allclose(r["hd95"], r2["hd95"])


def test_multi_structure_channels():
    empty = torch.zeros(8, 8)
    g = square(2, 6, 2, 6)
    p = torch.stack([g, empty, g, square(2, 6, 3, 7)])[None]  # (1, 4, 8, 8)
    y = torch.stack([g, g, empty, g])[None]
    y = torch.cat([y, torch.zeros(1, 4, 8, 8)])  # second image: all structures absent
    p = torch.cat([p, torch.zeros(1, 4, 8, 8)])
    r = compute_us_segmentation_metrics(p, y, metrics=("dice", "iou", "hd95"))
    assert r["dice"].shape == (2, 4)
    assert r["category"].tolist() == [[3, 1, 2, 3], [0, 0, 0, 0]]
    assert r["dice"][0].tolist() == pytest.approx([1.0, 0.0, 0.0, 0.75])
    assert r["iou"][0].tolist() == pytest.approx([1.0, 0.0, 0.0, 0.6])
    assert r["hd95"][0].tolist() == pytest.approx([0.0, DIAG_8, DIAG_8, 1.0])
    assert r["dice"][1].tolist() == [1.0] * 4 and r["hd95"][1].tolist() == [0.0] * 4


def test_list_inputs_with_different_sizes_and_dtypes():
    g1 = square(2, 6, 2, 6)[None].bool()
    g2 = torch.zeros(1, 6, 10)
    g2[0, 1:4, 1:4] = 1
    preds = [g1.numpy().astype(np.uint8), torch.zeros(1, 6, 10)]
    r = compute_us_segmentation_metrics(preds, [g1, g2], spacing=[None, None])
    assert r["dice"][:, 0].tolist() == [1.0, 0.0]
    assert r["hd95"][1, 0].item() == pytest.approx(math.sqrt(36 + 100))


def random_blobs(rng, n, size=64):
    out = torch.zeros(n, 1, size, size)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    for i in range(n):
        for _ in range(int(rng.integers(1, 3))):
            cy, cx = rng.integers(10, size - 10, size=2)
            ry, rx = rng.integers(3, 12, size=2)
            out[i, 0] += (((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1).float()
    return (out > 0).float()


@pytest.mark.parametrize("spacing", [None, (0.3, 0.7)])
def test_agreement_with_monai_on_nonempty_pairs(spacing):
    rng = np.random.default_rng(0)
    p, y = random_blobs(rng, 6), random_blobs(rng, 6)
    assert (p.sum((2, 3)) > 0).all() and (y.sum((2, 3)) > 0).all()
    r = compute_us_segmentation_metrics(p, y, spacing=spacing)
    dice = DiceMetric(include_background=True, reduction="none", ignore_empty=False)(p, y)
    iou = MeanIoU(include_background=True, reduction="none", ignore_empty=False)(p, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hd = HausdorffDistanceMetric(include_background=True, percentile=95, reduction="none")(p, y, spacing=spacing)
    assert torch.allclose(r["dice"], dice.float(), atol=1e-6)
    assert torch.allclose(r["iou"], iou.float(), atol=1e-6)
    assert torch.allclose(r["hd95"], hd.float(), atol=1e-5)
    assert (r["category"] == US_CASE_BOTH_NONEMPTY).all()


def test_monai_ignore_empty_false_matches_policy_on_overlaps():
    empty = torch.zeros(8, 8)
    g = square(2, 6, 2, 6)
    p, y = batch((empty, empty), (empty, g), (g, empty))
    r = compute_us_segmentation_metrics(p, y)
    dice = DiceMetric(include_background=True, reduction="none", ignore_empty=False)(p, y)
    assert r["dice"][:, 0].tolist() == dice[:, 0].tolist() == [1.0, 0.0, 0.0]


def test_input_validation():
    g = torch.zeros(2, 1, 8, 8)
    with pytest.raises(ValueError, match="same shape"):
        compute_us_segmentation_metrics(g, torch.zeros(2, 2, 8, 8))
    with pytest.raises(ValueError, match="binary"):
        compute_us_segmentation_metrics(g + 0.3, g)
    with pytest.raises(ValueError, match="NaN"):
        compute_us_segmentation_metrics(g * float("nan"), g)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        compute_us_segmentation_metrics(g[0], g[0])
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        compute_us_segmentation_metrics([g[0, 0]], [g[0, 0]])
    with pytest.raises(ValueError, match="unknown metric"):
        compute_us_segmentation_metrics(g, g, metrics=("dice", "hd100"))
    with pytest.raises(TypeError, match="both"):
        compute_us_segmentation_metrics([g[0]], g)
    with pytest.raises(TypeError, match="torch.Tensor"):
        compute_us_segmentation_metrics("a", "b")
    with pytest.raises(ValueError, match="> 0"):
        compute_us_segmentation_metrics(g, g, spacing=-1.0)
    with pytest.raises(ValueError, match="spatial axis"):
        compute_us_segmentation_metrics(g, g, spacing=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="one entry per image"):
        compute_us_segmentation_metrics(g, g, spacing=[(0.5, 0.5)])
    with pytest.raises(ValueError, match="mix mm and pixels"):
        compute_us_segmentation_metrics(g, g, spacing=[None, 0.5])


def test_normalize_spacing_and_unit():
    assert normalize_us_spacing(None, 2) == [None, None]
    assert normalize_us_spacing(0.5, 2) == [(0.5, 0.5), (0.5, 0.5)]
    assert normalize_us_spacing([0.5, 0.25], 3) == [(0.5, 0.25)] * 3  # flat = per axis, never per image
    assert normalize_us_spacing([[0.5], [1, 2]], 2) == [(0.5, 0.5), (1.0, 2.0)]
    assert normalize_us_spacing(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), 2) == [(1.0, 2.0), (3.0, 4.0)]
    assert us_spacing_unit([None, None]) == "px"
    assert us_spacing_unit([(1.0, 1.0)]) == "mm"


def test_spacing_from_meta():
    item = MetaTensor(torch.zeros(1, 8, 6), meta={"spacing": np.array([0.5, 2.0]), "spatial_shape": (8, 6)})
    assert us_spacing_from_meta(item, 1) == [(0.5, 2.0)]
    assert us_spacing_from_meta(torch.zeros(1, 8, 6), 1) is None
    assert us_spacing_from_meta(MetaTensor(torch.zeros(1, 8, 6)), 1) is None
    unknown = MetaTensor(torch.zeros(1, 8, 6), meta={"spacing": [1.0, 1.0], "spacing_source": "none"})
    assert us_spacing_from_meta(unknown, 1) == [None]
    batched = MetaTensor(torch.zeros(2, 1, 8, 6), meta={"spacing": torch.tensor([[0.5, 0.5], [1.0, 2.0]])})
    batched.is_batch = True
    assert us_spacing_from_meta(batched, 2) == [(0.5, 0.5), (1.0, 2.0)]
    stale = MetaTensor(torch.zeros(1, 4, 4), meta={"spacing": [0.5, 0.5], "spatial_shape": (8, 6)})
    with pytest.warns(UserWarning, match="stale"):
        assert us_spacing_from_meta(stale, 1) == [(0.5, 0.5)]
