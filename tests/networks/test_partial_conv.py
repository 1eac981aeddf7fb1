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

"""Tests for monai_ext.networks.blocks.partial_conv against a hand-computed 5x5 example."""

from __future__ import annotations

import math
import unittest

import torch

from monai_ext.networks.blocks import Conv2dLayerPartial

# 5x5 hole mask (1 = visible): the top-left 3x3 block is a hole
MASK = torch.tensor(
    [
        [0, 0, 0, 1, 1],
        [0, 0, 0, 1, 1],
        [0, 0, 0, 1, 1],
        [1, 1, 1, 1, 1],
        [1, 1, 1, 1, 1],
    ],
    dtype=torch.float32,
)
# visible pixels under each 3x3 window (zero padding), counted by hand
UPDATE = torch.tensor(
    [
        [0, 0, 2, 4, 4],
        [0, 0, 3, 6, 6],
        [2, 3, 5, 7, 6],
        [4, 6, 7, 8, 6],
        [4, 6, 6, 6, 4],
    ],
    dtype=torch.float32,
)


def _layer(bias: float, activation: str) -> Conv2dLayerPartial:
    layer = Conv2dLayerPartial(1, 1, 3, activation=activation)
    with torch.no_grad():
        layer.conv.weight.fill_(3.0)  # x the equalised gain 1/sqrt(9): an all-ones 3x3 kernel
        layer.conv.bias.fill_(bias)
    return layer


class TestConv2dLayerPartial(unittest.TestCase):
    def test_hand_computed_linear(self):
        # input = 2 on visible pixels, 0 in the hole (zero-filled): the window sum is 2 * UPDATE
        x = (2.0 * MASK)[None, None]
        with torch.no_grad():
            out, new_mask = _layer(0.5, "linear")(x, MASK[None, None])
        # (2 U + 0.5) * 9 / U = 18 + 4.5 / U where U > 0, else 0 (the bias is added before the rescaling;
        # rescaling first would give 18 + 0.5 everywhere)
        expected = torch.tensor(
            [
                [0.0, 0.0, 20.25, 19.125, 19.125],
                [0.0, 0.0, 19.5, 18.75, 18.75],
                [20.25, 19.5, 18.9, 18 + 4.5 / 7, 18.75],
                [19.125, 18.75, 18 + 4.5 / 7, 18.5625, 18.75],
                [19.125, 18.75, 18.75, 18.75, 19.125],
            ]
        )
        torch.testing.assert_close(out[0, 0], expected)
        torch.testing.assert_close(new_mask[0, 0], (UPDATE > 0).float())

    def test_hand_computed_activation_before_rescaling(self):
        x = (2.0 * MASK)[None, None]
        with torch.no_grad():
            out, _ = _layer(-40.0, "lrelu")(x, MASK[None, None])
        # lrelu(2 U - 40) * sqrt(2) * 9 / U; U = 4 at (0, 3): 0.2 * (-32) * sqrt(2) * 9 / 4
        self.assertAlmostEqual(float(out[0, 0, 0, 3]), 0.2 * -32 * math.sqrt(2) * 9 / 4, places=4)
        self.assertAlmostEqual(float(out[0, 0, 3, 1]), 0.2 * -28 * math.sqrt(2) * 9 / 6, places=4)
        self.assertEqual(float(out[0, 0, 1, 1]), 0.0)  # fully hidden window

    def test_stride_two_mask_update(self):
        with torch.no_grad():
            out2, mask2 = Conv2dLayerPartial(1, 1, 3, down=2)(torch.randn(1, 1, 8, 8), torch.ones(1, 1, 8, 8))
        self.assertEqual(tuple(out2.shape), (1, 1, 4, 4))
        torch.testing.assert_close(mask2, torch.ones(1, 1, 4, 4))
        holes = torch.ones(1, 1, 8, 8)
        holes[..., :4, :4] = 0
        _, m = Conv2dLayerPartial(1, 1, 3, down=2)(torch.randn(1, 1, 8, 8), holes)
        # stride-2 windows centred on rows/cols 0, 2, 4, 6: only the windows at (0|2, 0|2) see no visible pixel
        expected = torch.ones(4, 4)
        expected[:2, :2] = 0
        torch.testing.assert_close(m[0, 0], expected)

    def test_without_mask_is_plain_conv_and_bad_mask(self):
        layer = _layer(0.5, "lrelu")
        x = torch.randn(2, 1, 5, 5)
        out, mask = layer(x)
        self.assertIsNone(mask)
        torch.testing.assert_close(out, layer.conv(x))
        with self.assertRaisesRegex(ValueError, r"mask must have shape \(B, 1, H, W\)"):
            layer(x, torch.ones(2, 2, 5, 5))


if __name__ == "__main__":
    unittest.main()
