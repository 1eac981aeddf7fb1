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

"""Tests for monai_ext.networks.blocks.style_blocks (modulated convolutions, ToRGB, mapping network)."""

from __future__ import annotations

import math
import unittest

import torch
import torch.nn.functional as F

from monai_ext.networks.blocks import (
    DecStyleBlock,
    MappingNet,
    ModulatedConv2d,
    StyleConv,
    ToRGB,
    blur_filter,
    normalize_2nd_moment,
    upsample2d,
)
from tests.fixtures import n_params


def _per_sample_reference(mod: ModulatedConv2d, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Naive StyleGAN2 definition: one modulated (and demodulated) weight per sample."""
    s = mod.affine(style)
    outs = []
    for b in range(x.shape[0]):
        w = mod.weight * mod.weight_gain * s[b].reshape(1, -1, 1, 1)
        if mod.demodulate:
            w = w / torch.sqrt(w.square().sum(dim=(1, 2, 3), keepdim=True) + 1e-8)
        outs.append(F.conv2d(x[b : b + 1], w, padding=mod.padding))
    return torch.cat(outs)


class TestModulatedConv(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)
        self.x = torch.randn(3, 4, 8, 8)
        self.style = torch.randn(3, 6)

    def test_demodulated_matches_per_sample_weights(self):
        mod = ModulatedConv2d(4, 5, 3, style_dim=6, demodulate=True)
        with torch.no_grad():
            torch.testing.assert_close(mod(self.x, self.style), _per_sample_reference(mod, self.x, self.style))
            # demodulation: scaling a sample's style does not change its output
            s2 = self.style.clone()
            mod.affine.bias.zero_()
            torch.testing.assert_close(mod(self.x, 3.0 * s2), mod(self.x, s2), rtol=1e-4, atol=1e-5)

    def test_not_demodulated_matches_per_sample_weights(self):
        mod = ModulatedConv2d(4, 2, 1, style_dim=6, demodulate=False)
        with torch.no_grad():
            torch.testing.assert_close(mod(self.x, self.style), _per_sample_reference(mod, self.x, self.style))

    def test_affine_bias_starts_at_one_and_up_shape(self):
        mod = ModulatedConv2d(4, 5, 3, style_dim=6, up=2)
        torch.testing.assert_close(mod.affine.bias.detach(), torch.ones(4))
        self.assertEqual(tuple(mod(self.x, self.style).shape), (3, 5, 16, 16))
        with self.assertRaisesRegex(ValueError, "kernel_size must be odd, got 4"):
            ModulatedConv2d(4, 5, 4, style_dim=6)

    def test_style_conv_counts_and_activation(self):
        conv = StyleConv(128, 128, 384, up=2)
        self.assertEqual(n_params(conv), 384 * 128 + 128 + 128 * 128 * 9 + 128)  # 196,864
        small = StyleConv(4, 5, 6)
        with torch.no_grad():
            small.bias.fill_(0.1)
            ref = F.leaky_relu(small.conv(self.x, self.style) + 0.1, 0.2) * math.sqrt(2.0)
            torch.testing.assert_close(small(self.x, self.style), ref)


class TestToRGBAndDecoderBlock(unittest.TestCase):
    def test_to_rgb_skip_is_upsampled(self):
        torch.manual_seed(0)
        rgb = ToRGB(4, 3, 6)
        self.assertEqual(n_params(rgb), 6 * 4 + 4 + 3 * 4 + 3)
        x, style, prev = torch.randn(2, 4, 8, 8), torch.randn(2, 6), torch.randn(2, 3, 4, 4)
        with torch.no_grad():
            rgb.bias.fill_(0.5)
            base = rgb(x, style)
            torch.testing.assert_close(base, rgb.conv(x, style) + 0.5)
            torch.testing.assert_close(rgb(x, style, prev), base + upsample2d(prev, blur_filter()))
        with self.assertRaisesRegex(ValueError, "does not match"):
            rgb(x, style, torch.randn(2, 2, 4, 4))

    def test_dec_style_block(self):
        torch.manual_seed(0)
        block = DecStyleBlock(8, 8, 24, img_channels=2)
        x, style = torch.randn(2, 8, 8, 8), torch.randn(2, 24)
        skip, prev = torch.randn(2, 8, 16, 16), torch.randn(2, 2, 8, 8)
        feat, out = block(x, prev, style, skip)
        self.assertEqual((tuple(feat.shape), tuple(out.shape)), ((2, 8, 16, 16), (2, 2, 16, 16)))
        with torch.no_grad():
            ref_feat = block.conv1(block.conv0(x, style) + skip, style)
            torch.testing.assert_close(feat, ref_feat)
            torch.testing.assert_close(out, block.to_rgb(ref_feat, style, prev))
            _, first = block(x, None, style, skip)
            torch.testing.assert_close(first, block.to_rgb(ref_feat, style))
        with self.assertRaisesRegex(ValueError, "skip of shape"):
            block(x, prev, style, torch.randn(2, 8, 8, 8))


class TestMappingNet(unittest.TestCase):
    def test_default_parameter_count(self):
        with torch.device("meta"):
            self.assertEqual(n_params(MappingNet()), 2_101_248)

    def test_training_draws_and_tracks_average(self):
        torch.manual_seed(0)
        net = MappingNet(z_dim=16, w_dim=8, num_ws=3, num_layers=2).train()
        ws1 = net.sample(4)
        self.assertEqual(tuple(ws1.shape), (4, 3, 8))
        torch.testing.assert_close(ws1[:, 0], ws1[:, 2])  # broadcast copies
        # w_avg started at 0: one update gives (1 - beta) * batch mean
        torch.testing.assert_close(net.w_avg, 0.005 * ws1[:, 0].detach().mean(0))
        ws2 = net.sample(4)
        self.assertGreater(float((ws1 - ws2).abs().max()), 1e-3)  # a new z at every call
        avg_before = net.w_avg.clone()
        torch.testing.assert_close(net.w_avg, 0.995 * (0.005 * ws1[:, 0].mean(0)) + 0.005 * ws2[:, 0].mean(0))
        net.eval()
        a, b = net.average(2), net.average(2)
        torch.testing.assert_close(a, b)
        torch.testing.assert_close(a[1, 2], avg_before)
        net(torch.randn(5, 16))
        torch.testing.assert_close(net.w_avg, avg_before)  # no update outside training

    def test_second_moment_normalisation_and_errors(self):
        z = torch.randn(3, 10) * 7.0
        self.assertTrue(torch.allclose(normalize_2nd_moment(z).square().mean(1), torch.ones(3), atol=1e-5))
        with self.assertRaisesRegex(ValueError, r"expected z of shape \(B, 16\), got \(2, 8\)"):
            MappingNet(z_dim=16, w_dim=8)(torch.randn(2, 8))
        with self.assertRaisesRegex(ValueError, "w_avg_beta must be a number in"):
            MappingNet(w_avg_beta=1.5)


if __name__ == "__main__":
    unittest.main()
