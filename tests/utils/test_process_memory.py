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
"""Tests of monai_ext.utils.process_memory: /proc/self/status entries in MB and the peak-RSS reset."""

from __future__ import annotations

import math
import sys

import pytest

from monai_ext.utils import process_status_mb, reset_peak_rss

_STATUS = "Name:\tpython\nVmPeak:\t  204800 kB\nVmHWM:\t   10240 kB\nVmRSS:\t    5120 kB\n"


def test_reads_an_entry_in_mb(tmp_path):
    status = tmp_path / "status"
    status.write_text(_STATUS)
    assert process_status_mb("VmRSS", str(status)) == 5.0
    assert process_status_mb("VmHWM", str(status)) == 10.0


def test_missing_entry_or_file_is_nan(tmp_path):
    status = tmp_path / "status"
    status.write_text(_STATUS)
    assert math.isnan(process_status_mb("VmSwap", str(status)))
    assert math.isnan(process_status_mb("VmRSS", str(tmp_path / "absent")))
    # a prefix of another key does not match it ("VmHW" is not "VmHWM")
    assert math.isnan(process_status_mb("VmHW", str(status)))


def test_reset_writes_5_or_says_it_could_not(tmp_path):
    clear_refs = tmp_path / "clear_refs"
    assert reset_peak_rss(str(clear_refs)) is True
    assert clear_refs.read_text() == "5"
    assert reset_peak_rss(str(tmp_path / "no" / "such" / "dir")) is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux-only")
def test_this_process_on_linux():
    rss, peak = process_status_mb("VmRSS"), process_status_mb("VmHWM")
    assert rss > 0 and peak >= rss - 1.0  # both read; the peak is at least the size read just before
    if reset_peak_rss():
        assert process_status_mb("VmHWM") <= peak + 1.0
