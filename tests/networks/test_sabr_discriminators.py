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

"""Tests for monai_ext.networks.nets.sabr_discriminators (D_img and the three-scale D_seg)."""

from __future__ import annotations

import math
import unittest

import torch
import torch.nn.functional as F
from torch.nn.utils import parametrize

from monai_ext.networks.nets import SABRDiscriminatorResBlock, SABRImageDiscriminator, SABRMaskDiscriminator
from tests.fixtures import n_params

_NARROW_IMG = {"img_size": 64, "channel_base": 2048, "channel_max": 64}
_NARROW_SEG = {"base_channels": 8, "max_channels": 64}



class TestImageDiscriminator(unittest.TestCase):
    def test_default_counts(self):
        with torch.device("meta"):
            d = SABRImageDiscriminator()
            block = SABRDiscriminatorResBlock(128, 256)
        self.assertEqual(n_params(d), 28_864_129)
        self.assertEqual(len(d.blocks), 6)
        self.assertEqual(n_params(block), 147_584 + 295_168 + 32_768)
        self.assertEqual(d.from_rgb.out_channels, 128)
        self.assertEqual([b.conv2.out_channels for b in d.blocks], [256, 512, 512, 512, 512, 512])

    def test_forward_and_residual_block(self):
        torch.manual_seed(0)
        d = SABRImageDiscriminator(**_NARROW_IMG)
        self.assertEqual([b.conv2.out_channels for b in d.blocks], [64, 64, 64, 64])  # 2048 / res, capped at 64
        self.assertEqual(tuple(d(torch.randn(3, 3, 64, 64)).shape), (3, 1))  # batch 3: groups of 3
        block = d.blocks[0]
        x = torch.randn(2, 32, 64, 64)
        with torch.no_grad():
            torch.testing.assert_close(block(x), (block.conv2(block.conv1(x)) + block.skip(x)) / math.sqrt(2.0))
        self.assertIsNone(block.skip.bias)

    def test_r1_gradient_penalty(self):
        d = SABRImageDiscriminator(**_NARROW_IMG)
        real = torch.randn(2, 3, 64, 64, requires_grad=True)
        (grad,) = torch.autograd.grad(d(real).sum(), real, create_graph=True)
        grad.square().sum().backward()
        self.assertGreater(float(d.from_rgb.weight.grad.abs().sum()), 0.0)

    def test_bad_arguments(self):
        for kwargs in ({"img_size": 48}, {"img_size": 4}, {"channel_base": 0}, {"spatial_dims": 3}):
            with self.assertRaises(ValueError, msg=str(kwargs)):
                SABRImageDiscriminator(**{**_NARROW_IMG, **kwargs})
        with self.assertRaisesRegex(ValueError, "expected a 64x64 input"):
            SABRImageDiscriminator(**_NARROW_IMG)(torch.randn(1, 3, 32, 32))


class TestMaskDiscriminator(unittest.TestCase):
    def test_default_count_and_spectral_norm(self):
        with torch.device("meta"):
            d = SABRMaskDiscriminator()
        self.assertEqual(n_params(d), 8_297_667)
        self.assertEqual(n_params(d.scales[0]), 5_184 + 131_072 + 524_288 + 2_097_152 + 8_193)
        for scale in d.scales:
            convs = [layer[0] for layer in scale.layers]
            spectral = [parametrize.is_parametrized(c, "weight") for c in convs]
            self.assertEqual(spectral, [False, True, True, True, False])
            self.assertEqual([c.bias is None for c in convs], [False, True, True, True, False])
            self.assertEqual([c.stride[0] for c in convs], [2, 2, 2, 1, 1])
            self.assertTrue(all(c.padding == (2, 2) and c.kernel_size == (4, 4) for c in convs))
            self.assertFalse(scale.layers[1][1].affine)

    def test_outputs_per_scale(self):
        torch.manual_seed(0)
        d = SABRMaskDiscriminator(**_NARROW_SEG)
        inputs = []
        d.scales[1].register_forward_pre_hook(lambda m, args: inputs.append(args[0]))
        x = torch.randn(2, 5, 64, 64)
        out = d(x)
        self.assertEqual(len(out), 3)
        sizes = [[t.shape[-1] for t in scale] for scale in out]
        self.assertEqual(sizes, [[33, 17, 9, 10, 11], [17, 9, 5, 6, 7], [9, 5, 3, 4, 5]])
        self.assertEqual([t.shape[1] for t in out[0]], [8, 16, 32, 64, 1])
        torch.testing.assert_close(inputs[0], F.avg_pool2d(x, 3, 2, 1, count_include_pad=False))

    def test_r1_and_errors(self):
        d = SABRMaskDiscriminator(**_NARROW_SEG)
        real = torch.rand(2, 5, 32, 32, requires_grad=True)
        score = sum(scale[-1].mean() for scale in d(real))
        (grad,) = torch.autograd.grad(score, real, create_graph=True)
        grad.square().sum().backward()
        self.assertGreater(float(d.scales[0].layers[0][0].weight.grad.abs().sum()), 0.0)
        with self.assertRaisesRegex(ValueError, r"expected input of shape \(B, 5, H, W\), got \(2, 4, 32, 32\)"):
            d(torch.rand(2, 4, 32, 32))
        with self.assertRaisesRegex(ValueError, "num_layers must be an int >= 2, got 1"):
            SABRMaskDiscriminator(num_layers=1)


if __name__ == "__main__":
    unittest.main()
