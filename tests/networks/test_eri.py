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

"""Tests for monai_ext.networks.blocks.eri (edge region inpainting, the alternative boundary refinement)."""

from __future__ import annotations

import math
import unittest

import torch
import torch.nn.functional as F
from torch import nn

from monai_ext.networks.blocks import EdgeRegionInpainting, eri_confidence
from tests.fixtures import n_params


class TestERI(unittest.TestCase):
    def test_confidence(self):
        p = torch.tensor([0.5, 0.0, 1.0, 0.75])
        std = float(p.std())
        expected = [0.0] + [1 - math.exp(-0.25 / (2 * std**2))] * 2 + [1 - math.exp(-0.0625 / (2 * std**2))]
        torch.testing.assert_close(eri_confidence(p), torch.tensor(expected))
        torch.testing.assert_close(eri_confidence(torch.full((3,), 0.5)), torch.zeros(3))  # no division by zero

    def test_two_class_module(self):
        self.assertEqual(n_params(EdgeRegionInpainting(128, 2)), 147_584 + 256 + 258)
        torch.manual_seed(0)
        eri = EdgeRegionInpainting(4, 2).eval()
        feature, logits = torch.randn(2, 4, 8, 8), torch.randn(2, 2, 8, 8)
        conf = eri.confidence(logits)
        self.assertEqual(tuple(conf.shape), (2, 1, 8, 8))
        with torch.no_grad():
            f, out = eri(feature, conf)
            ref = F.relu(eri.bn(eri.conv_r(feature * conf) / (F.avg_pool2d(conf, 3, 1, 1) + 1e-6))) + feature
        torch.testing.assert_close(f, ref)
        torch.testing.assert_close(out, eri.conv_o(ref))

    def test_multi_class_module_and_iterations(self):
        torch.manual_seed(0)
        eri = EdgeRegionInpainting(4, 3, max_iter=3)
        self.assertIsInstance(eri.bn, nn.Identity)
        self.assertEqual(eri.conv_r.in_channels, 12)
        feature = torch.randn(1, 4, 8, 8)
        conf = eri.confidence(torch.randn(1, 3, 8, 8))
        self.assertEqual(tuple(conf.shape), (1, 3, 8, 8))
        f, out = eri(feature, conf)
        self.assertEqual((tuple(f.shape), tuple(out.shape)), ((1, 4, 8, 8), (1, 3, 8, 8)))
        with self.assertRaisesRegex(ValueError, "num_classes must be an int >= 2, got 1"):
            EdgeRegionInpainting(4, 1)


if __name__ == "__main__":
    unittest.main()
