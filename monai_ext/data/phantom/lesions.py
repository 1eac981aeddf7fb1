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
"""Focal lesions and nodules (breast and thyroid): shape plus the acoustic signature drawn around it.

A :class:`USLesion` is a :class:`~.shapes.USBlob` with a contrast relative to its host tissue, an internal texture,
a partly sharp and partly blurred margin, an internal attenuation (fluid: posterior enhancement; solid: none or a
posterior shadow) and optional halo, capsule, lateral edge (refraction) shadows, microcalcifications, a coarse rim
calcification and small cystic spaces (spongiform nodules). :func:`draw_lesion` writes it into the echogenicity
and attenuation maps; the label mask is exactly the region the maps are drawn from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fields import blur_mask, mix, pixel_grid, smooth_field, smooth_step
from .shapes import USBlob, spots

__all__ = ["USLesion", "draw_lesion"]

_NON_NEGATIVE = (
    "contrast",
    "heterogeneity",
    "sigma_sharp",
    "sigma_soft",
    "inner_atten",
    "shadow_db",
    "capsule",
    "edge_db",
    "macrocalc",
)


@dataclass(frozen=True)
class USLesion:
    """A focal lesion or nodule: shape plus the acoustic signature around it.

    Attributes:
        kind: lesion type (breast: ``cyst``, ``fibroadenoma``, ``carcinoma``; thyroid: ``solid_iso_halo``,
            ``solid_hypo``, ``cystic``, ``spongiform``); reported as the ``kind`` of a sample.
        blob: the shape.
        contrast: echogenicity relative to the host tissue.
        heterogeneity: relative amplitude of the internal texture.
        sigma_sharp: boundary blur (fraction of size) on the sharp part of the margin.
        sigma_soft: boundary blur on the blurred part of the margin.
        inner_atten: attenuation inside, relative to soft tissue.
        shadow_db: extra posterior shadow (dB, whole lesion).
        halo: echogenic (> 0) or hypoechoic (< 0) rim outside the boundary.
        halo_width: rim width in units of the normalised radius (> 0).
        capsule: brightness of a thin capsule.
        edge_db: lateral edge (refraction) shadows (dB).
        calcs: number of microcalcifications.
        macrocalc: coarse rim calcification: angular extent in radians.
        cysts: number of small cystic spaces (spongiform nodules).

    Raises:
        ValueError: a negative amplitude, blur or count, or a non-positive halo width.
    """

    kind: str
    blob: USBlob
    contrast: float
    heterogeneity: float
    sigma_sharp: float
    sigma_soft: float
    inner_atten: float
    shadow_db: float = 0.0
    halo: float = 0.0
    halo_width: float = 0.15
    capsule: float = 0.0
    edge_db: float = 0.0
    calcs: int = 0
    macrocalc: float = 0.0
    cysts: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.blob, USBlob):
            raise TypeError(f"USLesion.blob must be a USBlob, got {type(self.blob).__name__}.")
        for name in _NON_NEGATIVE:
            if not getattr(self, name) >= 0:
                raise ValueError(f"USLesion.{name} must be >= 0, got {getattr(self, name)!r}.")
        if not self.halo_width > 0:
            raise ValueError(f"USLesion.halo_width must be > 0, got {self.halo_width!r}.")
        for name in ("calcs", "cysts"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"USLesion.{name} must be an integer >= 0, got {value!r}.")


def draw_lesion(
    lesion: USLesion,
    echo: np.ndarray,
    atten: np.ndarray,
    host_echo: float,
    size: int,
    rng: np.random.Generator,
    a0: float,
) -> np.ndarray:
    """Draw a lesion into the echogenicity and attenuation maps in place.

    Args:
        lesion: the lesion.
        echo: (size, size) float32 echogenicity map, modified in place.
        atten: (size, size) float32 relative attenuation map, modified in place.
        host_echo: echogenicity of the host tissue (the contrast is relative to it).
        size: image height and width in pixels.
        rng: numpy random generator (margin blend, texture, cysts, halo, calcifications).
        a0: round-trip attenuation of reference tissue over one image size (dB), which turns shadows given in dB
            into relative attenuation.

    Returns:
        the boolean (size, size) lesion mask.
    """
    q = lesion.blob.q(size)
    mask = q < 1.0
    if not mask.any():
        return mask
    m_sharp = blur_mask(mask, lesion.sigma_sharp, size)
    m_soft = blur_mask(mask, lesion.sigma_soft, size)
    wsoft = smooth_step(smooth_field(rng, size, 0.08), 0.5)  # parts of the margin are blurred, others sharp
    m = mix(m_sharp, m_soft, wsoft)
    tex = 1.0 + lesion.heterogeneity * smooth_field(rng, size, 0.025)
    lesion_echo = np.clip(host_echo * lesion.contrast * tex, 0.0, None)
    echo *= 1.0 - m
    echo += lesion_echo * m
    if lesion.cysts:
        centres = lesion.blob
        r = np.sqrt(rng.uniform(0, 0.7, lesion.cysts))
        t = rng.uniform(0, 2 * np.pi, lesion.cysts)
        cyst_map = spots(
            size,
            centres.cx + r * np.cos(t) * centres.ax,
            centres.cy + r * np.sin(t) * centres.ay,
            max(0.008 * size, 0.7),
        )
        echo *= 1.0 - 0.85 * np.clip(cyst_map, 0, 1) * mask
    if lesion.halo:
        ring = np.exp(-(((q - 1.0 - lesion.halo_width * 0.5) / (lesion.halo_width * 0.5)) ** 2)) * (q > 0.97)
        if lesion.halo > 0:
            echo += lesion.halo * host_echo * ring * (0.6 + 0.4 * smooth_step(smooth_field(rng, size, 0.1), 0.5))
        else:
            echo *= 1.0 + lesion.halo * ring
    if lesion.capsule:
        echo += lesion.capsule * host_echo * np.exp(-(((q - 1.02) / 0.025) ** 2))
    # attenuation: fluid (low) or solid tissue inside, extra shadow spread over the lesion height
    height = max(float(mask.any(axis=1).sum()) / size, 2.0 / size)
    inner = lesion.inner_atten + lesion.shadow_db / (a0 * height)
    atten += (inner - atten) * m_sharp
    if lesion.edge_db > 0:
        gx = np.abs(np.gradient(m_sharp, axis=1))
        gy = np.abs(np.gradient(m_sharp, axis=0))
        edge = gx**2 / (gx**2 + gy**2 + 1e-6) * (gx > 0.02)
        # a beam grazing the lateral margin runs along it for about half the lesion height
        atten += edge * lesion.edge_db / (a0 * 0.5 * height)
    if lesion.calcs:
        ii, jj = np.nonzero(q < 0.85)
        pick = rng.integers(0, len(ii), lesion.calcs) if len(ii) else np.zeros(0, dtype=int)
        if len(pick):
            cal = spots(size, (jj[pick] + 0.5) / size, (ii[pick] + 0.5) / size, max(0.0035 * size, 0.55))
            echo += cal * float(rng.uniform(3.0, 6.0)) * host_echo
            atten += cal * float(rng.uniform(4.0, 10.0)) / (a0 * 4.0 / size)
    if lesion.macrocalc > 0:
        t0 = float(rng.uniform(-np.pi * 0.9, -np.pi * 0.1))  # on the probe side of the nodule
        b = lesion.blob
        th = np.arctan2(pixel_grid(size)[1] - b.cy, pixel_grid(size)[0] - b.cx)
        d = np.abs((th - t0 + np.pi) % (2 * np.pi) - np.pi)
        rim = np.exp(-(((q - 0.93) / 0.06) ** 2)) * (d < lesion.macrocalc * 0.5)
        echo += 5.0 * host_echo * rim
        atten += rim * float(rng.uniform(15.0, 30.0)) / (a0 * 4.0 / size)
    return mask
