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

"""Tests for monai_ext.networks.nets.cct_unet (SSL4MIS U-Net and UNet_CCT)."""

from __future__ import annotations

import io
import unittest

import torch
from parameterized import parameterized
from torch import nn

from monai_ext.networks.blocks import DropoutPerturbation, FeatureDropoutPerturbation, FeatureNoisePerturbation
from monai_ext.networks.nets import CCTUNet, USUNet
from tests.fixtures import n_params


def _eval_norm_and_dropout(m: nn.Module) -> None:
    """Training mode, but BN and nn.Dropout layers in eval mode (the perturbations stay active)."""
    m.train()
    for mod in m.modules():
        if isinstance(mod, (nn.BatchNorm2d, nn.Dropout)):
            mod.eval()


class TestParameterCounts(unittest.TestCase):
    def test_counts(self):
        # docs/methods/evaluation.md, "Baselines": 1.81 M and 3.71 M; exact values checked against SSL4MIS 06df6047 with
        # 2 classes
        unet, cct = USUNet(in_channels=1, out_channels=2), CCTUNet(in_channels=1, out_channels=2)
        self.assertEqual(n_params(unet), 1_813_474)
        self.assertEqual(n_params(cct), 3_712_504)
        self.assertEqual(round(n_params(unet) / 1e6, 2), 1.81)
        self.assertEqual(round(n_params(cct) / 1e6, 2), 3.71)
        # the 3x3 head has 16*9 + 1 parameters per extra class
        self.assertEqual(n_params(USUNet(out_channels=4)) - n_params(unet), 2 * 145)


class TestUSUNet(unittest.TestCase):
    @parameterized.expand([(1, 2), (3, 4)])
    def test_shapes(self, in_channels, out_channels):
        net = USUNet(in_channels=in_channels, out_channels=out_channels).eval()
        with torch.no_grad():
            y = net(torch.rand(2, in_channels, 64, 64))
        self.assertEqual(tuple(y.shape), (2, out_channels, 64, 64))

    def test_bad_input_and_args(self):
        net = USUNet().eval()
        with self.assertRaisesRegex(ValueError, "USUNet: expected input of shape"):
            net(torch.rand(1, 3, 64, 64))
        with self.assertRaisesRegex(ValueError, "divisible by 16"):
            net(torch.rand(1, 1, 60, 64))
        with self.assertRaisesRegex(ValueError, "spatial_dims=2"):
            USUNet(spatial_dims=3)
        with self.assertRaises(ValueError):
            USUNet(features=(16, 32, 64, 128))
        with self.assertRaises(ValueError):
            USUNet(dropout=(0.05, 0.1, 0.2, 0.3, 1.0))
        with self.assertRaises(ValueError):
            USUNet(out_channels=0)


class TestCCTUNet(unittest.TestCase):
    @parameterized.expand([(1, 2), (1, 4)])  # one and three structures, softmax with background
    def test_train_and_eval_outputs(self, in_channels, out_channels):
        torch.manual_seed(0)
        net = CCTUNet(in_channels=in_channels, out_channels=out_channels)
        x = torch.rand(2, in_channels, 64, 64)
        net.train()
        outs = net(x)
        self.assertIsInstance(outs, tuple)
        self.assertEqual(len(outs), 4)
        for o in outs:
            self.assertEqual(tuple(o.shape), (2, out_channels, 64, 64))
        net.eval()
        with torch.no_grad():
            y = net(x)
        self.assertIsInstance(y, torch.Tensor)
        self.assertEqual(tuple(y.shape), (2, out_channels, 64, 64))

    def test_perturbation_order(self):
        net = CCTUNet()
        self.assertIsInstance(net.aux_decoder1.perturbation, FeatureNoisePerturbation)
        self.assertIsInstance(net.aux_decoder2.perturbation, DropoutPerturbation)
        self.assertEqual((net.aux_decoder2.perturbation.p, net.aux_decoder2.perturbation.mode), (0.3, "element"))
        self.assertIsInstance(net.aux_decoder3.perturbation, FeatureDropoutPerturbation)

    def test_eval_equals_clean_main_output(self):
        torch.manual_seed(0)
        net = CCTUNet()
        x = torch.rand(2, 1, 64, 64)
        _eval_norm_and_dropout(net)
        with torch.no_grad():
            main, aux1, aux2, aux3 = net(x)
            net.eval()
            y = net(x)
            # an auxiliary decoder with the main decoder's weights differs only by its perturbation
            net.aux_decoder1.decoder.load_state_dict(net.main_decoder.state_dict())
            _eval_norm_and_dropout(net)
            aux1_same_weights = net(x)[1]
        torch.testing.assert_close(y, main, rtol=0, atol=0)
        self.assertFalse(torch.allclose(aux1_same_weights, main, atol=1e-4))

    def test_forward_all_heads_runs_every_decoder_on_clean_features(self):
        torch.manual_seed(0)
        net = CCTUNet(features=(4, 8, 16, 32, 64))
        x = torch.rand(2, 1, 32, 32)
        with self.assertRaisesRegex(RuntimeError, "evaluation mode only"):
            net.forward_all_heads(x)
        net.eval()
        with torch.no_grad():
            main, aux1, aux2, aux3 = net.forward_all_heads(x)
            torch.testing.assert_close(main, net(x), rtol=0, atol=0)
            features = net.encoder(x)
            for head, branch in zip((aux1, aux2, aux3), (net.aux_decoder1, net.aux_decoder2, net.aux_decoder3)):
                torch.testing.assert_close(head, branch.decoder(features), rtol=0, atol=0)
                self.assertEqual(tuple(head.shape), (2, 2, 32, 32))
            # same weights as the main decoder: the same output (no perturbation on the auxiliary path)
            net.aux_decoder3.decoder.load_state_dict(net.main_decoder.state_dict())
            torch.testing.assert_close(net.forward_all_heads(x)[3], main, rtol=0, atol=0)
        self.assertFalse(torch.allclose(aux1, main))

    def test_gradients_reach_all_parts(self):
        net = CCTUNet().train()
        sum(o.mean() for o in net(torch.rand(2, 1, 32, 32))).backward()
        for name in ("encoder", "main_decoder", "aux_decoder1", "aux_decoder2", "aux_decoder3"):
            grads = [p.grad for p in getattr(net, name).parameters()]
            self.assertTrue(all(g is not None for g in grads), name)

    def test_torchscript_round_trip(self):
        torch.manual_seed(0)
        net = CCTUNet().eval()
        x = torch.rand(1, 1, 64, 64)
        buf = io.BytesIO()
        torch.jit.save(torch.jit.script(net), buf)
        buf.seek(0)
        loaded = torch.jit.load(buf).eval()
        # the profiling executor's warm-up runs are slow on CPU and test nothing here
        with torch.no_grad(), torch.jit.optimized_execution(False):
            torch.testing.assert_close(loaded(x), net(x))
            with self.assertRaisesRegex(Exception, "CCTUNet: expected input"):
                loaded(torch.rand(1, 2, 64, 64))

    def test_trace_eval(self):
        net = CCTUNet(out_channels=4).eval()
        x = torch.rand(1, 1, 32, 32)
        with torch.no_grad():
            traced = torch.jit.trace(net, x)
            torch.testing.assert_close(traced(x), net(x))


if __name__ == "__main__":
    unittest.main()
