# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
from __future__ import annotations

import unittest

from monai_ext.config_flags import as_flag


class TestAsFlag(unittest.TestCase):
    def test_spellings(self):
        for value in (True, 1, "true", "True", " TRUE ", "yes", "on", "1", "y"):
            self.assertIs(as_flag(value), True, value)
        for value in (False, 0, "false", "False", "no", "off", "0", "n"):
            self.assertIs(as_flag(value), False, value)

    def test_refused_quoting_the_value(self):
        for value in (None, 2, -1, "maybe", "", [], 0.5, "truee"):
            with self.assertRaises(ValueError) as ctx:
                as_flag(value, "resume")
            self.assertIn(repr(value), str(ctx.exception))
            self.assertIn("--resume true", str(ctx.exception))


if __name__ == "__main__":
    unittest.main()
