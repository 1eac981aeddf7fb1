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

"""Tests for monai_ext.networks.arg_checks (shared argument checks of the networks)."""

from __future__ import annotations

import unittest

import torch

from monai_ext.networks.arg_checks import (
    check_choice,
    check_divisible,
    check_features,
    check_input_tensor,
    check_int_sequence,
    check_non_negative_int,
    check_positive_float,
    check_positive_int,
    check_probability,
    check_spatial_dims,
    stage_widths,
)


class TestArgChecks(unittest.TestCase):
    def test_accepts_good_values(self):
        check_spatial_dims("Net", 2)
        self.assertEqual(check_positive_int("Net", "dim", 3), 3)
        self.assertEqual(check_non_negative_int("Net", "n", 0), 0)
        self.assertEqual(check_positive_float("Net", "lr", 1), 1.0)
        self.assertEqual(check_probability("Net", "p", 0.5), 0.5)
        self.assertEqual(check_probability("Net", "p", 1, inclusive_one=True), 1.0)
        self.assertEqual(check_choice("Net", "mode", "a", ("a", "b")), "a")
        self.assertEqual(check_int_sequence("Net", "depths", (2, 3, 4), odd_length=True), [2, 3, 4])
        check_divisible("Net", "size", 64, 16)
        check_input_tensor("Net", torch.zeros(1, 3, 4, 4), 3)

    def test_messages_quote_owner_argument_and_value(self):
        cases = [
            (lambda: check_spatial_dims("Net", 3), "Net: only spatial_dims=2 is supported, got 3."),
            (lambda: check_spatial_dims("Net", True), "got True"),
            (lambda: check_positive_int("Net", "dim", 0), "Net: dim must be a positive int, got 0."),
            (lambda: check_positive_int("Net", "dim", True), "got True"),
            (lambda: check_positive_int("Net", "dim", 2.0), "got 2.0"),
            (lambda: check_non_negative_int("Net", "n", -1), "Net: n must be a non-negative int, got -1."),
            (lambda: check_positive_float("Net", "lr", 0.0), "Net: lr must be a positive number, got 0.0."),
            (lambda: check_probability("Net", "p", 1.0), "Net: p must be a number in [0, 1), got 1.0."),
            (lambda: check_choice("Net", "mode", "c", ("a", "b")), "Net: mode must be one of ('a', 'b'), got 'c'."),
            (lambda: check_int_sequence("Net", "d", "234"), "Net: d must be a non-empty sequence of ints >= 1"),
            (lambda: check_int_sequence("Net", "d", (2, 3), length=3), "Net: d must be 3 ints >= 1, got (2, 3)."),
            (lambda: check_int_sequence("Net", "d", (2, 3), odd_length=True), "an odd number of ints"),
            (lambda: check_int_sequence("Net", "d", (2, 0)), "got (2, 0)"),
            (lambda: check_divisible("Net", "size", 60, 16, "stride"), "size must be divisible by 16 (stride), got 60"),
            (lambda: check_input_tensor("Net", torch.zeros(1, 1, 4, 4), 3),
             "Net: expected input of shape (B, 3, H, W), got (1, 1, 4, 4)."),
            (lambda: check_input_tensor("Net", [1], 3), "got list"),
        ]
        for fn, message in cases:
            with self.assertRaises(ValueError) as ctx:
                fn()
            self.assertIn(message, str(ctx.exception))


class TestStageWidths(unittest.TestCase):
    def test_stage_widths(self):
        self.assertEqual(stage_widths("N", 4, None), [64, 128, 256, 512, 1024])
        self.assertEqual(stage_widths("N", 0.5, None), [8, 16, 32, 64, 128])
        self.assertEqual(stage_widths("N", 1, None), [16, 32, 64, 128, 256])
        self.assertEqual(stage_widths("N", 0.75, None), [12, 24, 48, 96, 192])
        self.assertEqual(stage_widths("N", 4, (3, 5, 7, 9, 11)), [3, 5, 7, 9, 11])

    def test_refusals_name_network_and_value(self):
        for bad in (0, -1, True, "2", None):
            with self.assertRaises(ValueError) as ctx:
                stage_widths("MGCCNet", bad, None)
            self.assertIn("MGCCNet", str(ctx.exception))
            self.assertIn(repr(bad), str(ctx.exception))
        with self.assertRaisesRegex(ValueError, "first stage 0 channels"):
            stage_widths("MGCCNet", 0.01, None)
        for bad in ((8, 16, 32, 64), (8, 16, 32, 64, 0), "abcde", (8, 16, 32, 64, 1.5)):
            with self.assertRaises(ValueError):
                check_features("MGCCNet", bad)
        with self.assertRaisesRegex(ValueError, "spatial_dims"):
            check_spatial_dims("MGCCNet", 3)
        with self.assertRaisesRegex(ValueError, "in_channels must be a positive int, got True"):
            check_positive_int("MGCCNet", "in_channels", True)


if __name__ == "__main__":
    unittest.main()
