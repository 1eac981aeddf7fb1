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

"""Tests for monai_ext.networks.blocks.window_attention (mask-aware window attention, Swin blocks and stages)."""

from __future__ import annotations

import unittest

import torch

from monai_ext.networks.blocks import (
    MaskedSwinBlock,
    MaskedSwinStage,
    MaskedWindowAttention,
    PatchUpsampling,
    merge_windows,
    partition_windows,
    shifted_window_region_mask,
)
from tests.fixtures import n_params


class TestWindows(unittest.TestCase):
    def test_partition_round_trip(self):
        x = torch.arange(2 * 8 * 8 * 3.0).reshape(2, 8, 8, 3)
        w = partition_windows(x, 4)
        self.assertEqual(tuple(w.shape), (8, 16, 3))
        torch.testing.assert_close(w[1].reshape(4, 4, 3), x[0, :4, 4:])  # second window of the first sample
        torch.testing.assert_close(merge_windows(w, 4, 8, 8), x)

    def test_region_mask(self):
        m = shifted_window_region_mask(8, 8, 4, 2)
        self.assertEqual(tuple(m.shape), (4, 16, 16))
        self.assertEqual(set(m.unique().tolist()), {-100.0, 0.0})
        self.assertEqual(int((m[0] == 0).sum()), 256)  # top-left window: one region
        self.assertEqual(int((m[1] == 0).sum()), 2 * 8 * 8)  # top-right: two regions of 8 tokens (columns 4-5 | 6-7)
        self.assertEqual(int((m[3] == 0).sum()), 4 * 4 * 4)  # bottom-right: four regions of 4 tokens
        # token (0, 0) and (0, 2) of the last window are in different regions, (0, 0) and (1, 1) in the same
        self.assertEqual((float(m[3, 0, 2]), float(m[3, 0, 5])), (-100.0, 0.0))


class TestMaskedWindowAttention(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)
        self.attn = MaskedWindowAttention(8, 2)
        self.x = torch.randn(2, 16, 8)  # two windows of 16 tokens
        mask = torch.ones(2, 16, 1)
        mask[0, :12] = 0  # window 0: 12 holes, 4 visible tokens
        mask[1] = 0  # window 1: fully masked
        self.mask = mask

    def test_hole_keys_get_no_weight(self):
        x2 = self.x.clone()
        x2[0, :12] += 1000.0 * torch.randn(12, 8)  # hole values change wildly (v is not normalised)
        with torch.no_grad():
            out, _ = self.attn(self.x, self.mask)
            out2, _ = self.attn(x2, self.mask)
        # visible queries of window 0 see only visible keys: hole keys weigh exp(-100) ~ 4e-44
        torch.testing.assert_close(out2[0, 12:], out[0, 12:], rtol=1e-5, atol=1e-5)
        # without the mask the same perturbation changes them
        with torch.no_grad():
            free, free2 = self.attn(self.x)[0], self.attn(x2)[0]
        self.assertGreater(float((free2[0, 12:] - free[0, 12:]).abs().max()), 1.0)

    def test_fully_masked_window(self):
        x2 = self.x.clone()
        x2[1] += 1000.0 * torch.randn(16, 8)
        with torch.no_grad():
            out, new_mask = self.attn(self.x, self.mask)
            out2, _ = self.attn(x2, self.mask)
            unmasked = self.attn(self.x[1:])[0]
        # a fully masked window's keys get no weight from any other window (windows are independent) ...
        torch.testing.assert_close(out2[0], out[0])
        # ... and its own uniform -100 shift cancels in the softmax; it stays a hole in the mask update
        torch.testing.assert_close(out[1], unmasked[0], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(new_mask[1], torch.zeros(16, 1))

    def test_window_level_mask_update(self):
        with torch.no_grad():
            _, new_mask = self.attn(self.x, self.mask)
        torch.testing.assert_close(new_mask[0], torch.ones(16, 1))  # one visible token -> whole window visible
        self.assertIsNone(self.attn(self.x)[1])

    def test_region_mask_is_applied(self):
        region = torch.zeros(1, 16, 16)
        region[0, :, 8:] = -100.0  # every query ignores keys 8..15
        x2 = self.x.clone()
        x2[:, 8:] += 1000.0 * torch.randn(2, 8, 8)
        with torch.no_grad():
            a = self.attn(self.x, None, region)[0]
            b = self.attn(x2, None, region)[0]
        torch.testing.assert_close(a[:, :8], b[:, :8], rtol=1e-5, atol=1e-5)

    def test_bad_heads(self):
        with self.assertRaisesRegex(ValueError, "dim \\(10\\) must be divisible by num_heads, got 4"):
            MaskedWindowAttention(10, 4)


class TestMaskedSwinBlock(unittest.TestCase):
    def test_parameter_count_and_no_mlp_residual(self):
        self.assertEqual(n_params(MaskedSwinBlock(128, 8, 8)), 164_864)  # 4 x 16,512 + 32,896 + 33,024 + 32,896
        torch.manual_seed(0)
        block = MaskedSwinBlock(8, 2, 4, shift_size=2)
        with torch.no_grad():
            block.mlp[1].weight.zero_()
            block.mlp[1].bias.zero_()
            out, _ = block(torch.randn(2, 8, 8, 8))
        self.assertEqual(float(out.abs().max()), 0.0)  # output = MLP(...): no residual, no norm after it

    def test_mask_is_window_constant(self):
        torch.manual_seed(0)
        x = torch.randn(1, 8, 8, 8)
        mask = (torch.rand(1, 8, 8, 1) > 0.9).float()
        mask[:, :4, :4] = 0.0  # one fully hidden window of the unshifted grid
        for shift in (0, 2):
            block = MaskedSwinBlock(8, 2, 4, shift_size=shift)
            with torch.no_grad():
                _, new = block(x, mask)
            # windows of the (shifted) grid: roll back by -shift, then every 4x4 tile is constant
            tiles = partition_windows(torch.roll(new, (-shift, -shift), (1, 2)), 4)
            torch.testing.assert_close(tiles, tiles[:, :1].expand_as(tiles))
            src = partition_windows(torch.roll(mask, (-shift, -shift), (1, 2)), 4)
            torch.testing.assert_close(tiles[:, 0, 0], (src.sum(1)[:, 0] > 0).float())
            if shift == 0:
                self.assertEqual(float(tiles[0].max()), 0.0)  # the fully hidden window stays a hole

    def test_window_adapts_to_small_maps(self):
        block = MaskedSwinBlock(8, 2, 16, shift_size=8)
        self.assertEqual(block.window_and_shift(8, 8), (8, 0))
        self.assertEqual(block.window_and_shift(32, 32), (16, 8))
        with self.assertRaisesRegex(ValueError, "20x20 token map is not a multiple of the window size 16"):
            block.window_and_shift(20, 20)
        with self.assertRaisesRegex(ValueError, "shift_size must be an int in \\[0, window_size\\), got 8"):
            MaskedSwinBlock(8, 2, 8, shift_size=8)


class TestMaskedSwinStage(unittest.TestCase):
    def test_parameter_counts(self):
        self.assertEqual(n_params(MaskedSwinStage(128, 2, 8, 8)), 2 * 164_864 + 147_584)
        self.assertEqual(n_params(MaskedSwinStage(128, 3, 8, 16, resample="down")), 147_584 + 3 * 164_864 + 147_584)
        self.assertEqual(n_params(MaskedSwinStage(128, 2, 8, 8, resample="up")), 147_584 + 2 * 164_864 + 147_584)

    def test_shapes_mask_shrinks_and_residual(self):
        torch.manual_seed(0)
        x = torch.randn(2, 8, 16, 16)
        mask = torch.ones(2, 1, 16, 16)
        mask[:, :, 2:14, 2:14] = 0
        down = MaskedSwinStage(8, 2, 2, 4, resample="down")
        y, m = down(x, mask)
        self.assertEqual((tuple(y.shape), tuple(m.shape)), ((2, 8, 8, 8), (2, 1, 8, 8)))
        self.assertLess(float((1 - m).mean()), float((1 - mask).mean()))  # holes fill in
        up = MaskedSwinStage(8, 2, 2, 4, resample="up")
        z, none = up(y)
        self.assertEqual(tuple(z.shape), (2, 8, 16, 16))
        self.assertIsNone(none)
        with self.assertRaisesRegex(ValueError, "mask must be None"):
            up(y, m)
        plain = MaskedSwinStage(8, 1, 2, 4)
        with torch.no_grad():
            plain.conv.conv.weight.zero_()
            plain.conv.conv.bias.zero_()
            torch.testing.assert_close(plain(x)[0], x)  # stage residual around blocks + conv
        self.assertIsInstance(PatchUpsampling(8, 8)(x)[0], torch.Tensor)
        with self.assertRaisesRegex(ValueError, "resample must be one of"):
            MaskedSwinStage(8, 1, 2, 4, resample="left")


if __name__ == "__main__":
    unittest.main()
