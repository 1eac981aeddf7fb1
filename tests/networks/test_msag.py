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

"""Tests for monai_ext.networks.blocks.msag."""

from __future__ import annotations

import io
import unittest

import torch
from parameterized import parameterized
from torch import nn

from monai_ext.networks.blocks import MSAGBlock
from tests.fixtures import n_params


class TestMSAGBlock(unittest.TestCase):
    @parameterized.expand([(64, 90_880), (16, 22 * 16 * 16 + 12 * 16), (512, 22 * 512 * 512 + 12 * 512)])
    def test_parameter_count(self, channels, expected):
        # 1x1, 3x3, dilated 3x3 (C*C*k*k + C bias + 2C BN each) and the 3C -> C vote conv + BN: 22 C^2 + 12 C
        self.assertEqual(n_params(MSAGBlock(2, channels)), expected)

    def test_structure(self):
        m = MSAGBlock(2, 8)
        self.assertEqual(m.pointwise.conv.kernel_size, (1, 1))
        self.assertEqual((m.ordinary.conv.kernel_size, m.ordinary.conv.dilation), ((3, 3), (1, 1)))
        self.assertEqual((m.dilated.conv.kernel_size, m.dilated.conv.dilation), ((3, 3), (2, 2)))
        self.assertEqual(m.dilated.conv.padding, (2, 2))
        self.assertEqual(m.vote.conv.in_channels, 24)
        # branches are conv + BN only (no activation before the concatenation)
        for branch in (m.pointwise, m.ordinary, m.dilated):
            self.assertEqual([type(c) for c in branch.adn.children()], [nn.BatchNorm2d])
        self.assertEqual([type(c) for c in m.vote.adn.children()], [nn.BatchNorm2d, nn.Sigmoid])

    def test_gate_range(self):
        torch.manual_seed(0)
        x = torch.rand(2, 8, 16, 16) + 0.1
        y = MSAGBlock(2, 8).train()(x)
        self.assertEqual(y.shape, x.shape)
        ratio = y / x  # 1 + g with g in (0, 1)
        self.assertTrue(bool((ratio > 1).all() and (ratio < 2).all()))

    def test_hand_computed_half_gate(self):
        # vote conv zeroed and BN at its initial statistics in eval mode: g = sigmoid(0) = 0.5, output 1.5 x
        m = MSAGBlock(2, 4).eval()
        nn.init.zeros_(m.vote.conv.weight)
        nn.init.zeros_(m.vote.conv.bias)
        x = torch.randn(2, 4, 8, 8)
        with torch.no_grad():
            torch.testing.assert_close(m(x), 1.5 * x)

    def test_3d(self):
        self.assertEqual(MSAGBlock(3, 4).eval()(torch.rand(1, 4, 8, 8, 8)).shape, (1, 4, 8, 8, 8))

    def test_bad_args(self):
        with self.assertRaises(ValueError):
            MSAGBlock(1, 4)
        with self.assertRaises(ValueError):
            MSAGBlock(2, 0)
        with self.assertRaisesRegex(ValueError, "MSAGBlock: expected 4 input channels"):
            MSAGBlock(2, 4)(torch.rand(1, 3, 8, 8))

    def test_torchscript(self):
        m = MSAGBlock(2, 4).eval()
        buf = io.BytesIO()
        torch.jit.save(torch.jit.script(m), buf)
        buf.seek(0)
        x = torch.rand(1, 4, 8, 8)
        with torch.no_grad():
            torch.testing.assert_close(torch.jit.load(buf)(x), m(x))


if __name__ == "__main__":
    unittest.main()
