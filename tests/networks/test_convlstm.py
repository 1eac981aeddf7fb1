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

"""Tests for monai_ext.networks.blocks.convlstm (docs/methods/msmo.md, "HConvLSTM decoder", ConvLSTM cell)."""

from __future__ import annotations

import math
import unittest

import torch
import torch.nn.functional as F
from torch import nn

from monai_ext.networks.blocks import MSMOConvLSTMCell


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def _scalar_cell() -> MSMOConvLSTMCell:
    """1 input and 1 hidden channel, 1×1 kernel: gate rows (i, f, o, g), columns (x, h_prev)."""
    cell = MSMOConvLSTMCell(2, 1, 1, kernel_size=1).double()
    with torch.no_grad():
        cell.conv.weight.copy_(
            torch.tensor([[0.5, -0.25], [1.0, 0.5], [-0.5, 0.75], [2.0, -1.0]], dtype=torch.float64).view(4, 2, 1, 1)
        )
        cell.conv.bias.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0], dtype=torch.float64))
    return cell


class TestGateMath(unittest.TestCase):
    def test_hand_computation_with_state(self):
        cell = _scalar_cell()
        xs, hs, cs = [0.8, -1.5], [0.4, 0.1], [-0.6, 2.0]
        x = torch.tensor(xs, dtype=torch.float64).view(1, 1, 1, 2)
        h_prev = torch.tensor(hs, dtype=torch.float64).view(1, 1, 1, 2)
        c_prev = torch.tensor(cs, dtype=torch.float64).view(1, 1, 1, 2)
        with torch.no_grad():
            h, c = cell(x, (h_prev, c_prev))
        for k in range(2):
            xv, hv, cv = xs[k], hs[k], cs[k]
            i = _sigmoid(0.5 * xv - 0.25 * hv + 0.1)
            f = _sigmoid(1.0 * xv + 0.5 * hv - 0.2)
            o = _sigmoid(-0.5 * xv + 0.75 * hv + 0.3)
            g = math.tanh(2.0 * xv - 1.0 * hv + 0.0)
            c_exp = f * cv + i * g
            h_exp = o * math.tanh(c_exp)
            self.assertAlmostEqual(float(c[0, 0, 0, k]), c_exp, places=12)
            self.assertAlmostEqual(float(h[0, 0, 0, k]), h_exp, places=12)
        # first pixel, spelled out: pre-activations i 0.4, f 0.8, o 0.2, g 1.2
        c0 = _sigmoid(0.8) * -0.6 + _sigmoid(0.4) * math.tanh(1.2)
        self.assertAlmostEqual(float(c[0, 0, 0, 0]), c0, places=12)
        self.assertAlmostEqual(float(h[0, 0, 0, 0]), _sigmoid(0.2) * math.tanh(c0), places=12)

    def test_hand_computation_zero_state(self):
        cell = _scalar_cell()
        with torch.no_grad():
            h, c = cell(torch.tensor([[[[0.8]]]], dtype=torch.float64))
        c_exp = _sigmoid(0.5 * 0.8 + 0.1) * math.tanh(2.0 * 0.8)
        self.assertAlmostEqual(float(c), c_exp, places=12)
        self.assertAlmostEqual(float(h), _sigmoid(-0.5 * 0.8 + 0.3) * math.tanh(c_exp), places=12)

    def test_matches_reference_single_conv_3x3(self):
        torch.manual_seed(0)
        cell = MSMOConvLSTMCell(2, 3, 4).double()
        x = torch.randn(2, 3, 6, 5, dtype=torch.float64)
        h0, c0 = torch.randn(2, 4, 6, 5, dtype=torch.float64), torch.randn(2, 4, 6, 5, dtype=torch.float64)
        for state in ((h0, c0), (torch.zeros_like(h0), torch.zeros_like(c0))):
            pre = F.conv2d(torch.cat([x, state[0]], 1), cell.conv.weight, cell.conv.bias, padding=1)
            i, f, o, g = pre.chunk(4, 1)
            c_ref = torch.sigmoid(f) * state[1] + torch.sigmoid(i) * torch.tanh(g)
            h_ref = torch.sigmoid(o) * torch.tanh(c_ref)
            h, c = cell(x, state)
            torch.testing.assert_close(h, h_ref, rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(c, c_ref, rtol=1e-12, atol=1e-12)
        # no state = zero state (the cheaper input-only convolution)
        h_none, c_none = cell(x)
        torch.testing.assert_close(h_none, h, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(c_none, c, rtol=1e-12, atol=1e-12)

    def test_three_dimensional(self):
        cell = MSMOConvLSTMCell(3, 2, 3)
        h, c = cell(torch.randn(1, 2, 4, 4, 4))
        h2, c2 = cell(torch.randn(1, 2, 4, 4, 4), (h, c))
        self.assertEqual(tuple(h2.shape), (1, 3, 4, 4, 4))
        self.assertEqual(tuple(c2.shape), (1, 3, 4, 4, 4))


class TestCellProperties(unittest.TestCase):
    def test_one_gate_convolution_and_count(self):
        with torch.device("meta"):
            cell = MSMOConvLSTMCell(2, 1024, 512)
        convs = [m for m in cell.modules() if isinstance(m, nn.Conv2d)]
        self.assertEqual(len(convs), 1)
        self.assertEqual(tuple(cell.conv.weight.shape), (2048, 1536, 3, 3))
        # docs/methods/msmo.md, "HConvLSTM decoder"
        self.assertEqual(sum(p.numel() for p in cell.parameters()), 28_313_600)

    def test_zero_state_follows_input_dtype_and_layout(self):
        cell = MSMOConvLSTMCell(2, 2, 3).double()
        x = torch.randn(2, 2, 5, 5, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
        h, c = cell.to(memory_format=torch.channels_last)(x)
        self.assertEqual((h.dtype, c.dtype), (torch.float64, torch.float64))
        self.assertTrue(h.is_contiguous(memory_format=torch.channels_last))

    def test_gradients_reach_input_and_state(self):
        cell = MSMOConvLSTMCell(2, 2, 3)
        x = torch.randn(1, 2, 4, 4, requires_grad=True)
        h0 = torch.randn(1, 3, 4, 4, requires_grad=True)
        c0 = torch.randn(1, 3, 4, 4, requires_grad=True)
        h, c = cell(x, (h0, c0))
        (h.sum() + c.sum()).backward()
        for t in (x, h0, c0, cell.conv.weight, cell.conv.bias):
            self.assertGreater(float(t.grad.abs().sum()), 0.0)

    def test_torchscript(self):
        torch.manual_seed(0)
        cell = MSMOConvLSTMCell(2, 2, 3)
        scripted = torch.jit.script(cell)
        x = torch.randn(1, 2, 4, 4)
        state = cell(x)
        for a, b in zip(scripted(x, state), cell(x, state)):
            torch.testing.assert_close(a, b)

    def test_bad_args_and_inputs(self):
        for args in ((1, 2, 3), (2, 0, 3), (2, 2, 0), (2, 2, True)):
            with self.assertRaises(ValueError, msg=str(args)):
                MSMOConvLSTMCell(*args)
        with self.assertRaisesRegex(ValueError, "kernel_size"):
            MSMOConvLSTMCell(2, 2, 3, kernel_size=2)
        cell = MSMOConvLSTMCell(2, 2, 3)
        with self.assertRaisesRegex(ValueError, "MSMOConvLSTMCell: expected input"):
            cell(torch.randn(1, 3, 4, 4))
        with self.assertRaisesRegex(ValueError, "MSMOConvLSTMCell: state"):
            cell(torch.randn(1, 2, 4, 4), (torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 2)))


if __name__ == "__main__":
    unittest.main()
