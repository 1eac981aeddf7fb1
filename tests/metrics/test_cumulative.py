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

"""Tests of monai_ext.metrics.cumulative: buffers, reductions, structure selection, spacing sources."""

from __future__ import annotations

import math

import monai.handlers
import monai.metrics
import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.metrics import CumulativeIterationMetric, DiceMetric

from monai_ext.metrics.cumulative import USDiceMetric, USHD95Metric, USIoUMetric

DIAG_8 = 8 * math.sqrt(2)


def square(r0, r1, c0, c1, size=(8, 8)):
    m = torch.zeros(size)
    m[r0:r1, c0:c1] = 1
    return m


EMPTY = torch.zeros(8, 8)
G = square(2, 6, 2, 6)
SHIFT = square(2, 6, 3, 7)  # Dice 0.75, IoU 0.6, HD95 1 px against G


def two_structure_batches():
    """Batch 1: 2 images, batch 2: 1 image; channels = (structure a, structure b)."""
    p1 = torch.stack([torch.stack([G, EMPTY]), torch.stack([SHIFT, G])])
    y1 = torch.stack([torch.stack([G, G]), torch.stack([G, G])])
    p2 = torch.stack([EMPTY, EMPTY])[None]
    y2 = torch.stack([EMPTY, G])[None]
    return (p1, y1), (p2, y2)


def test_names_are_not_in_monai():
    for name in ("USDiceMetric", "USIoUMetric", "USHD95Metric"):
        assert not hasattr(monai.metrics, name) and not hasattr(monai.handlers, name)
    assert issubclass(USDiceMetric, CumulativeIterationMetric)


def test_dice_buffer_and_reductions():
    (p1, y1), (p2, y2) = two_structure_batches()
    m = USDiceMetric()
    out = m(p1, y1)
    assert out.shape == (2, 2)
    m(y_pred=p2, y=y2)
    buf = m.get_buffer()
    # per-image values: [a, b]; image 3 has a both empty (1) and b missed (0)
    assert buf.shape == (3, 2)
    np.testing.assert_allclose(buf.numpy(), [[1.0, 0.0], [0.75, 1.0], [1.0, 0.0]], rtol=1e-5, atol=1e-6)
    assert m.aggregate().item() == pytest.approx((1 + 0 + 0.75 + 1 + 1 + 0) / 6)
    assert m.aggregate("mean_batch").tolist() == pytest.approx([2.75 / 3, 1 / 3])
    assert m.aggregate("none").shape == (3, 2)
    m.reset()
    assert m.get_buffer() is None
    with pytest.raises(ValueError, match="nothing to aggregate"):
        m.aggregate()


def test_structure_selection_and_iou():
    (p1, y1), (p2, y2) = two_structure_batches()
    m = USIoUMetric(structure=1, reduction="none")
    m(p1, y1)
    m(p2, y2)
    assert m.get_buffer().shape == (3, 1)
    assert m.aggregate()[:, 0].tolist() == pytest.approx([0.0, 1.0, 0.0])
    m0 = USIoUMetric(structure=0)
    m0(p1, y1)
    assert m0.aggregate().item() == pytest.approx((1 + 0.6) / 2)
    with pytest.raises(ValueError, match="structure=2"):
        USIoUMetric(structure=2)(p1, y1)
    with pytest.raises(ValueError, match="non-negative int"):
        USIoUMetric(structure=-1)


def test_include_background_false_drops_channel_zero():
    bg_p = 1 - SHIFT
    bg_y = 1 - G
    p = torch.stack([bg_p, SHIFT])[None]
    y = torch.stack([bg_y, G])[None]
    np.testing.assert_allclose(USDiceMetric(include_background=False)(p, y).numpy(), [[0.75]], rtol=1e-5, atol=1e-6)
    assert USDiceMetric(include_background=False, structure=0)(p, y).shape == (1, 1)


def test_list_input_agrees_with_monai_dice():
    rng = np.random.default_rng(1)
    preds, labels = [], []
    for _ in range(4):
        p, y = torch.zeros(2, 32, 32), torch.zeros(2, 32, 32)
        for c in range(2):
            r, s = rng.integers(2, 16, size=2)
            p[c, r : r + 10, s : s + 12] = 1
            r, s = rng.integers(2, 16, size=2)
            y[c, r : r + 12, s : s + 9] = 1
        preds.append(p)
        labels.append(y)
    ours = USDiceMetric(reduction="none")
    theirs = DiceMetric(include_background=True, reduction="none", ignore_empty=False)
    ours(preds, labels)
    theirs(preds, labels)
    assert torch.allclose(ours.aggregate(), theirs.aggregate().float(), atol=1e-6)


def test_hd95_fixed_and_call_spacing():
    (p1, y1), (p2, y2) = two_structure_batches()
    m = USHD95Metric(reduction="none")
    m(p1, y1)
    m(p2, y2)
    assert m.unit == "px"
    np.testing.assert_allclose(m.get_buffer().numpy(), [[0.0, DIAG_8], [1.0, 0.0], [0.0, DIAG_8]], rtol=1e-5, atol=1e-6)
    mm = USHD95Metric(spacing=(2.0, 0.5), reduction="mean_batch")
    mm(p1, y1)
    d = math.sqrt(16.0**2 + 4.0**2)
    assert mm.unit == "mm"
    assert mm.aggregate().tolist() == pytest.approx([(0 + 0.5) / 2, (d + 0) / 2])
    # a call-time spacing overrides the constructor and may be per image
    c = USHD95Metric(spacing=1.0, reduction="none")
    c(p1, y1, spacing=[0.5, (2.0, 0.5)])
    np.testing.assert_allclose(c.get_buffer().numpy(), [[0.0, 0.5 * DIAG_8], [0.5, 0.0]], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="fixed spacing"):
        USHD95Metric(spacing=[[0.5, 0.5]])


def test_hd95_spacing_from_label_meta_and_unit_mixing():
    labels = [
        MetaTensor(torch.stack([G])[:, :, :], meta={"spacing": np.array([2.0, 0.5]), "spacing_source": "region"}),
        MetaTensor(torch.stack([G]), meta={"spacing": np.array([0.5, 0.5]), "spacing_source": "region"}),
    ]
    preds = [SHIFT[None], EMPTY[None]]
    m = USHD95Metric(reduction="none")
    m(preds, labels)
    assert m.unit == "mm"
    assert m.get_buffer()[:, 0].tolist() == pytest.approx([0.5, 0.5 * DIAG_8])
    # "spacing unknown" from the ultrasound reader means pixels; mixing with mm in one epoch is refused
    unknown = [MetaTensor(G[None], meta={"spacing": [1.0, 1.0], "spacing_source": "none"})]
    with pytest.raises(ValueError, match="mix units"):
        m([EMPTY[None]], unknown)
    m.reset()
    m([EMPTY[None]], unknown)
    assert m.unit == "px" and m.get_buffer()[0, 0].item() == pytest.approx(DIAG_8)
    # use_meta_spacing=False ignores the meta
    off = USHD95Metric(use_meta_spacing=False)
    off(preds, labels)
    assert off.unit == "px"
    # batched MetaTensor with collated meta
    yb = MetaTensor(torch.stack([G[None], G[None]]), meta={"spacing": torch.tensor([[2.0, 0.5], [0.5, 0.5]])})
    yb.is_batch = True
    b = USHD95Metric(reduction="none")
    b(torch.stack([SHIFT[None], EMPTY[None]]), yb)
    assert b.get_buffer()[:, 0].tolist() == pytest.approx([0.5, 0.5 * DIAG_8])


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        USDiceMetric()(torch.zeros(1, 1, 4, 4, 4), torch.zeros(1, 1, 4, 4, 4))
    with pytest.raises(ValueError, match="binary"):
        USDiceMetric()(torch.full((1, 1, 4, 4), 0.5), torch.zeros(1, 1, 4, 4))
    with pytest.raises(TypeError, match="unexpected keyword"):
        USDiceMetric()._compute_tensor(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4), foo=1)
