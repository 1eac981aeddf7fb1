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

"""Free-form large-hole masks of MAT (Li et al., CVPR 2022), the "shadow imitation regions" of the SABR-Net code.

Provenance: the random hole generator of the released SABR-Net dataset code (MAT's generator with fewer shapes,
``"mat_small"``) and the larger MAT 256 generator found in its compiled files (``"mat_large"``), as described in
the SABR bundle documentation (``bundles/sabr_us_segmentation/docs/README.md``, "Shadow imitation"). A mask is the
union of 0-1 rectangles of up to half the image, 0-1 rectangles of up to the full image and a few thick random
brush strokes (polyline + a disc at every vertex), with a vertical and a horizontal flip of the strokes with
p = 0.5 each; masks without holes or without visible pixels are redrawn. Convention: 1 = visible, 0 = hole.

Deviations (all documented in the bundle README):

- the generator draws from the caller's ``numpy.random.RandomState`` (MONAI ``Randomizable.R``), not the numpy
  global state, so masks are reproducible per transform seed;
- the per-stroke PIL flips of the source are omitted: their result was discarded, they never had an effect;
- stroke widths are given at a 256 px reference and scaled with the image (``reference_size``), so the hole-ratio
  distribution does not depend on the network input size (identical to the source at 256 px);
- non-square images use the height for vertical and the width for horizontal quantities (the source is square).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["MAT_MASK_PRESETS", "USMatMaskPreset", "mat_hole_mask"]


@dataclass(frozen=True)
class USMatMaskPreset:
    """Shape counts of a MAT hole generator: the number of shapes of each kind is ``randint(max_...)``.

    Attributes:
        max_half_rects: rectangles of up to half the image size are drawn ``randint(max_half_rects)`` times.
        max_full_rects: rectangles of up to the full image size, ``randint(max_full_rects)`` times.
        max_strokes: brush strokes, ``randint(max_strokes)`` times.
    """

    max_half_rects: int
    max_full_rects: int
    max_strokes: int

    def __post_init__(self) -> None:
        counts = (self.max_half_rects, self.max_full_rects, self.max_strokes)
        if any(int(c) < 1 for c in counts):
            raise ValueError(f"USMatMaskPreset: every count must be >= 1 (randint(1) = 0 shapes), got {counts}.")


MAT_MASK_PRESETS: dict[str, USMatMaskPreset] = {
    "mat_small": USMatMaskPreset(2, 2, 3),  # released dataset code: mean hole ratio 0.22 at 256 px
    "mat_large": USMatMaskPreset(4, 2, 8),  # MAT 256 generator in the compiled code: mean hole ratio 0.41
}
"""The two generators of the SABR-Net code, by shadow-imitation mode name."""

_MIN_VERTEX, _MAX_VERTEX = 4, 18
_MEAN_ANGLE, _ANGLE_RANGE = 2 * math.pi / 5, 2 * math.pi / 15
_MIN_WIDTH, _MAX_WIDTH = 12, 48  # px at the 256 px reference
_MAX_DRAWS = 1000


def _fill_rectangles(mask: np.ndarray, rng: np.random.RandomState, tries: int, max_h: int, max_w: int) -> None:
    height, width = mask.shape
    for _ in range(rng.randint(tries)):
        w, h = rng.randint(max_w), rng.randint(max_h)
        # the top-left corner may lie up to half a rectangle outside the image: border holes are as likely as inner
        x = rng.randint(-(w // 2), width - w + w // 2)
        y = rng.randint(-(h // 2), height - h + h // 2)
        mask[max(y, 0) : min(y + h, height), max(x, 0) : min(x + w, width)] = 0


def _brush(rng: np.random.RandomState, tries: int, height: int, width: int, width_scale: float) -> np.ndarray:
    """Brush-stroke image, 1 = painted (a hole), 0 = untouched."""
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    radius = math.sqrt(height * height + width * width) / 8
    for _ in range(rng.randint(tries)):
        num_vertex = rng.randint(_MIN_VERTEX, _MAX_VERTEX)
        angle_min = _MEAN_ANGLE - rng.uniform(0, _ANGLE_RANGE)
        angle_max = _MEAN_ANGLE + rng.uniform(0, _ANGLE_RANGE)
        # alternating turns make zig-zag strokes rather than circles
        angles = [
            2 * math.pi - rng.uniform(angle_min, angle_max) if i % 2 == 0 else rng.uniform(angle_min, angle_max)
            for i in range(num_vertex)
        ]
        vertex = [(int(rng.randint(0, width)), int(rng.randint(0, height)))]
        for angle in angles:
            r = float(np.clip(rng.normal(loc=radius, scale=radius / 2), 0, 2 * radius))
            new_x = np.clip(vertex[-1][0] + r * math.cos(angle), 0, width)
            new_y = np.clip(vertex[-1][1] + r * math.sin(angle), 0, height)
            vertex.append((int(new_x), int(new_y)))
        stroke = max(1, int(rng.uniform(_MIN_WIDTH, _MAX_WIDTH) * width_scale))
        draw.line(vertex, fill=1, width=stroke)
        half = stroke // 2
        for vx, vy in vertex:
            draw.ellipse((vx - half, vy - half, vx + half, vy + half), fill=1)
    brush = np.asarray(canvas, dtype=np.uint8)
    if rng.random_sample() > 0.5:
        brush = brush[::-1, :]
    if rng.random_sample() > 0.5:
        brush = brush[:, ::-1]
    return brush


def mat_hole_mask(
    rng: np.random.RandomState,
    height: int,
    width: int | None = None,
    preset: str | USMatMaskPreset = "mat_small",
    reference_size: int | None = 256,
) -> np.ndarray:
    """Draw one MAT free-form hole mask.

    Args:
        rng: random state (MONAI ``Randomizable.R``); the same state gives the same mask.
        height: mask height in pixels (>= 8).
        width: mask width; default ``height``.
        preset: ``"mat_small"`` (default, the SABR-Net dataset generator), ``"mat_large"`` or a
            :class:`USMatMaskPreset`.
        reference_size: image size at which the stroke widths (12-48 px) hold; widths are scaled by
            ``sqrt(height * width) / reference_size``. ``None``: the source's absolute pixel widths at any size.

    Returns:
        float32 array (1, height, width), 1 = visible, 0 = hole, with at least one hole and one visible pixel.

    Raises:
        ValueError: unknown preset or a too small size.
    """
    width = height if width is None else width
    if int(height) < 8 or int(width) < 8:
        raise ValueError(f"mat_hole_mask: height and width must be >= 8 px, got {height} x {width}.")
    height, width = int(height), int(width)
    if isinstance(preset, str):
        if preset not in MAT_MASK_PRESETS:
            raise ValueError(f"mat_hole_mask: preset must be one of {sorted(MAT_MASK_PRESETS)}, got {preset!r}.")
        preset = MAT_MASK_PRESETS[preset]
    if reference_size is not None and reference_size <= 0:
        raise ValueError(f"mat_hole_mask: reference_size must be > 0 or None, got {reference_size!r}.")
    scale = 1.0 if reference_size is None else math.sqrt(height * width) / reference_size
    for _ in range(_MAX_DRAWS):
        mask = np.ones((height, width), np.uint8)
        _fill_rectangles(mask, rng, preset.max_half_rects, height // 2, width // 2)
        _fill_rectangles(mask, rng, preset.max_full_rects, height, width)
        mask &= 1 - _brush(rng, preset.max_strokes, height, width, scale)
        visible = int(mask.sum())
        if 0 < visible < mask.size:  # hole ratio strictly between 0 and 1, as the source's rejection rule
            return mask[None].astype(np.float32)
    raise RuntimeError(f"mat_hole_mask: no valid mask in {_MAX_DRAWS} draws with preset {preset}.")
