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
"""Tests of monai_ext.utils.errors: our input errors are found in exception chains and shown as the last lines."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from monai_ext.data import USDatasetError
from monai_ext.io import USDicomError
from monai_ext.utils import USInputError, find_input_error, input_error_lines, install_input_error_hook


def _wrapped(inner: BaseException) -> RuntimeError:
    """The chain MONAI builds: our error -> 'applying transform' -> 'Failed to evaluate ConfigExpression'."""
    try:
        try:
            try:
                raise inner
            except Exception as e:
                raise RuntimeError("applying transform <monai.transforms.Compose>") from e
        except Exception:
            raise RuntimeError("Failed to evaluate ConfigExpression: $@evaluator.run()")  # noqa: B904 (the implicit __context__ is the point)
    except RuntimeError as outer:
        return outer


def test_find_input_error_follows_causes_and_contexts():
    bad = USDicomError("/in/clip.dcm", "NumberOfFrames (0028,0008) is 0")
    assert isinstance(bad, USInputError) and isinstance(USDatasetError("x"), USInputError)
    assert find_input_error(_wrapped(bad)) is bad
    assert find_input_error(_wrapped(KeyError("x"))) is None
    assert find_input_error(None) is None
    assert input_error_lines(bad) == ""  # already the last line of its own traceback
    lines = input_error_lines(_wrapped(bad)).strip().splitlines()
    assert lines[-1] == "USDicomError: /in/clip.dcm: NumberOfFrames (0028,0008) is 0"


def _run(code: str, **env) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})


CODE = """
    import monai_ext
    from monai_ext.data import USDatasetError
    try:
        raise USDatasetError("unreadable image /data/a.png: cannot identify image file")
    except Exception as e:
        raise RuntimeError("Failed to evaluate ConfigExpression: $monai_ext.data.list_dataset(@root)") from e
"""


@pytest.mark.slow
def test_importing_monai_ext_makes_the_last_line_name_the_file():
    proc = _run(CODE)
    assert proc.returncode == 1
    err = proc.stderr.strip().splitlines()
    assert "Traceback (most recent call last):" in proc.stderr  # the full traceback is still printed first
    assert any(line.startswith("RuntimeError: Failed to evaluate") for line in err)
    assert err[-1] == "USDatasetError: unreadable image /data/a.png: cannot identify image file"
    off = _run(CODE, MONAI_EXT_EXCEPTHOOK="0")  # the hook can be switched off
    assert off.stderr.strip().splitlines()[-1].startswith("RuntimeError: Failed to evaluate")


def test_the_hook_keeps_the_previous_hook_and_other_errors_unchanged(monkeypatch, capsys):
    printed = []
    monkeypatch.setattr(sys, "excepthook", lambda t, e, tb: printed.append(e))
    assert install_input_error_hook() and install_input_error_hook()  # idempotent: wraps once
    hook = sys.excepthook
    other = KeyError("lr")
    hook(KeyError, other, None)
    assert printed == [other] and capsys.readouterr().err == ""
    bad = _wrapped(USDatasetError("mask /d/masks/a.png: unexpected gray values [1, 2, 3]"))
    hook(RuntimeError, bad, None)
    assert printed == [other, bad]  # the previous hook printed the traceback first
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "USDatasetError: mask /d/masks/a.png: unexpected gray values [1, 2, 3]"
    )


def test_errors_raised_in_dataloader_workers_keep_their_type():
    """torch re-raises a worker's error as type(error)(message); our errors must survive that to be found."""
    from torch.utils.data import DataLoader, Dataset

    class BadClip(Dataset):
        def __len__(self):
            return 1

        def __getitem__(self, index):
            raise USDicomError("/in/clip.dcm", "failed to decode frame 7")

    with pytest.raises(USDicomError) as info:
        next(iter(DataLoader(BadClip(), num_workers=1)))
    assert find_input_error(_wrapped(info.value)) is info.value
    assert input_error_lines(_wrapped(info.value)).strip().splitlines()[-1] == (
        "USDicomError: /in/clip.dcm: failed to decode frame 7"
    )
