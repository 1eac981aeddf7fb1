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

"""Tests for monai_ext.networks.nets.sabr_encoder (the shadow-masked encoder shared by generator B and model C)."""

from __future__ import annotations

import unittest

import torch

from monai_ext.networks.nets import SABRMaskedEncoder
from tests.fixtures import n_params

_NARROW = {"dim": 16, "num_heads": 2}



def _holes(b: int = 2, size: int = 64) -> torch.Tensor:
    mask = torch.ones(b, 1, size, size)
    mask[:, :, 8:40, 16:48] = 0
    return mask


class TestSABRMaskedEncoder(unittest.TestCase):
    def test_default_parameter_count(self):
        with torch.device("meta"):
            enc = SABRMaskedEncoder()
        self.assertEqual(n_params(enc), 2_520_448)
        self.assertEqual(n_params(enc.conv_first), 3_584)
        self.assertEqual(n_params(enc.enc_conv), 295_168)
        self.assertEqual([n_params(s) for s in enc.stages], [477_312, 789_760, 954_624])
        self.assertEqual(enc.downsample_factor, 16)

    def test_feature_shapes(self):
        torch.manual_seed(0)
        enc = SABRMaskedEncoder(**_NARROW)
        with torch.no_grad():
            feats = enc(torch.rand(2, 3, 64, 64) * 2 - 1, _holes())
            taps = enc.feature_taps(torch.rand(2, 3, 64, 64))
        sizes = [f.shape[-1] for f in feats]
        self.assertEqual(sizes, [64, 32, 16, 16, 8, 4])  # conv_first, enc_conv x2, stages 0-2
        self.assertTrue(all(f.shape[:2] == (2, 16) for f in feats))
        self.assertEqual([t.shape[-1] for t in taps], [16, 16, 8, 4])

    def test_only_stages_before_the_middle_are_masked(self):
        enc = SABRMaskedEncoder(**_NARROW)
        seen = []
        for stage in enc.stages:
            stage.register_forward_pre_hook(lambda m, args: seen.append(args[1] is not None))
        with torch.no_grad():
            enc(torch.rand(1, 3, 64, 64), _holes(1))
            enc(torch.rand(1, 3, 64, 64))
        self.assertEqual(seen, [True, True, False, False, False, False])

    def test_holes_are_zero_filled(self):
        torch.manual_seed(0)
        enc = SABRMaskedEncoder(**_NARROW)
        mask = _holes()
        x = torch.rand(2, 3, 64, 64) * 2 - 1
        x2 = torch.where(mask > 0, x, torch.randn_like(x) * 5)  # other content inside the holes
        with torch.no_grad():
            for a, b in zip(enc(x, mask), enc(x2, mask)):
                torch.testing.assert_close(a, b)
            leak = SABRMaskedEncoder(**_NARROW, leak_hole_ring=True)
            leak.load_state_dict(enc.state_dict())
            diff = [float((a - b).abs().max()) for a, b in zip(leak(x, mask), leak(x2, mask))]
        self.assertGreater(diff[0], 1e-3)  # public behaviour: the hole ring leaks into the first conv

    def test_frozen_copy(self):
        enc = SABRMaskedEncoder(**_NARROW)
        snap = enc.frozen_copy()
        self.assertFalse(snap.training)
        self.assertFalse(any(p.requires_grad for p in snap.parameters()))
        self.assertTrue(all(p.requires_grad for p in enc.parameters()))
        x = torch.rand(1, 3, 64, 64)
        with torch.no_grad():
            torch.testing.assert_close(snap(x)[-1], enc(x)[-1])

    def test_bad_arguments_and_inputs(self):
        for kwargs in ({"spatial_dims": 3}, {"dim": 10, "num_heads": 4}, {"depths": (2, 0)}, {"depths": "234"},
                       {"window_sizes": (8, 16)}, {"num_downsamples": -1}):
            with self.assertRaises(ValueError, msg=str(kwargs)):
                SABRMaskedEncoder(**{**_NARROW, **kwargs})
        enc = SABRMaskedEncoder(**_NARROW)
        with self.assertRaisesRegex(ValueError, r"expected input of shape \(B, 3, H, W\), got \(1, 1, 64, 64\)"):
            enc(torch.rand(1, 1, 64, 64))
        with self.assertRaisesRegex(ValueError, "divisible by 16, got 64x72"):
            enc(torch.rand(1, 3, 64, 72))
        with self.assertRaisesRegex(ValueError, "gives a 20x20 token map at stage 0, not a multiple of its window 8"):
            enc(torch.rand(1, 3, 80, 80))
        with self.assertRaisesRegex(ValueError, r"hole mask of shape \(1, 1, 64, 64\), got \(1, 1, 32, 32\)"):
            enc(torch.rand(1, 3, 64, 64), torch.ones(1, 1, 32, 32))


if __name__ == "__main__":
    unittest.main()
