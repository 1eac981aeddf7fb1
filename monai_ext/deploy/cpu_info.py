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

"""What the CPU offers for int8 and bf16 inference, from ``/proc/cpuinfo`` (Linux; empty elsewhere).

VNNI (``avx512_vnni`` or ``avx_vnni``) makes int8 convolutions several times faster than fp32; native bf16
(``avx512_bf16`` or ``amx_bf16``) lets OpenVINO run in bf16.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["cpu_flags", "cpu_model_name", "has_native_bf16", "has_vnni"]

_CPUINFO = Path("/proc/cpuinfo")


def _first(key: str) -> str:
    try:
        text = _CPUINFO.read_text(errors="replace")
    except OSError:
        return ""
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip() == key:
            return value.strip()
    return ""


def cpu_model_name() -> str:
    """The CPU's ``model name`` (empty when unknown)."""
    return _first("model name")


def cpu_flags() -> set[str]:
    """The CPU's feature flags (empty when unknown)."""
    return set(_first("flags").split())


def has_vnni() -> bool:
    """True when the CPU has int8 dot-product instructions (``avx512_vnni`` or ``avx_vnni``)."""
    return bool({"avx512_vnni", "avx_vnni"} & cpu_flags())


def has_native_bf16() -> bool:
    """True when the CPU has native bf16 (``avx512_bf16`` or ``amx_bf16``)."""
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())
