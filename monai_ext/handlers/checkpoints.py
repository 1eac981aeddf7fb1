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
"""Helpers to resume training from the newest checkpoint written by MONAI's `CheckpointSaver`."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["latest_checkpoint"]

_NUMBER = re.compile(r"=(\d+)\.pt$")


def latest_checkpoint(directory: str | Path, prefix: str = "checkpoint") -> str | None:
    """
    The newest `<prefix>_*.pt` in `directory` by the iteration/epoch number in its name (`..._key_iteration=12.pt`,
    `..._epoch=3.pt`), a `..._final_iteration=N.pt` counting as its number; None if there is none.

    Args:
        directory: folder written by a `CheckpointSaver`.
        prefix: the saver's `file_prefix`.
    """
    folder = Path(directory)
    if not folder.is_dir():
        return None
    best: tuple[int, float, str] | None = None
    for f in folder.glob(f"{prefix}_*.pt"):
        m = _NUMBER.search(f.name)
        key = (int(m.group(1)) if m else -1, f.stat().st_mtime, str(f))
        if best is None or key > best:
            best = key
    return None if best is None else best[2]
