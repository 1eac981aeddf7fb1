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

"""Tests for monai_ext.networks.blocks.stylegan_ops (plain-PyTorch StyleGAN2 / MAT operations)."""

from __future__ import annotations

import math
import unittest

import torch
import torch.nn.functional as F

from monai_ext.networks.blocks import (
    Conv2dLayer,
    FullyConnectedLayer,
    MinibatchStdDev,
    bias_act,
    blur_filter,
    conv2d_resample,
    upfirdn2d,
    upsample2d,
)


class TestFilters(unittest.TestCase):
    def test_blur_filter(self):
        f = blur_filter()
        expected = torch.tensor([1.0, 3.0, 3.0, 1.0])
        torch.testing.assert_close(f, torch.outer(expected, expected) / 64.0)
        self.assertAlmostEqual(float(f.sum()), 1.0, places=6)

    def test_upsample_matches_transposed_convolution(self):
        # independent formulation: zero insertion + [1,3,3,1] filter = stride-2 transposed conv with 4 * f, offset 1
        torch.manual_seed(0)
        x = torch.randn(2, 3, 8, 8)
        f = blur_filter()
        ref = 4.0 * F.conv_transpose2d(x, f[None, None].expand(3, 1, 4, 4), stride=2, groups=3)[..., 1:17, 1:17]
        torch.testing.assert_close(upsample2d(x, f), ref)

    def test_constant_image_keeps_its_value(self):
        f = blur_filter()
        x = torch.full((1, 2, 8, 8), 3.0)
        up = upsample2d(x, f)
        self.assertEqual(tuple(up.shape), (1, 2, 16, 16))
        torch.testing.assert_close(up[..., 2:-2, 2:-2], torch.full((1, 2, 12, 12), 3.0))
        down = upfirdn2d(x, f, down=2, padding=(1, 1, 1, 1))
        self.assertEqual(tuple(down.shape), (1, 2, 4, 4))
        torch.testing.assert_close(down[..., 1:-1, 1:-1], torch.full((1, 2, 2, 2), 3.0))

    def test_negative_padding_crops(self):
        x = torch.arange(36.0).reshape(1, 1, 6, 6)
        one = torch.ones(1, 1)
        torch.testing.assert_close(upfirdn2d(x, one, padding=(-1, -2, -1, 0)), x[..., 1:, 1:4])


class TestConv2dResample(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)
        self.x = torch.randn(2, 3, 16, 16)
        self.w = torch.randn(4, 3, 3, 3)
        self.f = blur_filter()

    def test_up_is_blurred_upsampling_then_convolution(self):
        up = conv2d_resample(self.x, self.w, self.f, up=2, padding=1)
        self.assertEqual(tuple(up.shape), (2, 4, 32, 32))
        # transposed conv then blur = blur-upsample then (true) convolution, away from the zero-padded border
        ref = F.conv2d(upsample2d(self.x, self.f), self.w.flip([2, 3]), padding=1)
        torch.testing.assert_close(up[..., 2:-2, 2:-2], ref[..., 2:-2, 2:-2], rtol=1e-5, atol=1e-5)

    def test_down_is_convolution_then_blurred_decimation(self):
        down = conv2d_resample(self.x, self.w, self.f, down=2, padding=1)
        self.assertEqual(tuple(down.shape), (2, 4, 8, 8))
        ref = upfirdn2d(F.conv2d(self.x, self.w, padding=1), self.f, down=2, padding=(1, 2, 1, 2))
        torch.testing.assert_close(down[..., 1:-1, 1:-1], ref[..., 1:-1, 1:-1], rtol=1e-5, atol=1e-5)

    def test_one_by_one_down_shape(self):
        self.assertEqual(tuple(conv2d_resample(self.x, self.w[:, :, :1, :1], self.f, down=2).shape), (2, 4, 8, 8))

    def test_bad_arguments(self):
        with self.assertRaisesRegex(ValueError, "up and down together"):
            conv2d_resample(self.x, self.w, self.f, up=2, down=2)
        with self.assertRaisesRegex(ValueError, "needs a filter"):
            conv2d_resample(self.x, self.w, None, down=2)


class TestLayers(unittest.TestCase):
    def test_bias_act(self):
        x = torch.tensor([[-1.0, 2.0]])
        out = bias_act(x, torch.tensor([0.5, -0.5]), "lrelu")
        torch.testing.assert_close(out, torch.tensor([[-0.5 * 0.2 * math.sqrt(2.0), 1.5 * math.sqrt(2.0)]]))
        torch.testing.assert_close(bias_act(x, None, "linear"), x)
        with self.assertRaisesRegex(ValueError, "'relu6'"):
            bias_act(x, None, "relu6")

    def test_conv_equalised_learning_rate(self):
        layer = Conv2dLayer(2, 1, 3, activation="lrelu")
        with torch.no_grad():
            layer.weight.fill_(1.0)
            layer.bias.fill_(0.25)
        with torch.no_grad():
            out = layer(torch.ones(1, 2, 5, 5))
        # interior: sum of 18 ones times 1/sqrt(2 * 9), + bias, times the lrelu gain sqrt(2)
        self.assertAlmostEqual(float(out[0, 0, 2, 2]), (18 / math.sqrt(18) + 0.25) * math.sqrt(2), places=5)
        self.assertAlmostEqual(float(out[0, 0, 0, 0]), (8 / math.sqrt(18) + 0.25) * math.sqrt(2), places=5)
        self.assertEqual(float(Conv2dLayer(3, 4, 3).bias.detach().abs().sum()), 0.0)

    def test_conv_resampling_shapes(self):
        x = torch.randn(1, 4, 16, 16)
        self.assertEqual(tuple(Conv2dLayer(4, 6, 3, down=2)(x).shape), (1, 6, 8, 8))
        self.assertEqual(tuple(Conv2dLayer(4, 6, 3, up=2)(x).shape), (1, 6, 32, 32))
        self.assertEqual(tuple(Conv2dLayer(4, 6, 1, bias=False, down=2)(x).shape), (1, 6, 8, 8))

    def test_fully_connected_lr_multiplier(self):
        torch.manual_seed(0)
        fc = FullyConnectedLayer(400, 300, lr_multiplier=0.01, bias_init=2.0)
        self.assertAlmostEqual(float(fc.weight.std()), 100.0, delta=2.0)  # N(0, 1) / lr_multiplier
        x = torch.randn(8, 400)
        expected = x @ (fc.weight * 0.01 / 20.0).t() + fc.bias * 0.01
        torch.testing.assert_close(fc(x), expected)
        self.assertAlmostEqual(float(fc(torch.zeros(1, 400))[0, 0]), 0.02, places=6)
        # the initial function is that of N(0, 1/in) weights whatever the multiplier
        self.assertAlmostEqual(float((fc(x) - 0.02).std()), 1.0, delta=0.1)
        lrelu = FullyConnectedLayer(4, 3, activation="lrelu")
        y = torch.randn(2, 5, 4)
        torch.testing.assert_close(lrelu(y), F.leaky_relu(F.linear(y, lrelu.weight / 2.0), 0.2) * math.sqrt(2))

    def test_bad_arguments(self):
        for kwargs in ({"kernel_size": 2}, {"activation": "gelu"}, {"up": 3}, {"up": 2, "down": 2}, {"in_channels": 0}):
            args = {"in_channels": 2, "out_channels": 2, "kernel_size": 3, **kwargs}
            with self.assertRaises(ValueError, msg=str(kwargs)):
                Conv2dLayer(**args)
        with self.assertRaisesRegex(ValueError, "lr_multiplier must be a positive number, got 0"):
            FullyConnectedLayer(2, 2, lr_multiplier=0)


class TestMinibatchStdDev(unittest.TestCase):
    def test_group_of_four(self):
        vals = torch.tensor([1.0, 2.0, 4.0, 7.0])
        x = vals.reshape(4, 1, 1, 1).expand(4, 3, 2, 2).contiguous()
        out = MinibatchStdDev(4, 1)(x)
        self.assertEqual(tuple(out.shape), (4, 4, 2, 2))
        expected = math.sqrt(float(vals.var(unbiased=False)) + 1e-8)
        torch.testing.assert_close(out[:, 3], torch.full((4, 2, 2), expected))
        torch.testing.assert_close(out[:, :3], x)

    def test_batch_not_divisible_by_group_size(self):
        # B = 6 -> groups of 3: samples {0, 2, 4} and {1, 3, 5}
        vals = torch.tensor([0.0, 10.0, 3.0, 10.0, 6.0, 16.0])
        x = vals.reshape(6, 1, 1, 1).expand(6, 2, 1, 1).contiguous()
        out = MinibatchStdDev(4, 1)(x)[:, 2, 0, 0]
        a = math.sqrt(float(torch.tensor([0.0, 3.0, 6.0]).var(unbiased=False)) + 1e-8)
        b = math.sqrt(float(torch.tensor([10.0, 10.0, 16.0]).var(unbiased=False)) + 1e-8)
        torch.testing.assert_close(out, torch.tensor([a, b, a, b, a, b]))
        self.assertAlmostEqual(float(MinibatchStdDev()(torch.randn(1, 2, 4, 4))[0, 2, 0, 0]), 1e-4, places=8)


if __name__ == "__main__":
    unittest.main()
