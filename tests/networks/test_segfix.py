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

"""Tests for monai_ext.networks.blocks.segfix (boundary / direction heads and the offset refinement)."""

from __future__ import annotations

import math
import unittest

import torch
import torch.nn.functional as F

from monai_ext.networks.blocks import SEGFIX_DIRECTION_OFFSETS, SegFixHeads, SegFixOffsetRefinement
from tests.fixtures import n_params


def _one_hot_logits(index: torch.Tensor, classes: int, high: float = 5.0) -> torch.Tensor:
    """(H, W) integer map -> (1, classes, H, W) logits peaked at ``index``."""
    return F.one_hot(index, classes).permute(2, 0, 1)[None].float() * high


class TestDirections(unittest.TestCase):
    def test_table_matches_angles(self):
        self.assertEqual(len(SEGFIX_DIRECTION_OFFSETS), 8)
        for k, (dy, dx) in enumerate(SEGFIX_DIRECTION_OFFSETS):
            angle = math.degrees(math.atan2(dy, dx))
            expected = -180.0 + 45.0 * k
            self.assertAlmostEqual(math.cos(math.radians(angle - expected)), 1.0, places=9, msg=str(k))
            self.assertEqual(max(abs(dy), abs(dx)), 1)
        # the target quantisation k = round((theta + pi) / (pi / 4)) mod 8 gives back k for every offset
        for k, (dy, dx) in enumerate(SEGFIX_DIRECTION_OFFSETS):
            self.assertEqual(round((math.atan2(dy, dx) + math.pi) / (math.pi / 4)) % 8, k)


class TestOffsetRefinement(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)
        self.coarse = torch.randn(1, 3, 5, 6)
        edge = torch.zeros(5, 6, dtype=torch.long)
        direction = torch.zeros(5, 6, dtype=torch.long)
        # (row, col, direction): interior moves, and moves off the image clamped to the border
        self.cases = [(2, 2, 0), (2, 3, 3), (1, 4, 5), (3, 1, 6), (0, 0, 1), (4, 5, 5), (0, 3, 2)]
        for r, c, k in self.cases:
            edge[r, c] = 1
            direction[r, c] = k
        self.boundary = _one_hot_logits(edge, 2)
        self.direction = _one_hot_logits(direction, 8)

    def test_boundary_pixels_take_their_neighbour(self):
        refined = SegFixOffsetRefinement()(self.coarse, self.boundary, self.direction)
        expected = self.coarse.clone()
        for r, c, k in self.cases:
            dy, dx = SEGFIX_DIRECTION_OFFSETS[k]
            rr, cc = min(max(r + dy, 0), 4), min(max(c + dx, 0), 5)  # border padding
            expected[0, :, r, c] = self.coarse[0, :, rr, cc]
        torch.testing.assert_close(refined, expected, rtol=1e-5, atol=1e-5)
        # moves off the image ((0, 0) up-left, (4, 5) down-right, (0, 3) up) are clamped onto the pixel itself
        self.assertEqual(int(((refined - self.coarse).abs() > 1e-4).any(1).sum()), 4)

    def test_threshold_is_on_the_softmax_probability(self):
        boundary = torch.zeros(1, 2, 5, 6)
        boundary[:, 0] = 2.0
        boundary[:, 1] = 0.7  # raw logit > 0.5 (public criterion) but softmax probability 0.21
        refiner = SegFixOffsetRefinement()
        self.assertEqual(float(refiner.offsets(boundary, self.direction).abs().sum()), 0.0)
        torch.testing.assert_close(refiner(self.coarse, boundary, self.direction), self.coarse)
        off = refiner.offsets(self.boundary, self.direction)
        self.assertEqual(off[0, :, 1, 4].tolist(), [1.0, 1.0])  # direction 5 = (dy, dx) = (1, 1)
        self.assertEqual(off[0, :, 3, 3].tolist(), [0.0, 0.0])  # not a boundary pixel

    def test_gradient_reaches_coarse_logits_only(self):
        coarse = self.coarse.clone().requires_grad_(True)
        boundary = self.boundary.clone().requires_grad_(True)
        refined = SegFixOffsetRefinement()(coarse, boundary, self.direction)
        refined[0, 0, 2, 2].backward()
        self.assertAlmostEqual(float(coarse.grad[0, 0, 2, 1]), 1.0, places=5)  # gathered from the left neighbour
        self.assertAlmostEqual(float(coarse.grad.abs().sum()), 1.0, places=5)
        self.assertIsNone(boundary.grad)


class TestSegFixHeads(unittest.TestCase):
    def test_counts_and_shapes(self):
        self.assertEqual(n_params(SegFixHeads()), 67_328)
        torch.manual_seed(0)
        heads = SegFixHeads(8, 4).eval()
        coarse_map, fine_map = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 16, 16)
        with torch.no_grad():
            boundary, direction = heads([coarse_map, fine_map])
            up = F.interpolate(coarse_map, size=(16, 16), mode="bilinear", align_corners=True)
            torch.testing.assert_close(boundary, heads.mask_head(torch.cat([up, fine_map], 1)))
        self.assertEqual((tuple(boundary.shape), tuple(direction.shape)), ((2, 2, 16, 16), (2, 8, 16, 16)))
        with self.assertRaisesRegex(ValueError, "expected 8 concatenated channels, got 6"):
            heads([torch.randn(1, 2, 8, 8), torch.randn(1, 4, 16, 16)])


if __name__ == "__main__":
    unittest.main()
