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

"""Tests for monai_ext.networks.nets.sabr_generator (SABR-Net generator B)."""

from __future__ import annotations

import unittest

import torch

from monai_ext.networks.nets import SABRGenerator
from tests.fixtures import n_params

_NARROW = {"img_size": 64, "dim": 16, "num_heads": 2, "z_dim": 32, "w_dim": 32}



def _inputs(b: int = 2):
    torch.manual_seed(1)
    x = torch.rand(b, 3, 64, 64) * 2 - 1
    mask = torch.ones(b, 1, 64, 64)
    mask[:, :, 10:40, 20:50] = 0
    return x, mask


class TestParameterCounts(unittest.TestCase):
    def test_default_counts(self):
        with torch.device("meta"):
            g2, g4 = SABRGenerator(), SABRGenerator(out_channels=4)
        self.assertEqual(n_params(g2), 8_498_698)
        self.assertEqual(n_params(g4), 8_499_214)
        self.assertEqual(n_params(g2.encoder) + n_params(g2.up_stages) + n_params(g2.down_conv), 4_525_440)
        self.assertEqual(n_params(g2.dec_seg), 886_532)
        self.assertEqual(n_params(g2.dec_image), 886_790)
        self.assertEqual(n_params(g2.to_style) + n_params(g2.ws_style), 98_688)
        self.assertEqual(n_params(g2.mapping), 2_101_248)
        self.assertEqual(len(g2.down_conv), 5)  # 4 stride-2 convs (16 -> 1) + global average pooling
        self.assertEqual(g2.style_dim, 384)


class TestSABRGenerator(unittest.TestCase):
    def test_shapes_and_latents(self):
        torch.manual_seed(0)
        g = SABRGenerator(**_NARROW, out_channels=3)
        x, mask = _inputs()
        with torch.no_grad():
            image, seg, feats = g(x, mask)
            self.assertEqual(
                (tuple(image.shape), tuple(seg.shape), tuple(feats.shape)),
                ((2, 3, 64, 64), (2, 3, 64, 64), (2, 16, 64, 64)),
            )
            # training: z is drawn at every call -> different outputs; fixed ws -> identical outputs
            self.assertGreater(float((g(x, mask)[0] - image).abs().max()), 1e-4)
            ws = g.sample_ws(2)
            torch.testing.assert_close(g(x, mask, ws)[1], g(x, mask, ws)[1])
            # evaluation: the tracked average w, deterministic
            g.eval()
            torch.testing.assert_close(g.sample_ws(2), g.mapping.average(2))
            a, b = g(x, mask), g(x, mask)
            for u, v in zip(a, b):
                torch.testing.assert_close(u, v)
            torch.testing.assert_close(a[0], g(x, mask, g.mapping.average(2))[0])

    def test_u_shaped_skips_and_style(self):
        torch.manual_seed(0)
        g = SABRGenerator(**_NARROW).eval()
        seen = {}
        g.encoder.register_forward_hook(lambda m, a, out: seen.__setitem__("enc", out))
        g.up_stages[-1].register_forward_hook(lambda m, a, out: seen.__setitem__("up", out[0]))
        g.dec_image.register_forward_pre_hook(lambda m, args: seen.__setitem__("dec", args))
        x, mask = _inputs()
        with torch.no_grad():
            g(x, mask)
        enc = seen["enc"]
        h, style, skips = seen["dec"]
        torch.testing.assert_close(h, seen["up"] + enc[3])  # stage 4 output + stage 0 output (64 px -> 16^2)
        self.assertEqual(tuple(style.shape), (2, 48))  # cat[gs (2 dim), ws (dim)]
        self.assertIs(skips[0], enc[1])  # enc_conv[0] (32^2 here, 128^2 at 256 px)
        self.assertIs(skips[1], enc[0])  # conv_first

    def test_hole_content_is_ignored(self):
        torch.manual_seed(0)
        g = SABRGenerator(**_NARROW).eval()
        x, mask = _inputs()
        x2 = torch.where(mask > 0, x, torch.rand_like(x))
        with torch.no_grad():
            for a, b in zip(g(x, mask), g(x2, mask)):
                torch.testing.assert_close(a, b)

    def test_gradients_and_path_length_double_backward(self):
        torch.manual_seed(0)
        g = SABRGenerator(**_NARROW)
        x, mask = _inputs()
        image, seg, _ = g(x, mask)
        (image.square().mean() + seg.square().mean()).backward()
        no_grad = [n for n, p in g.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
        self.assertEqual(no_grad, [])
        g.zero_grad()
        ws = g.sample_ws(2).detach().requires_grad_(True)
        image = g(x, mask, ws)[0]
        (grad,) = torch.autograd.grad((image * torch.randn_like(image)).sum(), ws, create_graph=True)
        grad.square().sum(2).mean(1).sqrt().mean().backward()  # path-length penalty
        self.assertGreater(float(g.ws_style.weight.grad.abs().sum()), 0.0)

    def test_bad_arguments_and_inputs(self):
        for kwargs in ({"img_size": 72}, {"depths": (2, 3, 4, 3)}, {"num_downsamples": 0}, {"spatial_dims": 1},
                       {"out_channels": 0}, {"window_sizes": (8, 16, 16, 16)}):
            with self.assertRaises(ValueError, msg=str(kwargs)):
                SABRGenerator(**{**_NARROW, **kwargs})
        g = SABRGenerator(**_NARROW)
        x, mask = _inputs(1)
        with self.assertRaisesRegex(ValueError, "expected a 64x64 input \\(img_size\\), got 32x32"):
            g(torch.rand(1, 3, 32, 32))
        with self.assertRaisesRegex(ValueError, r"ws must have shape \(1, 10, 32\), got \(1, 32\)"):
            g(x, mask, torch.randn(1, 32))


if __name__ == "__main__":
    unittest.main()
