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

"""Dataset folder layouts -> lists of items (image, label, patient group, class).

Supported layouts (``layout=`` name, detected with ``"auto"``):

- ``"busi"``: BUSI as published: class folders (``benign/``, ``malignant/``, ``normal/``) holding
  ``<name>.png`` and its masks ``<name>_mask.png``, ``<name>_mask_1.png``, ...; several masks are merged by union
  (the item's ``"label"`` is then a list), RGB(A) masks are binarised, normal images keep their empty masks; the
  class is the folder name.
- ``"images_masks"``: ``images/`` + ``masks/`` (mask named like the image, or ``<id>_mask.png``; the image may be
  ``.jpg`` with a ``.png`` mask). Folder names may be set by ``dataset.json`` (``image_dir``, ``mask_dir``).
- ``"images_masks0"``: ``images/`` + ``masks/0/`` (MGCC / CMU-Net style).
- ``"unlabeled"``: ``images/`` without masks, or a flat folder of images: items carry no ``"label"``.

Gray values are mapped to structures by a label table: the ``labels=`` argument, else ``dataset.json``
``"labels"``, else a binary table (``{"lesion": [255]}`` for BUSI, ``{"foreground": [255]}`` otherwise). Every
image and mask is read once with PIL when the folder is listed, so that unreadable files, missing masks, size
mismatches and unexpected gray values are reported with the file name before any training starts.

The group (patient) id of an item comes from the ``group_by=`` regex, else ``dataset.json`` ``"group_regex"``
(first group, or the whole match), else the image id (file stem) itself.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from monai_ext.transforms.image import image_mode_scale
from monai_ext.transforms.masks import channels_of_pil_mode, mask_to_label_index, normalize_label_table
from monai_ext.utils.errors import USInputError
from monai_ext.utils.json_files import read_json_object

__all__ = [
    "IMAGE_EXTENSIONS",
    "LAYOUTS",
    "USDatasetError",
    "USDatasetNotFoundError",
    "DatasetListing",
    "check_image_file",
    "check_listed_files",
    "detect_layout",
    "list_dataset",
    "read_dataset_json",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
LAYOUTS = ("busi", "images_masks", "images_masks0", "unlabeled")

# Folders inside a dataset root that never hold data (split files are written to DATASET/splits/).
_IGNORED_DIRS = {"splits", "__pycache__"}
_BUSI_MASK = re.compile(r"^(?P<stem>.+?)_mask(?:_(?P<k>\d+))?$")


class USDatasetError(USInputError):
    """A dataset folder cannot be listed; the message names the file or folder and the problem."""


class USDatasetNotFoundError(USDatasetError, FileNotFoundError):
    """A dataset folder or a file it needs does not exist."""


@dataclass
class DatasetListing:
    """The items of a dataset folder.

    Attributes:
        root: absolute dataset root; item paths are relative to it (POSIX separators).
        layout: the layout name (one of :data:`LAYOUTS`).
        items: one dict per image, sorted by id: ``{"id", "image", "label" (str, list of str, or absent),
            "group", "class" (optional)}``.
        labels: label table ``{structure: [gray values]}`` in label order.
        name: dataset name (``dataset.json`` "name", else the folder name).
        group_rule: the group regex used, or None when each image is its own group.
    """

    root: Path
    layout: str
    items: list[dict[str, Any]]
    labels: dict[str, list[int]]
    name: str
    group_rule: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def labeled(self) -> bool:
        """Whether the items carry labels."""
        return any("label" in it for it in self.items)

    @property
    def classes(self) -> dict[str, str]:
        """Image id -> class, for items that have one."""
        return {it["id"]: it["class"] for it in self.items if it.get("class") is not None}

    def file_list(self) -> list[str]:
        """Sorted relative paths of every image and mask file of the listing."""
        files: list[str] = []
        for it in self.items:
            files.append(it["image"])
            lab = it.get("label")
            if isinstance(lab, str):
                files.append(lab)
            elif lab:
                files.extend(lab)
        return sorted(files)

    def input_sha256(self) -> str:
        """SHA-256 of the sorted relative file list (one path per line), as stored in split files."""
        return hashlib.sha256("\n".join(self.file_list()).encode("utf-8")).hexdigest()


def _is_image(p: Path) -> bool:
    return p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS


def _images_in(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if _is_image(p)), key=lambda p: p.name)


def _subdirs(folder: Path) -> list[Path]:
    return sorted(
        (p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in _IGNORED_DIRS),
        key=lambda p: p.name,
    )


def read_dataset_json(root: str | Path) -> dict[str, Any]:
    """The ``dataset.json`` of a dataset root as a dict (empty when there is none).

    Raises:
        USDatasetError: when the file is not valid JSON or not a JSON object.
    """
    path = Path(root) / "dataset.json"
    if not path.is_file():
        return {}
    return read_json_object(path, USDatasetError)


def _check_root(root: str | Path) -> Path:
    path = Path(root).expanduser()
    if not path.exists():
        raise USDatasetNotFoundError(f"dataset folder not found: {path}")
    if not path.is_dir():
        raise USDatasetError(f"dataset path is not a folder: {path}")
    return path.resolve()


def detect_layout(root: str | Path) -> str:
    """Name of the layout of a dataset folder (see the module docstring).

    Raises:
        USDatasetNotFoundError: when the folder does not exist.
        USDatasetError: when the folder is empty or holds no images in a known layout.
    """
    path = _check_root(root)
    meta = read_dataset_json(path)
    image_dir = path / str(meta.get("image_dir", "images"))
    mask_dir = path / str(meta.get("mask_dir", "masks"))
    if image_dir.is_dir() and image_dir != path:
        if "mask_dir" in meta and not mask_dir.is_dir():
            raise USDatasetNotFoundError(f"mask folder {mask_dir} named in {path / 'dataset.json'} does not exist")
        if (mask_dir / "0").is_dir():
            return "images_masks0"
        return "images_masks" if mask_dir.is_dir() else "unlabeled"
    subdirs = _subdirs(path)
    for sub in subdirs:
        if any(_BUSI_MASK.match(p.stem) for p in _images_in(sub)):
            return "busi"
    if _images_in(path):
        return "unlabeled"
    entries = [p for p in path.iterdir() if not p.name.startswith(".") and p.name not in _IGNORED_DIRS]
    if not entries:
        raise USDatasetError(f"empty dataset folder: {path}")
    raise USDatasetError(
        f"no images found in {path}: expected BUSI class folders (<name>.png + <name>_mask.png), images/ + masks/, "
        f"images/ + masks/0/, or a folder of images ({', '.join(IMAGE_EXTENSIONS)})"
    )


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _open_pil(path: Path, what: str, decode: bool) -> tuple[Any, tuple[int, int]]:
    """Open a file with PIL: fully decoded (``decode``), else the header and PIL's ``verify`` (PNG chunk CRCs).

    Images larger than ``PIL.Image.MAX_IMAGE_PIXELS`` are refused (PIL only warns below twice that limit), and
    images whose mode has no known intensity scale (palette, CMYK, 32-bit, float) are refused with the fix.
    """
    from PIL import Image

    try:
        if path.is_file() and path.stat().st_size == 0:
            raise USDatasetError(f"unreadable {what} {path}: the file is empty")
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # a decompression bomb is an error here
            with Image.open(path) as im:
                if decode:
                    im.load()
                    result = im.copy(), im.size
                else:
                    result = None, im.size
                    mode = im.mode
                    im.verify()
    except USDatasetError:
        raise
    except FileNotFoundError as e:
        raise USDatasetNotFoundError(f"{what} not found: {path}") from e
    except Exception as e:  # PIL raises many types (UnidentifiedImageError, OSError, SyntaxError, ...)
        raise USDatasetError(f"unreadable {what} {path}: {e}") from e
    if what == "image":
        try:
            image_mode_scale(result[0].mode if decode else mode, f"image {path}")
        except USInputError as e:
            raise USDatasetError(str(e)) from None
    return result


def _read_pil(path: Path, what: str) -> tuple[Any, tuple[int, int]]:
    """Decode a file fully with PIL (a header-only open would miss truncated files)."""
    return _open_pil(path, what, decode=True)


def check_image_file(path: str | Path, what: str = "image", decode: bool = True) -> tuple[int, int]:
    """Check that PIL can read an image (or mask) file; returns its size (width, height).

    Args:
        path: the file.
        what: ``"image"`` (also checks that the mode has a known intensity scale) or ``"mask"``.
        decode: decode the pixels (finds truncated files); False reads the header and runs PIL's ``verify``
            (for PNG, the chunk checksums: truncation and corruption without decompressing).

    Raises:
        USDatasetNotFoundError: when the file does not exist.
        USDatasetError: naming the file: empty, not an image, truncated or corrupt, a decompression bomb (larger
            than ``PIL.Image.MAX_IMAGE_PIXELS``), or an image mode without a known intensity scale.
    """
    return _open_pil(Path(path), what, decode)[1]


def check_listed_files(root: str | Path, items: Sequence[Mapping[str, Any]]) -> None:
    """The cheap checks of a split or listing reused later: files exist, are readable image files (header and
    PIL's ``verify``, no decoding) and masks have their image's size, so that a file deleted or corrupted since the
    split was made is reported now, naming it, instead of deep inside dataset caching.

    Args:
        root: the dataset root the item paths are relative to (absolute paths are taken as they are).
        items: items with ``"image"`` and optionally ``"label"`` (a path or a list of paths).

    Raises:
        USDatasetNotFoundError / USDatasetError: naming the file and the problem.
    """
    base = Path(root)
    for it in items:
        img = base / it["image"]
        size = check_image_file(img, "image", decode=False)
        labels = it.get("label")
        for rel in [] if labels is None else [labels] if isinstance(labels, str) else labels:
            msize = check_image_file(base / rel, "mask", decode=False)
            if msize != size:
                raise USDatasetError(
                    f"mask {base / rel} has size {msize[0]}x{msize[1]} but image {img} has size {size[0]}x{size[1]}"
                )


def _mask_array(im: Any) -> np.ndarray:
    """Channel-first array of a PIL mask, with the channels MONAI's PILReader would give."""
    arr = np.asarray(im)
    if im.mode == "1":
        arr = arr.astype(np.uint8)
    return arr[None] if arr.ndim == 2 else np.moveaxis(arr, -1, 0)


def _check_item(root: Path, item: dict[str, Any], table: Mapping[str, Sequence[int]], hint: str | None) -> None:
    """Read the image and its masks once: readable, same size, gray values allowed by the table."""
    img_path = root / item["image"]
    _, size = _read_pil(img_path, "image")
    labels = item.get("label")
    if labels is None:
        return
    merged: np.ndarray | None = None
    for rel in [labels] if isinstance(labels, str) else labels:
        mpath = root / rel
        im, msize = _read_pil(mpath, "mask")
        if msize != size:
            raise USDatasetError(
                f"mask {mpath} has size {msize[0]}x{msize[1]} but image {img_path} has size {size[0]}x{size[1]}"
            )
        try:
            mode_channels = channels_of_pil_mode(im.mode)
            idx = mask_to_label_index(
                _mask_array(im), table, mode_channels, source=str(mpath), bilevel=im.mode == "1", label_hint=hint
            )
        except ValueError as e:
            msg = str(e) if str(mpath) in str(e) else f"mask {mpath}: {e}"
            raise USDatasetError(msg) from e
        if merged is not None and len(table) > 1:
            clash = (merged > 0) & (idx > 0) & (merged != idx)
            if np.any(clash):
                raise USDatasetError(
                    f"mask {mpath} marks {int(clash.sum())} pixels as other structures than the other masks of "
                    f"image {img_path}"
                )
            idx = np.where(merged > 0, merged, idx)
        merged = idx


def _list_busi(root: Path) -> list[dict[str, Any]]:
    items = []
    class_dirs = [d for d in _subdirs(root) if _images_in(d)]
    if not class_dirs:
        raise USDatasetError(f"no images found in {root}: BUSI layout expects class folders such as benign/")
    for cdir in class_dirs:
        images: dict[str, Path] = {}
        masks: dict[str, list[tuple[int, Path]]] = {}
        for p in _images_in(cdir):
            m = _BUSI_MASK.match(p.stem)
            if m:
                masks.setdefault(m.group("stem"), []).append((int(m.group("k") or 0), p))
            else:
                if p.stem in images:
                    raise USDatasetError(f"two images with id {p.stem!r} in {cdir}: {images[p.stem].name}, {p.name}")
                images[p.stem] = p
        orphans = sorted(set(masks) - set(images))
        if orphans:
            first = sorted(masks[orphans[0]])[0][1]
            raise USDatasetError(f"mask {first} has no image {orphans[0]}.* in {cdir}")
        for stem, img in images.items():
            if stem not in masks:
                raise USDatasetError(f"mask missing for image {img}: expected {cdir / (stem + '_mask.png')}")
            mlist = [_rel(p, root) for _, p in sorted(masks[stem], key=lambda kp: (kp[0], kp[1].name))]
            items.append(
                {
                    "id": stem,
                    "image": _rel(img, root),
                    "label": mlist[0] if len(mlist) == 1 else mlist,
                    "class": cdir.name,
                }
            )
    return items


def _list_images_masks(root: Path, image_dir: Path, mask_dir: Path | None) -> list[dict[str, Any]]:
    if not image_dir.is_dir():
        raise USDatasetNotFoundError(f"image folder not found: {image_dir}")
    images: dict[str, Path] = {}
    for p in _images_in(image_dir):
        if p.stem in images:
            raise USDatasetError(f"two images with id {p.stem!r} in {image_dir}: {images[p.stem].name}, {p.name}")
        images[p.stem] = p
    if not images:
        entries = [p for p in image_dir.iterdir() if not p.name.startswith(".")]
        what = "empty image folder" if not entries else "no images found in"
        raise USDatasetError(f"{what} {image_dir} (expected {', '.join(IMAGE_EXTENSIONS)} files)")
    if mask_dir is None:
        return [{"id": k, "image": _rel(p, root)} for k, p in images.items()]
    if not mask_dir.is_dir():
        raise USDatasetNotFoundError(f"mask folder not found: {mask_dir}")
    # Masks are matched by stem: "<id>.<ext>" first, then "<id>_mask.<ext>".
    exact: dict[str, Path] = {}
    suffixed: dict[str, Path] = {}
    for p in _images_in(mask_dir):
        for by_id, key in ((exact, p.stem),) + (((suffixed, p.stem[:-5]),) if p.stem.endswith("_mask") else ()):
            if key in by_id:
                raise USDatasetError(f"two masks for id {key!r} in {mask_dir}: {by_id[key].name}, {p.name}")
            by_id[key] = p
    items = []
    used: set[Path] = set()
    for key, img in images.items():
        mask = exact.get(key) or suffixed.get(key)
        if mask is None:
            raise USDatasetError(
                f"mask missing for image {img}: expected {mask_dir / (key + '.png')} or "
                f"{mask_dir / (key + '_mask.png')}"
            )
        used.add(mask)
        items.append({"id": key, "image": _rel(img, root), "label": _rel(mask, root)})
    orphans = sorted(set(exact.values()) - used)
    if orphans:
        raise USDatasetError(f"mask {orphans[0]} has no image in {image_dir} ({len(orphans)} unmatched mask(s))")
    return items


def _group_of(item_id: str, regex: re.Pattern[str] | None) -> str:
    if regex is None:
        return item_id
    m = regex.search(item_id)
    if m is None:
        raise USDatasetError(f"group regex {regex.pattern!r} does not match image id {item_id!r}")
    g = next((x for x in m.groups() if x is not None), None) if m.groups() else None
    return g if g is not None else m.group(0)


def list_dataset(
    root: str | Path,
    layout: str = "auto",
    labels: Mapping[str, Sequence[int] | int] | Sequence[Sequence[int] | int] | None = None,
    group_by: str | None = None,
    check: bool = True,
    label_hint: str | None = None,
) -> DatasetListing:
    """List the items of a dataset folder.

    Args:
        root: dataset folder.
        layout: one of :data:`LAYOUTS`, or ``"auto"`` to detect it.
        labels: label table ``{structure: [gray values]}``; default ``dataset.json`` "labels", else binary.
        group_by: regex applied to the image id (file stem); its first group (or whole match) is the patient id.
            Default ``dataset.json`` "group_regex", else every image is its own group.
        check: read every image and mask once (readable, same size, gray values allowed by the table); False
            runs only the cheap checks of :func:`check_listed_files` (exists, header, size; no decoding).
        label_hint: how to fix a mask with gray values outside the table, for the message (default: pass
            ``labels=`` or set ``"labels"`` in ``dataset.json``).

    Returns:
        a :class:`DatasetListing` whose items are sorted by id.

    Raises:
        USDatasetNotFoundError: when the folder, its image/mask folder or a file is missing.
        USDatasetError: for an empty folder, no images, an unknown layout, unreadable files, missing or orphan
            masks, size mismatches, unexpected gray values, duplicate ids or a group regex that does not match.
    """
    path = _check_root(root)
    if layout == "auto":
        layout = detect_layout(path)
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be 'auto' or one of {LAYOUTS}, got {layout!r}")
    meta = read_dataset_json(path)

    if labels is None:
        labels = meta.get("labels") or ({"lesion": [255]} if layout == "busi" else {"foreground": [255]})
    try:
        table = normalize_label_table(labels)
    except (TypeError, ValueError) as e:
        raise USDatasetError(f"invalid label table for {path}: {e}") from e

    image_dir = path / str(meta.get("image_dir", "images"))
    mask_dir = path / str(meta.get("mask_dir", "masks"))
    if layout == "busi":
        items = _list_busi(path)
    elif layout == "images_masks":
        items = _list_images_masks(path, image_dir, mask_dir)
    elif layout == "images_masks0":
        items = _list_images_masks(path, image_dir, mask_dir / "0")
    else:
        items = _list_images_masks(path, image_dir if image_dir.is_dir() else path, None)

    ids = [it["id"] for it in items]
    dup = sorted({i for i in ids if ids.count(i) > 1}) if len(set(ids)) != len(ids) else []
    if dup:
        where = [it["image"] for it in items if it["id"] == dup[0]]
        raise USDatasetError(f"image id {dup[0]!r} occurs more than once in {path}: {where}")
    items.sort(key=lambda it: it["id"])

    rule = group_by if group_by is not None else meta.get("group_regex")
    try:
        regex = re.compile(rule) if rule else None
    except re.error as e:
        raise USDatasetError(f"invalid group regex {rule!r}: {e}") from e
    classes = meta.get("classes") or {}
    if not isinstance(classes, Mapping):
        raise USDatasetError(f"{path / 'dataset.json'}: 'classes' must map image ids to class names")
    for it in items:
        it["group"] = _group_of(it["id"], regex)
        if it["id"] in classes and "class" not in it:
            it["class"] = str(classes[it["id"]])

    if check:
        for it in items:
            _check_item(path, it, table, label_hint)
    else:
        check_listed_files(path, items)

    return DatasetListing(
        root=path,
        layout=layout,
        items=items,
        labels={k: list(v) for k, v in table.items()},
        name=str(meta.get("name") or path.name),
        group_rule=rule or None,
        info={"dataset_json": bool(meta)},
    )
