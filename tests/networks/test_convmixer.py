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

"""Tests for monai_ext.networks.blocks.convmixer."""

from __future__ import annotations

import unittest

import torch
import torch.nn.functional as F
from parameterized import parameterized
from torch import nn

from monai_ext.networks.blocks import ConvMixerBlock, ConvMixerLayer
from tests.fixtures import n_params


class TestConvMixer(unittest.TestCase):
    @parameterized.expand([(1024, 7), (256, 7), (64, 5)])
    def test_layer_parameter_count(self, dim, k):
        # depthwise d*k*k + d, pointwise d*d + d, two BNs 2d each: d^2 + d (k^2 + 6)
        with torch.device("meta"):
            layer = ConvMixerLayer(2, dim, k)
        self.assertEqual(n_params(layer), dim * dim + dim * (k * k + 6))

    def test_mgcc_bottleneck_count(self):
        with torch.device("meta"):
            blocks = [ConvMixerBlock(2, 1024, 3, 7) for _ in range(3)]
            layer = ConvMixerLayer(2, 1024, 7)
        self.assertEqual(n_params(layer), 1_104_896)
        self.assertEqual(sum(n_params(b) for b in blocks), 9_944_064)  # docs/methods/mgcc.md, "Parameter counts"
        self.assertEqual(len(blocks[0]), 3)

    def test_order_act_then_norm(self):
        layer = ConvMixerLayer(2, 8, 7)
        self.assertEqual(layer.depthwise.conv.groups, 8)
        self.assertEqual(layer.depthwise.conv.padding, (3, 3))
        self.assertEqual([type(c) for c in layer.depthwise.adn.children()], [nn.GELU, nn.BatchNorm2d])
        self.assertEqual([type(c) for c in layer.pointwise.adn.children()], [nn.GELU, nn.BatchNorm2d])

    def test_residual_wraps_depthwise_only(self):
        # zero depthwise branch and identity pointwise conv: output = BN_eval(GELU(x + 0))
        layer = ConvMixerLayer(2, 4, 7).eval()
        with torch.no_grad():
            layer.depthwise.conv.weight.zero_()
            layer.depthwise.conv.bias.zero_()
            layer.pointwise.conv.weight.copy_(torch.eye(4).view(4, 4, 1, 1))
            layer.pointwise.conv.bias.zero_()
            x = torch.randn(2, 4, 8, 8)
            torch.testing.assert_close(layer(x), F.gelu(x) / (1 + 1e-5) ** 0.5)

    @parameterized.expand([(2, (2, 16, 8, 8)), (3, (1, 8, 4, 4, 4))])
    def test_shape_preserved(self, spatial_dims, shape):
        block = ConvMixerBlock(spatial_dims, shape[1], 2, 3).train()
        self.assertEqual(block(torch.rand(shape)).shape, shape)

    def test_bad_args(self):
        with self.assertRaises(ValueError):
            ConvMixerLayer(2, 8, 6)
        with self.assertRaises(ValueError):
            ConvMixerBlock(2, 8, 0)
        with self.assertRaises(ValueError):
            ConvMixerBlock(4, 8, 1)
        with self.assertRaises(ValueError):
            ConvMixerLayer(2, 0)

    def test_torchscript(self):
        block = ConvMixerBlock(2, 8, 2, 7).eval()
        x = torch.rand(1, 8, 8, 8)
        with torch.no_grad():
            torch.testing.assert_close(torch.jit.script(block)(x), block(x))


if __name__ == "__main__":
    unittest.main()
