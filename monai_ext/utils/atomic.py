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
"""Outputs that appear whole or not at all: write to a hidden temporary name in the same folder, then rename.

A crash, a kill or a bad frame half-way through must never leave a truncated DICOM, NIfTI or PNG under the final
name (a PACS or a later run would take it as a result). ``os.replace`` within one folder is atomic on POSIX and
Windows. Temporary names start with ``.`` (input listings skip hidden files) and keep the file type's suffix, so
writers that choose the format by extension (nibabel's ``.nii.gz``, PIL) still do.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["StagedOutputs", "atomic_output", "temporary_sibling"]


def temporary_sibling(path: str | os.PathLike) -> Path:
    """A fresh hidden name next to ``path`` with the same suffix (``.x_mask.png.<pid>-<token>.tmp.png``)."""
    path = Path(path)
    name = path.name
    suffix = ".nii.gz" if name.lower().endswith(".nii.gz") else path.suffix
    return path.with_name(f".{name}.{os.getpid()}-{secrets.token_hex(4)}.tmp{suffix}")


@contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is renamed onto ``path``, on any error it is removed.

    Example::

        with atomic_output(out_path) as tmp:
            dataset.save_as(tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class StagedOutputs:
    """Several files that are published together: all of them, or (on an error) none.

    Use as a context manager; :meth:`path` gives the temporary name to write for a final path. On a clean exit every
    staged file is renamed to its final name, in staging order; on an exception all are removed.
    """

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path]] = []

    def path(self, final: str | os.PathLike) -> Path:
        """The temporary path to write for ``final`` (its folder is created)."""
        final = Path(final)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_sibling(final)
        self._staged.append((tmp, final))
        return tmp

    def commit(self) -> list[Path]:
        """Rename every written staged file to its final name; returns the final paths."""
        done = []
        for tmp, final in self._staged:
            if tmp.exists():
                os.replace(tmp, final)
                done.append(final)
        self._staged = []
        return done

    def discard(self) -> None:
        """Remove every staged file."""
        for tmp, _ in self._staged:
            tmp.unlink(missing_ok=True)
        self._staged = []

    def __enter__(self) -> StagedOutputs:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()
