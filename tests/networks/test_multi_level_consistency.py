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

"""Tests for monai_ext.networks.nets.multi_level_consistency (the MGCC / MSMO skeleton) with a toy encoder/decoder."""

from __future__ import annotations

import io
import unittest
from typing import List

import torch
import torch.nn.functional as F
from parameterized import parameterized
from torch import nn

from monai_ext.networks.blocks import DropoutPerturbation, FeatureDropoutPerturbation, FeatureNoisePerturbation
from monai_ext.networks.nets.multi_level_consistency import (
    MultiLevelConsistencyNet,
    default_multi_level_perturbations,
)

from .checkpointing import assert_checkpointing_matches

WIDTHS = [2, 3, 4, 5, 6]


class _ToyEncoder(nn.Module):
    def __init__(self, in_channels: int) -> None:
        super().__init__()
        chans = [in_channels] + WIDTHS
        self.convs = nn.ModuleList(nn.Conv2d(chans[i], chans[i + 1], 1) for i in range(5))

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        out: List[torch.Tensor] = []
        for i, conv in enumerate(self.convs):
            if i > 0:
                x = F.max_pool2d(x, 2)
            x = conv(x)
            out.append(x)
        return out


class _ToyDecoder(nn.Module):
    def __init__(self, out_channels: int) -> None:
        super().__init__()
        self.heads = nn.ModuleList(nn.Conv2d(c, out_channels, 1) for c in WIDTHS)

    def forward(self, features: List[torch.Tensor]) -> torch.Tensor:
        size = features[0].shape[2:]
        out = self.heads[0](features[0])
        for i, head in enumerate(self.heads):
            if i > 0:
                out = out + F.interpolate(head(features[i]), size=size, mode="nearest")
        return out


class _ToyNet(MultiLevelConsistencyNet):
    def __init__(self, out_channels: int = 2, **kwargs) -> None:
        super().__init__(
            name="ToyNet",
            spatial_dims=2,
            in_channels=3,
            encoder=_ToyEncoder(3),
            make_decoder=lambda: _ToyDecoder(out_channels),
            bottleneck_channels=WIDTHS[4],
            kernel_size=3,
            **kwargs,
        )


def _capture(module: nn.Module, store: list) -> None:
    module.register_forward_pre_hook(lambda m, args: store.append(list(args[0])))


class TestMultiLevelConsistencyNet(unittest.TestCase):
    def test_modules_and_default_perturbations(self):
        net = _ToyNet()
        keys = {k.split(".")[0] for k in net.state_dict()}
        self.assertEqual(
            keys,
            {"encoder", "convmixer1", "convmixer2", "convmixer3", "main_decoder"}
            | {f"aux_decoder{i}" for i in (1, 2, 3)},
        )
        self.assertEqual([len(getattr(net, f"convmixer{i}")) for i in (1, 2, 3)], [3, 3, 3])
        kinds = [type(getattr(net, f"aux_decoder{i}").perturbation) for i in (1, 2, 3)]
        self.assertEqual(kinds, [FeatureDropoutPerturbation, DropoutPerturbation, FeatureNoisePerturbation])
        self.assertEqual([type(p) for p in default_multi_level_perturbations()], kinds)

    def test_train_and_eval_outputs_and_taps(self):
        torch.manual_seed(0)
        net = _ToyNet().train()
        enc, mix, main_in, aux_in = [], {}, [], [[], [], []]
        net.encoder.register_forward_hook(lambda m, a, o: enc.extend(o))
        for i in (1, 2, 3):
            getattr(net, f"convmixer{i}").register_forward_hook(lambda m, a, o, i=i: mix.__setitem__(i, o))
            _capture(getattr(net, f"aux_decoder{i}"), aux_in[i - 1])
        _capture(net.main_decoder, main_in)
        outs = net(torch.rand(2, 3, 32, 32))
        self.assertEqual(len(outs), 4)
        self.assertTrue(all(tuple(o.shape) == (2, 2, 32, 32) for o in outs))
        # main after 9 layers, aux after 0, 3, 6; skips shared
        for captured, tap in zip([main_in] + aux_in, [mix[3], enc[4], mix[1], mix[2]]):
            self.assertIs(captured[0][4], tap)
            self.assertTrue(all(captured[0][i] is enc[i] for i in range(4)))
        net.eval()
        main_in.clear()
        with torch.no_grad():
            y = net(torch.rand(1, 3, 32, 32))
        self.assertIsInstance(y, torch.Tensor)
        self.assertEqual(tuple(y.shape), (1, 2, 32, 32))
        self.assertEqual(len(main_in), 1)
        self.assertEqual(len(aux_in[0]), 1)  # the auxiliary decoders did not run in eval mode

    def test_forward_all_heads_uses_clean_taps_in_eval_mode(self):
        torch.manual_seed(0)
        net = _ToyNet()
        with self.assertRaisesRegex(RuntimeError, "evaluation mode only"):
            net.forward_all_heads(torch.rand(1, 3, 16, 16))
        net.eval()
        enc, mix, perturbed = [], {}, []
        net.encoder.register_forward_hook(lambda m, a, o: enc.extend(o))
        for i in (1, 2, 3):
            getattr(net, f"convmixer{i}").register_forward_hook(lambda m, a, o, i=i: mix.__setitem__(i, o))
            getattr(net, f"aux_decoder{i}").perturbation.register_forward_hook(lambda m, a, o: perturbed.append(o))
        x = torch.rand(2, 3, 32, 32)
        with torch.no_grad():
            heads = net.forward_all_heads(x)
            main = net(x)
        self.assertEqual(len(heads), 4)
        torch.testing.assert_close(heads[0], main, rtol=0, atol=0)
        self.assertEqual(perturbed, [])  # no perturbation ran
        # each auxiliary head equals its decoder applied to the clean multi-level tap
        with torch.no_grad():
            for k, tap in enumerate([enc[4], mix[1], mix[2]], start=1):
                expected = getattr(net, f"aux_decoder{k}").decoder([*enc[:4], tap])
                torch.testing.assert_close(heads[k], expected, rtol=0, atol=0)
        self.assertFalse(torch.allclose(heads[1], heads[0]))
        single = _ToyNet(multi_level_taps=False).eval()
        single.load_state_dict(net.state_dict())
        last = []
        single.convmixer3.register_forward_hook(lambda m, a, o: last.append(o))
        with torch.no_grad():
            heads = single.forward_all_heads(x)
            expected = single.aux_decoder1.decoder([*single.encoder(x)[:4], last[0]])
        torch.testing.assert_close(heads[1], expected, rtol=0, atol=0)

    def test_single_level_taps(self):
        net = _ToyNet(multi_level_taps=False).train()
        last, aux_in = [], []
        net.convmixer3.register_forward_hook(lambda m, a, o: last.append(o))
        _capture(net.aux_decoder1, aux_in)
        net(torch.rand(2, 3, 16, 16))
        self.assertIs(aux_in[0][4], last[0])

    def test_custom_perturbations(self):
        net = _ToyNet(perturbations=[nn.Identity(), nn.Identity(), nn.Identity()]).train()
        _ = [self.assertIsInstance(getattr(net, f"aux_decoder{i}").perturbation, nn.Identity) for i in (1, 2, 3)]
        with torch.no_grad():
            main, aux1, _, _ = net(torch.rand(2, 3, 16, 16))
        self.assertEqual(main.shape, aux1.shape)

    def test_parameter_count(self):
        net = _ToyNet()
        n_dec = sum(p.numel() for p in net.main_decoder.parameters())
        self.assertEqual(n_dec, sum(c * 2 + 2 for c in WIDTHS))
        total = sum(p.numel() for p in net.parameters())
        self.assertEqual(net.parameter_count(), total)
        self.assertEqual(net.parameter_count(inference=True), total - 3 * n_dec)

    def test_checkpointing_gives_the_same_outputs_and_gradients(self):
        nets = [_ToyNet(), _ToyNet(checkpoint_aux_decoders=True),
                _ToyNet(checkpoint_aux_decoders=True, checkpoint_main_decoder=True)]
        assert_checkpointing_matches(nets, torch.rand(2, 3, 16, 16), seed=3)

    def test_torchscript_eval(self):
        net = _ToyNet().eval()
        x = torch.rand(1, 3, 32, 32)
        buf = io.BytesIO()
        torch.jit.save(torch.jit.script(net), buf)
        buf.seek(0)
        with torch.no_grad(), torch.jit.optimized_execution(False):
            torch.testing.assert_close(torch.jit.load(buf)(x), net(x))

    @parameterized.expand(
        [
            ({"length": (3, 3)}, ValueError),
            ({"length": (3, True, 3)}, ValueError),
            ({"perturbations": [nn.Identity()]}, ValueError),
        ]
    )
    def test_bad_arguments(self, kwargs, error):
        with self.assertRaises(error):
            _ToyNet(**kwargs)

    def test_bad_constructor_parts_and_inputs(self):
        with self.assertRaisesRegex(ValueError, "ToyNet: only spatial_dims=2"):
            MultiLevelConsistencyNet("ToyNet", 3, 3, _ToyEncoder(3), lambda: _ToyDecoder(1), 6)
        with self.assertRaisesRegex(TypeError, "encoder must be a torch.nn.Module"):
            MultiLevelConsistencyNet("ToyNet", 2, 3, "encoder", lambda: _ToyDecoder(1), 6)
        with self.assertRaisesRegex(TypeError, "make_decoder must be a callable"):
            MultiLevelConsistencyNet("ToyNet", 2, 3, _ToyEncoder(3), None, 6)
        net = _ToyNet().eval()
        with self.assertRaisesRegex(ValueError, r"ToyNet: expected input of shape \(B, 3, H, W\)"):
            net(torch.rand(1, 1, 32, 32))
        with self.assertRaisesRegex(ValueError, "ToyNet: height and width must be divisible by 16"):
            net(torch.rand(1, 3, 32, 24))


if __name__ == "__main__":
    unittest.main()
