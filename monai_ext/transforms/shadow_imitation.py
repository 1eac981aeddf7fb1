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

"""Shadow imitation for SABR-Net: a hole mask (1 = visible, 0 = hole) per image, for masked inpainting pretraining.

Modes (SABR bundle documentation, ``bundles/sabr_us_segmentation/docs/README.md``, "Shadow imitation"):

- ``"mat_small"`` (default): MAT free-form holes of the released SABR-Net dataset code (mean hole ratio 0.22);
- ``"mat_large"``: the larger MAT generator of its compiled code (mean hole ratio 0.41);
- ``"file"``: per-image masks read from a folder (the compiled code's ``heatmask/<name>.png``), inverted by default
  (bright heat = hole), resized with nearest neighbour to the image;
- ``"acoustic"``: **project extension, not SABR-Net**: acoustic shadows cast along the scan lines below an occluder
  (:mod:`monai_ext.transforms.acoustic_shadow`); the image itself is darkened, labels are unchanged.

Where in the pipeline: generated modes (``mat_*``, ``acoustic``) run at the network input size **after** geometric
augmentation (the mask is drawn independently of it, as in SABR-Net). ``"file"`` masks must follow the image through
the geometric augmentation: put the transform after loading and resizing and **before** ``RandFlipd`` /
``RandAffined``, and list ``mask_key`` in those transforms (nearest-neighbour interpolation, padding value 1 if holes
should not appear at the borders).

Keying of ``"file"`` masks to images: an item's own path under ``mask_key`` (e.g. from the data list) wins; otherwise
the mask is ``mask_dir / mask_name.format(stem=..., name=...)`` with the stem and file name of the image's
``filename_or_obj`` meta data (default ``"{stem}.png"``: ``images/case7.png`` -> ``<mask_dir>/case7.png``). Masks are
loaded with MONAI's ``PILReader`` so that their array layout equals that of images loaded the same way.

Layout: MONAI's ``PILReader`` gives (C, X, Y) arrays (``layout="xy"``, the default; depth is the last axis); (C, H, W)
row-major arrays (depth = rows) use ``layout="yx"``. The layout matters for the acoustic mode (scan lines run along
depth) and orients MAT strokes as in display coordinates.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.transforms import MapTransform, RandomizableTransform
from monai.utils import TransformBackends, convert_to_dst_type, convert_to_numpy

from .acoustic_shadow import USAcousticShadow, USAcousticShadowSimulator, fov_from_intensity
from .image import USImageChannels
from .mat_masks import mat_hole_mask

__all__ = [
    "SHADOW_LAYOUTS",
    "SHADOW_MODES",
    "USShadowImitation",
    "USShadowImitationD",
    "USShadowImitationDict",
    "USShadowImitationd",
    "load_shadow_mask_file",
]

SHADOW_MODES = ("mat_small", "mat_large", "file", "acoustic")
SHADOW_LAYOUTS = ("xy", "yx")
_MAX_MASK_PIXELS = 8192 * 8192


def _source(img: Any) -> str:
    meta = getattr(img, "meta", None)
    name = meta.get("filename_or_obj") if isinstance(meta, Mapping) else None
    return str(name) if name else "<array>"


def load_shadow_mask_file(path: str | os.PathLike, max_pixels: int = _MAX_MASK_PIXELS) -> torch.Tensor:
    """Read a per-image shadow/heat mask PNG as a (1, X, Y) float32 MetaTensor in [0, 1] (MONAI ``PILReader`` layout).

    RGB(A) files are reduced to luminance; values are divided by 255 (by 65535 for 16-bit files) when the maximum
    exceeds 1, so {0, 1} and {0, 255} files both work. The header is checked before decoding (the file is untrusted).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: not a readable image, or more than ``max_pixels`` pixels; the message names the file.
    """
    from monai.transforms import LoadImage
    from PIL import Image, UnidentifiedImageError

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"shadow mask file not found: {path}")
    try:
        with Image.open(path) as im:
            width, height = im.size
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"shadow mask {path}: not a readable image ({e}).") from None
    if width * height > max_pixels:
        raise ValueError(f"shadow mask {path}: {width} x {height} pixels exceeds max_pixels={max_pixels}.")
    img = LoadImage(reader="PILReader", image_only=True, ensure_channel_first=True)(path)
    img = USImageChannels(1)(img)
    peak = float(img.max()) if img.numel() else 0.0
    if peak > 1.0:
        img = img / (65535.0 if peak > 255.0 else 255.0)
    return img.float()


class USShadowImitation(RandomizableTransform):
    """Draw (or read) a shadow-imitation hole mask for a channel-first 2D image and optionally apply it.

    ``__call__`` returns ``(image, mask)``: the image with the shadow imitation applied (``"acoustic"``: darkened
    along scan lines; other modes: unchanged unless ``fill_value`` is set) and the float32 mask (1, *spatial),
    1 = visible, 0 = hole, both of the input's type (MetaTensor meta data kept). When not applied (probability
    ``1 - prob``) the mask is all ones and the image unchanged.

    Args:
        mode: ``"mat_small"`` (default), ``"mat_large"``, ``"file"`` or ``"acoustic"`` (project extension).
        prob: probability of applying the shadow imitation.
        fill_value: if not None, hole pixels of the output image are set to it (e.g. 0.0: mid-gray in [-1, 1],
            SABR's zero-filled input); None leaves that to the network or trainer.
        layout: ``"xy"`` (default, MONAI ``PILReader`` (C, X, Y), depth = last axis) or ``"yx"`` ((C, H, W)).
        reference_size: MAT modes: image size at which the brush widths (12-48 px) hold; None: absolute widths.
        invert: file mode: the file holds heat (1 = hole), the mask is ``1 - file`` (default True, as SABR-Net).
        threshold: file mode: the mask is binarised as ``mask >= threshold``; None keeps soft values in [0, 1].
        acoustic: acoustic mode: a :class:`~monai_ext.transforms.acoustic_shadow.USAcousticShadowSimulator` or a
            mapping of its arguments (probe, apex, ranges, intensity_range, ...). Coordinates such as ``apex``
            are (row, column) of the (H, W) view, i.e. (Y, X) for ``layout="xy"``.
        fov_threshold: acoustic mode without a given field of view: estimate it as the pixels between the first and
            last one brighter than this value on every depth row (None: the whole image).

    Attributes:
        last_shadows: the acoustic shadows of the last call (empty for other modes or when not applied).

    Raises:
        ValueError: for invalid options and bad input (the message names the file of a MetaTensor input).
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(
        self,
        mode: str = "mat_small",
        prob: float = 1.0,
        fill_value: float | None = None,
        layout: str = "xy",
        reference_size: int | None = 256,
        invert: bool = True,
        threshold: float | None = 0.5,
        acoustic: USAcousticShadowSimulator | Mapping[str, Any] | None = None,
        fov_threshold: float | None = None,
    ) -> None:
        RandomizableTransform.__init__(self, prob)
        if mode not in SHADOW_MODES:
            raise ValueError(f"USShadowImitation: mode must be one of {SHADOW_MODES}, got {mode!r}.")
        if layout not in SHADOW_LAYOUTS:
            raise ValueError(f"USShadowImitation: layout must be one of {SHADOW_LAYOUTS}, got {layout!r}.")
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ValueError(f"USShadowImitation: threshold must be in [0, 1] or None, got {threshold!r}.")
        self.mode = mode
        self.fill_value = None if fill_value is None else float(fill_value)
        self.layout = layout
        self.reference_size = reference_size
        self.invert = bool(invert)
        self.threshold = threshold
        if isinstance(acoustic, USAcousticShadowSimulator):
            self.simulator = acoustic
        elif acoustic is None or isinstance(acoustic, Mapping):
            self.simulator = USAcousticShadowSimulator(**dict(acoustic or {}))
        else:
            raise TypeError(
                f"USShadowImitation: acoustic must be a USAcousticShadowSimulator or a mapping of its arguments, got "
                f"{type(acoustic).__name__}."
            )
        self.fov_threshold = fov_threshold
        self.last_shadows: list[USAcousticShadow] = []

    def _to_yx(self, a: np.ndarray) -> np.ndarray:
        return np.swapaxes(a, -1, -2) if self.layout == "xy" else a

    def _file_mask(self, mask: NdarrayOrTensor, spatial: tuple[int, ...], source: str) -> np.ndarray:
        from monai.transforms import Resize

        m = convert_to_numpy(mask, dtype=np.float32)
        if m.ndim == len(spatial):
            m = m[None]
        if m.ndim != len(spatial) + 1 or m.shape[0] != 1:
            raise ValueError(
                f"USShadowImitation: shadow mask for {source} must be (1, *spatial) or (*spatial), got shape "
                f"{tuple(m.shape)}."
            )
        if m.size and float(m.max()) > 1.0:  # an 8- or 16-bit mask loaded by LoadImaged: scale as the file loader
            m = m / (65535.0 if float(m.max()) > 255.0 else 255.0)
        if m.size and (float(m.min()) < 0.0 or float(m.max()) > 1.0):
            raise ValueError(
                f"USShadowImitation: shadow mask for {source} has values in [{m.min()}, {m.max()}], expected [0, 1], "
                "0-255 or 0-65535."
            )
        if tuple(m.shape[1:]) != spatial:
            m = convert_to_numpy(Resize(spatial, mode="nearest-exact")(m), dtype=np.float32)
        if self.invert:
            m = 1.0 - m
        if self.threshold is not None:
            m = (m >= self.threshold).astype(np.float32)
        return m

    def __call__(
        self,
        img: NdarrayOrTensor,
        fov: NdarrayOrTensor | None = None,
        mask: NdarrayOrTensor | None = None,
        randomize: bool = True,
    ) -> tuple[NdarrayOrTensor, NdarrayOrTensor]:
        """
        Args:
            img: (C, *spatial) 2D image.
            fov: acoustic mode: field of view (1 inside), (*spatial) or (1, *spatial); default all ones or
                ``fov_threshold``.
            mask: file mode: the file's mask, (1, *spatial) in [0, 1] (or 0-255 / 0-65535, scaled) before inversion,
                any size (resized with nearest neighbour), e.g. from :func:`load_shadow_mask_file` or ``LoadImaged``.
            randomize: draw whether to apply (set False after calling ``randomize`` yourself).
        """
        source = _source(img)
        if not isinstance(img, (np.ndarray, torch.Tensor)) or img.ndim != 3:
            shape = tuple(img.shape) if isinstance(img, (np.ndarray, torch.Tensor)) else type(img).__name__
            raise ValueError(
                f"USShadowImitation: image {source} must be a 2D channel-first (C, H, W) array, got {shape}."
            )
        if randomize:
            self.randomize(None)
        self.last_shadows = []
        spatial = tuple(int(s) for s in img.shape[1:])
        if not self._do_transform:
            ones, *_ = convert_to_dst_type(np.ones((1, *spatial), np.float32), dst=img, dtype=torch.float32)
            return img, ones
        out = img
        if self.mode == "file":
            if mask is None:
                raise ValueError(f"USShadowImitation: mode='file' needs the shadow mask of image {source}.")
            m = self._file_mask(mask, spatial, source)
        elif self.mode in ("mat_small", "mat_large"):
            h, w = spatial[::-1] if self.layout == "xy" else spatial
            m = self._to_yx(mat_hole_mask(self.R, h, w, preset=self.mode, reference_size=self.reference_size))
        else:
            image = self._to_yx(convert_to_numpy(img, dtype=np.float32))
            f = None
            if fov is not None:
                f = np.asarray(convert_to_numpy(fov))
                if f.size != int(np.prod(spatial)) or f.shape[-2:] != spatial:
                    raise ValueError(
                        f"USShadowImitation: field of view of image {source} has shape {tuple(f.shape)}, expected "
                        f"{spatial} or {(1, *spatial)}."
                    )
                f = self._to_yx(f.reshape(spatial)) > 0
            elif self.fov_threshold is not None:
                f = fov_from_intensity(image, self.fov_threshold)
            try:
                result = self.simulator(self.R, image, f)
            except ValueError as e:
                raise ValueError(f"image {source}: {e}") from None
            self.last_shadows = result.shadows
            m = self._to_yx(result.mask)
            out, *_ = convert_to_dst_type(self._to_yx(result.image), dst=img, dtype=torch.float32)
        if self.fill_value is not None:
            keep, *_ = convert_to_dst_type(m, dst=out)
            out = out * keep + self.fill_value * (1 - keep)
        m_out, *_ = convert_to_dst_type(np.ascontiguousarray(m, dtype=np.float32), dst=img, dtype=torch.float32)
        return out, m_out


class USShadowImitationd(RandomizableTransform, MapTransform):
    """Dictionary version of :class:`USShadowImitation`: writes the hole mask under ``mask_key``.

    Args:
        keys: the image key (exactly one; SABR-Net gives every labelled and unlabelled image its own mask).
        mode: ``"mat_small"`` (default), ``"mat_large"``, ``"file"`` or ``"acoustic"`` (project extension).
        mask_key: output key of the mask (1 = visible, 0 = hole), float32 (1, *spatial). In file mode an item's
            value under this key (a path or an array) is the mask source.
        prob: probability of applying (otherwise the mask is all ones).
        fill_value: if not None, set hole pixels of the image to it (see :class:`USShadowImitation`).
        original_key: if set, the unmodified image is kept under this key (the inpainting target of the acoustic
            mode, whose image is darkened).
        fov_key: acoustic mode: key of a field-of-view mask (1 inside the imaging sector); absent items use the
            whole image (or ``fov_threshold``).
        mask_dir: file mode: folder of the per-image masks.
        mask_name: file mode: file name pattern in ``mask_dir``, with ``{stem}`` and ``{name}`` of the image file.
        allow_missing_keys: do not fail on items without the image key.
        kwargs: ``layout``, ``reference_size``, ``invert``, ``threshold``, ``acoustic``, ``fov_threshold`` of
            :class:`USShadowImitation`.

    Raises:
        ValueError: several keys, an item that already has ``mask_key`` in a generated mode (it would be silently
            overwritten), or a missing/invalid mask file (naming the image and the file).
    """

    backend = USShadowImitation.backend

    def __init__(
        self,
        keys: KeysCollection,
        mode: str = "mat_small",
        mask_key: str = "shadow_mask",
        prob: float = 1.0,
        fill_value: float | None = None,
        original_key: str | None = None,
        fov_key: str | None = None,
        mask_dir: str | os.PathLike | None = None,
        mask_name: str = "{stem}.png",
        allow_missing_keys: bool = False,
        **kwargs: Any,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        if len(self.keys) != 1:
            raise ValueError(f"USShadowImitationd: expected exactly one image key, got {list(self.keys)}.")
        self.shadow = USShadowImitation(mode=mode, prob=1.0, fill_value=fill_value, **kwargs)
        if mask_key in self.keys or (original_key is not None and original_key in (mask_key, *self.keys)):
            raise ValueError(
                f"USShadowImitationd: mask_key {mask_key!r} and original_key {original_key!r} must differ from each "
                f"other and from the image key {self.keys[0]!r}."
            )
        self.mask_key = mask_key
        self.original_key = original_key
        self.fov_key = fov_key
        self.mask_dir = None if mask_dir is None else Path(mask_dir)
        self.mask_name = mask_name

    def set_random_state(
        self, seed: int | None = None, state: np.random.RandomState | None = None
    ) -> USShadowImitationd:
        super().set_random_state(seed, state)
        self.shadow.set_random_state(seed, state)
        return self

    def _mask_source(self, d: Mapping[Hashable, Any], img: Any) -> NdarrayOrTensor:
        own = d.get(self.mask_key)
        if isinstance(own, (np.ndarray, torch.Tensor)):
            return own
        if isinstance(own, (str, os.PathLike)):
            path = Path(own)
        else:
            source = _source(img)
            if self.mask_dir is None:
                raise ValueError(
                    f"USShadowImitationd: mode='file' needs mask_dir=... or a mask path under {self.mask_key!r} "
                    f"(image {source})."
                )
            if source == "<array>":
                raise ValueError(
                    f"USShadowImitationd: mode='file' cannot name the mask of an image without filename_or_obj meta "
                    f"data; load it with LoadImaged or give a mask path under {self.mask_key!r}."
                )
            name = Path(source).name
            path = self.mask_dir / self.mask_name.format(stem=Path(name).stem, name=name)
        if not path.is_file():
            raise FileNotFoundError(f"USShadowImitationd: shadow mask for image {_source(img)} not found: {path}")
        return load_shadow_mask_file(path)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        key = self.keys[0]
        if key not in d:
            if self.allow_missing_keys:
                return d
            raise KeyError(f"USShadowImitationd: item has no image key {key!r} (keys: {list(d)}).")
        img = d[key]
        if self.shadow.mode != "file" and self.mask_key in d:
            raise ValueError(
                f"USShadowImitationd: item of image {_source(img)} already has {self.mask_key!r}; mode="
                f"{self.shadow.mode!r} would overwrite it (use mode='file' to read it, or another mask_key)."
            )
        self.randomize(None)
        if self.original_key is not None:
            d[self.original_key] = img.clone() if isinstance(img, torch.Tensor) else np.array(img, copy=True)
        if not self._do_transform:
            spatial = tuple(int(s) for s in img.shape[1:])
            d[self.mask_key], *_ = convert_to_dst_type(np.ones((1, *spatial), np.float32), dst=img, dtype=torch.float32)
            return d
        mask = self._mask_source(d, img) if self.shadow.mode == "file" else None
        fov = d.get(self.fov_key) if self.fov_key is not None else None
        d[key], d[self.mask_key] = self.shadow(img, fov=fov, mask=mask)  # its prob is 1: always applied
        return d


USShadowImitationD = USShadowImitationDict = USShadowImitationd
