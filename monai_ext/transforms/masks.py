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

"""Gray-value-to-label maps for ultrasound masks (binary, multi-object, RGB(A), BUSI multi-mask sets).

A *label table* maps structure names to the mask gray values that mark them, in label order:
``{"lv": [1], "myocardium": [2], "la": [3]}`` gives label 1, 2, 3 (0 is background). A table with one structure
is *binary*: gray masks must hold only 0 and the table's values, while colour (RGB, RGBA) and bilevel masks are
binarised on any colour channel > 0. The alpha channel of LA / RGBA masks is dropped (it is 255 everywhere in the
BUSI RGBA masks) unless the mask is drawn in it: colour 0 everywhere and a varying alpha, as some annotation tools
export, is read from the alpha channel (binarised on alpha > 0 for a binary table) instead of becoming an empty
mask; colour in fully transparent pixels of such a mask is ambiguous and refused. Multi-structure tables need gray
masks, or colour masks whose colour channels agree.

The same numpy core (:func:`mask_to_label_index`) validates masks when a dataset is listed
(:mod:`monai_ext.data.layouts`) and maps them at training time (:class:`USMaskToLabeld`), so a folder that lists
cleanly also loads cleanly.
"""

from __future__ import annotations

import math
import os
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.data import MetaTensor
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends, convert_to_dst_type, convert_to_numpy

from monai_ext.utils.errors import USInputError

__all__ = [
    "MASK_MODES",
    "LabelTable",
    "normalize_label_table",
    "channels_of_pil_mode",
    "mask_to_label_index",
    "label_index_to_channels",
    "USMaskToLabel",
    "USMaskToLabeld",
    "USMaskToLabelD",
    "USMaskToLabelDict",
]

MASK_MODES = ("index", "channels")
_LABEL_HINT = "pass labels=... or set 'labels' in dataset.json"

LabelTable = dict[str, tuple[int, ...]]

# Channels PIL gives per mode, as MONAI's PILReader returns them (palette images keep their indices).
_PIL_MODE_CHANNELS = {
    "1": 1,
    "L": 1,
    "P": 1,
    "I": 1,
    "I;16": 1,
    "I;16B": 1,
    "I;16L": 1,
    "F": 1,
    "LA": 2,
    "La": 2,
    "PA": 2,
    "RGB": 3,
    "YCbCr": 3,
    "RGBA": 4,
    "RGBa": 4,
    "RGBX": 4,
}


def channels_of_pil_mode(mode: str) -> int:
    """Number of array channels of a PIL image mode (``"L"`` -> 1, ``"RGBA"`` -> 4).

    Raises:
        ValueError: for modes a mask cannot have (e.g. CMYK).
    """
    if mode not in _PIL_MODE_CHANNELS:
        raise ValueError(
            f"unsupported PIL image mode {mode!r} for a mask (expected one of {sorted(_PIL_MODE_CHANNELS)})"
        )
    return _PIL_MODE_CHANNELS[mode]


def normalize_label_table(labels: Mapping[str, Sequence[int] | int] | Sequence[Sequence[int] | int]) -> LabelTable:
    """Check a label table and return it as ``{name: (gray values, ...)}`` in label order.

    Args:
        labels: ``{"lesion": [255]}``, or a sequence of gray-value lists (structures are then named
            ``structure_1``, ``structure_2``, ...). A bare int stands for a one-value list.

    Raises:
        TypeError: when the table is not a mapping or a sequence.
        ValueError: when it is empty, a structure has no value, a value is not an integer > 0, or one value
            marks two structures.
    """
    if isinstance(labels, Mapping):
        items = [(str(k), v) for k, v in labels.items()]
    elif isinstance(labels, Sequence) and not isinstance(labels, (str, bytes)):
        items = [(f"structure_{i + 1}", v) for i, v in enumerate(labels)]
    else:
        raise TypeError(f"labels must be a mapping name -> gray values or a sequence of gray values, got {labels!r}")
    if not items:
        raise ValueError("labels must name at least one structure")
    table: LabelTable = {}
    seen: dict[int, str] = {}
    for name, values in items:
        vals = [values] if isinstance(values, (int, np.integer)) else values
        if isinstance(vals, (str, bytes)) or not isinstance(vals, Sequence) or len(vals) == 0:
            raise ValueError(f"labels[{name!r}] must be a non-empty list of gray values, got {values!r}")
        out = []
        for v in vals:
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or int(v) <= 0:
                raise ValueError(f"labels[{name!r}]: gray values must be integers > 0 (0 is background), got {v!r}")
            if int(v) in seen:
                raise ValueError(f"gray value {int(v)} marks both {seen[int(v)]!r} and {name!r}")
            seen[int(v)] = name
            out.append(int(v))
        table[name] = tuple(out)
    return table


def _fmt_values(values: np.ndarray, limit: int = 10) -> str:
    shown = [int(v) if float(v).is_integer() else float(v) for v in values[:limit]]
    more = f" (+{len(values) - limit} more)" if len(values) > limit else ""
    return f"{shown}{more}"


def _drawn_channels(arr: np.ndarray, source: str) -> tuple[np.ndarray, bool]:
    """The channels of an LA / RGBA mask that hold the drawing, and whether that is the alpha channel.

    Normally the gray / colour channels (BUSI's RGBA masks have alpha 255 everywhere). A mask drawn as transparency
    (colour 0 everywhere, alpha not constant) is read from its alpha channel; colour where the alpha is 0 while the
    alpha varies is ambiguous and refused.
    """
    colour, alpha = arr[:-1], arr[-1]
    if alpha.size == 0 or alpha.min() == alpha.max():
        return colour, False  # a constant alpha carries no drawing
    if not np.any(colour):
        return alpha[None], True
    if np.any(np.any(colour > 0, axis=0) & (alpha == 0)):
        raise USInputError(
            f"mask {source}: has colour in pixels that its alpha channel makes fully transparent, so it is unclear "
            "whether the colour or the transparency marks the structure; save the mask as a gray-value image"
        )
    return colour, False


def _file_index(arr: np.ndarray, table: LabelTable, source: str, bilevel: bool, hint: str) -> np.ndarray:
    """Map one file's (c, *spatial) array to a label index map (spatial), checking its values."""
    c = arr.shape[0]
    in_alpha = False
    if c in (2, 4):  # LA -> L, RGBA -> RGB, or the alpha channel when the mask is drawn in it
        arr, in_alpha = _drawn_channels(arr, source)
        c = arr.shape[0]
    if c not in (1, 3):
        raise USInputError(f"mask {source}: cannot read {arr.shape[0]} channels per file (expected 1, 2, 3 or 4)")
    structures = list(table.values())
    shown = {k: list(v) for k, v in table.items()}
    colour = c == 3
    if len(structures) == 1 and (colour or bilevel or in_alpha):
        # Binary table: colour/bilevel masks are binarised on any channel > 0 (BUSI RGB(A) masks).
        return np.any(arr > 0, axis=0).astype(np.int64)
    if colour:
        if not (np.array_equal(arr[0], arr[1]) and np.array_equal(arr[0], arr[2])):
            raise USInputError(
                f"mask {source}: colour mask with differing R, G, B channels cannot be mapped with the "
                f"multi-structure table {shown}; save it as a gray-value mask"
            )
    gray = arr[0]
    uniq = np.unique(gray)
    allowed = np.array(sorted({0, *(v for vals in structures for v in vals)}), dtype=np.float64)
    bad = uniq[~np.isin(uniq.astype(np.float64), allowed)]
    if bad.size:
        raise USInputError(
            f"mask {source}: unexpected gray values {_fmt_values(bad)}; the label table {shown} allows "
            f"{[int(v) for v in allowed]} ({hint})"
        )
    index = np.zeros(gray.shape, dtype=np.int64)
    for k, vals in enumerate(structures):
        index[np.isin(gray, vals)] = k + 1
    return index


def mask_to_label_index(
    mask: np.ndarray,
    labels: Mapping[str, Sequence[int] | int] | Sequence[Sequence[int] | int],
    channels_per_file: int = 1,
    source: str = "<array>",
    bilevel: bool = False,
    label_hint: str | None = None,
) -> np.ndarray:
    """Reduce a channel-first mask array to one label index map (0 background, k + 1 for structure k).

    Args:
        mask: (C, *spatial) array; C = files * channels_per_file (MONAI's ``LoadImaged`` concatenates the
            channels of a list of files, file after file).
        labels: label table (see :func:`normalize_label_table`).
        channels_per_file: channels of one file: 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA.
        source: file name used in error messages.
        bilevel: the files are PIL mode "1" (0/1 values): binarised like colour masks for a binary table.
        label_hint: how to fix unexpected gray values, in the message (default: pass ``labels=`` or set
            ``"labels"`` in ``dataset.json``; a bundle says which of its options sets the table).

    Returns:
        (*spatial) int64 array. Several files are merged: union for a binary table; for a multi-structure
        table, pixels where two files mark different structures are an error.

    Raises:
        ValueError: naming ``source`` for unexpected gray values, non-agreeing colour channels, a channel count
            that is not a multiple of ``channels_per_file``, or conflicting files.
    """
    table = normalize_label_table(labels)
    arr = np.asarray(mask)
    if arr.ndim < 2:
        raise ValueError(f"mask {source}: expected a channel-first array (C, *spatial), got shape {arr.shape}")
    if channels_per_file < 1 or arr.shape[0] % channels_per_file:
        raise ValueError(
            f"mask {source}: {arr.shape[0]} channels is not a multiple of {channels_per_file} channels per file"
        )
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or not np.array_equal(arr, np.round(arr)):
            frac = np.unique(arr[~np.isfinite(arr) | (arr != np.round(arr))])
            raise USInputError(
                f"mask {source}: non-integer gray values {_fmt_values(frac)} (was the mask interpolated? map "
                "gray values to labels before any resizing, or use nearest-neighbour interpolation)"
            )
    nfiles = arr.shape[0] // channels_per_file
    result: np.ndarray | None = None
    for f in range(nfiles):
        chunk = arr[f * channels_per_file : (f + 1) * channels_per_file]
        idx = _file_index(chunk, table, source, bilevel, label_hint or _LABEL_HINT)
        if result is None:
            result = idx
            continue
        clash = (result > 0) & (idx > 0) & (result != idx)
        if np.any(clash):
            raise USInputError(
                f"mask {source}: file {f + 1} of the mask list marks {int(clash.sum())} pixels as other "
                "structures than the files before it"
            )
        result = np.where(result > 0, result, idx)
    assert result is not None
    return result


def label_index_to_channels(index: np.ndarray, num_structures: int) -> np.ndarray:
    """One {0, 1} float32 channel per structure (no background) from a (*spatial) label index map."""
    return np.stack([(index == k + 1) for k in range(num_structures)]).astype(np.float32)


def _source_name(mask: Any) -> str | None:
    meta = getattr(mask, "meta", None)
    if not isinstance(meta, Mapping):
        return None
    name = meta.get("filename_or_obj")
    if isinstance(name, (list, tuple)):
        name = name[0] if name else None
    return str(name) if name else None


def _infer_channels_per_file(mask: Any, channels: int, source: str | None) -> tuple[int, bool]:
    """Channels of one file of a loaded mask, and whether it is bilevel (PIL mode "1").

    The first file's header is read when the file is available (cheap: PIL opens lazily); otherwise MONAI's
    ``original_channel_dim`` meta tells gray (nan: one file, 0: a stacked list) from colour (-1).
    """
    if source is not None and os.path.isfile(source):
        try:
            from PIL import Image

            with Image.open(source) as im:
                mode = im.mode
        except Exception:  # not a PIL file (e.g. NIfTI): fall back on the meta data
            mode = None
        if mode is not None and mode in _PIL_MODE_CHANNELS:
            return _PIL_MODE_CHANNELS[mode], mode == "1"
    meta = getattr(mask, "meta", None)
    if not isinstance(meta, Mapping) or "original_channel_dim" not in meta:
        # Plain array: one file, colour when it has 2-4 channels.
        return (channels if channels in (2, 3, 4) else 1), False
    ocd = meta["original_channel_dim"]
    if isinstance(ocd, torch.Tensor):
        ocd = ocd.item() if ocd.numel() == 1 else None
    if ocd is None or (isinstance(ocd, float) and math.isnan(ocd)) or ocd == 0 or ocd == "no_channel":
        return 1, False  # one gray file (nan) or a stacked list of gray files (0)
    if channels in (2, 3, 4):
        return channels, False
    if channels % 4 == 0 and channels % 3:
        return 4, False
    if channels % 3 == 0 and channels % 4:
        return 3, False
    raise ValueError(
        f"mask {source or '<array>'}: cannot tell how {channels} channels split into files; "
        "pass channels_per_file=..."
    )


class USMaskToLabel(Transform):
    """Map an ultrasound mask (gray, RGB(A), or a BUSI list of masks) to a label map via a gray-value table.

    Input: a channel-first mask as loaded by ``LoadImage(reader="PILReader", ensure_channel_first=True)``:
    (C, W, H) with C = 1 (gray), 3 (RGB), 4 (RGBA), or the channels of several files concatenated (MONAI
    stacks a list of paths). A path or a list of paths is also accepted and loaded file by file, which also
    handles BUSI multi-mask sets whose files differ in mode (``LoadImaged`` cannot stack those).

    Args:
        labels: label table ``{name: [gray values]}`` (or a sequence of value lists), in label order.
        mode: ``"index"``: (1, W, H) integer map 0..K; ``"channels"``: (K, W, H) float {0, 1}, one channel per
            structure, no background.
        dtype: output dtype; default ``torch.int64`` for "index" and ``torch.float32`` for "channels".
        channels_per_file: channels of one mask file; default: read from the first file's header, else
            from the MetaTensor meta data.

    Raises:
        ValueError: naming the file (the MetaTensor's ``filename_or_obj``) and the offending values.
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(
        self,
        labels: Mapping[str, Sequence[int] | int] | Sequence[Sequence[int] | int],
        mode: str = "index",
        dtype: torch.dtype | np.dtype | None = None,
        channels_per_file: int | None = None,
    ) -> None:
        self.labels = normalize_label_table(labels)
        if mode not in MASK_MODES:
            raise ValueError(f"mode must be one of {MASK_MODES}, got {mode!r}")
        if channels_per_file is not None and channels_per_file not in (1, 2, 3, 4):
            raise ValueError(f"channels_per_file must be 1, 2, 3 or 4, got {channels_per_file!r}")
        self.mode = mode
        self.dtype = dtype if dtype is not None else (torch.int64 if mode == "index" else torch.float32)
        self.channels_per_file = channels_per_file

    def _output(self, index: np.ndarray) -> np.ndarray:
        if self.mode == "index":
            return index[None]
        return label_index_to_channels(index, len(self.labels))

    def _from_paths(self, paths: Sequence[str | os.PathLike]) -> MetaTensor:
        from monai.transforms import LoadImage
        from PIL import Image

        if not paths:
            raise ValueError("empty list of mask files")
        loader = LoadImage(reader="PILReader", image_only=True, ensure_channel_first=True)
        first: MetaTensor | None = None
        result: np.ndarray | None = None
        for p in paths:
            p = os.fspath(p)
            if not os.path.isfile(p):
                raise FileNotFoundError(f"mask file not found: {p}")
            with Image.open(p) as im:
                mode = im.mode
            img = loader(p)
            if first is None:
                first = img
            elif tuple(img.shape[1:]) != tuple(first.shape[1:]):
                raise USInputError(
                    f"mask {p}: size {tuple(img.shape[1:])} differs from {paths[0]} {tuple(first.shape[1:])}"
                )
            idx = mask_to_label_index(
                convert_to_numpy(img), self.labels, channels_of_pil_mode(mode), source=p, bilevel=mode == "1"
            )
            if result is not None:
                clash = (result > 0) & (idx > 0) & (result != idx)
                if np.any(clash):
                    raise USInputError(f"mask {p}: marks {int(clash.sum())} pixels as other structures than {paths[0]}")
                idx = np.where(result > 0, result, idx)
            result = idx
        assert first is not None and result is not None
        out, *_ = convert_to_dst_type(self._output(result), dst=first, dtype=self.dtype)
        return out

    def __call__(self, mask: NdarrayOrTensor | str | os.PathLike | Sequence[str | os.PathLike]) -> NdarrayOrTensor:
        """Map ``mask`` (array/tensor, path or list of paths); the output keeps the input's type and meta."""
        if isinstance(mask, (str, os.PathLike)):
            return self._from_paths([mask])
        if isinstance(mask, (list, tuple)) and mask and all(isinstance(p, (str, os.PathLike)) for p in mask):
            return self._from_paths(mask)
        if not isinstance(mask, (np.ndarray, torch.Tensor)):
            raise TypeError(f"mask must be an array, a tensor or path(s), got {type(mask).__name__}")
        source = _source_name(mask)
        if self.channels_per_file is not None:
            cpf, bilevel = self.channels_per_file, False
        else:
            cpf, bilevel = _infer_channels_per_file(mask, int(mask.shape[0]), source)
        index = mask_to_label_index(
            convert_to_numpy(mask), self.labels, cpf, source=source or "<array>", bilevel=bilevel
        )
        out, *_ = convert_to_dst_type(self._output(index), dst=mask, dtype=self.dtype)
        return out


class USMaskToLabeld(MapTransform):
    """Dictionary version of :class:`USMaskToLabel`.

    Args:
        keys: keys of the masks to map (e.g. ``"label"``).
        labels: label table ``{name: [gray values]}`` in label order.
        mode: ``"index"`` or ``"channels"``.
        allow_missing_keys: do not fail on items without the key (unlabelled items carry no ``"label"``).
        dtype: output dtype (see :class:`USMaskToLabel`).
        channels_per_file: channels of one mask file (default: detected).
    """

    backend = USMaskToLabel.backend

    def __init__(
        self,
        keys: KeysCollection,
        labels: Mapping[str, Sequence[int] | int] | Sequence[Sequence[int] | int],
        mode: str = "index",
        allow_missing_keys: bool = False,
        dtype: torch.dtype | np.dtype | None = None,
        channels_per_file: int | None = None,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.converter = USMaskToLabel(labels, mode=mode, dtype=dtype, channels_per_file=channels_per_file)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.converter(d[key])
        return d


USMaskToLabelD = USMaskToLabelDict = USMaskToLabeld
