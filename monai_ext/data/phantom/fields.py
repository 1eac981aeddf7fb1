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
"""Smooth random fields and soft masks on the normalised image grid, the numeric building blocks of the anatomy.

Coordinates are normalised: x lateral and y depth in [0, 1], unit = image size, pixel centres at
``(i + 0.5) / size``. Maps are float32 (:data:`FIELD_DTYPE`): transcendental functions are several times faster
than in float64 and precision is ample for 8-bit images. Wide smoothing is done with coarse lattices or box-filter
passes whose cost does not grow with the width, instead of wide Gaussian filters on the full grid.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import ndimage

__all__ = ["FIELD_DTYPE", "pixel_grid", "smooth_field", "wave", "smooth_step", "mix", "blur_mask"]

FIELD_DTYPE = np.float32
"""dtype of every echogenicity, attenuation and texture map of the phantom."""

_F = FIELD_DTYPE


@lru_cache(maxsize=8)
def pixel_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised pixel-centre coordinates of a size x size image.

    Args:
        size: image height and width in pixels.

    Returns:
        ``(x, y)``: read-only float32 (size, size) arrays, x lateral and y depth, both in [0, 1].
    """
    t = ((np.arange(size, dtype=np.float64) + 0.5) / size).astype(_F)
    y, x = np.meshgrid(t, t, indexing="ij")
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


@lru_cache(maxsize=32)
def _interp_matrix(size: int, nodes: int) -> np.ndarray:
    """Gaussian interpolation weights (size, nodes) from a coarse node lattice to the pixel lattice."""
    t = (np.arange(size) + 0.5) / size * (nodes - 3) + 1.0
    w = np.exp(-0.5 * ((t[:, None] - np.arange(nodes)[None, :]) / 0.75) ** 2)
    w = (w / w.sum(axis=1, keepdims=True)).astype(_F)
    w.setflags(write=False)
    return w


def smooth_field(rng: np.random.Generator, size: int, corr: float) -> np.ndarray:
    """Zero-mean, unit-variance smooth Gaussian random field (tissue texture, wavy interfaces, blends).

    White noise on a coarse lattice interpolated with Gaussian weights: two small matrix products instead of a
    wide Gaussian filter on the full grid.

    Args:
        rng: numpy random generator (draws ``(nodes, nodes)`` standard normals).
        size: image height and width in pixels.
        corr: correlation length as a fraction of the image size.

    Returns:
        float32 (size, size) field.
    """
    nodes = int(min(max(math.ceil(1.0 / max(corr, 1e-3)), 2), size)) + 3
    coarse = rng.standard_normal((nodes, nodes), dtype=_F)
    w = _interp_matrix(size, nodes)
    out = w @ coarse @ w.T
    out -= out.mean()
    out /= out.std() + 1e-12
    return out


def wave(rng: np.random.Generator, t: np.ndarray, amp: float, terms: int = 3) -> np.ndarray:
    """Smooth 1D undulation (a few random sinusoids) of amplitude about ``amp``, evaluated on the array ``t``.

    Args:
        rng: numpy random generator (three uniforms per term).
        t: positions (any shape), e.g. the lateral coordinate of a layer boundary.
        amp: approximate amplitude.
        terms: number of sinusoids.

    Returns:
        array of the shape of ``t``.
    """
    out = np.zeros_like(t)
    for _ in range(terms):
        out += rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * rng.uniform(0.5, 3.0) * t + rng.uniform(0, 2 * np.pi))
    return out * (amp / terms * 1.5)


def smooth_step(x: np.ndarray, width: float) -> np.ndarray:
    """Smooth step 0 -> 1 across ``x = 0`` over about ``2 * width`` (anti-aliased tissue interfaces).

    A clipped cubic rather than a tanh: several times faster on full-size maps.
    """
    t = np.clip(x * (0.5 / max(width, 1e-6)) + 0.5, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def mix(a: np.ndarray | float, b: np.ndarray | float, w: np.ndarray) -> np.ndarray:
    """Linear blend ``a * (1 - w) + b * w`` (``w`` = 0 gives ``a``, 1 gives ``b``)."""
    return a * (1.0 - w) + b * w


def blur_mask(mask: np.ndarray, sigma_norm: float, size: int) -> np.ndarray:
    """Gaussian-like blur of a mask with a standard deviation given as a fraction of the image size.

    Wide blurs use two passes of a box filter (running sums: cost independent of the width), narrow ones a
    Gaussian; below 0.3 pixel the mask is returned as float32 unchanged.

    Args:
        mask: (size, size) boolean or numeric map.
        sigma_norm: standard deviation as a fraction of ``size``.
        size: image size in pixels.

    Returns:
        float32 map of the shape of ``mask``.
    """
    s = sigma_norm * size
    m = mask.astype(_F)
    if s < 0.3:
        return m
    if s < 2.0:
        return ndimage.gaussian_filter(m, s, truncate=3.0)
    w = int(round(math.sqrt(6.0 * s * s + 1.0)))  # two box passes of width w have variance (w^2 - 1) / 6
    for _ in range(2):
        m = ndimage.uniform_filter(m, w, mode="nearest")
    return m
