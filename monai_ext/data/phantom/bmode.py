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
"""B-mode image formation: speckle, attenuation, time-gain compensation, log compression and scan conversion.

Every image is simulated, not drawn: the anatomy gives an echogenicity map (scatterer amplitude) and a relative
attenuation map in image coordinates; both are sampled on the beam grid of the probe (see :mod:`.probe`). Speckle
is complex circular Gaussian scatterers times echogenicity convolved with the point-spread function (Gaussian
axially, Gaussian laterally with a focal zone); the simulation is at baseband (IQ), where the RF carrier only
shifts the spectrum and does not change the envelope, whose magnitude is the envelope (Rayleigh distributed in
fully developed speckle). Attenuation accumulates along every beam (shadows behind strong attenuators,
enhancement behind fluid), electronic noise is added, time-gain compensation corrects the depth attenuation
imperfectly, the envelope is log-compressed to 8 bits through a display curve, scan-converted and lightly
smoothed (scanner speckle reduction), black outside the field of view. Gain, dynamic range, PSF size, focus,
attenuation, TGC error and noise are drawn per image (:func:`sample_imaging_params`).

Wide Gaussian PSFs are applied as three box passes (Kovesi's construction) whose cost does not grow with the
width; the field is renormalised with the norms of the discrete kernels so that the speckle power stays exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage

from .fields import FIELD_DTYPE
from .probe import USProbeGeometry, beam_grid_maps, oversampling_factor, resample_bilinear

__all__ = [
    "USImagingParams",
    "sample_imaging_params",
    "speckle_envelope",
    "scatterer_field",
    "render_bmode",
    "render_oversampled",
]

_F = FIELD_DTYPE


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


def sample_imaging_params(rng: np.random.Generator, task: str) -> USImagingParams:
    """Draw the scanner settings of one acquisition (cardiac: a coarser PSF and a narrower dynamic range).

    Args:
        rng: numpy random generator.
        task: phantom task; only ``"cardiac"`` changes the ranges.

    Returns:
        the settings.
    """
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

    Raises:
        ValueError: ``echo`` is not 2D or has negative values.
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


def scatterer_field(rng: np.random.Generator, n: int, imaging: USImagingParams) -> tuple[np.ndarray, np.ndarray]:
    """Complex circular unit-power scatterer field on an n x n beam grid, with a few strong reflectors (glints).

    Args:
        rng: numpy random generator.
        n: beam grid size.
        imaging: scanner settings (glint density and gain).

    Returns:
        ``(real, imaginary)`` float32 (n, n) parts.
    """
    amp = np.where(rng.random((n, n), dtype=_F) < imaging.glint_density, _F(imaging.glint_gain), _F(1.0))
    amp *= _F(1.0 / math.sqrt(2))
    sre = rng.standard_normal((n, n), dtype=_F) * amp
    sim = rng.standard_normal((n, n), dtype=_F) * amp
    return sre, sim


def render_bmode(
    echo: np.ndarray,
    atten: np.ndarray,
    geom: USProbeGeometry,
    imaging: USImagingParams,
    size: int,
    rng: np.random.Generator,
    scatterers: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """B-mode image of an echogenicity map and a relative attenuation map given in image coordinates.

    Args:
        echo: (size, size) echogenicity (scatterer amplitude; reference soft tissue about 1).
        atten: (size, size) attenuation relative to reference soft tissue.
        geom: probe geometry.
        imaging: scanner settings.
        size: image height and width in pixels.
        rng: numpy random generator (scatterers when ``scatterers`` is None, then electronic noise).
        scatterers: a fixed scatterer field from :func:`scatterer_field` (cine clips keep their speckle).

    Returns:
        (size, size) uint8 image, 0 outside the field of view.
    """
    gm = beam_grid_maps(geom, size)
    if gm.to_beam is None:
        echo_b, att_b = echo, atten
    else:
        echo_b, att_b = resample_bilinear(echo, gm.to_beam), resample_bilinear(atten, gm.to_beam)
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
        scatterers = scatterer_field(rng, n, imaging)
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
        gray = resample_bilinear(gray, gm.to_image)
    if imaging.smooth_px * size / 256.0 > 0.2:  # scanner speckle reduction, scaled with the image size
        gray = ndimage.gaussian_filter(gray, imaging.smooth_px * size / 256.0, truncate=2.5)
    img = np.clip(np.rint(gray), 0, 255).astype(np.uint8)
    img[~gm.fov] = 0
    return img


def render_oversampled(
    render: Callable[[int], tuple[np.ndarray, np.ndarray, dict]], size: int
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Call ``render(n)`` at ``n = size * k >= MIN_RENDER_SIZE`` pixels and reduce its output to ``size``.

    The image is reduced by area mean, the mask by majority label (ties go to the background, the lowest value),
    the field of view by "any sub-pixel inside" (so the image stays 0 outside it).

    Args:
        render: renders ``(image, mask, info)`` at a given size; ``info["fov"]`` is the boolean field of view.
        size: output height and width in pixels.

    Returns:
        ``(image, mask, info)`` at ``size``.
    """
    k = oversampling_factor(size)
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
