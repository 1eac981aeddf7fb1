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

"""Tests for monai_ext.networks.blocks.perturbations."""

from __future__ import annotations

import io
import unittest
from typing import List

import torch
from parameterized import parameterized
from torch import nn

from monai_ext.networks.blocks import (
    DropoutPerturbation,
    FeatureDropoutPerturbation,
    FeatureNoisePerturbation,
    PerturbedDecoder,
    feature_dropout,
    feature_noise,
)


class _CatDecoder(nn.Module):
    """Returns the flattened features concatenated, to observe what a decoder receives."""

    def forward(self, features: List[torch.Tensor]) -> torch.Tensor:
        return torch.cat([f.flatten(1) for f in features], dim=1)


class TestFeatureDropout(unittest.TestCase):
    def test_zeroes_hot_region_keeps_rest(self):
        x = torch.full((2, 3, 8, 8), 0.1)
        x[0, :, 2:4, 2:4] = 1.0
        x[1, :, 5:7, 1:3] = 2.0  # a different maximum per sample: the threshold is relative to each sample's max
        x[1, 0, 0, 0] = 0.5  # channel mean 0.2333 < 0.7 * 2: kept
        m = FeatureDropoutPerturbation().train()
        for _ in range(5):
            y = m(x)
            expected = x.clone()
            expected[0, :, 2:4, 2:4] = 0.0
            expected[1, :, 5:7, 1:3] = 0.0
            torch.testing.assert_close(y, expected, rtol=0, atol=0)

    def test_threshold_band_and_shared_gamma(self):
        # channel mean of sample 0 is a ramp 0..1 over 64 positions; sample 1 is twice sample 0
        ramp = torch.linspace(0.0, 1.0, 64).view(1, 1, 8, 8)
        x = torch.cat([ramp.expand(1, 2, 8, 8), 2 * ramp.expand(1, 2, 8, 8)], dim=0).contiguous()
        m = FeatureDropoutPerturbation((0.7, 0.9)).train()
        cuts = set()
        for _ in range(20):
            keep = ((m(x) != 0) | (x == 0))[:, :1]
            a = x.mean(1, keepdim=True)
            rel = a / a.flatten(1).amax(1).view(2, 1, 1, 1)
            self.assertTrue(bool(keep[rel < 0.7 - 1e-6].all()))  # below the lowest threshold: always kept
            self.assertFalse(bool(keep[rel >= 0.9].any()))  # at or above the highest threshold: always zeroed
            # one gamma for the whole batch: the same relative cut in both samples
            self.assertTrue(torch.equal(keep[0], keep[1]))
            cuts.add(int(keep[0, 0].sum()))
        self.assertGreater(len(cuts), 1)  # gamma is drawn afresh per call

    def test_gradient_through_kept_positions_only(self):
        x = torch.full((1, 2, 4, 4), 0.1)
        x[0, :, 0, 0] = 1.0
        x.requires_grad_(True)
        feature_dropout(x).sum().backward()
        expected = torch.ones(1, 2, 4, 4)
        expected[0, :, 0, 0] = 0.0
        torch.testing.assert_close(x.grad, expected)

    def test_eval_identity(self):
        x = torch.rand(2, 3, 8, 8)
        self.assertIs(FeatureDropoutPerturbation().eval()(x), x)

    def test_bad_args(self):
        with self.assertRaises(ValueError):
            FeatureDropoutPerturbation((0.9, 0.7))
        with self.assertRaises(ValueError):
            FeatureDropoutPerturbation((0.7,))
        with self.assertRaises(ValueError):
            feature_dropout(torch.rand(2, 3))


class TestDropoutPerturbation(unittest.TestCase):
    def test_elementwise_default(self):
        torch.manual_seed(0)
        m = DropoutPerturbation().train()
        self.assertEqual((m.p, m.mode), (0.3, "element"))
        y = m(torch.ones(4, 8, 32, 32))
        values = set(torch.unique(y).tolist())
        self.assertEqual(len(values), 2)
        self.assertAlmostEqual(max(values), 1 / 0.7, places=5)  # inverted dropout scaling
        self.assertAlmostEqual(float((y == 0).float().mean()), 0.3, delta=0.02)
        # elementwise: channels are not dropped as a whole
        per_map = (y == 0).flatten(2).float().mean(2)
        self.assertTrue(bool(((per_map > 0) & (per_map < 1)).all()))

    def test_channel_mode(self):
        torch.manual_seed(0)
        y = DropoutPerturbation(0.5, "channel").train()(torch.ones(4, 16, 8, 8))
        per_map = y.flatten(2)
        self.assertTrue(bool((per_map.amin(2) == per_map.amax(2)).all()))  # each map kept or dropped whole
        self.assertEqual(set(torch.unique(y).tolist()), {0.0, 2.0})

    def test_eval_identity(self):
        x = torch.rand(2, 3, 8, 8)
        self.assertIs(DropoutPerturbation().eval()(x), x)

    def test_bad_args(self):
        with self.assertRaises(ValueError):
            DropoutPerturbation(1.0)
        with self.assertRaises(ValueError):
            DropoutPerturbation(0.3, "spatial")
        with self.assertRaises(ValueError):
            DropoutPerturbation(0.3, "channel").train()(torch.rand(2, 3, 4))


class TestFeatureNoise(unittest.TestCase):
    def test_field_shared_across_batch(self):
        x = torch.rand(4, 3, 8, 8) + 0.5
        m = FeatureNoisePerturbation().train()
        y = m(x)
        field = (y - x) / x  # the multiplicative noise n of x + x * n
        for b in range(1, 4):
            torch.testing.assert_close(field[b], field[0])
        self.assertLessEqual(float(field.abs().max()), 0.3 + 1e-5)
        self.assertGreater(float(field.std()), 0.1)  # U(-0.3, 0.3) has std 0.173
        self.assertEqual(y.device, x.device)
        self.assertFalse(torch.allclose(m(x), y))  # a new field per call

    def test_keeps_memory_format(self):
        x = torch.rand(2, 4, 8, 8).contiguous(memory_format=torch.channels_last)
        for y in (feature_noise(x), feature_dropout(x), DropoutPerturbation().train()(x)):
            self.assertTrue(y.is_contiguous(memory_format=torch.channels_last))

    def test_reproducible_with_seed(self):
        x = torch.rand(2, 3, 8, 8)
        torch.manual_seed(3)
        a = feature_noise(x)
        torch.manual_seed(3)
        torch.testing.assert_close(feature_noise(x), a, rtol=0, atol=0)

    def test_eval_identity(self):
        x = torch.rand(2, 3, 8, 8)
        self.assertIs(FeatureNoisePerturbation().eval()(x), x)

    def test_bad_args(self):
        with self.assertRaises(ValueError):
            FeatureNoisePerturbation(0.0)


class TestPerturbedDecoder(unittest.TestCase):
    def test_all_features_perturbed(self):
        feats = [torch.ones(2, 4, 8, 8), torch.ones(2, 8, 4, 4)]
        branch = PerturbedDecoder(FeatureNoisePerturbation(0.3), _CatDecoder()).train()
        out = branch(feats)
        self.assertEqual(tuple(out.shape), (2, 4 * 64 + 8 * 16))
        self.assertFalse(bool((out == 1).any()))  # every element of every feature was perturbed
        self.assertTrue(torch.equal(branch.eval()(feats), torch.cat([f.flatten(1) for f in feats], 1)))

    def test_bad_args(self):
        with self.assertRaises(TypeError):
            PerturbedDecoder(lambda x: x, _CatDecoder())  # type: ignore[arg-type]


class TestTorchScript(unittest.TestCase):
    @parameterized.expand(
        [
            (FeatureDropoutPerturbation(),),
            (DropoutPerturbation(),),
            (DropoutPerturbation(0.5, "channel"),),
            (FeatureNoisePerturbation(),),
        ]
    )
    def test_script_round_trip(self, module):
        buf = io.BytesIO()
        torch.jit.save(torch.jit.script(module), buf)
        buf.seek(0)
        loaded = torch.jit.load(buf)
        x = torch.rand(2, 3, 8, 8) + 0.1
        loaded.eval()
        torch.testing.assert_close(loaded(x), x)
        loaded.train()
        self.assertEqual(loaded(x).shape, x.shape)
        self.assertFalse(torch.equal(loaded(x), x))


if __name__ == "__main__":
    unittest.main()
