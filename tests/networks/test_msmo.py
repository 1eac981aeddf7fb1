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

"""Tests for monai_ext.networks.nets.msmo (docs/methods/msmo.md, "Network" and "Parameter counts")."""

from __future__ import annotations

import io
import unittest

import torch
from parameterized import parameterized
from torch import nn

from monai_ext.networks.blocks import (
    DropoutPerturbation,
    FeatureDropoutPerturbation,
    FeatureNoisePerturbation,
    MSAGBlock,
    MSMOConvLSTMCell,
)
from monai_ext.networks.nets import MGCCDecoder, MSMOEncoder, MSMOHConvLSTMDecoder, MSMONet, MSMOResidualBlock
from tests.fixtures import n_params

from .checkpointing import assert_checkpointing_matches
from .memory_format import assert_channels_last_training_matches, bfloat16_training_curves

# tiny decoder widths for x1..x5: hidden sizes 32/16/8/4, head 4 -> 2 -> 1
_SMALL = (4, 8, 16, 32, 64)



def _features(batch: int = 2, size: int = 32, widths=_SMALL, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, c, size >> i, size >> i, generator=g) for i, c in enumerate(widths)]


class _Capture:
    """Forward pre-hook recording the feature list a decoder receives."""

    def __init__(self, module: nn.Module) -> None:
        self.features: list[torch.Tensor] = []
        module.register_forward_pre_hook(self)

    def __call__(self, module, args):
        self.features = list(args[0])


class TestParameterCounts(unittest.TestCase):
    """docs/methods/msmo.md, "Parameter counts" acceptance counts, full size on the meta device (no memory, no forward
    pass)."""

    @parameterized.expand(
        [
            ("hconvlstm_default", {}, 235_086_660, 80_894_913, 51_397_249),
            ("hconvlstm_default_c3", {"out_channels": 3}, 235_086_660, 80_894_913, 51_397_249),
            ("hconvlstm_legacy", {"legacy_unused_msag1": True}, 235_450_180, 80_985_793, 51_488_129),
            ("hconvlstm_5_levels", {"hconvlstm_levels": 5}, 236_131_908, 81_156_225, 51_658_561),
            ("unet_msag_c1", {"decoder": "unet_msag"}, 122_885_444, 52_844_609, 23_346_945),
            ("unet_msag_c3", {"decoder": "unet_msag", "out_channels": 3}, 122_885_964, 52_844_739, 23_347_075),
        ]
    )
    def test_full_size(self, _, kwargs, train_count, infer_count, decoder_count):
        with torch.device("meta"):
            net = MSMONet(**kwargs)
        self.assertEqual(n_params(net), train_count)
        self.assertEqual(net.parameter_count(), train_count)
        self.assertEqual(net.parameter_count(inference=True), infer_count)
        self.assertEqual(n_params(net.encoder), 19_553_600)
        self.assertEqual(sum(n_params(m) for m in (net.convmixer1, net.convmixer2, net.convmixer3)), 9_944_064)
        for dec in (net.main_decoder, net.aux_decoder1.decoder, net.aux_decoder2.decoder, net.aux_decoder3.decoder):
            self.assertEqual(n_params(dec), decoder_count)

    def test_hconvlstm_breakdown(self):
        with torch.device("meta"):
            dec = MSMOHConvLSTMDecoder()
            legacy = MSMOHConvLSTMDecoder(legacy_unused_msag1=True)
        self.assertEqual([n_params(c) for c in dec.cells], [28_313_600, 11_797_504, 2_949_632, 737_536])
        self.assertEqual([c.hidden_channels for c in dec.cells], [512, 256, 128, 64])
        self.assertEqual(n_params(dec.head), 18_817)
        self.assertEqual(n_params(dec.gates), 7_671_040 - 90_880)
        self.assertEqual(len(dec.unused_gates), 0)  # no dead msag1 by default
        self.assertEqual(n_params(legacy.gates) + n_params(legacy.unused_gates), 7_671_040)
        for gate, width in zip(dec.gates, (512, 256, 128)):
            self.assertEqual(gate.channels, width)

    def test_residual_block_count(self):
        with torch.device("meta"):
            for cin, cout in ((3, 64), (512, 1024), (8, 8)):  # shortcut always present, also for cin == cout
                self.assertEqual(n_params(MSMOResidualBlock(2, cin, cout)), 10 * cin * cout + 9 * cout**2 + 9 * cout)


class TestEncoder(unittest.TestCase):
    def test_residual_block_math(self):
        torch.manual_seed(0)
        block = MSMOResidualBlock(2, 3, 4).eval()
        x = torch.randn(2, 3, 8, 8)
        with torch.no_grad():
            main = block.conv2(block.conv1(x))
            expected = torch.relu(main + block.shortcut(x))
            torch.testing.assert_close(block(x), expected)
        self.assertIsInstance(block.conv1.conv, nn.Conv2d)
        self.assertIsInstance(block.shortcut.conv, nn.Conv2d)
        self.assertEqual(block.shortcut.conv.kernel_size, (1, 1))

    def test_encoder_shapes(self):
        enc = MSMOEncoder(2, 3, (4, 8, 16, 32, 64))
        feats = enc(torch.rand(1, 3, 32, 32))
        self.assertEqual([tuple(f.shape) for f in feats], [(1, c, 32 >> i, 32 >> i) for i, c in enumerate(_SMALL)])


class TestHConvLSTMDecoder(unittest.TestCase):
    def test_structure_small(self):
        dec = MSMOHConvLSTMDecoder(2, 3, _SMALL)
        self.assertEqual(
            [(c.in_channels, c.hidden_channels) for c in dec.cells], [(64, 32), (64, 16), (32, 8), (16, 4)]
        )
        self.assertEqual(dec.dropout.p, 0.3)
        self.assertIsInstance(dec.head[1], nn.Conv2d)
        self.assertEqual(dec.head[1].out_channels, 1)  # one shared single-channel head for all objects

    @parameterized.expand([(1,), (3,)])
    def test_shapes(self, objects):
        dec = MSMOHConvLSTMDecoder(2, objects, _SMALL)
        self.assertEqual(tuple(dec(_features()).shape), (2, objects, 32, 32))

    def test_forward_is_the_object_recurrence(self):
        torch.manual_seed(0)
        dec = MSMOHConvLSTMDecoder(2, 3, _SMALL).eval()
        feats = _features()
        with torch.no_grad():
            out = dec(feats)
            skips = dec.gate_skips(feats)
            states: list = []
            manual = []
            for _ in range(3):
                logit, states = dec.decode_object(feats[4], skips, states)
                manual.append(logit)
        # forward computes the object-independent part of each gate convolution once (split weight): same result up
        # to floating-point rounding
        torch.testing.assert_close(out, torch.cat(manual, 1), rtol=1e-5, atol=1e-6)
        # shared weights, different states: the objects differ; object 0 is independent of the number of objects
        self.assertGreater(float((out[:, 0] - out[:, 1]).abs().max()), 1e-4)
        self.assertGreater(float((out[:, 1] - out[:, 2]).abs().max()), 1e-4)
        single = MSMOHConvLSTMDecoder(2, 1, _SMALL).eval()
        single.load_state_dict(dec.state_dict())
        with torch.no_grad():
            torch.testing.assert_close(single(feats), out[:, :1], rtol=0, atol=0)

    def test_shared_gate_split_matches_reference_with_gradients(self):
        # training mode (dropout and batch statistics), float64: the split-weight forward equals the plain recurrence
        # (decode_object) in value and in every parameter gradient; the RNG draws happen in the same order
        torch.manual_seed(0)
        dec = MSMOHConvLSTMDecoder(2, 3, _SMALL).double().train()
        feats = [f.double() for f in _features()]
        torch.manual_seed(5)
        fast = dec(feats)
        fast.square().mean().backward()
        grads_fast = [p.grad.clone() for p in dec.parameters()]
        dec.zero_grad(set_to_none=True)
        torch.manual_seed(5)
        skips = dec.gate_skips(feats)
        states: list = []
        manual = []
        for _ in range(3):
            logit, states = dec.decode_object(feats[4], skips, states)
            manual.append(logit)
        ref = torch.cat(manual, 1)
        ref.square().mean().backward()
        torch.testing.assert_close(fast, ref, rtol=1e-10, atol=1e-12)
        for (name, p), g in zip(dec.named_parameters(), grads_fast):
            torch.testing.assert_close(g, p.grad, rtol=1e-9, atol=1e-12, msg=name)

    def test_split_weight_blocks(self):
        cell = MSMOConvLSTMCell(2, 6, 2)
        block, rest = cell.split_weight(2, 6)
        w = cell.conv.weight
        torch.testing.assert_close(block, w[:, 2:6], rtol=0, atol=0)
        torch.testing.assert_close(rest, torch.cat([w[:, :2], w[:, 6:]], 1), rtol=0, atol=0)
        block0, rest0 = cell.split_weight(0, 6)
        self.assertEqual((tuple(block0.shape), tuple(rest0.shape)), ((8, 6, 3, 3), (8, 2, 3, 3)))
        with self.assertRaisesRegex(ValueError, "start < stop"):
            cell.split_weight(3, 3)

    def test_state_passes_from_object_to_object(self):
        torch.manual_seed(0)
        dec = MSMOHConvLSTMDecoder(2, 2, _SMALL).eval()
        feats = _features()
        other_x5 = _features(seed=1)[4]
        with torch.no_grad():
            skips = dec.gate_skips(feats)
            _, states_a = dec.decode_object(feats[4], skips, [])
            _, states_b = dec.decode_object(other_x5, skips, [])
            # object 1 sees the same inputs; only object 0's input differs
            out_a, _ = dec.decode_object(feats[4], skips, states_a)
            out_b, _ = dec.decode_object(feats[4], skips, states_b)
            self.assertGreater(float((out_a - out_b).abs().max()), 1e-6)
            # perturbing one level of object 0's state (h or c) changes object 1
            for level in range(4):
                for k in range(2):
                    pert = list(states_a)
                    pair = list(pert[level])
                    pair[k] = pair[k] + 0.5
                    pert[level] = (pair[0], pair[1])
                    out_p, _ = dec.decode_object(feats[4], skips, pert)
                    self.assertGreater(float((out_p - out_a).abs().max()), 1e-6, msg=f"level {level}, {'hc'[k]}")
        # per-level state shapes: hidden 32/16/8/4 at 1/16 .. 1/2 of the 32 px input
        self.assertEqual(
            [tuple(h.shape) for h, _ in states_a], [(2, 32, 2, 2), (2, 16, 4, 4), (2, 8, 8, 8), (2, 4, 16, 16)]
        )

    def test_handed_state_is_not_dropped(self):
        torch.manual_seed(0)
        dec = MSMOHConvLSTMDecoder(2, 2, _SMALL).train()
        feats = _features()
        with torch.no_grad():
            skips = dec.gate_skips(feats)
            _, states = dec.decode_object(feats[4], skips, [])
            h0, c0 = dec.cells[0](feats[4])  # the cell itself has no randomness
        torch.testing.assert_close(states[0][0], h0, rtol=0, atol=0)
        torch.testing.assert_close(states[0][1], c0, rtol=0, atol=0)

    def test_dropout_on_upward_path_in_training_only(self):
        torch.manual_seed(0)
        dec = MSMOHConvLSTMDecoder(2, 1, _SMALL)
        for m in dec.modules():  # freeze BatchNorm so that only dropout can differ between calls
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        feats = _features()
        with torch.no_grad():
            a, b = dec(feats), dec(feats)
            self.assertGreater(float((a - b).abs().max()), 1e-6)
            dec.eval()
            torch.testing.assert_close(dec(feats), dec(feats), rtol=0, atol=0)  # C = 1 deterministic in eval

    def test_x1_used_only_with_five_levels(self):
        torch.manual_seed(0)
        feats = _features()
        feats_x1 = [feats[0] + 1.0] + feats[1:]
        for levels, legacy, uses_x1 in ((4, False, False), (4, True, False), (5, False, True)):
            dec = MSMOHConvLSTMDecoder(2, 2, _SMALL, levels=levels, legacy_unused_msag1=legacy).eval()
            with torch.no_grad():
                diff = float((dec(feats) - dec(feats_x1)).abs().max())
            self.assertEqual(diff > 1e-6, uses_x1, msg=f"levels={levels}, legacy={legacy}")

    def test_five_levels_structure(self):
        dec = MSMOHConvLSTMDecoder(2, 2, _SMALL, levels=5)
        self.assertEqual([c.hidden_channels for c in dec.cells], [32, 16, 8, 4, 2])
        self.assertEqual(dec.cells[4].in_channels, 4 + 4)
        self.assertEqual(tuple(dec(_features()).shape), (2, 2, 32, 32))

    def test_legacy_msag1_computed_without_gradient(self):
        dec = MSMOHConvLSTMDecoder(2, 2, _SMALL, legacy_unused_msag1=True).train()
        calls = []
        dec.unused_gates[0].register_forward_hook(lambda m, a, o: calls.append(1))
        dec(_features()).square().mean().backward()
        self.assertEqual(len(calls), 1)
        self.assertTrue(all(p.grad is None for p in dec.unused_gates.parameters()))
        self.assertTrue(all(p.grad is not None for p in dec.gates.parameters()))
        self.assertTrue(all(p.grad is not None for p in dec.cells.parameters()))

    def test_bad_args_and_inputs(self):
        for kwargs in (
            {"levels": 3},
            {"levels": 5, "legacy_unused_msag1": True},
            {"dropout": 1.0},
            {"out_channels": 0},
        ):
            with self.assertRaises(ValueError, msg=str(kwargs)):
                MSMOHConvLSTMDecoder(features=_SMALL, **kwargs)
        with self.assertRaisesRegex(ValueError, "features"):
            MSMOHConvLSTMDecoder(features=(2, 4, 8, 16, 32), levels=5)
        dec = MSMOHConvLSTMDecoder(2, 2, _SMALL)
        with self.assertRaisesRegex(ValueError, "expected 5 features"):
            dec(_features()[:4])
        feats = _features()
        with self.assertRaisesRegex(ValueError, "states must be empty"):
            dec.decode_object(feats[4], dec.gate_skips(feats), [(feats[4], feats[4])])


class TestMSMONet(unittest.TestCase):
    @parameterized.expand([("hconvlstm", 1), ("hconvlstm", 3), ("unet_msag", 1), ("unet_msag", 3)])
    def test_shapes_train_and_eval(self, decoder, objects):
        torch.manual_seed(0)
        net = MSMONet(dim_mult=1, out_channels=objects, decoder=decoder).train()
        x = torch.rand(2, 3, 32, 32)
        outs = net(x)
        self.assertIsInstance(outs, tuple)
        self.assertEqual(len(outs), 4)
        for o in outs:
            self.assertEqual(tuple(o.shape), (2, objects, 32, 32))
        with torch.no_grad():
            y = net.eval()(x)
        self.assertIsInstance(y, torch.Tensor)
        self.assertEqual(tuple(y.shape), (2, objects, 32, 32))

    def test_decoder_types_and_perturbations(self):
        net = MSMONet(dim_mult=1, out_channels=2)
        for dec in (net.main_decoder, net.aux_decoder1.decoder, net.aux_decoder2.decoder, net.aux_decoder3.decoder):
            self.assertIsInstance(dec, MSMOHConvLSTMDecoder)
        self.assertIsInstance(net.aux_decoder1.perturbation, FeatureDropoutPerturbation)
        self.assertIsInstance(net.aux_decoder2.perturbation, DropoutPerturbation)
        self.assertEqual((net.aux_decoder2.perturbation.p, net.aux_decoder2.perturbation.mode), (0.3, "element"))
        self.assertIsInstance(net.aux_decoder3.perturbation, FeatureNoisePerturbation)
        self.assertEqual(net.aux_decoder3.perturbation.uniform_range, 0.3)
        published = MSMONet(dim_mult=1, out_channels=2, decoder="unet_msag")
        self.assertIsInstance(published.main_decoder, MGCCDecoder)
        self.assertIsInstance(published.aux_decoder3.decoder, MGCCDecoder)
        self.assertEqual(sum(isinstance(m, MSMOConvLSTMCell) for m in published.modules()), 0)
        self.assertEqual(sum(isinstance(m, MSAGBlock) for m in net.main_decoder.modules()), 3)

    def test_shared_multi_level_base(self):
        from monai_ext.networks.nets.multi_level_consistency import MultiLevelConsistencyNet

        net = MSMONet(dim_mult=1, out_channels=2)
        self.assertIsInstance(net, MultiLevelConsistencyNet)
        self.assertEqual((net.net_name, net.decoder_name, net.in_channels), ("MSMONet", "hconvlstm", 3))

    def test_taps(self):
        torch.manual_seed(0)
        net = MSMONet(dim_mult=1, out_channels=2).train()
        enc_out, mix = [], {}
        net.encoder.register_forward_hook(lambda m, a, o: enc_out.extend(o))
        for name in ("convmixer1", "convmixer2", "convmixer3"):
            getattr(net, name).register_forward_hook(lambda m, a, o, n=name: mix.__setitem__(n, o))
        main_in = _Capture(net.main_decoder)
        branch_in = [_Capture(getattr(net, f"aux_decoder{i}")) for i in (1, 2, 3)]
        dec_in = [_Capture(getattr(net, f"aux_decoder{i}").decoder) for i in (1, 2, 3)]
        with torch.no_grad():
            net(torch.rand(2, 3, 32, 32))
        taps = [enc_out[4], mix["convmixer1"], mix["convmixer2"], mix["convmixer3"]]
        for cap, tap in zip(branch_in + [main_in], taps):
            self.assertIs(cap.features[4], tap)
            for i in range(4):
                self.assertIs(cap.features[i], enc_out[i])
        # every perturbation acts on all five features
        for clean, pert in zip(branch_in, dec_in):
            for a, b in zip(clean.features, pert.features):
                self.assertFalse(torch.equal(a, b))

    def test_eval_equals_clean_main_output(self):
        torch.manual_seed(0)
        net = MSMONet(dim_mult=1, out_channels=2)
        x = torch.rand(2, 3, 32, 32)
        net.train()
        for m in net.modules():  # BatchNorm on running statistics and no dropout: train main = eval output
            if isinstance(m, (nn.BatchNorm2d, nn.Dropout)):
                m.eval()
        with torch.no_grad():
            main = net(x)[0]
            y = net.eval()(x)
        torch.testing.assert_close(y, main, rtol=0, atol=0)

    def test_checkpoint_aux_decoders_same_result(self):
        nets = [MSMONet(dim_mult=1, out_channels=2), MSMONet(dim_mult=1, out_channels=2, checkpoint_aux_decoders=True),
                MSMONet(dim_mult=1, out_channels=2, checkpoint_aux_decoders=True, checkpoint_main_decoder=True)]
        assert_checkpointing_matches(nets, torch.rand(2, 3, 16, 16))

    @parameterized.expand([("hconvlstm",), ("unet_msag",)])
    def test_channels_last_training_matches_contiguous(self, decoder):
        torch.manual_seed(0)
        net = MSMONet(out_channels=3, decoder=decoder, dim_mult=0.25)
        assert_channels_last_training_matches(net, torch.randn(2, 3, 32, 32))

    @parameterized.expand([("hconvlstm",), ("unet_msag",)])
    def test_bfloat16_autocast_training_follows_float32(self, decoder):
        torch.manual_seed(0)
        net = MSMONet(out_channels=3, decoder=decoder, dim_mult=0.25)
        fp32, bf16 = bfloat16_training_curves(net, torch.randn(4, 3, 32, 32))
        self.assertLess(bf16[-1], bf16[0] - 0.05)  # it learns
        for a, b in zip(fp32, bf16):  # and follows the float32 run step by step
            self.assertLess(abs(a - b), 0.01 * fp32[0])

    def test_channels_last_preserved(self):
        net = MSMONet(dim_mult=1, out_channels=2).eval().to(memory_format=torch.channels_last)
        x = torch.rand(1, 3, 32, 32).contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            self.assertTrue(net(x).is_contiguous(memory_format=torch.channels_last))

    def test_torchscript_eval_round_trip(self):
        # the "unet_msag" decoder is MGCCDecoder, whose scripting test_mgcc covers
        torch.manual_seed(0)
        net = MSMONet(dim_mult=1, out_channels=2).eval()
        x = torch.rand(1, 3, 32, 32)
        buf = io.BytesIO()
        torch.jit.save(torch.jit.script(net), buf)
        buf.seek(0)
        loaded = torch.jit.load(buf).eval()
        # the profiling executor's warm-up runs are slow on CPU and test nothing here
        with torch.no_grad(), torch.jit.optimized_execution(False):
            torch.testing.assert_close(loaded(x), net(x))

    def test_bad_args_and_inputs(self):
        for kwargs in (
            {"decoder": "clstm"},
            {"decoder": "unet_msag", "hconvlstm_levels": 5},
            {"decoder": "unet_msag", "legacy_unused_msag1": True},
            {"hconvlstm_levels": 3},
            {"length": (3, 3)},
            {"dim_mult": 0},
            {"spatial_dims": 3},
            {"out_channels": 0},
        ):
            with self.assertRaises(ValueError, msg=str(kwargs)):
                MSMONet(dim_mult=kwargs.pop("dim_mult", 1), **kwargs)
        net = MSMONet(dim_mult=1).eval()
        with self.assertRaisesRegex(ValueError, "MSMONet: expected input of shape"):
            net(torch.rand(1, 1, 32, 32))
        with self.assertRaisesRegex(ValueError, "divisible by 16"):
            net(torch.rand(1, 3, 32, 40))


class TestMSMOWidths(unittest.TestCase):
    def test_narrow_widths(self):
        for decoder in ("hconvlstm", "unet_msag"):
            a = MSMONet(out_channels=3, decoder=decoder, dim_mult=0.5)
            b = MSMONet(out_channels=3, decoder=decoder, features=(8, 16, 32, 64, 128))
            self.assertEqual(a.parameter_count(), b.parameter_count())
            self.assertLess(a.parameter_count(), MSMONet(out_channels=3, decoder=decoder, dim_mult=1).parameter_count())
            out = a.train()(torch.rand(2, 3, 32, 32))
            self.assertEqual([tuple(o.shape) for o in out], [(2, 3, 32, 32)] * 4)


if __name__ == "__main__":
    unittest.main()
