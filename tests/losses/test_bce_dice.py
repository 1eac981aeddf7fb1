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

"""Tests for monai_ext.losses.bce_dice (docs/methods/mgcc.md, "Losses")."""

from __future__ import annotations

import math
import unittest

import torch
from monai.losses import DiceCELoss

from monai_ext.losses import USBCEDiceLoss


class TestUSBCEDiceLoss(unittest.TestCase):
    def test_hand_computed_value(self):
        # logits 0 -> p = 0.5 everywhere; target all ones on 64 pixels: BCE = log 2, Dice = (2*32) / (32 + 64)
        loss = USBCEDiceLoss()(torch.zeros(2, 1, 8, 8), torch.ones(2, 1, 8, 8))
        self.assertAlmostEqual(float(loss), 0.5 * math.log(2) + 1 - (64 + 1e-5) / (96 + 1e-5), places=6)

    def test_per_sample_dice_and_empty_masks(self):
        # a perfect, confident prediction of an empty and a full mask: loss ~ 0 (smooth keeps empty Dice at 1)
        y = torch.zeros(2, 1, 4, 4)
        y[1] = 1
        logits = (y * 2 - 1) * 50
        self.assertLess(float(USBCEDiceLoss()(logits, y)), 1e-6)

    def test_matches_monai_dice_ce_for_one_channel(self):
        torch.manual_seed(0)
        x, y = torch.randn(3, 1, 16, 16), (torch.rand(3, 1, 16, 16) > 0.6).float()
        ref = DiceCELoss(sigmoid=True, lambda_ce=0.5, lambda_dice=1.0, smooth_nr=1e-5, smooth_dr=1e-5)(x, y)
        torch.testing.assert_close(USBCEDiceLoss()(x, y), ref)

    def test_multi_channel_is_sigmoid_bce_not_softmax_ce(self):
        torch.manual_seed(0)
        x, y = torch.randn(2, 3, 8, 8), (torch.rand(2, 3, 8, 8) > 0.5).float()
        loss = USBCEDiceLoss(bce_weight=1.0, dice_weight=0.0)(x, y)
        torch.testing.assert_close(loss, torch.nn.functional.binary_cross_entropy_with_logits(x, y))
        # per channel vs pooled Dice differ in general, and both are in [0, 1]
        a = USBCEDiceLoss(bce_weight=0.0)(x, y)
        b = USBCEDiceLoss(bce_weight=0.0, per_channel=False)(x, y)
        pooled = 1 - ((2 * (torch.sigmoid(x) * y).sum((1, 2, 3)) + 1e-5) / (torch.sigmoid(x).sum((1, 2, 3)) +
                                                                           y.sum((1, 2, 3)) + 1e-5)).mean()
        torch.testing.assert_close(b, pooled)
        self.assertNotAlmostEqual(float(a), float(b), places=4)

    def test_gradient_and_errors(self):
        x = torch.zeros(1, 2, 4, 4, requires_grad=True)
        USBCEDiceLoss()(x, torch.ones(1, 2, 4, 4)).backward()
        self.assertTrue(bool((x.grad < 0).all()))
        with self.assertRaisesRegex(ValueError, "same shape"):
            USBCEDiceLoss()(torch.zeros(1, 2, 4, 4), torch.zeros(1, 1, 4, 4))
        with self.assertRaisesRegex(ValueError, ">= 0"):
            USBCEDiceLoss(bce_weight=-1)


if __name__ == "__main__":
    unittest.main()
