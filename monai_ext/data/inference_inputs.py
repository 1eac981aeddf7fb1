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
"""List the inputs of a bundle's inference run: a folder of images or DICOM files, or single files."""

from __future__ import annotations

from pathlib import Path

__all__ = ["IMAGE_SUFFIXES", "list_inference_inputs"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".dcm", ".nii", ".nii.gz")


def _is_input(path: Path) -> bool:
    name = path.name.lower()
    return path.is_file() and not name.startswith(".") and name.endswith(IMAGE_SUFFIXES)


def list_inference_inputs(source: str, suffixes: tuple[str, ...] | None = None) -> list[dict]:
    """
    Items `{"image": path}` for every image under `source` (a folder, searched recursively in sorted order, or one
    file).

    Args:
        source: a folder or a file.
        suffixes: accepted file name endings (default :data:`IMAGE_SUFFIXES`).

    Raises:
        FileNotFoundError: when `source` does not exist.
        ValueError: when it holds no image.
    """
    root = Path(source).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"inference input {root} does not exist.")
    ends = tuple(s.lower() for s in (suffixes or IMAGE_SUFFIXES))
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if _is_input(p))
    files = [f for f in files if f.name.lower().endswith(ends)]
    if not files:
        raise ValueError(f"no input images ({', '.join(ends)}) found in {root}.")
    return [{"image": str(f.resolve())} for f in files]
