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
"""Cardiac phantom (CAMUS-like): apical four- and two-chamber echocardiography, at any phase of the cycle.

A heart is a bullet-shaped LV cavity in its myocardium along a tilted long axis from the apex near the top of a
phased-array sector, the LA below the mitral plane and, in the four-chamber view, the RV along the septum and the
RA beside the LA (unlabelled). The LV contracts from end diastole (phase 0) to end systole (``es_phase``) and
relaxes back (:func:`cardiac_contraction`, periodic): its width and length shorten, the wall thickens, the LA
fills, the mitral leaflets open into the LV in diastole. Echo features: dark blood with a faint texture,
endocardial borders partly sharp and partly blurred (trabeculations, out-of-plane motion), a bright pericardium,
specular dropout of walls that run along the beam, near-field clutter over the apex. The heart is moved and shrunk
until the labelled structures lie inside the sector, so the masks stay in the field of view.

A :class:`~.patient.USCardiacPatient` carries its probe, scanner settings and a seed: the tissue texture and a fixed
part of the scatterer field are seeded by it, the rest of the scatterers by the phase, so frames at successive
phases form a coherent, reproducible cine clip with temporal speckle decorrelation (``speckle_change``).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from .bmode import render_bmode, render_oversampled, sample_imaging_params, scatterer_field
from .fields import FIELD_DTYPE, blur_mask, mix, pixel_grid, smooth_field, smooth_step
from .patient import USCardiacPatient
from .probe import beam_grid_maps, sample_sector_probe
from .shapes import segment
from .tasks import check_phantom_size

__all__ = ["cardiac_contraction", "make_cardiac_params", "cardiac_view", "make_cardiac_frame", "render_cardiac"]

_F = FIELD_DTYPE


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


def make_cardiac_params(rng: np.random.Generator, view: str | None = None) -> USCardiacPatient:
    """Draw a random heart, apical view, probe and scanner settings.

    Args:
        rng: numpy random generator.
        view: ``"a4c"`` or ``"a2c"``; random when None.

    Returns:
        the heart, for :func:`make_cardiac_frame` (fitted into its sector).

    Raises:
        ValueError: an unknown view.
    """
    if view is None:
        view = "a4c" if rng.random() < 0.5 else "a2c"
    if view not in ("a2c", "a4c"):
        raise ValueError(f"view must be 'a2c' or 'a4c', got {view!r}.")
    geom = sample_sector_probe(rng)
    imaging = sample_imaging_params(rng, "cardiac")
    width = float(rng.uniform(0.1, 0.135))
    p = USCardiacPatient(
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


def _heart_outline(p: USCardiacPatient) -> tuple[np.ndarray, np.ndarray]:
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


def _fit_heart(p: USCardiacPatient) -> USCardiacPatient:
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


def cardiac_view(p: USCardiacPatient, rng: np.random.Generator, view: str) -> USCardiacPatient:
    """Another acquisition of the same heart: other view, slightly moved probe, new scanner settings and seed.

    Args:
        p: the heart as drawn by :func:`make_cardiac_params` (or another of its views).
        rng: numpy random generator.
        view: ``"a4c"`` or ``"a2c"``.

    Returns:
        the heart in that view, fitted into its new sector.
    """
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
            geometry=sample_sector_probe(rng),
            imaging=sample_imaging_params(rng, "cardiac"),
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
    size: int, rng_or_params: np.random.Generator | USCardiacPatient, phase: float = 0.0, speckle_change: float = 0.3
) -> tuple[np.ndarray, np.ndarray]:
    """Render an apical echocardiography frame of a heart at a phase of the cardiac cycle.

    Args:
        size: image height and width (>= 32).
        rng_or_params: a :class:`~.patient.USCardiacPatient` (from :func:`make_cardiac_params`), or a numpy
            generator to draw one. With the same params, frames at successive phases form a cine clip: anatomy,
            texture and most of the speckle stay, the LV contracts from end diastole (phase 0) to end systole
            (``params.es_phase``), its wall thickens, the LA fills, the valves open in diastole.
        phase: cardiac phase in [0, 1) (taken modulo 1).
        speckle_change: fraction (0..1) of the scatterer field renewed from frame to frame (temporal speckle
            decorrelation); the renewed part is seeded by the phase, so a frame is reproducible.

    Returns:
        image (size, size) uint8 and mask (size, size) uint8 with 0 background, 1 LV cavity, 2 myocardium, 3 LA.

    Raises:
        TypeError: ``rng_or_params`` is neither; ``size`` is not an integer.
        ValueError: ``size`` below 32 or ``speckle_change`` outside [0, 1].
    """
    check_phantom_size(size)
    if isinstance(rng_or_params, np.random.Generator):
        params = make_cardiac_params(rng_or_params)
    elif isinstance(rng_or_params, USCardiacPatient):
        params = rng_or_params
    else:
        raise TypeError(
            "rng_or_params must be a numpy Generator or USCardiacPatient (formerly USCardiacParams), got "
            f"{type(rng_or_params).__name__}."
        )
    if not 0.0 <= speckle_change <= 1.0:
        raise ValueError(f"speckle_change must be in [0, 1], got {speckle_change}.")
    img, mask, _ = render_oversampled(lambda n: render_cardiac(params, n, float(phase), speckle_change), size)
    return img, mask


def _phase_name(phase: float, es_phase: float) -> str:
    if min(phase, 1.0 - phase) < 0.05:
        return "ed"
    return "es" if abs(phase - es_phase) < 0.05 else "mid"


def render_cardiac(
    p: USCardiacPatient, size: int, phase: float, speckle_change: float = 1.0
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Render a cardiac frame at ``size`` pixels (no oversampling: wrap it in ``render_oversampled`` below 128 px).

    Args:
        p: the heart in its view.
        size: image height and width in pixels.
        phase: cardiac phase (taken modulo 1).
        speckle_change: fraction (0..1) of the scatterer field renewed per phase; 1 for independent images.

    Returns:
        image (size, size) uint8, mask (size, size) uint8 (LV 1, myocardium 2, LA 3) and the info dict (``task``,
        ``class`` ``<view>_<ed|es|mid>``, ``view``, ``phase``, ``contraction``, ``probe``, ``fov``).
    """
    phase = phase % 1.0
    c = cardiac_contraction(phase, p.es_phase)
    tex_rng = np.random.default_rng([p.seed, 1])
    geom, imaging = p.geometry, p.imaging
    gm = beam_grid_maps(geom, size)
    x, y = pixel_grid(size)
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
    wob = 0.04 * smooth_field(tex_rng, size, 0.1)  # slightly irregular endocardium
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
    walls |= blur_mask(la, 0.008, size) > 0.05  # thin atrial wall
    # echogenicity
    bg = p.echo_bg * np.clip(1.0 + 0.45 * smooth_field(tex_rng, size, 0.08), 0.1, None)
    echo = bg.copy()
    heart = outer | right
    shell = blur_mask(heart, 0.012, size)  # pericardium: a bright band fading outwards from the epicardium
    echo += p.echo_pericardium * np.clip(shell - heart, 0.0, 1.0) * 2.0
    wall_tex = p.echo_myo * np.clip(1.0 + 0.25 * smooth_field(tex_rng, size, 0.03), 0.2, None)
    # specular reflection: walls running along the beam (lateral wall, septum) echo less
    lv_s = blur_mask(lv, 0.02, size)
    gy, gx = np.gradient(lv_s)
    gn = np.hypot(gx, gy) + 1e-9
    bx, by = gm.beam_dir if gm.beam_dir is not None else (np.zeros_like(x), np.ones_like(y))
    cosang = np.abs(gx * bx + gy * by) / gn
    spec = 1.0 - p.specular * (1.0 - cosang) * (gn > 1e-3)
    dropout = 1.0 - 0.6 * smooth_step(smooth_field(tex_rng, size, 0.1) - 1.2, 0.2)
    echo = mix(echo, wall_tex * spec * dropout, blur_mask(walls, 0.003, size))
    blood_tex = p.echo_blood * np.clip(1.0 + 0.4 * smooth_field(tex_rng, size, 0.05), 0.1, None)
    # endocardial borders partly sharp, partly blurred (trabeculations, out-of-plane motion)
    soft = smooth_step(smooth_field(tex_rng, size, 0.1), 0.5)
    echo = mix(echo, blood_tex, mix(blur_mask(blood, 0.002, size), blur_mask(blood, 0.008, size), soft))
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
        tip = (mix(closed[0], opened[0], opening), mix(closed[1], opened[1], opening))
        valves = np.maximum(valves, segment(size, ann, tip, 0.004))
    echo += 1.2 * p.echo_myo * valves
    # near-field clutter over the apex and the chest wall
    d = gm.depth
    echo += p.clutter * np.exp(-d / 0.09) * np.clip(1.0 + 0.8 * smooth_field(tex_rng, size, 0.06), 0.0, None)
    echo = mix(1.0 * (0.6 + 0.8 * smooth_step(smooth_field(tex_rng, size, 0.05), 0.3)), echo, smooth_step(d - 0.04, px))
    atten = np.where(blood, _F(0.2), _F(1.0))
    # scatterers: fixed per heart, a phase-seeded part renewed per frame
    n = size
    frame_rng = np.random.default_rng([p.seed, 3, n, int(round(phase * 1_000_000))])
    if speckle_change >= 1.0:
        scat = scatterer_field(frame_rng, n, imaging)
    else:
        scat = scatterer_field(np.random.default_rng([p.seed, 2, n]), n, imaging)
        if speckle_change > 0:
            fresh = scatterer_field(frame_rng, n, imaging)
            k1, k2 = math.sqrt(1 - speckle_change**2), speckle_change
            scat = (k1 * scat[0] + k2 * fresh[0], k1 * scat[1] + k2 * fresh[1])
    img = render_bmode(echo, atten, geom, imaging, size, frame_rng, scatterers=scat)
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
