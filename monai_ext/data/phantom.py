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
"""Embedded B-mode ultrasound phantom: breast (BUSI-like), cardiac (CAMUS-like) and thyroid (TN-SCUI-like) data.

Every image is simulated, not drawn: the anatomy gives an echogenicity map (scatterer amplitude), a relative
attenuation map and the label mask in image coordinates (the mask is exactly the region the maps are drawn from);
the maps are sampled on the beam grid of the probe (linear: the image grid; convex and phased-array sector: depth x
scan line); speckle is complex circular Gaussian scatterers times echogenicity convolved with the point-spread
function (Gaussian axially, Gaussian laterally with a focal zone; the simulation is at baseband (IQ), where the RF
carrier only shifts the spectrum and does not change the envelope), whose magnitude is the envelope (Rayleigh
distributed in fully developed speckle); attenuation accumulates along every beam (shadows behind strong
attenuators, enhancement behind fluid), electronic noise is added, time-gain compensation corrects the depth
attenuation imperfectly, the envelope is log-compressed to 8 bits through a display curve, scan-converted and
lightly smoothed (scanner speckle reduction), black outside the field of view. Gain, dynamic range, PSF size,
focus, attenuation, TGC error and noise are drawn per image; anatomy (layers, lesion shape, size, position and
contrast) per patient, with small changes between the 1-3 views of a patient. Everything is vectorised
numpy/scipy and deterministic for a seed.

Public API:

- :func:`write_phantom_dataset` writes ``DIR/images/<id>.png``, ``DIR/masks/<id>.png`` and ``DIR/dataset.json``
  (data contract of the project); ids are ``p%04d_%02d`` (patient, view) with 1-3 views per patient.
- :func:`make_phantom_sample` renders one independent sample in memory.
- :func:`make_cardiac_params` and :func:`make_cardiac_frame` render one cardiac anatomy at any phase of the
  cardiac cycle (for cine clips): the same :class:`USCardiacParams` gives the same anatomy, texture and (mostly)
  the same speckle at every phase, the LV contracts from end diastole (phase 0) to end systole
  (``params.es_phase``) and relaxes back, periodic in phase.
- :func:`speckle_envelope` is the speckle kernel used by the renderer (exposed for tests and other simulators).
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

__all__ = [
    "PHANTOM_TASKS",
    "PHANTOM_LABELS",
    "PHANTOM_GROUP_REGEX",
    "PHANTOM_VERSION",
    "USProbeGeometry",
    "USImagingParams",
    "USCardiacParams",
    "speckle_envelope",
    "cardiac_contraction",
    "make_cardiac_params",
    "make_cardiac_frame",
    "make_phantom_sample",
    "write_phantom_dataset",
]

PHANTOM_TASKS: tuple[str, ...] = ("breast", "cardiac", "thyroid")
"""Tasks the phantom simulates."""

PHANTOM_LABELS: dict[str, dict[str, list[int]]] = {
    "breast": {"lesion": [255]},
    "cardiac": {"lv": [1], "myocardium": [2], "la": [3]},
    "thyroid": {"nodule": [255]},
}
"""Task -> {structure name: mask gray values}, in label order (the ``labels`` table of dataset.json)."""

PHANTOM_GROUP_REGEX = r"^(p\d+)_"
"""Regex whose first group is the patient id of a phantom image id."""

PHANTOM_VERSION = 1
"""Version of the simulation; part of the identity of a written dataset (a change invalidates reuse)."""

_MIN_SIZE = 32
# Speckle must be resolved (a few pixels per grain): small images are rendered at >= 128 px and area-averaged,
# like a real scan resized for a network.
_MIN_RENDER = 128
_GOLDEN = 0.6180339887498949
# Class mix per task: drawn with a low-discrepancy sequence over patients so small datasets hit the fractions.
_CLASS_MIX = {
    "breast": (("normal", 0.15), ("malignant", 0.30), ("benign", 0.55)),
    "thyroid": (("malignant", 0.5), ("benign", 0.5)),
}
_TASK_CODE = {"breast": 11, "cardiac": 12, "thyroid": 13}
# float32 maps: transcendental functions are several times faster than in float64 and precision is ample
_F = np.float32

# ----------------------------------------------------------------------------------------------------------------
# small numeric helpers


@lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised pixel-centre coordinates (x lateral, y depth) in [0, 1] of a size x size image (read-only)."""
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


def _smooth_field(rng: np.random.Generator, size: int, corr: float) -> np.ndarray:
    """Zero-mean, unit-variance smooth Gaussian random field with correlation length ``corr`` (fraction of size).

    White noise on a coarse lattice interpolated with Gaussian weights: two small matrix products instead of a
    wide Gaussian filter on the full grid.
    """
    nodes = int(min(max(math.ceil(1.0 / max(corr, 1e-3)), 2), size)) + 3
    coarse = rng.standard_normal((nodes, nodes), dtype=_F)
    w = _interp_matrix(size, nodes)
    out = w @ coarse @ w.T
    out -= out.mean()
    out /= out.std() + 1e-12
    return out


def _wave(rng: np.random.Generator, t: np.ndarray, amp: float, terms: int = 3) -> np.ndarray:
    """Smooth 1D undulation of amplitude about ``amp`` evaluated on the array ``t`` (a few random sinusoids)."""
    out = np.zeros_like(t)
    for _ in range(terms):
        out += rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * rng.uniform(0.5, 3.0) * t + rng.uniform(0, 2 * np.pi))
    return out * (amp / terms * 1.5)


def _step(x: np.ndarray, width: float) -> np.ndarray:
    """Smooth step 0 -> 1 across x = 0 over about ``2 * width`` (anti-aliased tissue interfaces; no tanh: speed)."""
    t = np.clip(x * (0.5 / max(width, 1e-6)) + 0.5, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _mix(a: np.ndarray | float, b: np.ndarray | float, w: np.ndarray) -> np.ndarray:
    return a * (1.0 - w) + b * w


def _spots(size: int, xs: np.ndarray, ys: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian spots of unit peak at normalised positions (microcalcifications, valve tips ...)."""
    out = np.zeros((size, size), dtype=_F)
    if len(xs) == 0:
        return out
    cols = np.clip(np.round(np.asarray(xs) * size - 0.5).astype(int), 0, size - 1)
    rows = np.clip(np.round(np.asarray(ys) * size - 0.5).astype(int), 0, size - 1)
    np.add.at(out, (rows, cols), 1.0)
    sigma_px = max(sigma_px, 0.5)
    return ndimage.gaussian_filter(out, sigma_px, truncate=3.0) * (2 * np.pi * sigma_px**2)


def _segment(size: int, p0: tuple[float, float], p1: tuple[float, float], width: float) -> np.ndarray:
    """Soft line segment (valve leaflet, fascia) from p0 to p1 (normalised (x, y)), Gaussian profile of ``width``."""
    x, y = _grid(size)
    ax, ay = p0
    vx, vy = p1[0] - ax, p1[1] - ay
    n2 = vx * vx + vy * vy + 1e-12
    t = np.clip(((x - ax) * vx + (y - ay) * vy) / n2, 0.0, 1.0)
    d2 = (x - ax - t * vx) ** 2 + (y - ay - t * vy) ** 2
    return np.exp(-d2 / max(width, 0.5 / size) ** 2)


def _blur(mask: np.ndarray, sigma_norm: float, size: int) -> np.ndarray:
    """Gaussian-like blur with a standard deviation given as a fraction of the image size.

    Wide blurs use two passes of a box filter (running sums: cost independent of the width), narrow ones a
    Gaussian.
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


@dataclass(frozen=True)
class _Blob:
    """Star-shaped region: an ellipse whose radius is modulated by harmonics and narrow spikes (spiculation)."""

    cx: float
    cy: float
    ax: float
    ay: float
    angle: float = 0.0
    amps: tuple[float, ...] = ()  # harmonic k = 2, 3, ... amplitudes (relative radius)
    phases: tuple[float, ...] = ()
    spikes: tuple[tuple[float, float, float], ...] = ()  # (angle, relative height, angular width)

    def q(self, size: int, reach: float = 2.5) -> np.ndarray:
        """Normalised radius: < 1 inside the region, 1 on its boundary, grows outwards.

        Computed in the bounding box of ``q < reach`` only (speed); pixels outside it get ``reach + 1``.
        """
        extent = 1.0 + sum(abs(a) for a in self.amps) + sum(h for _, h, _ in self.spikes)
        half = reach * extent * max(self.ax, self.ay)
        r0, r1 = (max(int((c - half) * size), 0) for c in (self.cy, self.cx))
        e0, e1 = (min(int(math.ceil((c + half) * size)), size) for c in (self.cy, self.cx))
        out = np.full((size, size), reach + 1.0, dtype=_F)
        if e0 <= r0 or e1 <= r1:
            return out
        x, y = _grid(size)
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
            for a, ph in zip(self.amps, self.phases):
                zk = zk * z
                radius += _F(a) * (zk * np.complex64(complex(math.cos(ph), math.sin(ph)))).real
        if self.spikes:
            th = np.arctan2(v, u)
            for t0, h, w in self.spikes:
                d = (th - _F(t0) + _F(np.pi)) % _F(2 * np.pi) - _F(np.pi)
                radius += _F(h) * np.exp(-((d * _F(1.0 / w)) ** 2))
        out[r0:e0, r1:e1] = np.minimum(rho / np.maximum(radius, _F(0.2)), _F(reach + 1.0))
        return out

    def moved(self, rng: np.random.Generator, shift: float, rot: float, scale: float) -> _Blob:
        """The same shape seen in another view: small shift, rotation and anisotropic scaling."""
        return replace(
            self,
            cx=self.cx + rng.normal(0, shift),
            cy=self.cy + rng.normal(0, shift * 0.6),
            ax=self.ax * math.exp(rng.normal(0, scale)),
            ay=self.ay * math.exp(rng.normal(0, scale)),
            angle=self.angle + rng.normal(0, rot),
            phases=tuple(p + rng.normal(0, 0.15) for p in self.phases),
        )


def _random_blob(
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
) -> _Blob:
    ks = np.arange(2, harmonics + 2)
    amps = tuple(float(a) for a in rng.normal(0, irregularity, len(ks)) / ks**0.7)
    phases = tuple(float(p) for p in rng.uniform(0, 2 * np.pi, len(ks)))
    spikes = tuple(
        (float(rng.uniform(-np.pi, np.pi)), float(rng.uniform(*spike_height)), float(rng.uniform(0.05, 0.15)))
        for _ in range(n_spikes)
    )
    return _Blob(cx, cy, ax, ay, angle, amps, phases, spikes)


# ----------------------------------------------------------------------------------------------------------------
# probe geometry and imaging


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
        k = _oversampling(size)
        fov = _geometry_maps(self, size * k).fov
        return fov.reshape(size, k, size, k).any(axis=(1, 3)) if k > 1 else fov.copy()


@dataclass(frozen=True)
class _GeometryMaps:
    fov: np.ndarray  # (S, S) bool
    depth: np.ndarray  # (S, S) normalised distance from the probe surface along the beam
    lateral: np.ndarray  # (S, S) normalised lateral coordinate along the probe surface
    beam_dir: tuple[np.ndarray, np.ndarray] | None  # unit beam direction (x, y) per pixel; None = (0, 1)
    beam_depth: np.ndarray  # (n_r,) normalised depth of the beam samples
    step: float  # normalised path length per beam sample
    to_beam: tuple[np.ndarray, ...] | None  # bilinear taps image -> beam grid (None: identity)
    to_image: tuple[np.ndarray, ...] | None  # bilinear taps beam grid -> image


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


def _resample(img: np.ndarray, taps: tuple[np.ndarray, ...]) -> np.ndarray:
    flat, fr, fc, ncol = taps
    f = img.reshape(-1)
    top = f[flat] * (1 - fc) + f[flat + 1] * fc
    bot = f[flat + ncol] * (1 - fc) + f[flat + ncol + 1] * fc
    return top * (1 - fr) + bot * fr


@lru_cache(maxsize=4)  # a cine clip renders every frame with the same geometry
def _geometry_maps(geom: USProbeGeometry, size: int) -> _GeometryMaps:
    x, y = _grid(size)
    if geom.kind == "linear":
        fov = (y >= geom.y_min) & (x >= geom.x_min) & (x <= geom.x_max)
        depth = y - _F(geom.y_min)
        beam_depth = (np.arange(size) + 0.5) / size - geom.y_min
        maps = _GeometryMaps(fov, depth, x.copy(), None, beam_depth, 1.0 / size, None, None)
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
        maps = _GeometryMaps(
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


def _oversampling(size: int) -> int:
    return max(1, math.ceil(_MIN_RENDER / size))


def _render_small(
    render: Callable[[int], tuple[np.ndarray, np.ndarray, dict]], size: int
) -> tuple[np.ndarray, np.ndarray, dict]:
    """``render(n)`` at n >= 128 px reduced to ``size``: image by area mean, mask by majority label (ties go to the
    background, the lowest value), field of view by "any sub-pixel inside" (so the image stays 0 outside it)."""
    k = _oversampling(size)
    if k == 1:
        return render(size)
    img, mask, info = render(size * k)
    img = np.rint(img.reshape(size, k, size, k).mean(axis=(1, 3), dtype=np.float32)).astype(np.uint8)
    values = np.unique(mask)  # ascending: background 0 first
    blocks = mask.reshape(size, k, size, k)
    counts = np.stack([(blocks == v).sum(axis=(1, 3)) for v in values])
    mask = values[np.argmax(counts, axis=0)].astype(np.uint8)
    info = dict(info, fov=info["fov"].reshape(size, k, size, k).any(axis=(1, 3)))
    return img, mask, info


def _linear_geometry(rng: np.random.Generator) -> USProbeGeometry:
    y_min = 0.0 if rng.random() < 0.6 else float(rng.uniform(0.01, 0.05))
    side = 0.0 if rng.random() < 0.6 else float(rng.uniform(0.01, 0.08))
    return USProbeGeometry("linear", x_min=side, x_max=1.0 - side, y_min=y_min)


def _convex_geometry(rng: np.random.Generator) -> USProbeGeometry:
    r_probe = float(rng.uniform(0.3, 0.8))
    apex_y = -r_probe + float(rng.uniform(0.0, 0.04))
    r_max = (1.0 - apex_y) * float(rng.uniform(0.95, 1.0))
    half = math.asin(min(0.98, 0.5 * float(rng.uniform(0.9, 1.15)) / r_max))
    return USProbeGeometry("convex", apex_x=0.5, apex_y=apex_y, r_min=r_probe, r_max=r_max, half_angle=half)


def _sector_geometry(rng: np.random.Generator) -> USProbeGeometry:
    apex_y = float(rng.uniform(-0.015, 0.02))
    r_min = float(rng.uniform(0.005, 0.02))
    r_max = (1.0 - apex_y) * float(rng.uniform(0.93, 1.0))
    half = math.radians(float(rng.uniform(35.0, 42.0)))
    return USProbeGeometry("sector", apex_x=0.5, apex_y=apex_y, r_min=r_min, r_max=r_max, half_angle=half)


@dataclass(frozen=True)
class USImagingParams:
    """Scanner settings and acoustic properties of one acquisition (lengths relative to the beam grid).

    Attributes:
        sigma_axial: axial PSF standard deviation as a fraction of the number of depth samples.
        sigma_lateral: lateral PSF standard deviation at the focus, fraction of the number of scan lines.
        defocus: lateral PSF widening far from the focus (>= 1).
        focus: focal depth as a fraction of the imaging depth.
        atten_db: round-trip attenuation of reference soft tissue over one image size of depth (dB).
        tgc_error: relative error of the time-gain compensation (negative: under-compensated, darker deep).
        tgc_wobble: (amplitude dB, frequency, phase) terms of the uneven TGC slider curve.
        noise_db: electronic noise level relative to reference tissue at the surface (dB).
        gain_db: display gain (dB); envelope level ``-gain_db`` is white.
        dynamic_range_db: log-compression dynamic range (dB).
        glint_density: fraction of scatterers that are strong reflectors; glint_gain: their amplitude factor.
        gamma: display curve exponent applied to the log-compressed level in [0, 1].
        smooth_px: Gaussian smoothing after scan conversion (scanner speckle reduction), pixels at 256.
    """

    sigma_axial: float = 0.006
    sigma_lateral: float = 0.009
    defocus: float = 1.8
    focus: float = 0.45
    atten_db: float = 30.0
    tgc_error: float = -0.1
    tgc_wobble: tuple[tuple[float, float, float], ...] = ()
    noise_db: float = -55.0
    gain_db: float = -20.0
    dynamic_range_db: float = 55.0
    glint_density: float = 0.002
    glint_gain: float = 3.0
    gamma: float = 1.2
    smooth_px: float = 0.7


def _sample_imaging(rng: np.random.Generator, task: str) -> USImagingParams:
    cardiac = task == "cardiac"
    return USImagingParams(
        sigma_axial=float(rng.uniform(0.005, 0.008) if cardiac else rng.uniform(0.003, 0.006)),
        sigma_lateral=float(rng.uniform(0.008, 0.014) if cardiac else rng.uniform(0.006, 0.012)),
        defocus=float(rng.uniform(1.3, 2.0)),
        focus=float(rng.uniform(0.3, 0.65)),
        atten_db=float(rng.uniform(22.0, 40.0)),
        tgc_error=float(rng.uniform(-0.3, 0.1)),
        tgc_wobble=tuple(
            (float(rng.uniform(0.5, 2.5)), float(rng.uniform(0.5, 2.5)), float(rng.uniform(0, 2 * np.pi)))
            for _ in range(2)
        ),
        noise_db=float(rng.uniform(-62.0, -50.0)),
        gain_db=float(rng.uniform(-27.0, -19.0)),
        dynamic_range_db=float(rng.uniform(45.0, 58.0) if cardiac else rng.uniform(45.0, 65.0)),
        glint_density=float(rng.uniform(0.0005, 0.004)),
        glint_gain=float(rng.uniform(2.0, 4.0)),
        gamma=float(rng.uniform(1.0, 1.5)),
        smooth_px=float(rng.uniform(0.4, 1.0)),
    )


def _gauss1d(x: np.ndarray, sigma: float, axis: int) -> np.ndarray:
    """Gaussian filter along one axis; wide ones as three box passes (cost independent of the width)."""
    if sigma < 3.0:
        return ndimage.gaussian_filter1d(x, sigma, axis=axis, truncate=3.0, mode="reflect")
    # three odd box widths wl or wl + 2 whose variances add up to sigma^2 (Kovesi's construction)
    n = 3
    wl = int(math.floor(math.sqrt(12.0 * sigma * sigma / n + 1.0)))
    wl -= 1 - wl % 2
    m = int(round((12.0 * sigma * sigma - n * wl * wl - 4 * n * wl - 3 * n) / (-4.0 * wl - 4.0)))
    for i in range(n):
        x = ndimage.uniform_filter1d(x, wl if i < m else wl + 2, axis=axis, mode="reflect")
    return x


@lru_cache(maxsize=256)
def _kernel_stats(sigma_a: float, sigma_b: float) -> tuple[float, float, float]:
    """L2 norms of the discrete kernels of :func:`_gauss1d` and their normalised correlation."""
    half = int(5 * max(sigma_a, sigma_b)) + 4
    delta = np.zeros(2 * half + 1)
    delta[half] = 1.0
    ka = _gauss1d(delta, sigma_a, 0)
    kb = _gauss1d(delta, sigma_b, 0)
    na, nb = float(np.sqrt((ka**2).sum())), float(np.sqrt((kb**2).sum()))
    return na, nb, float((ka * kb).sum() / (na * nb))


def _speckle_field(
    scat_re: np.ndarray,
    scat_im: np.ndarray,
    sigma_axial: float,
    sigma_lateral: float,
    sigma_lateral_far: float | None = None,
    far_weight: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Complex (IQ) echo field: separable PSF applied to real and imaginary parts, unit gain in power."""
    sa = max(sigma_axial, 0.3)
    sl = max(sigma_lateral, 0.3)
    na, _, _ = _kernel_stats(sa, sa)
    re = _gauss1d(scat_re, sa, 0)
    im = _gauss1d(scat_im, sa, 0)
    near_re = _gauss1d(re, sl, 1)
    near_im = _gauss1d(im, sl, 1)
    if sigma_lateral_far is None or far_weight is None:
        _, nl, _ = _kernel_stats(sl, sl)
        g = 1.0 / (na * nl)
        return near_re * g, near_im * g
    sf = max(sigma_lateral_far, 0.3)
    nl, nf, rho = _kernel_stats(sl, sf)
    far_re = _gauss1d(re, sf, 1)
    far_im = _gauss1d(im, sf, 1)
    w = far_weight.reshape(-1, 1)
    # a blend of two correlated unit-power fields has power (1-w)^2 + w^2 + 2 w (1-w) rho: renormalise
    gain = 1.0 / (na * np.sqrt((1 - w) ** 2 + w**2 + 2 * w * (1 - w) * rho))
    out_re = ((1 - w) * near_re / nl + w * far_re / nf) * gain
    out_im = ((1 - w) * near_im / nl + w * far_im / nf) * gain
    return out_re, out_im


def speckle_envelope(
    echo: np.ndarray, rng: np.random.Generator, sigma_axial: float = 1.5, sigma_lateral: float = 2.5
) -> np.ndarray:
    """Envelope of fully developed speckle for an echogenicity map (the speckle kernel of the phantom).

    Complex circular Gaussian scatterers of amplitude ``echo`` are convolved with a separable Gaussian PSF
    (axis 0 = depth, axis 1 = lateral) and the magnitude is returned. Where ``echo`` is constant the envelope is
    Rayleigh distributed with mean square ``echo**2`` (coefficient of variation sqrt(4 / pi - 1) = 0.523).

    Args:
        echo: 2D non-negative echogenicity map (beam grid).
        rng: numpy random generator (scatterers).
        sigma_axial: axial PSF standard deviation in samples.
        sigma_lateral: lateral PSF standard deviation in samples.

    Returns:
        float64 envelope of the same shape as ``echo``.
    """
    echo = np.asarray(echo, dtype=np.float64)
    if echo.ndim != 2:
        raise ValueError(f"speckle_envelope expects a 2D echogenicity map, got shape {echo.shape}.")
    if np.any(echo < 0):
        raise ValueError("speckle_envelope: echogenicity must be non-negative.")
    sre = rng.standard_normal(echo.shape) * (echo / math.sqrt(2))
    sim = rng.standard_normal(echo.shape) * (echo / math.sqrt(2))
    re, im = _speckle_field(sre, sim, sigma_axial, sigma_lateral)
    return np.sqrt(re * re + im * im)


def _scatterers(rng: np.random.Generator, n: int, imaging: USImagingParams) -> tuple[np.ndarray, np.ndarray]:
    """Complex circular unit-power scatterer field on an n x n beam grid, with a few strong reflectors."""
    amp = np.where(rng.random((n, n), dtype=_F) < imaging.glint_density, _F(imaging.glint_gain), _F(1.0))
    amp *= _F(1.0 / math.sqrt(2))
    sre = rng.standard_normal((n, n), dtype=_F) * amp
    sim = rng.standard_normal((n, n), dtype=_F) * amp
    return sre, sim


def _render_bmode(
    echo: np.ndarray,
    atten: np.ndarray,
    geom: USProbeGeometry,
    imaging: USImagingParams,
    size: int,
    rng: np.random.Generator,
    scatterers: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """B-mode image (uint8) of an echogenicity map and a relative attenuation map given in image coordinates."""
    gm = _geometry_maps(geom, size)
    if gm.to_beam is None:
        echo_b, att_b = echo, atten
    else:
        echo_b, att_b = _resample(echo, gm.to_beam), _resample(atten, gm.to_beam)
    n = echo_b.shape[0]
    d = gm.beam_depth
    inside = (d >= 0).astype(_F)[:, None]
    att_b = np.clip(att_b, 0.0, None) * inside
    # shadows have the width of the beam, not of the attenuator
    att_b = _gauss1d(att_b, max(imaging.sigma_lateral * n, 0.5), 1)
    cum_db = (np.cumsum(att_b, axis=0) - 0.5 * att_b) * _F(gm.step * imaging.atten_db)
    dpos = np.clip(d, 0.0, None)
    dfrac = dpos / max(float(dpos.max()), 1e-9)
    tgc_db = imaging.atten_db * dpos * (1.0 + imaging.tgc_error)
    for a, f, ph in imaging.tgc_wobble:
        tgc_db = tgc_db + a * np.sin(np.pi * f * dfrac + ph)
    if scatterers is None:
        scatterers = _scatterers(rng, n, imaging)
    echo_b = np.clip(echo_b, 0.0, None).astype(_F, copy=False)
    far_w = np.clip(np.abs(dfrac - imaging.focus) / 0.5, 0.0, 1.0).astype(_F)
    re, im = _speckle_field(
        scatterers[0] * echo_b,
        scatterers[1] * echo_b,
        imaging.sigma_axial * n,
        imaging.sigma_lateral * n,
        imaging.sigma_lateral * n * imaging.defocus,
        far_w,
    )
    amp = np.exp(cum_db * _F(-math.log(10.0) / 20.0))
    noise = _F(10.0 ** (imaging.noise_db / 20.0) / math.sqrt(2))
    re = re * amp + rng.standard_normal(re.shape, dtype=_F) * noise
    im = im * amp + rng.standard_normal(im.shape, dtype=_F) * noise
    env2 = (re * re + im * im) * (10.0 ** (tgc_db / 10.0)).astype(_F)[:, None]
    # log compression, then the display curve (gamma) of the scanner
    db = _F(10.0) * np.log10(env2 + _F(1e-20)) + _F(imaging.gain_db)
    level = np.clip((db + _F(imaging.dynamic_range_db)) * _F(1.0 / imaging.dynamic_range_db), 0.0, 1.0)
    if imaging.gamma != 1.0:
        level = level ** _F(imaging.gamma)
    gray = level * _F(255.0)
    if gm.to_image is not None:
        gray = _resample(gray, gm.to_image)
    if imaging.smooth_px * size / 256.0 > 0.2:  # scanner speckle reduction, scaled with the image size
        gray = ndimage.gaussian_filter(gray, imaging.smooth_px * size / 256.0, truncate=2.5)
    img = np.clip(np.rint(gray), 0, 255).astype(np.uint8)
    img[~gm.fov] = 0
    return img


# ----------------------------------------------------------------------------------------------------------------
# breast (BUSI-like)


@dataclass(frozen=True)
class _Lesion:
    """A focal lesion or nodule: shape plus the acoustic signature around it."""

    kind: str
    blob: _Blob
    contrast: float  # echogenicity relative to the host tissue
    heterogeneity: float
    sigma_sharp: float  # boundary blur (fraction of size) on the sharp part of the margin
    sigma_soft: float  # ... and on the blurred part
    inner_atten: float  # attenuation inside, relative to soft tissue
    shadow_db: float = 0.0  # extra posterior shadow (dB, whole lesion)
    halo: float = 0.0  # echogenic (>0) or hypoechoic (<0) rim outside the boundary
    halo_width: float = 0.15  # in units of the normalised radius
    capsule: float = 0.0  # thin bright capsule
    edge_db: float = 0.0  # lateral edge (refraction) shadows
    calcs: int = 0  # number of microcalcifications
    macrocalc: float = 0.0  # coarse rim calcification: angular extent in radians
    cysts: int = 0  # small cystic spaces (spongiform nodules)


def _draw_lesion(
    lesion: _Lesion,
    echo: np.ndarray,
    atten: np.ndarray,
    host_echo: float,
    size: int,
    rng: np.random.Generator,
    a0: float,
) -> np.ndarray:
    """Draw a lesion into the echogenicity and attenuation maps in place; return its boolean mask."""
    q = lesion.blob.q(size)
    mask = q < 1.0
    if not mask.any():
        return mask
    m_sharp = _blur(mask, lesion.sigma_sharp, size)
    m_soft = _blur(mask, lesion.sigma_soft, size)
    wsoft = _step(_smooth_field(rng, size, 0.08), 0.5)  # parts of the margin are blurred, others sharp
    m = _mix(m_sharp, m_soft, wsoft)
    tex = 1.0 + lesion.heterogeneity * _smooth_field(rng, size, 0.025)
    lesion_echo = np.clip(host_echo * lesion.contrast * tex, 0.0, None)
    echo *= 1.0 - m
    echo += lesion_echo * m
    if lesion.cysts:
        centres = lesion.blob
        r = np.sqrt(rng.uniform(0, 0.7, lesion.cysts))
        t = rng.uniform(0, 2 * np.pi, lesion.cysts)
        spots = _spots(
            size,
            centres.cx + r * np.cos(t) * centres.ax,
            centres.cy + r * np.sin(t) * centres.ay,
            max(0.008 * size, 0.7),
        )
        echo *= 1.0 - 0.85 * np.clip(spots, 0, 1) * mask
    if lesion.halo:
        ring = np.exp(-(((q - 1.0 - lesion.halo_width * 0.5) / (lesion.halo_width * 0.5)) ** 2)) * (q > 0.97)
        if lesion.halo > 0:
            echo += lesion.halo * host_echo * ring * (0.6 + 0.4 * _step(_smooth_field(rng, size, 0.1), 0.5))
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
            cal = _spots(size, (jj[pick] + 0.5) / size, (ii[pick] + 0.5) / size, max(0.0035 * size, 0.55))
            echo += cal * float(rng.uniform(3.0, 6.0)) * host_echo
            atten += cal * float(rng.uniform(4.0, 10.0)) / (a0 * 4.0 / size)
    if lesion.macrocalc > 0:
        t0 = float(rng.uniform(-np.pi * 0.9, -np.pi * 0.1))  # on the probe side of the nodule
        b = lesion.blob
        th = np.arctan2(_grid(size)[1] - b.cy, _grid(size)[0] - b.cx)
        d = np.abs((th - t0 + np.pi) % (2 * np.pi) - np.pi)
        rim = np.exp(-(((q - 0.93) / 0.06) ** 2)) * (d < lesion.macrocalc * 0.5)
        echo += 5.0 * host_echo * rim
        atten += rim * float(rng.uniform(15.0, 30.0)) / (a0 * 4.0 / size)
    return mask


def _sample_breast_patient(rng: np.random.Generator, cls: str) -> dict[str, Any]:
    p: dict[str, Any] = {"class": cls}
    p["probe"] = "linear" if rng.random() < 0.8 else "convex"
    p["skin"] = float(rng.uniform(0.012, 0.03))
    p["fat"] = float(rng.uniform(0.08, 0.28))
    p["gland"] = float(min(p["fat"] + rng.uniform(0.3, 0.55), 0.88))
    p["retro"] = float(rng.uniform(0.01, 0.04))
    p["echo_skin"] = float(rng.uniform(1.6, 2.4))
    p["echo_fat"] = float(rng.uniform(0.3, 0.5))
    p["echo_gland"] = float(rng.uniform(0.8, 1.2))
    p["echo_muscle"] = float(rng.uniform(0.45, 0.7))
    p["echo_lig"] = float(rng.uniform(0.8, 1.8))
    p["rib"] = bool(rng.random() < 0.25)
    p["lesion"] = None
    if cls == "normal":
        return p
    if cls == "benign":
        kind = "cyst" if rng.random() < 0.35 else "fibroadenoma"
    else:
        kind = "carcinoma"
    a = float(math.exp(rng.uniform(math.log(0.05), math.log(0.2))))
    aspect = {"cyst": (0.55, 1.0), "fibroadenoma": (0.45, 0.8), "carcinoma": (0.65, 1.35)}[kind]
    b = min(a * float(rng.uniform(*aspect)), 0.22)
    # inside the glandular layer (its host tissue), shrunk if the layer is thin
    room = p["gland"] - p["fat"] - 0.06
    if 1.8 * b > room:
        a, b = a * room / (1.8 * b), room / 1.8
    lo = p["fat"] + 0.9 * b + 0.03
    hi = p["gland"] - 0.9 * b - 0.03
    cy = float(rng.uniform(lo, hi)) if hi > lo else 0.5 * (lo + hi)
    cx = float(rng.uniform(0.32, 0.68))
    if kind == "carcinoma":
        blob = _random_blob(
            rng, cx, cy, a, b, float(rng.uniform(-0.6, 0.6)), 0.25, 10, int(rng.integers(3, 11)), (0.08, 0.35)
        )
        shadow = bool(rng.random() < 0.7)
        lesion = _Lesion(
            kind,
            blob,
            contrast=float(rng.uniform(0.12, 0.45)),
            heterogeneity=float(rng.uniform(0.25, 0.5)),
            sigma_sharp=float(rng.uniform(0.001, 0.003)),
            sigma_soft=float(rng.uniform(0.006, 0.02)),
            inner_atten=float(rng.uniform(0.9, 1.3)),
            shadow_db=float(rng.uniform(6.0, 20.0)) if shadow else 0.0,
            halo=float(rng.uniform(0.3, 0.9)) if rng.random() < 0.6 else 0.0,
            halo_width=float(rng.uniform(0.08, 0.25)),
            calcs=int(rng.integers(3, 15)) if rng.random() < 0.3 else 0,
        )
    elif kind == "cyst":
        blob = _random_blob(rng, cx, cy, a, b, float(rng.normal(0, 0.2)), 0.04, 3)
        lesion = _Lesion(
            kind,
            blob,
            contrast=float(rng.uniform(0.02, 0.1)),
            heterogeneity=0.1,
            sigma_sharp=float(rng.uniform(0.001, 0.002)),
            sigma_soft=float(rng.uniform(0.002, 0.006)),
            inner_atten=float(rng.uniform(0.0, 0.1)),
            capsule=float(rng.uniform(0.3, 1.0)) if rng.random() < 0.7 else 0.0,
            edge_db=float(rng.uniform(2.0, 6.0)),
        )
    else:
        lobulated = 2.5 if rng.random() < 0.3 else 1.0
        blob = _random_blob(rng, cx, cy, a, b, float(rng.normal(0, 0.2)), 0.06 * lobulated, 4)
        low = rng.random() < 0.2
        lesion = _Lesion(
            kind,
            blob,
            contrast=float(rng.uniform(0.55, 0.75) if low else rng.uniform(0.25, 0.55)),
            heterogeneity=float(rng.uniform(0.1, 0.25)),
            sigma_sharp=float(rng.uniform(0.001, 0.003)),
            sigma_soft=float(rng.uniform(0.004, 0.012)),
            inner_atten=float(rng.uniform(0.3, 1.0)),
            capsule=float(rng.uniform(0.3, 1.0)) if rng.random() < 0.5 else 0.0,
            edge_db=float(rng.uniform(1.0, 4.0)) if rng.random() < 0.5 else 0.0,
        )
    p["lesion"] = lesion
    return p


def _breast_view(patient: dict[str, Any], rng: np.random.Generator, view: int) -> dict[str, Any]:
    """Another view of the same breast: same tissue and lesion, slightly moved probe."""
    if view == 0:
        return patient
    v = dict(patient)
    for k in ("fat", "gland"):
        v[k] = float(patient[k] + rng.normal(0, 0.02))
    v["gland"] = float(min(max(v["gland"], v["fat"] + 0.25), 0.9))
    if patient["lesion"] is not None:
        les = patient["lesion"]
        blob = les.blob.moved(rng, 0.04, 0.2, 0.08)
        blob = replace(blob, cx=float(np.clip(blob.cx, 0.25, 0.75)), cy=float(np.clip(blob.cy, blob.ay + 0.05, 0.9)))
        v["lesion"] = replace(les, blob=blob)
    return v


def _render_breast(p: dict[str, Any], size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:
    geom = _linear_geometry(rng) if p["probe"] == "linear" else _convex_geometry(rng)
    imaging = _sample_imaging(rng, "breast")
    gm = _geometry_maps(geom, size)
    x, y = _grid(size)
    d, lat = gm.depth, gm.lateral
    px = 1.0 / size
    b_skin = p["skin"] + _wave(rng, lat, 0.003)
    b_fat = p["fat"] + _wave(rng, lat, 0.04)
    b_gland = p["gland"] + _wave(rng, lat, 0.05)
    b_muscle = b_gland + p["retro"]
    lig = _smooth_field(rng, size, 0.12)
    ligaments = np.exp(-((lig / 0.08) ** 2))
    fat = p["echo_fat"] * np.clip(1.0 + 0.25 * _smooth_field(rng, size, 0.04), 0.3, None)
    fat = fat * (0.8 + 0.4 * _step(np.abs(lig) - 0.6, 0.2)) + p["echo_lig"] * ligaments
    gland = p["echo_gland"] * np.clip(
        1.0 + 0.3 * _smooth_field(rng, size, 0.07) + 0.15 * _smooth_field(rng, size, 0.02), 0.25, None
    )
    gland = gland + 0.5 * p["echo_lig"] * ligaments
    phi = float(rng.uniform(-0.5, 0.5))
    period = float(rng.uniform(0.02, 0.04))
    stri = (0.5 + 0.5 * np.cos(2 * np.pi * (y * math.cos(phi) - x * math.sin(phi)) / period)) ** 4
    muscle = p["echo_muscle"] * (0.7 + 0.8 * stri) * np.clip(1 + 0.2 * _smooth_field(rng, size, 0.05), 0.3, None)
    echo = np.full((size, size), p["echo_skin"], dtype=_F)
    echo = _mix(echo, fat, _step(d - b_skin, px))
    echo = _mix(echo, gland, _step(d - b_fat, 3 * px))
    echo = _mix(echo, fat * 0.9, _step(d - b_gland, 2 * px))
    echo = _mix(echo, muscle, _step(d - b_muscle, px))
    echo += 1.2 * p["echo_lig"] * np.exp(-(((d - b_muscle) / max(0.006, px)) ** 2))  # pectoral fascia
    # a few ducts: thin anechoic tubes in the glandular layer (unlabelled look-alikes)
    for _ in range(int(rng.integers(0, 4))):
        duct = _Blob(
            float(rng.uniform(0.1, 0.9)),
            float(rng.uniform(p["fat"] + 0.05, p["gland"])),
            float(rng.uniform(0.04, 0.12)),
            float(rng.uniform(0.008, 0.02)),
            float(rng.normal(0, 0.3)),
        )
        echo *= 1.0 - 0.8 * _step(1.0 - duct.q(size), 0.15)
    atten = np.where(d < b_fat, _F(0.8), _F(1.0))
    if p["rib"]:
        # costal cartilage / rib: hypoechoic oval with a bright anterior surface and a posterior shadow
        rib = _Blob(float(rng.uniform(0.2, 0.8)), float(rng.uniform(0.86, 0.95)), 0.14, 0.05, float(rng.normal(0, 0.1)))
        rq = rib.q(size)
        inside = _step(1.0 - rq, 0.05)
        echo = _mix(echo, 0.35 * p["echo_muscle"], inside)
        echo += 2.0 * np.exp(-(((rq - 1.0) / 0.1) ** 2)) * (y < rib.cy)
        atten = _mix(atten, 25.0 / (imaging.atten_db * 0.1), inside * (y > rib.cy))
    mask = np.zeros((size, size), dtype=bool)
    kind = "normal"
    if p["lesion"] is not None:
        kind = p["lesion"].kind
        mask = _draw_lesion(p["lesion"], echo, atten, p["echo_gland"], size, rng, imaging.atten_db)
    img = _render_bmode(echo, atten, geom, imaging, size, rng)
    mask &= gm.fov
    out = np.where(mask, np.uint8(255), np.uint8(0))
    return img, out, {"task": "breast", "class": p["class"], "kind": kind, "probe": geom.kind, "fov": gm.fov.copy()}


# ----------------------------------------------------------------------------------------------------------------
# thyroid (TN-SCUI-like, transverse view)


def _sample_thyroid_patient(rng: np.random.Generator, cls: str) -> dict[str, Any]:
    p: dict[str, Any] = {"class": cls}
    p["probe"] = "linear" if rng.random() < 0.85 else "convex"
    g = _random_blob(
        rng,
        float(rng.uniform(0.42, 0.58)),
        float(rng.uniform(0.4, 0.52)),
        float(rng.uniform(0.24, 0.34)),
        float(rng.uniform(0.14, 0.2)),
        float(rng.normal(0, 0.1)),
        0.08,
        3,
    )
    p["gland"] = g
    p["side"] = 1.0 if rng.random() < 0.5 else -1.0  # side of the trachea (medial); carotid on the other side
    p["echo_gland"] = float(rng.uniform(1.0, 1.4))
    p["echo_muscle"] = float(rng.uniform(0.25, 0.45))
    p["echo_deep"] = float(rng.uniform(0.35, 0.6))
    p["strap"] = float(rng.uniform(0.05, 0.09))
    p["carotid_r"] = float(rng.uniform(0.065, 0.1))
    p["trachea_r"] = float(rng.uniform(0.12, 0.16))
    if cls == "malignant":
        kind = "solid_hypo"
    else:
        kind = str(rng.choice(["solid_iso_halo", "solid_hypo", "cystic", "spongiform"], p=[0.25, 0.35, 0.2, 0.2]))
    a = float(math.exp(rng.uniform(math.log(0.06), math.log(0.25))))
    a = min(a, g.ax * 0.85)
    if cls == "malignant":
        aspect = float(rng.uniform(1.0, 1.5) if rng.random() < 0.4 else rng.uniform(0.6, 1.0))
    else:
        aspect = float(rng.uniform(0.55, 0.95))
    b = min(a * aspect, g.ay * 1.05)
    cx = g.cx + float(rng.uniform(-0.5, 0.5)) * max(g.ax - a, 0.0)
    cy = g.cy + float(rng.uniform(-0.4, 0.4)) * max(g.ay - b, 0.0)
    macro = float(rng.uniform(1.0, 2.5)) if rng.random() < 0.1 else 0.0
    if cls == "malignant":
        blob = _random_blob(rng, cx, cy, a, b, float(rng.normal(0, 0.3)), 0.2, 8, int(rng.integers(0, 4)))
        les = _Lesion(
            kind,
            blob,
            contrast=float(rng.uniform(0.2, 0.55)),
            heterogeneity=float(rng.uniform(0.2, 0.4)),
            sigma_sharp=float(rng.uniform(0.001, 0.003)),
            sigma_soft=float(rng.uniform(0.005, 0.015)),
            inner_atten=float(rng.uniform(1.0, 1.4)),
            shadow_db=float(rng.uniform(3.0, 10.0)) if rng.random() < 0.3 else 0.0,
            calcs=int(rng.integers(4, 20)) if rng.random() < 0.5 else 0,
            macrocalc=macro,
        )
    else:
        blob = _random_blob(rng, cx, cy, a, b, float(rng.normal(0, 0.25)), 0.05, 4)
        contrast, inner, halo, cysts, het = {
            "solid_iso_halo": (float(rng.uniform(0.75, 0.95)), 1.0, -float(rng.uniform(0.6, 0.9)), 0, 0.15),
            "solid_hypo": (float(rng.uniform(0.35, 0.65)), 1.0, 0.0, 0, 0.2),
            "cystic": (float(rng.uniform(0.03, 0.12)), 0.1, 0.0, 0, 0.3),
            "spongiform": (float(rng.uniform(0.6, 0.9)), 0.7, 0.0, int(rng.integers(8, 25)), 0.2),
        }[kind]
        les = _Lesion(
            kind,
            blob,
            contrast=contrast,
            heterogeneity=het,
            sigma_sharp=float(rng.uniform(0.001, 0.003)),
            sigma_soft=float(rng.uniform(0.003, 0.01)),
            inner_atten=inner,
            halo=halo,
            halo_width=float(rng.uniform(0.06, 0.14)),
            capsule=float(rng.uniform(0.2, 0.6)) if kind == "cystic" else 0.0,
            edge_db=float(rng.uniform(3.0, 8.0)) if kind == "cystic" else 0.0,
            cysts=cysts,
            macrocalc=macro,
        )
    p["lesion"] = les
    return p


def _thyroid_view(patient: dict[str, Any], rng: np.random.Generator, view: int) -> dict[str, Any]:
    if view == 0:
        return patient
    v = dict(patient)
    dx = float(rng.normal(0, 0.03))
    g = patient["gland"].moved(rng, 0.0, 0.08, 0.06)
    v["gland"] = replace(g, cx=g.cx + dx)
    les = patient["lesion"]
    blob = les.blob.moved(rng, 0.015, 0.15, 0.06)
    v["lesion"] = replace(les, blob=replace(blob, cx=blob.cx + dx))
    return v


def _render_thyroid(p: dict[str, Any], size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:
    geom = _linear_geometry(rng) if p["probe"] == "linear" else _convex_geometry(rng)
    imaging = _sample_imaging(rng, "thyroid")
    gm = _geometry_maps(geom, size)
    x, y = _grid(size)
    d, lat = gm.depth, gm.lateral
    px = 1.0 / size
    g: _Blob = p["gland"]
    side = p["side"]
    deep = p["echo_deep"] * np.clip(1.0 + 0.3 * _smooth_field(rng, size, 0.06), 0.2, None)
    phi = float(rng.normal(0, 0.15))
    stri = (0.5 + 0.5 * np.cos(2 * np.pi * (y * math.cos(phi) - x * math.sin(phi)) / float(rng.uniform(0.015, 0.03))))
    muscle = p["echo_muscle"] * (0.75 + 0.6 * stri**4) * np.clip(1 + 0.2 * _smooth_field(rng, size, 0.05), 0.3, None)
    skin_b = 0.02 + _wave(rng, lat, 0.003)
    fat_b = skin_b + float(rng.uniform(0.02, 0.05)) + _wave(rng, lat, 0.01)
    strap_top = fat_b
    strap_bot = np.minimum(g.cy - g.ay * 0.9, fat_b + p["strap"] + _wave(rng, lat, 0.015))
    echo = np.full((size, size), 1.8, dtype=_F)
    fat = 0.45 * np.clip(1 + 0.3 * _smooth_field(rng, size, 0.04), 0.3, None)
    echo = _mix(echo, fat, _step(d - skin_b, px))
    echo = _mix(echo, muscle, _step(d - strap_top, px))
    echo = _mix(echo, deep, _step(d - strap_bot, 2 * px))
    echo += 0.8 * np.exp(-(((d - strap_bot) / max(0.005, px)) ** 2))  # fascia under the strap muscles
    # sternocleidomastoid on the lateral side, above the carotid
    scm = _Blob(g.cx + side * -0.35, fat_b.mean() + 0.07, 0.22, 0.06, float(-side * 0.2))
    echo = _mix(echo, muscle * 0.9, _step(1.0 - scm.q(size), 0.05))
    atten = np.ones((size, size), dtype=_F)
    # gland with a thin bright capsule
    gq = g.q(size)
    gl = p["echo_gland"] * np.clip(1.0 + 0.12 * _smooth_field(rng, size, 0.03), 0.3, None)
    echo = _mix(echo, gl, _step(1.0 - gq, 0.02))
    echo += 0.6 * np.exp(-(((gq - 1.01) / 0.02) ** 2))
    # carotid artery (anechoic, bright wall, posterior enhancement) lateral to the gland
    cr = p["carotid_r"]
    car = _Blob(g.cx - side * (g.ax + cr * 0.6), g.cy + 0.03, cr, cr * 0.95)
    cq = car.q(size)
    echo = _mix(echo, 0.03, _step(1.0 - cq, 0.03))
    echo += 1.2 * np.exp(-(((cq - 1.03) / 0.05) ** 2))
    atten = _mix(atten, 0.05, _step(1.0 - cq, 0.03))
    # trachea (medial): bright anterior wall, reverberations and a dense air shadow
    tr = p["trachea_r"]
    tra = _Blob(g.cx + side * (g.ax + tr * 0.7), g.cy - 0.03 + tr * 0.3, tr, tr * 0.9)
    tq = tra.q(size)
    # cartilage ring (hypoechoic) around a bright air interface; below it only reverberation arcs, then shadow
    cart = _step(1.0 - tq, 0.03)
    echo = _mix(echo, 0.25, cart)
    air = _step(0.8 - tq, 0.02)
    echo += 3.0 * np.exp(-(((tq - 0.8) / 0.05) ** 2)) * (y < tra.cy + 0.2 * tr)
    period = float(rng.uniform(0.15, 0.25))
    reverb = 0.8 * (0.5 + 0.5 * np.cos(2 * np.pi * (0.8 - tq) / period)) ** 8 * np.clip(tq / 0.8, 0.0, 1.0)
    echo = _mix(echo, reverb, air)
    # the air stops the beam: reverberations show in the upper half, total shadow below
    atten = _mix(atten, 40.0 / (imaging.atten_db * tr), air * (y > tra.cy - 0.3 * tr))
    mask = _draw_lesion(p["lesion"], echo, atten, p["echo_gland"], size, rng, imaging.atten_db)
    img = _render_bmode(echo, atten, geom, imaging, size, rng)
    mask &= gm.fov
    out = np.where(mask, np.uint8(255), np.uint8(0))
    return img, out, {
        "task": "thyroid",
        "class": p["class"],
        "kind": p["lesion"].kind,
        "probe": geom.kind,
        "fov": gm.fov.copy(),
    }


# ----------------------------------------------------------------------------------------------------------------
# cardiac (CAMUS-like apical views)


@dataclass(frozen=True)
class USCardiacParams:
    """One heart seen in one apical view; normalised image units, end-diastolic sizes.

    Render it at any phase with :func:`make_cardiac_frame`. Views of one patient share the anatomy fields and
    differ by ``view`` and small changes (see :func:`make_cardiac_params`). ``seed`` fixes the tissue texture and
    the scatterer field, so a sequence of phases gives a coherent cine clip.
    """

    view: str = "a4c"  # "a4c" (LV, LA, RV, RA) or "a2c" (LV, LA)
    apex_x: float = 0.53  # LV endocardial apex (x, y)
    apex_y: float = 0.14
    tilt: float = 0.0  # LV long axis angle from the beam axis (radians, positive: base to the right)
    lv_length: float = 0.45
    lv_width_left: float = 0.12
    lv_width_right: float = 0.12
    lv_equator: float = 0.68  # widest point, fraction of the length
    base_narrowing: float = 0.12
    wall_left: float = 0.045  # end-diastolic myocardial thickness (septum in a4c)
    wall_right: float = 0.04
    wall_apex: float = 0.035
    shortening: float = 0.25  # fractional LV width reduction at end systole
    long_shortening: float = 0.1  # fractional LV length reduction at end systole
    thickening: float = 0.45  # fractional wall thickening at end systole
    la_length: float = 0.2
    la_width: float = 0.11
    la_offset: float = 0.0
    la_tilt: float = 0.0
    la_expansion: float = 0.2  # fractional LA length increase at end systole
    rv_width: float = 0.09
    rv_length: float = 0.7  # fraction of the LV length
    es_phase: float = 0.35
    echo_blood: float = 0.05
    echo_myo: float = 0.9
    echo_bg: float = 0.45
    echo_pericardium: float = 1.8
    clutter: float = 0.2  # near-field haze over the apex
    specular: float = 0.5  # wall dropout where beams run along the wall
    geometry: USProbeGeometry = field(default_factory=lambda: USProbeGeometry("sector", half_angle=0.68, r_max=0.98))
    imaging: USImagingParams = field(default_factory=USImagingParams)
    seed: int = 0


def cardiac_contraction(phase: float, es_phase: float = 0.35) -> float:
    """Contraction state in [0, 1]: 0 at end diastole (phase 0), 1 at end systole (``es_phase``), periodic.

    Systole follows a raised cosine up to ``es_phase``, relaxation a raised cosine back to 0 at phase 1; the curve
    is continuous with a continuous slope over the cycle.
    """
    if not 0.0 < es_phase < 1.0:
        raise ValueError(f"es_phase must be in (0, 1), got {es_phase}.")
    p = float(phase) % 1.0
    if p <= es_phase:
        return 0.5 * (1.0 - math.cos(math.pi * p / es_phase))
    return 0.5 * (1.0 + math.cos(math.pi * (p - es_phase) / (1.0 - es_phase)))


def make_cardiac_params(rng: np.random.Generator, view: str | None = None) -> USCardiacParams:
    """Draw a random heart, apical view, probe and scanner settings.

    Args:
        rng: numpy random generator.
        view: ``"a4c"`` or ``"a2c"``; random when None.

    Returns:
        parameters for :func:`make_cardiac_frame`.
    """
    if view is None:
        view = "a4c" if rng.random() < 0.5 else "a2c"
    if view not in ("a2c", "a4c"):
        raise ValueError(f"view must be 'a2c' or 'a4c', got {view!r}.")
    geom = _sector_geometry(rng)
    imaging = _sample_imaging(rng, "cardiac")
    width = float(rng.uniform(0.1, 0.135))
    p = USCardiacParams(
        view=view,
        apex_x=float(rng.uniform(0.5, 0.58) if view == "a4c" else rng.uniform(0.46, 0.54)),
        apex_y=float(rng.uniform(0.12, 0.17)),
        tilt=float(rng.uniform(-0.12, 0.16)),
        lv_length=float(rng.uniform(0.4, 0.5)),
        lv_width_left=width * float(rng.uniform(0.9, 1.1)),
        lv_width_right=width * float(rng.uniform(0.9, 1.1)),
        lv_equator=float(rng.uniform(0.6, 0.75)),
        base_narrowing=float(rng.uniform(0.05, 0.2)),
        wall_left=float(rng.uniform(0.035, 0.055)),
        wall_right=float(rng.uniform(0.03, 0.05)),
        wall_apex=float(rng.uniform(0.025, 0.045)),
        shortening=float(rng.uniform(0.12, 0.35)),
        long_shortening=float(rng.uniform(0.05, 0.14)),
        thickening=float(rng.uniform(0.25, 0.6)),
        la_length=float(rng.uniform(0.17, 0.24)),
        la_width=float(rng.uniform(0.09, 0.13)),
        la_offset=float(rng.normal(0, 0.015)),
        la_tilt=float(rng.normal(0, 0.1)),
        la_expansion=float(rng.uniform(0.1, 0.25)),
        rv_width=float(rng.uniform(0.07, 0.1)),
        rv_length=float(rng.uniform(0.6, 0.8)),
        es_phase=float(rng.uniform(0.3, 0.4)),
        echo_blood=float(rng.uniform(0.01, 0.04)),
        echo_myo=float(rng.uniform(0.8, 1.2)),
        echo_bg=float(rng.uniform(0.15, 0.4)),
        echo_pericardium=float(rng.uniform(1.3, 2.5)),
        clutter=float(rng.uniform(0.02, 0.15)),
        specular=float(rng.uniform(0.2, 0.55)),
        geometry=geom,
        imaging=imaging,
        seed=int(rng.integers(0, 2**31 - 1)),
    )
    return _fit_heart(p)


def _heart_outline(p: USCardiacParams) -> tuple[np.ndarray, np.ndarray]:
    """Points (x, y) on the end-diastolic epicardium and on the largest LA outline of the cycle."""
    k = np.linspace(0.0, 1.0, 15)
    g = _lv_profile(k, p.lv_equator, p.base_narrowing * 0.6)
    s_epi = k * (p.lv_length + p.wall_apex) - p.wall_apex
    s_la = p.lv_length + k * p.la_length * (1 + p.la_expansion)
    la_half = p.la_width * (1 + 0.5 * p.la_expansion) * np.sqrt(np.clip(1 - (2 * k - 0.8) ** 2 / 1.44, 0, 1))
    s_pts = np.concatenate([s_epi, s_epi, s_la, s_la])
    t_pts = np.concatenate(
        [
            (p.lv_width_right + p.wall_right) * g,
            -(p.lv_width_left + p.wall_left) * g,
            p.la_offset + la_half,
            p.la_offset - la_half,
        ]
    )
    cs, sn = math.cos(p.tilt), math.sin(p.tilt)
    return p.apex_x + s_pts * sn + t_pts * cs, p.apex_y + s_pts * cs - t_pts * sn


def _fit_heart(p: USCardiacParams) -> USCardiacParams:
    """Move and shrink the heart until the labelled structures lie inside the sector (masks stay in the FOV)."""
    g = p.geometry
    for _ in range(20):
        x, y = _heart_outline(p)
        th = np.arctan2(x - g.apex_x, y - g.apex_y)
        r = np.hypot(x - g.apex_x, y - g.apex_y)
        if np.all(np.abs(th) < g.half_angle - 0.04) and np.all(r < g.r_max - 0.02) and np.all(y < 0.98):
            break
        p = replace(
            p,
            apex_x=0.5 + (p.apex_x - 0.5) * 0.7,
            tilt=p.tilt * 0.7,
            apex_y=min(p.apex_y + 0.005, 0.2),
            lv_length=p.lv_length * 0.97,
            la_length=p.la_length * 0.96,
            lv_width_left=p.lv_width_left * 0.97,
            lv_width_right=p.lv_width_right * 0.97,
            la_width=p.la_width * 0.97,
        )
    return p


def _cardiac_view(p: USCardiacParams, rng: np.random.Generator, view: str) -> USCardiacParams:
    """Another acquisition of the same heart: other view, slightly moved probe, new scanner settings."""
    return _fit_heart(
        replace(
            p,
            view=view,
            apex_x=float(p.apex_x + rng.normal(0, 0.015) + (0.04 if view == "a4c" and p.view == "a2c" else 0.0)),
            apex_y=float(p.apex_y + rng.normal(0, 0.01)),
            tilt=float(p.tilt + rng.normal(0, 0.05)),
            lv_length=float(p.lv_length * math.exp(rng.normal(0, 0.04))),
            lv_width_left=float(p.lv_width_left * math.exp(rng.normal(0, 0.05))),
            lv_width_right=float(p.lv_width_right * math.exp(rng.normal(0, 0.05))),
            la_width=float(p.la_width * math.exp(rng.normal(0, 0.06))),
            la_offset=float(p.la_offset + rng.normal(0, 0.01)),
            geometry=_sector_geometry(rng),
            imaging=_sample_imaging(rng, "cardiac"),
            clutter=float(rng.uniform(0.02, 0.15)),
            seed=int(rng.integers(0, 2**31 - 1)),
        )
    )


def _lv_profile(sn: np.ndarray, equator: float, narrowing: float) -> np.ndarray:
    """Half-width profile of a bullet-shaped ventricle along its normalised long axis (0 apex, 1 base)."""
    eq = max(equator, 0.05)
    apex_part = np.sqrt(np.clip(1.0 - ((eq - sn) / eq) ** 2, 0.0, 1.0))
    base_part = 1.0 - narrowing * ((sn - eq) / max(1.0 - eq, 1e-6)) ** 2
    g = np.where(sn < eq, apex_part, base_part)
    return np.where((sn >= 0.0) & (sn <= 1.0), g, _F(0.0))


def make_cardiac_frame(
    size: int, rng_or_params: np.random.Generator | USCardiacParams, phase: float = 0.0, speckle_change: float = 0.3
) -> tuple[np.ndarray, np.ndarray]:
    """Render an apical echocardiography frame of a heart at a phase of the cardiac cycle.

    Args:
        size: image height and width (>= 32).
        rng_or_params: a :class:`USCardiacParams` (from :func:`make_cardiac_params`), or a numpy generator to draw
            one. With the same params, frames at successive phases form a cine clip: anatomy, texture and most of
            the speckle stay, the LV contracts from end diastole (phase 0) to end systole (``params.es_phase``),
            its wall thickens, the LA fills, the valves open in diastole.
        phase: cardiac phase in [0, 1) (taken modulo 1).
        speckle_change: fraction (0..1) of the scatterer field renewed from frame to frame (temporal speckle
            decorrelation); the renewed part is seeded by the phase, so a frame is reproducible.

    Returns:
        image (size, size) uint8 and mask (size, size) uint8 with 0 background, 1 LV cavity, 2 myocardium, 3 LA.
    """
    _check_size(size)
    if isinstance(rng_or_params, np.random.Generator):
        params = make_cardiac_params(rng_or_params)
    elif isinstance(rng_or_params, USCardiacParams):
        params = rng_or_params
    else:
        raise TypeError(
            f"rng_or_params must be a numpy Generator or USCardiacParams, got {type(rng_or_params).__name__}."
        )
    if not 0.0 <= speckle_change <= 1.0:
        raise ValueError(f"speckle_change must be in [0, 1], got {speckle_change}.")
    img, mask, _ = _render_small(lambda n: _render_cardiac(params, n, float(phase), speckle_change), size)
    return img, mask


def _phase_name(phase: float, es_phase: float) -> str:
    if min(phase, 1.0 - phase) < 0.05:
        return "ed"
    return "es" if abs(phase - es_phase) < 0.05 else "mid"


def _render_cardiac(
    p: USCardiacParams, size: int, phase: float, speckle_change: float = 1.0
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Cardiac frame at a phase: (image, mask, info); see :func:`make_cardiac_frame`."""
    phase = phase % 1.0
    c = cardiac_contraction(phase, p.es_phase)
    tex_rng = np.random.default_rng([p.seed, 1])
    geom, imaging = p.geometry, p.imaging
    gm = _geometry_maps(geom, size)
    x, y = _grid(size)
    px = 1.0 / size
    # LV frame: s along the long axis from the apex towards the base, t across (positive to the image right)
    cs, sn = math.cos(p.tilt), math.sin(p.tilt)
    dx, dy = x - p.apex_x, y - p.apex_y
    s = dx * sn + dy * cs
    t = dx * cs - dy * sn
    length = p.lv_length * (1 - p.long_shortening * c)
    wl = p.lv_width_left * (1 - p.shortening * c)
    wr = p.lv_width_right * (1 - p.shortening * c)
    thick = 1 + p.thickening * c
    tl, tr, ta = p.wall_left * thick, p.wall_right * thick, p.wall_apex * thick
    wob = 0.04 * _smooth_field(tex_rng, size, 0.1)  # slightly irregular endocardium
    g_in = _lv_profile(s / length, p.lv_equator, p.base_narrowing) * (1 + wob)
    lv = (s >= 0) & (s <= length) & (t < wr * g_in) & (t > -wl * g_in)
    so = s + ta
    g_out = _lv_profile(so / (length + ta), p.lv_equator, p.base_narrowing * 0.6)
    outer = (so >= 0) & (s <= length) & (t < (wr + tr) * g_out) & (t > -(wl + tl) * g_out)
    myo = outer & ~lv
    # LA below the mitral plane
    sa = s - length
    la_len = p.la_length * (1 + p.la_expansion * c)
    la_w = p.la_width * (1 + 0.5 * p.la_expansion * c)
    h = la_len / 2.0
    ta_ = t - p.la_offset - sa * math.tan(p.la_tilt)
    w_la = la_w * np.sqrt(np.clip(1.0 - ((sa - 0.8 * h) / (1.2 * h)) ** 2, 0.0, 1.0))
    la = (sa >= 0) & (np.abs(ta_) < w_la) & ~outer
    blood = lv | la
    walls = outer.copy()
    right = np.zeros_like(lv)  # right heart cavities (unlabelled)
    if p.view == "a4c":
        # RV along the septum on the image left, RA beside the LA; thin walls around both
        septum = -(wl + tl) * g_out - 0.004
        rv_len = length * p.rv_length
        s0 = length - rv_len
        rv_w = p.rv_width * (1 - 0.5 * p.shortening * c)
        g_rv = _lv_profile((s - s0) / rv_len, 0.6, 0.1)
        g_rv_out = _lv_profile((s - s0 + 0.015) / (rv_len + 0.015), 0.6, 0.1)
        rv = (t < septum) & (t > septum - rv_w * g_rv) & (s <= length)
        rv_out = (t < septum + 0.004) & (t > septum - (p.rv_width + 0.015) * g_rv_out) & (s <= length)
        ra_c = -(wl + tl + p.rv_width * 0.7) - 0.01
        w_ra = p.rv_width * 1.1 * np.sqrt(np.clip(1.0 - ((sa - 0.7 * h) / (1.1 * h)) ** 2, 0.0, 1.0))
        ra_out = (sa >= 0) & (np.abs(t - ra_c) < w_ra) & ~la & ~outer
        ra = ra_out & (np.abs(t - ra_c) < w_ra - 0.006)
        walls |= rv_out | ra_out
        right = rv | ra
        blood |= right
    walls |= _blur(la, 0.008, size) > 0.05  # thin atrial wall
    # echogenicity
    bg = p.echo_bg * np.clip(1.0 + 0.45 * _smooth_field(tex_rng, size, 0.08), 0.1, None)
    echo = bg.copy()
    heart = outer | right
    shell = _blur(heart, 0.012, size)  # pericardium: a bright band fading outwards from the epicardium
    echo += p.echo_pericardium * np.clip(shell - heart, 0.0, 1.0) * 2.0
    wall_tex = p.echo_myo * np.clip(1.0 + 0.25 * _smooth_field(tex_rng, size, 0.03), 0.2, None)
    # specular reflection: walls running along the beam (lateral wall, septum) echo less
    lv_s = _blur(lv, 0.02, size)
    gy, gx = np.gradient(lv_s)
    gn = np.hypot(gx, gy) + 1e-9
    bx, by = gm.beam_dir if gm.beam_dir is not None else (np.zeros_like(x), np.ones_like(y))
    cosang = np.abs(gx * bx + gy * by) / gn
    spec = 1.0 - p.specular * (1.0 - cosang) * (gn > 1e-3)
    dropout = 1.0 - 0.6 * _step(_smooth_field(tex_rng, size, 0.1) - 1.2, 0.2)
    echo = _mix(echo, wall_tex * spec * dropout, _blur(walls, 0.003, size))
    blood_tex = p.echo_blood * np.clip(1.0 + 0.4 * _smooth_field(tex_rng, size, 0.05), 0.1, None)
    # endocardial borders partly sharp, partly blurred (trabeculations, out-of-plane motion)
    soft = _step(_smooth_field(tex_rng, size, 0.1), 0.5)
    echo = _mix(echo, blood_tex, _mix(_blur(blood, 0.002, size), _blur(blood, 0.008, size), soft))
    # valves: mitral leaflets from the annulus, closed in systole, open into the LV in diastole
    nx, ny = cs, -sn  # unit vector of +t in (x, y)
    ux, uy = sn, cs  # unit vector of +s
    g_base = 1.0 - p.base_narrowing
    ann_l = (p.apex_x + length * ux - wl * g_base * nx, p.apex_y + length * uy - wl * g_base * ny)
    ann_r = (p.apex_x + length * ux + wr * g_base * nx, p.apex_y + length * uy + wr * g_base * ny)
    opening = 1.0 if p.es_phase + 0.08 < phase < 0.97 else 0.0
    leaflet = 0.5 * (wl + wr) * g_base * 0.95
    valves = np.zeros_like(echo)
    for ann, sign in ((ann_l, 1.0), (ann_r, -1.0)):
        closed = (ann[0] + sign * leaflet * nx + 0.035 * ux, ann[1] + sign * leaflet * ny + 0.035 * uy)
        opened = (
            ann[0] - leaflet * 0.9 * ux + sign * 0.2 * leaflet * nx,
            ann[1] - leaflet * 0.9 * uy + sign * 0.2 * leaflet * ny,
        )
        tip = (_mix(closed[0], opened[0], opening), _mix(closed[1], opened[1], opening))
        valves = np.maximum(valves, _segment(size, ann, tip, 0.004))
    echo += 1.2 * p.echo_myo * valves
    # near-field clutter over the apex and the chest wall
    d = gm.depth
    echo += p.clutter * np.exp(-d / 0.09) * np.clip(1.0 + 0.8 * _smooth_field(tex_rng, size, 0.06), 0.0, None)
    echo = _mix(1.0 * (0.6 + 0.8 * _step(_smooth_field(tex_rng, size, 0.05), 0.3)), echo, _step(d - 0.04, px))
    atten = np.where(blood, _F(0.2), _F(1.0))
    # scatterers: fixed per heart, a phase-seeded part renewed per frame
    n = size
    frame_rng = np.random.default_rng([p.seed, 3, n, int(round(phase * 1_000_000))])
    if speckle_change >= 1.0:
        scat = _scatterers(frame_rng, n, imaging)
    else:
        scat = _scatterers(np.random.default_rng([p.seed, 2, n]), n, imaging)
        if speckle_change > 0:
            fresh = _scatterers(frame_rng, n, imaging)
            k1, k2 = math.sqrt(1 - speckle_change**2), speckle_change
            scat = (k1 * scat[0] + k2 * fresh[0], k1 * scat[1] + k2 * fresh[1])
    img = _render_bmode(echo, atten, geom, imaging, size, frame_rng, scatterers=scat)
    mask = np.zeros((size, size), dtype=np.uint8)
    mask[la] = 3
    mask[myo] = 2
    mask[lv] = 1
    mask[~gm.fov] = 0
    info = {
        "task": "cardiac",
        "class": f"{p.view}_{_phase_name(phase, p.es_phase)}",
        "view": p.view,
        "phase": phase,
        "contraction": c,
        "probe": geom.kind,
        "fov": gm.fov.copy(),
    }
    return img, mask, info


# ----------------------------------------------------------------------------------------------------------------
# public sampling and dataset writing


def _check_task(task: str) -> None:
    if task not in PHANTOM_TASKS:
        raise ValueError(f"unknown phantom task {task!r}; choose one of {', '.join(PHANTOM_TASKS)}.")


def _check_size(size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise TypeError(f"phantom size must be an integer, got {type(size).__name__}.")
    if size < _MIN_SIZE:
        raise ValueError(f"phantom size must be at least {_MIN_SIZE} pixels, got {size}.")


def _class_for_patient(task: str, seed: int, pid: int) -> str:
    """Patient class from a low-discrepancy sequence (fractions of the mix hold on small datasets too)."""
    if task == "cardiac":
        return "heart"
    u = (np.random.default_rng([seed, 999]).random() + pid * _GOLDEN) % 1.0
    acc = 0.0
    for name, frac in _CLASS_MIX[task]:
        acc += frac
        if u < acc:
            return name
    return _CLASS_MIX[task][-1][0]


def _draw_class(task: str, rng: np.random.Generator) -> str:
    if task == "cardiac":
        return "heart"
    names = [n for n, _ in _CLASS_MIX[task]]
    probs = [f for _, f in _CLASS_MIX[task]]
    return str(rng.choice(names, p=probs))


_CARDIAC_VIEWS = (("a4c", 0.0), ("a4c", None), ("a2c", 0.0), ("a2c", None))  # None: end systole


def _patient_samples(
    task: str, size: int, rng: np.random.Generator, cls: str, n_views: int
) -> Iterator[tuple[np.ndarray, np.ndarray, dict]]:
    """Yield ``n_views`` views of one random patient."""
    if task == "cardiac":
        # CAMUS-like: end diastole and end systole of the same clip, apical four- and two-chamber views
        first = "a4c" if rng.random() < 0.5 else "a2c"
        order = sorted(_CARDIAC_VIEWS, key=lambda vp: vp[0] != first)
        params = {first: make_cardiac_params(rng, first)}
        for v in range(n_views):
            view, ph = order[v]
            if view not in params:
                params[view] = _cardiac_view(params[first], rng, view)
            pv = params[view]
            phase = pv.es_phase if ph is None else 0.0
            yield _render_small(lambda n, pv=pv, phase=phase: _render_cardiac(pv, n, phase, 1.0), size)
        return
    sample, view_fn, render = {
        "breast": (_sample_breast_patient, _breast_view, _render_breast),
        "thyroid": (_sample_thyroid_patient, _thyroid_view, _render_thyroid),
    }[task]
    patient = sample(rng, cls)
    for v in range(n_views):
        pv = view_fn(patient, rng, v)
        yield _render_small(lambda n, pv=pv: render(pv, n, rng), size)


def make_phantom_sample(task: str, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:
    """Render one independent phantom sample in memory.

    Args:
        task: ``"breast"``, ``"cardiac"`` or ``"thyroid"``.
        size: image height and width in pixels (>= 32).
        rng: numpy random generator; the same generator state gives the same sample.

    Returns:
        image (size, size) uint8 B-mode, mask (size, size) uint8 with the gray values of ``PHANTOM_LABELS[task]``,
        and an info dict: ``task``, ``class`` (breast: benign/malignant/normal; thyroid: benign/malignant;
        cardiac: ``<view>_<ed|es>``), ``kind`` (lesion type) or ``view``/``phase`` (cardiac), ``probe`` (linear,
        convex or sector) and ``fov`` (boolean field-of-view mask; the image is 0 outside it).
    """
    _check_task(task)
    _check_size(size)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}.")
    cls = _draw_class(task, rng)
    return next(_patient_samples(task, int(size), rng, cls, 1))


def _dataset_plan(task: str, num: int, seed: int) -> list[tuple[int, int]]:
    """(patient index, number of views) until ``num`` images; patient ``k`` depends only on (seed, task, k)."""
    plan, count, pid = [], 0, 0
    while count < num:
        n_views = int(np.random.default_rng([seed, _TASK_CODE[task], pid]).integers(1, 4))
        k = min(n_views, num - count)
        plan.append((pid, k))
        count += k
        pid += 1
    return plan


def _write_patient(job: tuple[str, str, int, int, int, int]) -> list[tuple[str, str]]:
    """Render and save the views of one patient; returns (id, class) per image (a process-pool task)."""
    folder, task, size, seed, pid, n_views = job
    rng = np.random.default_rng([seed, _TASK_CODE[task], pid])
    rng.integers(1, 4)  # the number of views, drawn by the plan
    cls = _class_for_patient(task, seed, pid)
    out = []
    for v, (img, mask, info) in enumerate(_patient_samples(task, size, rng, cls, n_views)):
        uid = f"p{pid:04d}_{v:02d}"
        _save_png(Path(folder) / "images" / f"{uid}.png", img)
        _save_png(Path(folder) / "masks" / f"{uid}.png", mask)
        out.append((uid, str(info["class"])))
    return out


def _auto_workers(num: int) -> int:
    """Two processes for real datasets on a multi-core machine with ``fork``; small ones stay in-process.

    A process running other threads (a training job, a server) is never forked: a lock held by another thread
    at fork time could deadlock the child.
    """
    if num < 64 or "fork" not in multiprocessing.get_all_start_methods() or threading.active_count() > 1:
        return 1
    return max(1, min(2, os.cpu_count() or 1))


def _dataset_identity(task: str, num: int, size: int, seed: int) -> dict[str, Any]:
    return {"task": task, "num_images": num, "size": size, "seed": seed, "phantom_version": PHANTOM_VERSION}


def _is_same_phantom(folder: Path, identity: dict[str, Any]) -> bool:
    meta_path = folder / "dataset.json"
    if not meta_path.is_file():
        return False
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(meta, dict) or any(meta.get(k) != v for k, v in identity.items()):
        return False
    n = identity["num_images"]
    return len(list((folder / "images").glob("*.png"))) == n and len(list((folder / "masks").glob("*.png"))) == n


def _save_png(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    # fast zlib level: speckle barely compresses, and the bytes stay deterministic
    Image.fromarray(array).save(path, format="PNG", compress_level=1)


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"phantom {name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def write_phantom_dataset(
    out_dir: str | os.PathLike,
    task: str = "breast",
    num: int = 200,
    size: int = 256,
    seed: int = 0,
    progress: bool = False,
    workers: int | None = None,
) -> Path:
    """Write a phantom dataset folder: ``images/<id>.png``, ``masks/<id>.png`` and ``dataset.json``.

    Ids are ``p%04d_%02d`` (patient, view), 1-3 views per patient sharing the anatomy. The output is
    deterministic: the same task, num, size and seed give byte-identical files whatever ``workers`` is (on one
    platform: numpy/scipy builds for other CPUs may round the last float bit differently), and a smaller ``num``
    gives a prefix of the same patients. A folder that already holds the phantom of the same
    parameters (task, num, size, seed, phantom version) is reused as is; any other non-empty folder is refused.
    The dataset is written to a temporary sibling folder and renamed into place, so an interrupted run never
    leaves a half-written dataset behind.

    Args:
        out_dir: dataset folder (created; must be absent, empty, or the same phantom).
        task: ``"breast"`` (BUSI-like, lesion = 255, ~15 % normal images), ``"cardiac"`` (CAMUS-like, LV = 1,
            myocardium = 2, LA = 3) or ``"thyroid"`` (TN-SCUI-like, nodule = 255).
        num: number of images (>= 1).
        size: image height and width in pixels (>= 32).
        seed: random seed (>= 0).
        progress: show a tqdm progress bar.
        workers: processes rendering patients in parallel (``fork`` start method only). None: 2 on a multi-core
            machine for 64 images or more, else 1.

    Returns:
        the dataset folder (absolute path).

    Raises:
        ValueError: bad arguments, or ``out_dir`` is a file or a non-empty folder that is not this phantom.
    """
    _check_task(task)
    num = _check_int("num", num, 1)
    size = _check_int("size", size, _MIN_SIZE)
    seed = _check_int("seed", seed, 0)
    workers = _auto_workers(num) if workers is None else _check_int("workers", workers, 1)
    if workers > 1 and "fork" not in multiprocessing.get_all_start_methods():
        workers = 1
    out = Path(out_dir).expanduser().absolute()
    identity = _dataset_identity(task, num, size, seed)
    if out.exists():
        if not out.is_dir():
            raise ValueError(f"phantom output {out} exists and is not a folder.")
        if _is_same_phantom(out, identity):
            return out
        if any(out.iterdir()):
            raise ValueError(
                f"phantom output folder {out} is not empty and does not hold the {task} phantom with "
                f"num={num}, size={size}, seed={seed}; choose a new or empty folder."
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    # a hidden sibling (same file system: the final rename is atomic); mkdir honours the umask, unlike mkdtemp
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        (tmp / "images").mkdir()
        (tmp / "masks").mkdir()
        jobs = [(str(tmp), task, size, seed, pid, k) for pid, k in _dataset_plan(task, num, seed)]
        classes: dict[str, str] = {}
        from tqdm import tqdm

        with tqdm(total=num, desc=f"phantom {task}", unit="img", disable=not progress) as bar:
            if workers == 1:
                results: Iterator[list[tuple[str, str]]] = map(_write_patient, jobs)
                for res in results:
                    classes.update(res)
                    bar.update(len(res))
            else:
                # fork: the children inherit the imported modules (no re-import of torch/monai); they only
                # use numpy/scipy/PIL and write their own files, the parent collects (id, class) in order
                with multiprocessing.get_context("fork").Pool(workers) as pool:
                    for res in pool.imap(_write_patient, jobs, chunksize=2):
                        classes.update(res)
                        bar.update(len(res))
        meta = {
            "name": f"phantom_{task}",
            "task": task,
            "description": _DESCRIPTIONS[task],
            "modality": "US",
            "image_dir": "images",
            "mask_dir": "masks",
            "labels": {k: list(v) for k, v in PHANTOM_LABELS[task].items()},
            "group_regex": PHANTOM_GROUP_REGEX,
            **identity,
            "generator": "monai_ext.data.phantom",
            "classes": dict(sorted(classes.items())),
        }
        (tmp / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n")
        try:
            os.rename(tmp, out)  # atomic; also replaces an empty folder
        except OSError:
            if _is_same_phantom(out, identity):  # a concurrent writer finished first
                return out
            raise ValueError(f"could not move the phantom into {out}: the folder is not empty.") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out


_DESCRIPTIONS = {
    "breast": "Synthetic BUSI-like breast ultrasound (monai_ext phantom): speckle, tissue layers, benign (oval, "
    "cysts with posterior enhancement) and malignant (irregular, spiculated, shadowing) hypoechoic lesions, ~15% "
    "normal images with empty masks; linear and convex probes.",
    "cardiac": "Synthetic CAMUS-like apical echocardiography (monai_ext phantom): sector images of apical two- and "
    "four-chamber views at end diastole and end systole; LV cavity (1), myocardium (2), left atrium (3).",
    "thyroid": "Synthetic TN-SCUI-like transverse thyroid ultrasound (monai_ext phantom): one nodule (255) within "
    "the gland, strap muscles, carotid artery, trachea with air shadow; calcifications, halos, cystic nodules.",
}
