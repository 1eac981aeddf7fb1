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

"""Resident memory of the current process, read from Linux ``/proc`` (for the benchmark scripts).

:func:`process_status_mb` reads one ``/proc/self/status`` entry (``VmRSS``: resident now, ``VmHWM``: peak resident,
"high water mark") in MB; :func:`reset_peak_rss` resets the kernel's peak counter, so that a benchmark that first
imports torch and MONAI (which peak far above steady state) measures only what follows. Both are Linux-only and say
so instead of raising: NaN and False elsewhere.
"""

from __future__ import annotations

__all__ = ["process_status_mb", "reset_peak_rss"]

_STATUS = "/proc/self/status"
_CLEAR_REFS = "/proc/self/clear_refs"


def process_status_mb(key: str, status_file: str = _STATUS) -> float:
    """One memory entry of ``/proc/self/status`` (e.g. ``"VmRSS"``, ``"VmHWM"``), converted from kB to MB.

    Args:
        key: the entry name, without the colon.
        status_file: the file to read (default ``/proc/self/status``; tests pass another).

    Returns:
        the value in MB (kB / 1024); NaN when the file cannot be read or has no such entry.
    """
    try:
        with open(status_file) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def reset_peak_rss(clear_refs_file: str = _CLEAR_REFS) -> bool:
    """Reset the peak resident set size (``VmHWM``) of this process to its current size.

    Writes ``5`` to ``/proc/self/clear_refs`` (Linux >= 4.0).

    Args:
        clear_refs_file: the file to write (default ``/proc/self/clear_refs``; tests pass another).

    Returns:
        True when the counter was reset; False where the file cannot be written (not Linux, no permission), in which
        case ``VmHWM`` still includes every earlier peak.
    """
    try:
        with open(clear_refs_file, "w") as f:
            f.write("5")
    except OSError:
        return False
    return True
