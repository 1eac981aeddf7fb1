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
"""Probe geometry: the field of view of linear, convex and phased-array probes and the beam grid of each.

The anatomy maps are drawn in image coordinates and sampled on the beam grid of the probe: for a linear probe the
image grid itself (beams straight down), for convex (curvilinear) and phased-array sector probes a depth x scan-line
grid in polar coordinates around the fan apex, reached through precomputed bilinear taps (and back again for scan
conversion). Speckle must be resolved (a few pixels per grain), so small images are rendered at
:data:`MIN_RENDER_SIZE` pixels or more and reduced, like a real scan resized for a network
(:func:`oversampling_factor`). Probe shapes are drawn per image: linear (optionally cropped at the sides and top),
convex with the apex above the image, sector with the apex at the top centre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .fields import FIELD_DTYPE, pixel_grid

__all__ = [
    "MIN_RENDER_SIZE",
    "USProbeGeometry",
    "USBeamGridMaps",
    "beam_grid_maps",
    "resample_bilinear",
    "oversampling_factor",
    "sample_linear_probe",
    "sample_convex_probe",
    "sample_sector_probe",
]

_F = FIELD_DTYPE

MIN_RENDER_SIZE = 128
"""Smallest size (pixels) an image is rendered at; smaller images are rendered larger and area-averaged."""


@dataclass(frozen=True)
class USProbeGeometry:
    """Field of view of a probe in normalised image coordinates (x lateral, y depth, unit = image size).

    Attributes:
        kind: ``"linear"`` (rectangle), ``"convex"`` (curvilinear fan whose apex lies above the image) or
            ``"sector"`` (phased-array fan with the apex at the top of the image).
        apex_x, apex_y: fan apex (convex/sector); ``apex_y`` is negative when the apex is above the image.
        r_min, r_max: fan radii of the probe surface and of the deepest sample (convex/sector).
        half_angle: fan half opening angle in radians (convex/sector).
        x_min, x_max, y_min: lateral extent and top of a linear field of view.
    """

    kind: str = "linear"
    apex_x: float = 0.5
    apex_y: float = 0.0
    r_min: float = 0.0
    r_max: float = 1.0
    half_angle: float = 0.6
    x_min: float = 0.0
    x_max: float = 1.0
    y_min: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("linear", "convex", "sector"):
            raise ValueError(f"probe kind must be 'linear', 'convex' or 'sector', got {self.kind!r}.")
        if self.kind == "linear" and not (self.x_max > self.x_min and self.y_min < 1.0):
            raise ValueError(f"linear field of view is empty: {self}.")
        if self.kind != "linear" and not (self.r_max > self.r_min >= 0.0 and 0.0 < self.half_angle < math.pi / 2):
            raise ValueError(f"fan field of view needs r_max > r_min >= 0 and 0 < half_angle < pi / 2: {self}.")

    def fov(self, size: int) -> np.ndarray:
        """Boolean field-of-view mask of a size x size phantom image (the image is 0 outside it)."""
        k = oversampling_factor(size)
        fov = beam_grid_maps(self, size * k).fov
        return fov.reshape(size, k, size, k).any(axis=(1, 3)) if k > 1 else fov.copy()


@dataclass(frozen=True)
class USBeamGridMaps:
    """Per-pixel beam coordinates of a probe on a size x size image, and the image <-> beam grid resampling.

    Attributes:
        fov: (S, S) boolean field of view (read-only).
        depth: (S, S) normalised distance from the probe surface along the beam (read-only).
        lateral: (S, S) normalised lateral coordinate along the probe surface (read-only).
        beam_dir: unit beam direction ``(x, y)`` per pixel; None for a linear probe (straight down, ``(0, 1)``).
        beam_depth: (n_r,) normalised depth of the beam samples.
        step: normalised path length per beam sample.
        to_beam: bilinear taps image -> beam grid for :func:`resample_bilinear` (None: the identity).
        to_image: bilinear taps beam grid -> image (scan conversion; None: the identity).
    """

    fov: np.ndarray
    depth: np.ndarray
    lateral: np.ndarray
    beam_dir: tuple[np.ndarray, np.ndarray] | None
    beam_depth: np.ndarray
    step: float
    to_beam: tuple[np.ndarray, ...] | None
    to_image: tuple[np.ndarray, ...] | None


def _bilinear_taps(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, ...]:
    """Precomputed bilinear interpolation taps so that several maps can be resampled with one set of indices."""
    rows = np.clip(rows, 0, shape[0] - 1)
    cols = np.clip(cols, 0, shape[1] - 1)
    r0 = np.minimum(np.floor(rows).astype(np.intp), shape[0] - 2)
    c0 = np.minimum(np.floor(cols).astype(np.intp), shape[1] - 2)
    fr = (rows - r0).astype(_F)
    fc = (cols - c0).astype(_F)
    flat = r0 * shape[1] + c0
    return flat, fr, fc, shape[1]


def resample_bilinear(img: np.ndarray, taps: tuple[np.ndarray, ...]) -> np.ndarray:
    """Resample a 2D map with the bilinear taps of :class:`USBeamGridMaps` (``to_beam`` or ``to_image``).

    Args:
        img: 2D map on the source grid.
        taps: the taps (flat index, row fraction, column fraction, source columns).

    Returns:
        the map on the target grid.
    """
    flat, fr, fc, ncol = taps
    f = img.reshape(-1)
    top = f[flat] * (1 - fc) + f[flat + 1] * fc
    bot = f[flat + ncol] * (1 - fc) + f[flat + ncol + 1] * fc
    return top * (1 - fr) + bot * fr


@lru_cache(maxsize=4)  # a cine clip renders every frame with the same geometry
def beam_grid_maps(geom: USProbeGeometry, size: int) -> USBeamGridMaps:
    """Beam coordinates and resampling taps of a probe on a size x size image (cached; treat as read-only).

    Args:
        geom: probe geometry.
        size: image height and width in pixels; fan probes get a size x size beam grid too.

    Returns:
        the maps.
    """
    x, y = pixel_grid(size)
    if geom.kind == "linear":
        fov = (y >= geom.y_min) & (x >= geom.x_min) & (x <= geom.x_max)
        depth = y - _F(geom.y_min)
        beam_depth = (np.arange(size) + 0.5) / size - geom.y_min
        maps = USBeamGridMaps(fov, depth, x.copy(), None, beam_depth, 1.0 / size, None, None)
    else:
        dx, dy = x - _F(geom.apex_x), y - _F(geom.apex_y)
        r = np.sqrt(dx * dx + dy * dy)
        th = np.arctan2(dx, dy)
        fov = (r >= geom.r_min) & (r <= geom.r_max) & (np.abs(th) <= geom.half_angle) & (dy > 0)
        n = size
        rk = geom.r_min + (geom.r_max - geom.r_min) * (np.arange(n) + 0.5) / n
        tm = -geom.half_angle + 2 * geom.half_angle * (np.arange(n) + 0.5) / n
        rr, tt = np.meshgrid(rk, tm, indexing="ij")
        rows = (geom.apex_y + rr * np.cos(tt)) * size - 0.5
        cols = (geom.apex_x + rr * np.sin(tt)) * size - 0.5
        to_beam = _bilinear_taps(rows, cols, (size, size))
        bi = (r - geom.r_min) / (geom.r_max - geom.r_min) * n - 0.5
        bj = (th + geom.half_angle) / (2 * geom.half_angle) * n - 0.5
        to_image = _bilinear_taps(bi, bj, (n, n))
        lateral = 0.5 + th * max(geom.r_min, 0.5)
        rn = np.maximum(r, _F(1e-9))
        maps = USBeamGridMaps(
            fov,
            r - _F(geom.r_min),
            lateral.astype(_F),
            (dx / rn, dy / rn),
            rk - geom.r_min,
            (geom.r_max - geom.r_min) / n,
            to_beam,
            to_image,
        )
    for a in (maps.fov, maps.depth, maps.lateral):
        a.setflags(write=False)
    return maps


def oversampling_factor(size: int) -> int:
    """Integer factor k such that an image of ``size`` pixels is rendered at ``size * k >= MIN_RENDER_SIZE``."""
    return max(1, math.ceil(MIN_RENDER_SIZE / size))


def sample_linear_probe(rng: np.random.Generator) -> USProbeGeometry:
    """Draw a linear probe field of view: the full image, or slightly cropped at the sides and the top."""
    y_min = 0.0 if rng.random() < 0.6 else float(rng.uniform(0.01, 0.05))
    side = 0.0 if rng.random() < 0.6 else float(rng.uniform(0.01, 0.08))
    return USProbeGeometry("linear", x_min=side, x_max=1.0 - side, y_min=y_min)


def sample_convex_probe(rng: np.random.Generator) -> USProbeGeometry:
    """Draw a convex (curvilinear) probe: fan apex above the image, the fan about as wide as the image."""
    r_probe = float(rng.uniform(0.3, 0.8))
    apex_y = -r_probe + float(rng.uniform(0.0, 0.04))
    r_max = (1.0 - apex_y) * float(rng.uniform(0.95, 1.0))
    half = math.asin(min(0.98, 0.5 * float(rng.uniform(0.9, 1.15)) / r_max))
    return USProbeGeometry("convex", apex_x=0.5, apex_y=apex_y, r_min=r_probe, r_max=r_max, half_angle=half)


def sample_sector_probe(rng: np.random.Generator) -> USProbeGeometry:
    """Draw a phased-array sector: apex at the top centre, half opening angle 35-42 degrees."""
    apex_y = float(rng.uniform(-0.015, 0.02))
    r_min = float(rng.uniform(0.005, 0.02))
    r_max = (1.0 - apex_y) * float(rng.uniform(0.93, 1.0))
    half = math.radians(float(rng.uniform(35.0, 42.0)))
    return USProbeGeometry("sector", apex_x=0.5, apex_y=apex_y, r_min=r_min, r_max=r_max, half_angle=half)
