# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
from __future__ import annotations

import unittest

from monai_ext.networks.arg_checks import check_features, check_positive_int, check_spatial_dims, stage_widths


class TestArgChecks(unittest.TestCase):
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
