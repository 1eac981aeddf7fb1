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

"""Read the manifest of synthetic unlabelled images (MGCC stage 1, docs/methods/mgcc.md, "Synthetic images").

The manifest is the JSON written by the ``generate`` stage (:mod:`monai_ext.generative.synthetic_manifest`) next to the
``syn_XXXX.png`` files. Its ``"files"`` list holds paths relative to the manifest's folder (or absolute paths);
each entry is either a string or an object with an ``"image"`` key. Everything else in the manifest (seed,
sampler, checkpoint hashes, ...) is provenance and is not needed to load the images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from monai_ext.utils.errors import USInputError
from monai_ext.utils.json_files import read_json_object

__all__ = ["SYNTHETIC_MANIFEST_FORMAT", "USSyntheticManifestError", "load_synthetic_items", "read_synthetic_manifest"]

SYNTHETIC_MANIFEST_FORMAT = "monai_ext.synthetic_manifest"


class USSyntheticManifestError(USInputError):
    """A synthetic-image manifest is malformed; the message names the file and the problem."""


def read_synthetic_manifest(manifest: str | Path) -> dict[str, Any]:
    """Read and validate a synthetic-image manifest (a JSON object with a non-empty list ``"files"``).

    Args:
        manifest: path of the manifest JSON.

    Returns:
        the manifest as a dict.

    Raises:
        FileNotFoundError: when the manifest does not exist.
        USSyntheticManifestError: when it is not valid JSON, not an object, or has no usable ``"files"`` list.
    """
    p = Path(manifest)
    if not p.is_file():
        raise FileNotFoundError(f"synthetic-image manifest not found: {p}")
    data = read_json_object(p, USSyntheticManifestError, "synthetic-image manifest")
    files = data.get("files")
    if not isinstance(files, list) or not files:
        raise USSyntheticManifestError(f"synthetic-image manifest {p}: 'files' must be a non-empty list")
    for i, entry in enumerate(files):
        name = entry.get("image") if isinstance(entry, dict) else entry
        if not isinstance(name, str) or not name:
            raise USSyntheticManifestError(
                f"synthetic-image manifest {p}: files[{i}] must be a path or an object with an 'image' path"
            )
    return data


def load_synthetic_items(manifest: str | Path) -> list[dict[str, str]]:
    """Data items ``[{"image": <absolute path>}, ...]`` of the synthetic images listed in a manifest.

    Intended for the unlabelled stream of a semi-supervised bundle, e.g.
    ``"$@unlabeled_items + monai_ext.data.load_synthetic_items(@synthetic_manifest)"``.

    Args:
        manifest: path of the manifest written by the generate stage; ``""`` (or ``None``) means "no synthetic
            images" and returns ``[]``.

    Returns:
        one dict per listed file, in manifest order, with the path made absolute (relative entries are resolved
        against the manifest's folder).

    Raises:
        FileNotFoundError: when the manifest, or any file it lists, does not exist (the message names it).
        USSyntheticManifestError: when the manifest is malformed.
    """
    if manifest is None or (isinstance(manifest, str) and not manifest.strip()):
        return []
    if not isinstance(manifest, (str, Path)):
        raise TypeError(f"manifest must be a path (str or Path) or '', got {type(manifest).__name__}")
    p = Path(manifest).expanduser()
    data = read_synthetic_manifest(p)
    root = p.resolve().parent
    items: list[dict[str, str]] = []
    missing: list[str] = []
    for entry in data["files"]:
        name = entry["image"] if isinstance(entry, dict) else entry
        f = Path(name).expanduser()
        f = f if f.is_absolute() else root / f
        if not f.is_file():
            missing.append(str(f))
        items.append({"image": str(f)})
    if missing:
        more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
        raise FileNotFoundError(
            f"synthetic-image manifest {p} lists {len(missing)} missing file(s): {missing[:3]}{more}"
        )
    return items
