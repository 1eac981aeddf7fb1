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
"""List the inputs of a bundle's inference run: folders or files of images (PNG, ...) and DICOM ultrasound.

Every input becomes one or more items of a MONAI datalist. DICOM files are expanded into one item per frame so that a
cine clip is streamed frame by frame (the frame-level loader :class:`monai_ext.inference.USLoadImageFramed` decodes
only the item's frame); only the header is read here, so bad DICOM input (no pixel data, an undecodable transfer
syntax, not ultrasound) fails now, with the file named, instead of deep inside a data loader.

Items (all with the same keys, so that batches of mixed inputs collate)::

    {"image": "/abs/clip.dcm", "frame": 7, "num_frames": 120}   # frame 7 (0-based) of a 120-item clip
    {"image": "/abs/a.png", "frame": 0, "num_frames": 1}        # an ordinary image

``num_frames`` is the number of items listed for that file (the frames within StartTrim/StopTrim when ``use_trim``),
so a consumer knows when it has seen the last frame of a source; the items of one file are consecutive.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

__all__ = ["DICOM_SUFFIXES", "IMAGE_SUFFIXES", "list_inference_inputs", "output_stem"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".dcm", ".dicom", ".nii", ".nii.gz")
DICOM_SUFFIXES = (".dcm", ".dicom")
# Names of DICOM media files that hold no image (the directory record of a DICOM CD / USB export).
_SKIPPED_NAMES = ("dicomdir",)


def _has_dicm_preamble(path: Path) -> bool:
    try:
        with open(path, "rb") as fp:
            fp.seek(128)
            return fp.read(4) == b"DICM"
    except OSError:
        return False


def _is_dicom(path: Path) -> bool:
    """``.dcm`` / ``.dicom`` files, and extension-less files with the DICOM Part 10 preamble (PACS exports)."""
    name = path.name.lower()
    if name.endswith(DICOM_SUFFIXES):
        return True
    return "." not in name and _has_dicm_preamble(path)


def _accepted(path: Path, ends: tuple[str, ...], extensionless_dicom: bool) -> bool:
    name = path.name.lower()
    if name.startswith(".") or name in _SKIPPED_NAMES or not path.is_file():
        return False
    if name.endswith(ends):
        return True
    return extensionless_dicom and "." not in name and _has_dicm_preamble(path)


def _files(source: str | os.PathLike, ends: tuple[str, ...], extensionless_dicom: bool) -> list[Path]:
    root = Path(source).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"inference input {root} does not exist.")
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if _accepted(p, ends, extensionless_dicom))


def _dicom_items(path: Path, use_trim: bool) -> list[dict]:
    # imported here: monai_ext.io pulls in highdicom, which PNG-only users of this listing do not need
    from monai_ext.io import read_us_header

    header = read_us_header(path, warn_uncalibrated=False)  # raises USDicomError naming the file
    if use_trim and header.trim is not None:
        frames = list(range(header.trim[0], header.trim[1] + 1))
    else:
        frames = list(range(header.n_frames))
    return [{"image": str(path), "frame": i, "num_frames": len(frames)} for i in frames]


def list_inference_inputs(
    source: str | os.PathLike | Sequence[str | os.PathLike],
    suffixes: tuple[str, ...] | None = None,
    *,
    expand_frames: bool = True,
    use_trim: bool = True,
) -> list[dict]:
    """
    Datalist items for every image under `source`: one item per image file, one item per frame of a DICOM file.

    Folders are searched recursively in sorted order; files are taken as given. DICOM files are recognised by a
    ``.dcm`` / ``.dicom`` suffix or, without any suffix, by the ``DICM`` preamble (``DICOMDIR`` is skipped). Their
    headers are checked with :func:`monai_ext.io.read_us_header` (ultrasound SOP class, pixel data present, a pydicom
    plugin able to decode the transfer syntax); pixel data are not decoded.

    Args:
        source: a folder, a file, or a sequence of folders and files (listed in the given order, duplicates dropped).
        suffixes: accepted file name endings (default :data:`IMAGE_SUFFIXES`); extension-less DICOM files are
            accepted only with the default.
        expand_frames: one item per frame for DICOM files (default); False gives one item per file with
            ``"frame": None`` (the whole clip, for loaders that read clips at once).
        use_trim: list only the frames within StartTrim / StopTrim when the file has them (as the reader does).

    Returns:
        items ``{"image": absolute path, "frame": 0-based frame index, "num_frames": items of this file}``.

    Raises:
        FileNotFoundError: when a source does not exist.
        ValueError: when no image is found, or when two inputs would write their outputs under the same name (the
            outputs of an input are named by its file name without the image suffix, e.g. ``a/x.png`` and
            ``b/x.dcm`` both give ``x_mask.png``).
        monai_ext.io.USDicomError: a DICOM file that cannot be read as ultrasound (the message names the file).
    """
    sources = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    if not sources:
        raise ValueError("no inference input given (an empty sequence).")
    ends = tuple(s.lower() for s in (suffixes or IMAGE_SUFFIXES))
    files: list[Path] = []
    for src in sources:
        for f in _files(src, ends, extensionless_dicom=suffixes is None):
            f = f.resolve()
            if f not in files:
                files.append(f)
    files = [f for f in files if f.name.lower().endswith(ends) or (suffixes is None and _is_dicom(f))]
    if not files:
        shown = ", ".join(str(s) for s in sources)
        raise ValueError(f"no input images ({', '.join(ends)}) found in {shown}.")
    _check_output_names(files)
    items: list[dict] = []
    for f in files:
        if _is_dicom(f):
            if expand_frames:
                items.extend(_dicom_items(f, use_trim))
            else:
                n = len(_dicom_items(f, use_trim))
                items.append({"image": str(f), "frame": None, "num_frames": n})
        else:
            items.append({"image": str(f), "frame": 0, "num_frames": 1})
    return items


def output_stem(path: str | os.PathLike) -> str:
    """The name the outputs of an input file are written under: the file name without its image suffix.

    ``x.png``, ``x.dcm`` and ``x.nii.gz`` all give ``x``; an extension-less DICOM file (often a UID such as
    ``1.2.840.1234``) keeps its whole name.
    """
    name = Path(path).name
    if name.lower().endswith(".nii.gz"):
        return name[: -len(".nii.gz")]
    if Path(name).suffix.lower() in IMAGE_SUFFIXES:
        return Path(name).stem
    return name


def _check_output_names(files: Sequence[Path]) -> None:
    """Refuse inputs whose outputs would overwrite each other (one output folder, outputs named by file stem)."""
    seen: dict[str, Path] = {}
    for f in files:
        stem = output_stem(f)
        if stem in seen:
            raise ValueError(
                f"{seen[stem]} and {f} would both write their results as '{stem}_*' in the one output folder; "
                "rename one of them or segment them in separate runs."
            )
        seen[stem] = f
