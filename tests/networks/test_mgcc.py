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

"""Tests for monai_ext.networks.nets.mgcc (docs/methods/mgcc.md, "Network" and "Parameter counts")."""

from __future__ import annotations

import io
import unittest

import torch
from parameterized import parameterized
from torch import nn

from monai_ext.networks.blocks import DropoutPerturbation, FeatureDropoutPerturbation, FeatureNoisePerturbation
from monai_ext.networks.nets import MGCCDecoder, MGCCNet
from tests.fixtures import n_params

from .checkpointing import assert_checkpointing_matches
from .memory_format import assert_channels_last_training_matches, bfloat16_training_curves


def _bn_eval(m: nn.Module) -> None:
    m.train()
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.eval()


class _Capture:
    """Forward pre-hook recording the feature list a decoder receives."""

    def __init__(self, module: nn.Module) -> None:
        self.features: list[torch.Tensor] = []
        module.register_forward_pre_hook(self)

    def __call__(self, module, args):
        self.features = list(args[0])


class TestParameterCounts(unittest.TestCase):
    def test_full_size_counts(self):
        with torch.device("meta"):  # no memory, no forward pass
            net = MGCCNet()
        self.assertEqual(n_params(net), 122_182_980)
        self.assertEqual(net.parameter_count(), 122_182_980)
        self.assertEqual(net.parameter_count(inference=True), 52_142_145)
        self.assertEqual(n_params(net.encoder), 18_851_136)
        self.assertEqual(sum(n_params(m) for m in (net.convmixer1, net.convmixer2, net.convmixer3)), 9_944_064)
        for dec in (net.main_decoder, net.aux_decoder1, net.aux_decoder2, net.aux_decoder3):
            self.assertEqual(n_params(dec), 23_346_945)
        self.assertEqual(sum(n_params(s.gate) for s in net.main_decoder.stages), 7_671_040)

    def test_decoder_multi_channel_count(self):
        with torch.device("meta"):
            dec = MGCCDecoder(2, 3)
        self.assertEqual(n_params(dec), 23_347_075)  # docs/methods/msmo.md, "Parameter counts", C = 3


class TestMGCCNet(unittest.TestCase):
    @parameterized.expand([(1,), (3,)])
    def test_shapes_train_and_eval(self, out_channels):
        torch.manual_seed(0)
        net = MGCCNet(dim_mult=1, out_channels=out_channels).train()
        x = torch.rand(2, 3, 64, 64)
        outs = net(x)
        self.assertIsInstance(outs, tuple)
        self.assertEqual(len(outs), 4)
        for o in outs:
            self.assertEqual(tuple(o.shape), (2, out_channels, 64, 64))
        with torch.no_grad():
            y = net.eval()(x)
        self.assertIsInstance(y, torch.Tensor)
        self.assertEqual(tuple(y.shape), (2, out_channels, 64, 64))

    def test_perturbation_order(self):
        net = MGCCNet(dim_mult=1)
        self.assertIsInstance(net.aux_decoder1.perturbation, FeatureDropoutPerturbation)
        self.assertIsInstance(net.aux_decoder2.perturbation, DropoutPerturbation)
        self.assertEqual((net.aux_decoder2.perturbation.p, net.aux_decoder2.perturbation.mode), (0.3, "element"))
        self.assertIsInstance(net.aux_decoder3.perturbation, FeatureNoisePerturbation)
        self.assertEqual(net.aux_decoder3.perturbation.uniform_range, 0.3)

    def test_taps_and_perturbations(self):
        torch.manual_seed(0)
        net = MGCCNet(dim_mult=1).train()
        enc_out, mix = [], {}
        net.encoder.register_forward_hook(lambda m, a, o: enc_out.extend(o))
        for name in ("convmixer1", "convmixer2", "convmixer3"):
            getattr(net, name).register_forward_hook(lambda m, a, o, n=name: mix.__setitem__(n, o))
        main_in = _Capture(net.main_decoder)
        branch_in = [_Capture(getattr(net, f"aux_decoder{i}")) for i in (1, 2, 3)]
        dec_in = [_Capture(getattr(net, f"aux_decoder{i}").decoder) for i in (1, 2, 3)]
        with torch.no_grad():
            net(torch.rand(2, 3, 64, 64))
        # taps after 0, 3, 6 and 9 ConvMixer layers; skips are the encoder tensors themselves (no copies)
        taps = [enc_out[4], mix["convmixer1"], mix["convmixer2"]]
        self.assertIs(main_in.features[4], mix["convmixer3"])
        for cap, tap in zip(branch_in + [main_in], taps + [mix["convmixer3"]]):
            self.assertIs(cap.features[4], tap)
            for i in range(4):
                self.assertIs(cap.features[i], enc_out[i])
        # aux1: feature dropout on all five features (values kept or zeroed; the hottest position zeroed)
        for clean, pert in zip(branch_in[0].features, dec_in[0].features):
            self.assertTrue(bool(((pert == clean) | (pert == 0)).all()))
            att = clean.mean(1).flatten(1)
            hot = att.argmax(1)
            for b in range(2):
                self.assertTrue(bool((pert[b].flatten(1)[:, hot[b]] == 0).all()))
        # aux2: elementwise dropout p = 0.3 on all five features, kept values scaled by 1/0.7
        for clean, pert in zip(branch_in[1].features, dec_in[1].features):
            nz = clean != 0
            dropped = float(((pert == 0) & nz).sum()) / float(nz.sum())
            self.assertAlmostEqual(dropped, 0.3, delta=0.08)
            kept = (pert != 0) & nz
            torch.testing.assert_close(pert[kept], clean[kept] / 0.7)
        # aux3: feature noise on all five features, one multiplicative field shared across the batch
        for clean, pert in zip(branch_in[2].features, dec_in[2].features):
            nz = (clean[0] != 0) & (clean[1] != 0)
            field = (pert - clean) / clean.masked_fill(clean == 0, 1.0)
            torch.testing.assert_close(field[0][nz], field[1][nz], rtol=1e-4, atol=1e-4)
            self.assertLessEqual(float(field[:, nz].abs().max()), 0.3 + 1e-4)
            self.assertGreater(float(field[:, nz].abs().mean()), 0.05)

    def test_single_level_taps(self):
        net = MGCCNet(dim_mult=1, multi_level_taps=False).train()
        mix = []
        net.convmixer3.register_forward_hook(lambda m, a, o: mix.append(o))
        caps = [_Capture(getattr(net, f"aux_decoder{i}")) for i in (1, 2, 3)]
        net(torch.rand(2, 3, 32, 32))
        for cap in caps:
            self.assertIs(cap.features[4], mix[0])

    def test_eval_equals_clean_main_output(self):
        torch.manual_seed(0)
        net = MGCCNet(dim_mult=1)
        x = torch.rand(2, 3, 64, 64)
        _bn_eval(net)
        with torch.no_grad():
            main = net(x)[0]
            y = net.eval()(x)
        torch.testing.assert_close(y, main, rtol=0, atol=0)

    @parameterized.expand([(1, set()), (2, {"convmixer1"}), (3, {"convmixer1", "convmixer2"})])
    def test_aux_gradient_reaches_bottleneck_before_its_tap(self, aux, expected):
        torch.manual_seed(0)
        net = MGCCNet(dim_mult=1).train()
        net(torch.rand(2, 3, 32, 32))[aux].square().mean().backward()
        self.assertTrue(all(p.grad is not None for p in net.encoder.parameters()))
        names = ("convmixer1", "convmixer2", "convmixer3")
        reached = {n for n in names if next(getattr(net, n).parameters()).grad is not None}
        self.assertEqual(reached, expected)

    def test_checkpoint_aux_decoders_same_result(self):
        nets = [MGCCNet(dim_mult=1), MGCCNet(dim_mult=1, checkpoint_aux_decoders=True),
                MGCCNet(dim_mult=1, checkpoint_aux_decoders=True, checkpoint_main_decoder=True)]
        assert_checkpointing_matches(nets, torch.rand(2, 3, 16, 16))

    def test_channels_last_training_matches_contiguous(self):
        torch.manual_seed(0)
        assert_channels_last_training_matches(MGCCNet(dim_mult=0.25), torch.randn(2, 3, 32, 32))

    def test_bfloat16_autocast_training_follows_float32(self):
        torch.manual_seed(0)
        fp32, bf16 = bfloat16_training_curves(MGCCNet(dim_mult=0.25), torch.randn(4, 3, 32, 32))
        self.assertLess(bf16[-1], bf16[0] - 0.05)  # it learns
        for a, b in zip(fp32, bf16):  # and follows the float32 run step by step
            self.assertLess(abs(a - b), 0.01 * fp32[0])

    def test_torchscript_eval_round_trip(self):
        torch.manual_seed(0)
        net = MGCCNet(dim_mult=1).eval()
        x = torch.rand(1, 3, 64, 64)
        buf = io.BytesIO()
        torch.jit.save(torch.jit.script(net), buf)
        buf.seek(0)
        loaded = torch.jit.load(buf).eval()
        # the profiling executor's warm-up runs are slow on CPU and test nothing here
        with torch.no_grad(), torch.jit.optimized_execution(False):
            torch.testing.assert_close(loaded(x), net(x))

    def test_bad_args_and_inputs(self):
        for kwargs in (
            {"length": (3, 3)},
            {"length": "333"},
            {"length": (3, 0, 3)},
            {"dim_mult": 0},
            {"kernel_size": 6},
            {"spatial_dims": 3},
            {"out_channels": 0},
        ):
            with self.assertRaises(ValueError, msg=str(kwargs)):
                MGCCNet(dim_mult=kwargs.pop("dim_mult", 1), **kwargs)
        net = MGCCNet(dim_mult=1).eval()
        with self.assertRaisesRegex(ValueError, "MGCCNet: expected input of shape"):
            net(torch.rand(1, 1, 64, 64))
        with self.assertRaisesRegex(ValueError, "divisible by 16"):
            net(torch.rand(1, 3, 64, 40))


class TestMGCCWidths(unittest.TestCase):
    def test_narrow_widths(self):
        for net in (MGCCNet(dim_mult=0.5), MGCCNet(features=(8, 16, 32, 64, 128))):
            widths = [m.out_channels for m in net.encoder.modules() if isinstance(m, torch.nn.Conv2d)][1::2]
            self.assertEqual(widths, [8, 16, 32, 64, 128])
            out = net.train()(torch.rand(2, 3, 32, 32))
            self.assertEqual([tuple(o.shape) for o in out], [(2, 1, 32, 32)] * 4)
        self.assertEqual(MGCCNet(dim_mult=0.5).parameter_count(), MGCCNet(features=(8, 16, 32, 64, 128)).parameter_count())


if __name__ == "__main__":
    unittest.main()
