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

"""Tests for monai_ext.networks.blocks.dense_gradient."""

from __future__ import annotations

import io
import unittest

import torch
from torch import nn

from monai_ext.networks.blocks.dense_gradient import dense_gradient

CL = torch.channels_last


def _cat_gradient_seen_by(a: torch.Tensor, wrap: bool) -> torch.Tensor:
    """The gradient that reaches ``a`` through ``cat([a, b])`` (optionally through dense_gradient)."""
    seen = []
    a.register_hook(seen.append)
    b = torch.randn(2, 5, 4, 6, dtype=a.dtype).contiguous(memory_format=CL)
    y = torch.cat([dense_gradient(a) if wrap else a, b], dim=1)
    weight = torch.arange(y.numel(), dtype=a.dtype).reshape(y.shape).contiguous(memory_format=CL)
    (y * weight).sum().backward()
    return seen[0]


class TestDenseGradient(unittest.TestCase):
    def test_channel_slice_gradient_becomes_dense_channels_last(self):
        x = torch.randn(2, 3, 4, 6, dtype=torch.float64).contiguous(memory_format=CL)
        plain = _cat_gradient_seen_by(x.clone().requires_grad_(), wrap=False)
        dense = _cat_gradient_seen_by(x.clone().requires_grad_(), wrap=True)
        # without it the gradient is a strided view (channel stride 1, pixel stride 8 = all channels of the cat)
        self.assertFalse(plain.is_contiguous(memory_format=CL))
        self.assertEqual(plain.stride(), (192, 1, 48, 8))
        self.assertTrue(dense.is_contiguous(memory_format=CL))
        self.assertEqual(dense.stride(), (72, 1, 18, 3))
        torch.testing.assert_close(dense, plain, rtol=0, atol=0)
        # the values: weight[n, c, h, w] of the first 3 channels of the (2, 8, 4, 6) cat
        expected = torch.arange(2 * 8 * 4 * 6, dtype=torch.float64).reshape(2, 8, 4, 6)[:, :3]
        torch.testing.assert_close(dense, expected, rtol=0, atol=0)

    def test_forward_is_the_identity(self):
        x = torch.randn(2, 3, 4, 4).contiguous(memory_format=CL).requires_grad_()
        y = dense_gradient(x)
        self.assertIsNot(y, x)
        self.assertTrue(torch.equal(y, x))
        self.assertEqual(y.stride(), x.stride())

    def test_one_channel_map_keeps_its_strides(self):
        # a one-channel channels-last map (the HConvLSTM head) stays channels-last, so the concatenated logits do
        head = nn.Conv2d(3, 1, 3, padding=1).to(memory_format=CL)
        x = head(torch.randn(2, 3, 4, 4).contiguous(memory_format=CL))
        self.assertEqual(x.stride(), (16, 1, 4, 1))
        y = dense_gradient(x)
        self.assertEqual(y.stride(), x.stride())
        self.assertTrue(torch.cat([y, dense_gradient(x * 2)], dim=1).is_contiguous(memory_format=CL))

    def test_no_op_without_autograd_or_channels_last(self):
        x = torch.randn(2, 3, 4, 4).contiguous(memory_format=CL)
        self.assertIs(dense_gradient(x), x)  # needs no gradient
        w = x.clone().requires_grad_()
        with torch.no_grad():
            self.assertIs(dense_gradient(w), w)
        with torch.inference_mode():
            self.assertIs(dense_gradient(w), w)
        nchw = torch.randn(2, 3, 4, 4, requires_grad=True)
        self.assertIs(dense_gradient(nchw), nchw)
        flat = torch.randn(5, 3, requires_grad=True)
        self.assertIs(dense_gradient(flat), flat)

    def test_torchscript_compiles_and_skips_it(self):
        class Gate(nn.Module):
            def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
                return torch.cat([dense_gradient(a), dense_gradient(b)], dim=1)

        scripted = torch.jit.script(Gate())
        buffer = io.BytesIO()
        torch.jit.save(scripted, buffer)
        buffer.seek(0)
        loaded = torch.jit.load(buffer)
        a, b = torch.randn(1, 2, 3, 3), torch.randn(1, 1, 3, 3)
        self.assertTrue(torch.equal(loaded(a, b), torch.cat([a, b], dim=1)))


if __name__ == "__main__":
    unittest.main()
