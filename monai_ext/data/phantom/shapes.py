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
"""Shapes of the phantom anatomy: star-shaped regions (lesions, glands, vessels), Gaussian spots and soft segments.

A region is a :class:`USBlob`, an ellipse whose radius is modulated by a few harmonics (lobulation) and narrow
spikes (spiculation); :func:`random_blob` draws one with harmonic amplitudes falling as ``k ** -0.7``. Shapes
are given in normalised image coordinates (x lateral, y depth, unit = image size).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from .fields import FIELD_DTYPE, pixel_grid

__all__ = ["USBlob", "random_blob", "spots", "segment"]

_F = FIELD_DTYPE


@dataclass(frozen=True)
class USBlob:
    """Star-shaped region: an ellipse whose radius is modulated by harmonics and narrow spikes (spiculation).

    Attributes:
        cx, cy: centre (normalised x lateral, y depth).
        ax, ay: semi-axes before rotation (normalised, > 0).
        angle: rotation in radians.
        amps: relative radius amplitudes of the harmonics k = 2, 3, ...
        phases: phases of those harmonics (radians).
        spikes: ``(angle, relative height, angular width)`` of each spike.

    Raises:
        ValueError: a semi-axis is not positive, or ``amps`` and ``phases`` differ in length.
    """

    cx: float
    cy: float
    ax: float
    ay: float
    angle: float = 0.0
    amps: tuple[float, ...] = ()
    phases: tuple[float, ...] = ()
    spikes: tuple[tuple[float, float, float], ...] = ()

    def __post_init__(self) -> None:
        if not (self.ax > 0 and self.ay > 0):
            raise ValueError(f"USBlob semi-axes must be positive, got ax={self.ax!r}, ay={self.ay!r}.")
        if len(self.amps) != len(self.phases):
            raise ValueError(
                f"USBlob needs one phase per harmonic amplitude, got {len(self.amps)} amps and "
                f"{len(self.phases)} phases."
            )

    def q(self, size: int, reach: float = 2.5) -> np.ndarray:
        """Normalised radius: < 1 inside the region, 1 on its boundary, grows outwards.

        Computed in the bounding box of ``q < reach`` only (speed); pixels outside it get ``reach + 1``.

        Args:
            size: image height and width in pixels.
            reach: normalised radius up to which the map is computed.

        Returns:
            float32 (size, size) map.
        """
        extent = 1.0 + sum(abs(a) for a in self.amps) + sum(h for _, h, _ in self.spikes)
        half = reach * extent * max(self.ax, self.ay)
        r0, r1 = (max(int((c - half) * size), 0) for c in (self.cy, self.cx))
        e0, e1 = (min(int(math.ceil((c + half) * size)), size) for c in (self.cy, self.cx))
        out = np.full((size, size), reach + 1.0, dtype=_F)
        if e0 <= r0 or e1 <= r1:
            return out
        x, y = pixel_grid(size)
        dx, dy = x[r0:e0, r1:e1] - _F(self.cx), y[r0:e0, r1:e1] - _F(self.cy)
        c, s = _F(math.cos(self.angle)), _F(math.sin(self.angle))
        u = (c * dx + s * dy) * _F(1.0 / self.ax)
        v = (c * dy - s * dx) * _F(1.0 / self.ay)
        rho = np.sqrt(u * u + v * v)
        radius = np.ones_like(rho)
        if self.amps:
            # cos(k th + phi) = Re(e^{i phi} z^k) with z = e^{i th}: powers instead of one cosine per harmonic
            z = (u + 1j * v).astype(np.complex64) / np.maximum(rho, _F(1e-12))
            zk = z
            for a, ph in zip(self.amps, self.phases, strict=True):
                zk = zk * z
                radius += _F(a) * (zk * np.complex64(complex(math.cos(ph), math.sin(ph)))).real
        if self.spikes:
            th = np.arctan2(v, u)
            for t0, h, w in self.spikes:
                d = (th - _F(t0) + _F(np.pi)) % _F(2 * np.pi) - _F(np.pi)
                radius += _F(h) * np.exp(-((d * _F(1.0 / w)) ** 2))
        out[r0:e0, r1:e1] = np.minimum(rho / np.maximum(radius, _F(0.2)), _F(reach + 1.0))
        return out

    def moved(self, rng: np.random.Generator, shift: float, rot: float, scale: float) -> USBlob:
        """The same shape seen in another view: small shift, rotation and anisotropic scaling.

        Args:
            rng: numpy random generator.
            shift: lateral shift standard deviation (depth: 0.6 times it).
            rot: rotation standard deviation (radians).
            scale: log-scale standard deviation of each semi-axis.

        Returns:
            the moved shape (the harmonic phases are jittered too).
        """
        return replace(
            self,
            cx=self.cx + rng.normal(0, shift),
            cy=self.cy + rng.normal(0, shift * 0.6),
            ax=self.ax * math.exp(rng.normal(0, scale)),
            ay=self.ay * math.exp(rng.normal(0, scale)),
            angle=self.angle + rng.normal(0, rot),
            phases=tuple(p + rng.normal(0, 0.15) for p in self.phases),
        )


def random_blob(
    rng: np.random.Generator,
    cx: float,
    cy: float,
    ax: float,
    ay: float,
    angle: float,
    irregularity: float,
    harmonics: int,
    n_spikes: int = 0,
    spike_height: tuple[float, float] = (0.08, 0.35),
) -> USBlob:
    """Draw the contour of a :class:`USBlob` of the given centre, semi-axes and angle.

    Args:
        rng: numpy random generator.
        cx, cy, ax, ay, angle: centre, semi-axes and rotation (see :class:`USBlob`).
        irregularity: standard deviation of the harmonic amplitudes (divided by ``k ** 0.7``).
        harmonics: number of harmonics (k = 2 .. harmonics + 1).
        n_spikes: number of spikes (spiculation).
        spike_height: range of the relative spike heights.

    Returns:
        the shape.
    """
    ks = np.arange(2, harmonics + 2)
    amps = tuple(float(a) for a in rng.normal(0, irregularity, len(ks)) / ks**0.7)
    phases = tuple(float(p) for p in rng.uniform(0, 2 * np.pi, len(ks)))
    spikes = tuple(
        (float(rng.uniform(-np.pi, np.pi)), float(rng.uniform(*spike_height)), float(rng.uniform(0.05, 0.15)))
        for _ in range(n_spikes)
    )
    return USBlob(cx, cy, ax, ay, angle, amps, phases, spikes)


def spots(size: int, xs: np.ndarray, ys: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian spots of unit peak at normalised positions (microcalcifications, cystic spaces, ...).

    Args:
        size: image height and width in pixels.
        xs, ys: spot centres (normalised x lateral, y depth); snapped to the nearest pixel.
        sigma_px: spot standard deviation in pixels (at least 0.5).

    Returns:
        float32 (size, size) map.
    """
    out = np.zeros((size, size), dtype=_F)
    if len(xs) == 0:
        return out
    cols = np.clip(np.round(np.asarray(xs) * size - 0.5).astype(int), 0, size - 1)
    rows = np.clip(np.round(np.asarray(ys) * size - 0.5).astype(int), 0, size - 1)
    np.add.at(out, (rows, cols), 1.0)
    sigma_px = max(sigma_px, 0.5)
    return ndimage.gaussian_filter(out, sigma_px, truncate=3.0) * (2 * np.pi * sigma_px**2)


def segment(size: int, p0: tuple[float, float], p1: tuple[float, float], width: float) -> np.ndarray:
    """Soft line segment (valve leaflet, fascia) with a Gaussian profile, unit on the segment.

    Args:
        size: image height and width in pixels.
        p0, p1: end points (normalised ``(x, y)``).
        width: profile width (normalised; at least half a pixel).

    Returns:
        (size, size) map in [0, 1].
    """
    x, y = pixel_grid(size)
    ax, ay = p0
    vx, vy = p1[0] - ax, p1[1] - ay
    n2 = vx * vx + vy * vy + 1e-12
    t = np.clip(((x - ax) * vx + (y - ay) * vy) / n2, 0.0, 1.0)
    d2 = (x - ax - t * vx) ** 2 + (y - ay - t * vy) ** 2
    return np.exp(-d2 / max(width, 0.5 / size) ** 2)
