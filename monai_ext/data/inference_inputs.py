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
"""List the inputs of a bundle's inference run: folders or files of images (PNG, ...), NIfTI and DICOM ultrasound.

Every input becomes one or more items of a MONAI datalist. DICOM files are expanded into one item per frame so that a
cine clip is streamed frame by frame (the frame-level loader :class:`monai_ext.transforms.USLoadImageFramed` decodes
only the item's frame). Everything is checked here, before any frame is run, so bad input fails now with the file
named instead of after other results were written:

- DICOM: the header pass of :func:`monai_ext.io.read_us_header` (not DICOM or truncated, no pixel data, an
  undecodable transfer syntax, not ultrasound, a geometry that does not fit the pixel data);
- images: PIL reads the header and verifies the file (a text file named ``.png``, a truncated or corrupt PNG, a
  decompression bomb, a palette / CMYK / 32-bit image are refused; :func:`monai_ext.data.check_image_file`);
- NIfTI: nibabel reads the header; the image must be 2D (``(X, Y)`` or ``(X, Y, 1)``) on the 0-255 scale;
- output names: the outputs of an input are named by its file name without the image suffix, the frames of a clip
  ``<stem>_f0007``: two inputs whose output names would coincide (``a/x.png`` and ``b/x.dcm``, or a clip
  ``clip.dcm`` and an image ``clip_f0000.png``) are refused, compared case-insensitively (case-insensitive file
  systems would merge them);
- our own outputs are never inputs: files written by monai_ext (SEG / SR and key-frame DICOMs, PNG masks with our
  ``Software`` text chunk, NIfTI label maps with our description) are skipped wherever they are, and so are files
  named like our outputs (``*_mask.png``, ``*_mask.nii.gz``, ``*_sr.dcm``, ``*_seg.dcm``, ``*_keyframe.dcm``) inside
  ``output_dir`` when it is (or lies inside) an input folder, so a rerun into the input folder does not segment
  its previous results.

Folders are searched recursively; symbolic links to folders are not followed (no loops), links to files are read
(the item is the target, outputs are named after it).

Items (all with the same keys, so that batches of mixed inputs collate)::

    {"image": "/abs/clip.dcm", "frame": 7, "num_frames": 120}   # frame 7 (0-based) of a 120-item clip
    {"image": "/abs/a.png", "frame": 0, "num_frames": 1}        # an ordinary image

``num_frames`` is the number of items listed for that file (the frames within StartTrim/StopTrim when ``use_trim``),
so a consumer knows when it has seen the last frame of a source; the items of one file are consecutive.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

from monai_ext.data.layouts import USDatasetError, check_image_file

__all__ = ["DICOM_SUFFIXES", "IMAGE_SUFFIXES", "list_inference_inputs", "output_stem"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".dcm", ".dicom", ".nii", ".nii.gz")
DICOM_SUFFIXES = (".dcm", ".dicom")
NIFTI_SUFFIXES = (".nii", ".nii.gz")
# Names of DICOM media files that hold no image (the directory record of a DICOM CD / USB export).
_SKIPPED_NAMES = ("dicomdir",)
# Names of the files an inference run writes (results writer and SaveImaged with output_postfix="mask").
_OUTPUT_NAME = re.compile(r"(_mask\.png|_mask\.nii(\.gz)?|_(sr|seg|keyframe)\.dcm)$", re.IGNORECASE)
_SEG_SR_CLASSES = ("1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.88.34")  # Segmentation, Comprehensive 3D SR
_OURS = "monai_ext"
_KEYFRAME_DERIVATION = re.compile(r"^frame \d+ of multi-frame ultrasound image ")
logger = logging.getLogger(__name__)


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


def _written_by_us(path: Path, dicom: bool) -> bool:
    """Whether a file is one of our outputs, from its content (DICOM attributes, PNG text chunk, NIfTI descrip)."""
    name = path.name.lower()
    try:
        if dicom:
            import pydicom

            tags = ["SOPClassUID", "Manufacturer", "SoftwareVersions", "SeriesDescription", "ImageType"]
            ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=[*tags, "DerivationDescription"])
            if str(ds.get("SOPClassUID", "")) in _SEG_SR_CLASSES:
                versions = ds.get("SoftwareVersions") or ""
                software = versions if isinstance(versions, str) else " ".join(str(v) for v in versions)
                return str(ds.get("Manufacturer", "")) == _OURS or software.startswith(_OURS)
            image_type = [str(v).upper() for v in (ds.get("ImageType") or [])]
            return (
                bool(image_type)
                and image_type[0] == "DERIVED"
                and str(ds.get("SeriesDescription", "")).startswith("Key frames: ")
                and bool(_KEYFRAME_DERIVATION.match(str(ds.get("DerivationDescription", ""))))
            )
        if name.endswith(".png"):
            from PIL import Image

            with Image.open(path) as im:
                return str(im.info.get("Software", "")).startswith(_OURS)
        if name.endswith(NIFTI_SUFFIXES):
            import nibabel as nib

            descrip = nib.load(path).header["descrip"].tobytes().rstrip(b"\0")
            return descrip.startswith(_OURS.encode())
    except Exception:  # unreadable files are reported by the checks below, with their own message
        return False
    return False


def _check_nifti(path: Path) -> None:
    import nibabel as nib

    try:
        shape = tuple(int(n) for n in nib.load(path).shape)
    except Exception as e:
        raise USDatasetError(f"{path}: not a readable NIfTI file ({type(e).__name__}: {e})") from None
    if len([n for n in shape if n != 1]) > 2 or len(shape) < 2:
        raise USDatasetError(
            f"{path}: NIfTI image of shape {shape}; the bundles segment 2D images, (X, Y) or (X, Y, 1): split volumes "
            "and clips into 2D images (or use DICOM clips)"
        )


def _dicom_frames(path: Path, use_trim: bool) -> tuple[list[int], int]:
    """The 0-based frames listed for a DICOM file and its NumberOfFrames (header pass only)."""
    # imported here: monai_ext.io pulls in highdicom, which PNG-only users of this listing do not need
    from monai_ext.io import read_us_header

    header = read_us_header(path, warn_uncalibrated=False)  # raises USDicomError naming the file
    if use_trim and header.trim is not None:
        return list(range(header.trim[0], header.trim[1] + 1)), header.n_frames
    return list(range(header.n_frames)), header.n_frames


def _inside(path: Path, folder: Path | None) -> bool:
    return folder is not None and (path == folder or folder in path.parents)


def list_inference_inputs(
    source: str | os.PathLike | Sequence[str | os.PathLike],
    suffixes: tuple[str, ...] | None = None,
    *,
    expand_frames: bool = True,
    use_trim: bool = True,
    output_dir: str | os.PathLike | None = None,
) -> list[dict]:
    """
    Datalist items for every image under `source`: one item per image file, one item per frame of a DICOM file.

    Folders are searched recursively in sorted order; files are taken as given. DICOM files are recognised by a
    ``.dcm`` / ``.dicom`` suffix or, without any suffix, by the ``DICM`` preamble (``DICOMDIR`` is skipped). Every
    input is checked before the list is returned (see the module docstring); pixel data are not decoded.

    Args:
        source: a folder, a file, or a sequence of folders and files (listed in the given order, duplicates dropped).
        suffixes: accepted file name endings (default :data:`IMAGE_SUFFIXES`); extension-less DICOM files are
            accepted only with the default.
        expand_frames: one item per frame for DICOM files (default); False gives one item per file with
            ``"frame": None`` (the whole clip, for loaders that read clips at once).
        use_trim: list only the frames within StartTrim / StopTrim when the file has them (as the reader does).
        output_dir: the run's output folder: files inside it named like our outputs are skipped (a rerun whose
            output folder is the input folder does not take its previous results as inputs).

    Returns:
        items ``{"image": absolute path, "frame": 0-based frame index, "num_frames": items of this file}``.

    Raises:
        FileNotFoundError: when a source does not exist.
        ValueError: when no image is found, or when two inputs would write an output under the same name.
        monai_ext.data.USDatasetError: an image or NIfTI file that cannot be read (the message names the file).
        monai_ext.io.USDicomError: a DICOM file that cannot be read as ultrasound (the message names the file).
    """
    sources = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    if not sources:
        raise ValueError("no inference input given (an empty sequence).")
    ends = tuple(s.lower() for s in (suffixes or IMAGE_SUFFIXES))
    out = Path(output_dir).expanduser().resolve() if output_dir not in (None, "") else None
    files: list[Path] = []
    for src in sources:
        for f in _files(src, ends, extensionless_dicom=suffixes is None):
            f = f.resolve()
            if f not in files:
                files.append(f)
    files = [f for f in files if f.name.lower().endswith(ends) or (suffixes is None and _is_dicom(f))]
    ours = [f for f in files if (_inside(f, out) and _OUTPUT_NAME.search(f.name)) or _written_by_us(f, _is_dicom(f))]
    if ours:
        logger.warning(
            f"skipping {len(ours)} file(s) written by monai_ext (e.g. {ours[0]}): results are never taken as inputs"
        )
        files = [f for f in files if f not in ours]
    if not files:
        shown = ", ".join(str(s) for s in sources)
        skipped = f" ({len(ours)} file(s) written by monai_ext skipped)" if ours else ""
        raise ValueError(f"no input images ({', '.join(ends)}) found in {shown}{skipped}.")
    listed: list[tuple[Path, list[int] | None, int]] = []  # (file, DICOM frames or None, NumberOfFrames)
    for f in files:
        if _is_dicom(f):
            frames, n_file = _dicom_frames(f, use_trim)
            listed.append((f, frames, n_file))
        else:
            if f.name.lower().endswith(NIFTI_SUFFIXES):
                _check_nifti(f)
            else:
                check_image_file(f, "image", decode=False)
            listed.append((f, None, 1))
    _check_output_names(listed)
    items: list[dict] = []
    for f, frames, _ in listed:
        if frames is None:
            items.append({"image": str(f), "frame": 0, "num_frames": 1})
        elif expand_frames:
            items.extend({"image": str(f), "frame": i, "num_frames": len(frames)} for i in frames)
        else:
            items.append({"image": str(f), "frame": None, "num_frames": len(frames)})
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


def _check_output_names(listed: Sequence[tuple[Path, list[int] | None, int]]) -> None:
    """Refuse inputs whose outputs would overwrite each other (one output folder, outputs named by file stem and,
    for the frames of a clip, ``<stem>_f0007``)."""
    seen: dict[str, tuple[Path, str]] = {}
    for f, frames, n_file in listed:
        stem = output_stem(f)
        names = [stem]
        if frames is not None and n_file > 1:
            names += [f"{stem}_f{k:04d}" for k in frames]  # as us_frame_name_formatter names clip frames
        for name in names:
            key = name.casefold()
            if key in seen and seen[key][0] != f:
                other, other_name = seen[key]
                raise ValueError(
                    f"{other} and {f} would both write their results as '{name}_*' in the one output folder"
                    + (f" ('{other_name}' and '{name}' differ only in case)" if other_name != name else "")
                    + "; rename one of them or segment them in separate runs."
                )
            seen[key] = (f, name)
