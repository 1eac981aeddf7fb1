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

"""Tests for monai_ext.networks.blocks.aspp (the ASPP of SABR-Net's model C)."""

from __future__ import annotations

import unittest

import torch

from monai_ext.networks.blocks import SABRASPP, DepthwiseSeparableConv2d
from tests.fixtures import n_params


class TestSABRASPP(unittest.TestCase):
    def test_parameter_count(self):
        aspp = SABRASPP()
        self.assertEqual(n_params(aspp), 186_624)
        self.assertEqual(n_params(DepthwiseSeparableConv2d(128, 128, 3, 12, 12)), 128 * 9 + 128 * 128)
        depthwise = aspp.branches[2][0][0]
        self.assertEqual((depthwise.dilation, depthwise.padding, depthwise.groups), ((24, 24), (24, 24), 128))
        self.assertEqual(aspp.project[-1].p, 0.5)

    def test_shapes_and_pooling_branch(self):
        torch.manual_seed(0)
        aspp = SABRASPP(8, 6, (1, 2, 3), dropout=0.0).eval()
        x = torch.randn(2, 8, 16, 16)
        with torch.no_grad():
            self.assertEqual(tuple(aspp(x).shape), (2, 6, 16, 16))
            pooled = aspp.branches[-1](x)
        self.assertEqual(tuple(pooled.shape), (2, 6, 16, 16))
        torch.testing.assert_close(pooled, pooled[:, :, :1, :1].expand_as(pooled))  # image-level feature broadcast

    def test_bad_arguments(self):
        with self.assertRaisesRegex(ValueError, "dropout must be a number in \\[0, 1\\), got 1.5"):
            SABRASPP(dropout=1.5)
        with self.assertRaisesRegex(ValueError, "dilations must be"):
            SABRASPP(dilations=(12, 0))


if __name__ == "__main__":
    unittest.main()
