# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""CPU model and flags from /proc/cpuinfo."""

from __future__ import annotations

import re
from pathlib import Path

from monai_ext.deploy import cpu_flags, cpu_model_name, has_native_bf16, has_vnni


def test_flags_match_proc_cpuinfo():
    text = Path("/proc/cpuinfo").read_text()
    flags = set(re.search(r"^flags\s*:\s*(.*)$", text, re.M).group(1).split())
    assert cpu_flags() == flags and "sse2" in flags
    assert cpu_model_name() == re.search(r"^model name\s*:\s*(.*)$", text, re.M).group(1).strip()
    assert has_vnni() == bool({"avx512_vnni", "avx_vnni"} & flags)
    assert has_native_bf16() == bool({"avx512_bf16", "amx_bf16"} & flags)
