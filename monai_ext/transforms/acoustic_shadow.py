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

"""Acoustic shadows cast along the scan lines of a linear or curvilinear/sector probe (project extension).

**This is not part of SABR-Net** (whose "shadow imitation regions" are MAT free-form holes); it is the project's
ultrasound-plausible alternative, ``mode="acoustic"`` of :class:`~monai_ext.transforms.USShadowImitationd`,
documented as an extension in the SABR bundle documentation (``bundles/sabr_us_segmentation/docs/README.md``).

Physics: a strongly reflecting or attenuating structure (bone, calcification, stone, gas) blocks the beam and the
region distal to it along the scan lines loses signal. A shadow starts just below its occluder, reaches full
strength over a short onset length, extends to the far field, follows the beam geometry (parallel bands for a
linear probe, diverging wedges for a convex or sector probe), has a sharp ("clean") or diffuse and partial
("dirty") lateral edge, and never leaves the imaging sector.

Model, in scan coordinates: lateral ``u`` (column for a linear probe, angle from the apex for a convex probe) and
depth ``r`` (row, or distance from the apex). Shadow k attenuates by
``A_k = s_k (1 - exp(-(r - r0_k) / l_k)) L_k(u)`` below its onset ``r0_k`` (0 above), ``L_k`` a lateral plateau
with raised-cosine edges of ``e_k`` pixels (``e_k / r`` radians for a convex probe, so the edge keeps its width in
pixels while the wedge widens). The transmission ``T = prod_k (1 - A_k)`` is 1 outside the field of view F; the
image becomes ``b + (I - b) T`` with ``b`` the "no echo" level, plus speckle-like noise of standard deviation
``sigma_n (1 - T)`` in dirty shadows; the hole mask is ``T >= tau`` (1 = visible, 0 = hole), 1 outside F.
Draws whose hole ratio inside F is outside ``hole_ratio_range`` are redrawn (a bounded number of times).

Arrays here are (C, H, W): rows are depth, columns lateral. :class:`~monai_ext.transforms.USShadowImitation`
transposes MONAI's reader layout (C, X, Y) to it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

__all__ = [
    "ACOUSTIC_ANCHORS",
    "ACOUSTIC_PROBES",
    "USAcousticShadow",
    "USAcousticShadowResult",
    "USAcousticShadowSimulator",
    "acoustic_transmission",
    "estimate_sector_apex",
    "fov_from_intensity",
    "scan_coordinates",
]

ACOUSTIC_PROBES = ("linear", "convex", "auto")
ACOUSTIC_ANCHORS = ("random", "reflector")


@dataclass(frozen=True)
class USAcousticShadow:
    """Parameters of one acoustic shadow (recorded for logging and reproducibility).

    Attributes:
        centre: lateral centre (column in pixels, or angle in radians for a convex probe).
        width: full lateral width (pixels, or radians).
        onset: depth r0 where the shadow starts (row, or pixels from the apex).
        strength: maximal attenuation s in (0, 1].
        onset_length: pixels over which the attenuation reaches ``1 - 1/e`` of its strength.
        edge: lateral edge softness in pixels (measured laterally at each depth).
        dirty: partial shadow with residual speckle (``strength`` below the clean threshold).
    """

    centre: float
    width: float
    onset: float
    strength: float
    onset_length: float
    edge: float
    dirty: bool


@dataclass
class USAcousticShadowResult:
    """Output of :class:`USAcousticShadowSimulator`.

    Attributes:
        image: shadowed image (C, H, W) float32.
        mask: hole mask (1, H, W) float32, 1 = visible, 0 = hole.
        transmission: T (H, W) float32 in [0, 1].
        shadows: the shadows drawn.
        probe: ``"linear"`` or ``"convex"``, the geometry used.
        apex: (row, column) of the apex in pixels for a convex probe, else None.
        attempts: draws made (> 1 when the hole-ratio range rejected draws).
    """

    image: np.ndarray
    mask: np.ndarray
    transmission: np.ndarray
    shadows: list[USAcousticShadow] = field(default_factory=list)
    probe: str = "linear"
    apex: tuple[float, float] | None = None
    attempts: int = 1


def estimate_sector_apex(fov: np.ndarray, max_rms: float = 1.0, min_slope: float = 0.05) -> tuple[float, float] | None:
    """Estimate the apex of a fan-shaped field of view as the intersection of straight-line fits of its two
    lateral edges.

    Rows whose edge touches the image border, and the upper and lower fifth of the fan (the arcs of the probe
    surface and of the deepest sample), are not used; each fit drops pixels more than 1.5 px off the line once.

    Args:
        fov: (H, W) boolean field of view, rows = depth.
        max_rms: largest RMS residual (pixels) of an edge fit that counts as a straight edge.
        min_slope: smallest lateral change of an edge per row (a rectangle has 0).

    Returns:
        (row, column) of the apex in pixels, or None when the edges are not two straight lines diverging with
        depth from an apex at or above the top of the field of view (e.g. a linear probe).
    """
    fov = np.asarray(fov, dtype=bool)
    if fov.ndim != 2:
        raise ValueError(f"estimate_sector_apex: fov must be (H, W), got shape {fov.shape}.")
    rows = np.flatnonzero(fov.any(axis=1))
    if rows.size < 10:
        return None
    width = fov.shape[1]
    left = np.argmax(fov[rows], axis=1).astype(np.float64)
    right = (width - 1 - np.argmax(fov[rows, ::-1], axis=1)).astype(np.float64)
    lo, hi = rows[0] + 0.2 * (rows[-1] - rows[0]), rows[0] + 0.8 * (rows[-1] - rows[0])
    middle = (rows >= lo) & (rows <= hi)
    fits = []
    for edge, inside in ((left, left > 0), (right, right < width - 1)):
        keep = middle & inside
        for _ in range(2):
            if keep.sum() < 8:
                return None
            slope, offset = np.polyfit(rows[keep], edge[keep], 1)
            residual = edge - (offset + slope * rows)
            keep = keep & (np.abs(residual) <= 1.5)
        if keep.sum() < 8 or float(np.sqrt(np.mean(residual[keep] ** 2))) > max_rms:
            return None
        fits.append((float(slope), float(offset)))
    (slope_l, offset_l), (slope_r, offset_r) = fits
    if not (slope_l < -min_slope and slope_r > min_slope):
        return None
    apex_row = (offset_l - offset_r) / (slope_r - slope_l)
    if apex_row > rows[0] + 1.0:  # edges that cross inside the image: not a fan
        return None
    return float(apex_row), float(offset_l + slope_l * apex_row)


def fov_from_intensity(image: np.ndarray, threshold: float) -> np.ndarray:
    """Field of view of a (C, H, W) image: on every row, the pixels from the first to the last one brighter than
    ``threshold`` (any channel). Fans and rectangles are convex along rows, so dark (anechoic) regions inside them
    stay inside; the black surround of the scan converter stays outside.
    """
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"fov_from_intensity: image must be (C, H, W), got shape {image.shape}.")
    bright = (image > threshold).any(axis=0)
    cols = np.arange(bright.shape[1])
    first = np.where(bright.any(axis=1), np.argmax(bright, axis=1), bright.shape[1])
    last = bright.shape[1] - 1 - np.argmax(bright[:, ::-1], axis=1)
    return (cols[None, :] >= first[:, None]) & (cols[None, :] <= last[:, None])


def scan_coordinates(shape: Sequence[int], apex: tuple[float, float] | None) -> tuple[np.ndarray, np.ndarray]:
    """Lateral and depth coordinate of every pixel of an (H, W) image.

    Args:
        shape: (H, W).
        apex: (row, column) of a convex/sector apex, or None for a linear probe.

    Returns:
        ``(lateral, depth)`` float64 (H, W): column and row (linear), or the angle from the downward vertical
        (radians, positive toward larger columns) and the distance from the apex in pixels (convex).
    """
    rows, cols = np.meshgrid(
        np.arange(shape[0], dtype=np.float64), np.arange(shape[1], dtype=np.float64), indexing="ij"
    )
    if apex is None:
        return cols, rows
    dy, dx = rows - apex[0], cols - apex[1]
    return np.arctan2(dx, dy), np.hypot(dx, dy)


def _lateral_profile(distance: np.ndarray, half_width: float, edge: np.ndarray | float) -> np.ndarray:
    """1 on the plateau ``distance <= half_width - edge``, a raised cosine down to 0 at ``half_width``."""
    edge = np.maximum(edge, 1e-9)
    t = np.clip((distance - (half_width - edge)) / edge, 0.0, 1.0)
    return np.where(distance <= half_width, 0.5 * (1.0 + np.cos(np.pi * t)), 0.0)


def acoustic_transmission(
    lateral: np.ndarray, depth: np.ndarray, shadows: Sequence[USAcousticShadow], convex: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Transmission of a set of shadows at given scan coordinates (any shape).

    Args:
        lateral: lateral coordinates (pixels, or radians when ``convex``).
        depth: depth coordinates (pixels).
        shadows: the shadows.
        convex: lateral is an angle; edges of ``edge`` pixels span ``edge / depth`` radians.

    Returns:
        ``(T, T_dirty)``: the transmission of all shadows and of the dirty ones only, float64, in [0, 1].
    """
    lateral, depth = np.asarray(lateral, np.float64), np.asarray(depth, np.float64)
    total = np.ones(np.broadcast(lateral, depth).shape)
    dirty = np.ones_like(total)
    for s in shadows:
        edge = s.edge / np.maximum(depth, 1.0) if convex else s.edge
        profile = _lateral_profile(np.abs(lateral - s.centre), s.width / 2.0, edge)
        below = np.maximum(depth - s.onset, 0.0)
        attenuation = s.strength * (1.0 - np.exp(-below / s.onset_length)) * profile
        total *= 1.0 - attenuation
        if s.dirty:
            dirty *= 1.0 - attenuation
    return np.clip(total, 0.0, 1.0), np.clip(dirty, 0.0, 1.0)


def _check_range(name: str, value: Sequence[float], low: float, high: float) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"USAcousticShadowSimulator: {name} must be a pair (min, max), got {value!r}.") from None
    if not (low <= a <= b <= high):
        raise ValueError(
            f"USAcousticShadowSimulator: {name} must satisfy {low} <= min <= max <= {high}, got {value!r}."
        )
    return a, b


class USAcousticShadowSimulator:
    """Draw acoustic shadows along the scan lines of an image (project extension, not SABR-Net).

    The defaults give a mean hole ratio inside the field of view of about 0.1 (measured over 1,000 draws with a
    linear probe: 0.08 at 128 px, 0.10 at 256 px; the onset and edge lengths are in pixels), the same order as
    MAT's 0.22; widen ``width_range`` or raise ``max_shadows`` for more.

    Args:
        probe: ``"linear"`` (scan lines are columns), ``"convex"`` (rays from an apex; also for sector/phased
            probes) or ``"auto"`` (convex when an apex is configured or estimated reliably from the field of view,
            else linear). A convex probe without an apex and without a reliable estimate falls back to linear with
            a warning.
        apex: (row, column) of the apex in pixels of the (H, W) image, usually above it (row <= 0).
        angle_span: (theta_min, theta_max) radians of the scan lines from the downward vertical (positive toward
            larger columns); default: the angles of the field-of-view pixels.
        max_shadows: the number of shadows is uniform in 1..max_shadows.
        width_range: lateral width as a fraction of the lateral extent of the field of view (angular for convex).
        onset_range: onset depth as a fraction of the depth range of the field of view.
        strength_range: attenuation strength; shadows with strength >= ``clean_threshold`` are clean.
        clean_threshold: see ``strength_range``.
        onset_length_range: onset length in pixels.
        clean_edge_range, dirty_edge_range: lateral edge softness in pixels.
        noise_std: standard deviation of the residual speckle in dirty shadows as a fraction of the intensity range.
        hole_threshold: pixels with a transmission below it are holes (tau).
        hole_ratio_range: accepted hole ratio inside the field of view; other draws are redrawn.
        max_attempts: draws before the last one is accepted whatever its hole ratio.
        anchor: ``"random"`` (onset uniform in ``onset_range``) or ``"reflector"`` (onset just below the brightest
            ridge of the central scan line within ``onset_range``: occluders are echogenic).
        intensity_range: (no echo, maximum) intensities of the image, e.g. (-1, 1) after SABR's scaling; the shadow
            darkens toward the first.

    Raises:
        ValueError: for invalid options, quoting the value.
    """

    def __init__(
        self,
        probe: str = "auto",
        apex: Sequence[float] | None = None,
        angle_span: Sequence[float] | None = None,
        max_shadows: int = 2,
        width_range: Sequence[float] = (0.04, 0.25),
        onset_range: Sequence[float] = (0.1, 0.7),
        strength_range: Sequence[float] = (0.6, 1.0),
        clean_threshold: float = 0.85,
        onset_length_range: Sequence[float] = (2.0, 10.0),
        clean_edge_range: Sequence[float] = (1.0, 6.0),
        dirty_edge_range: Sequence[float] = (4.0, 12.0),
        noise_std: float = 0.03,
        hole_threshold: float = 0.5,
        hole_ratio_range: Sequence[float] = (0.02, 0.5),
        max_attempts: int = 10,
        anchor: str = "random",
        intensity_range: Sequence[float] = (-1.0, 1.0),
    ) -> None:
        if probe not in ACOUSTIC_PROBES:
            raise ValueError(f"USAcousticShadowSimulator: probe must be one of {ACOUSTIC_PROBES}, got {probe!r}.")
        if anchor not in ACOUSTIC_ANCHORS:
            raise ValueError(f"USAcousticShadowSimulator: anchor must be one of {ACOUSTIC_ANCHORS}, got {anchor!r}.")
        if int(max_shadows) < 1 or int(max_attempts) < 1:
            raise ValueError(
                f"USAcousticShadowSimulator: max_shadows and max_attempts must be >= 1, got {max_shadows}, "
                f"{max_attempts}."
            )
        self.probe = probe
        self.apex = None if apex is None else tuple(float(a) for a in apex)
        if self.apex is not None and len(self.apex) != 2:
            raise ValueError(f"USAcousticShadowSimulator: apex must be (row, column), got {apex!r}.")
        self.angle_span = None if angle_span is None else _check_range("angle_span", angle_span, -math.pi, math.pi)
        self.max_shadows = int(max_shadows)
        self.width_range = _check_range("width_range", width_range, 0.0, 1.0)
        self.onset_range = _check_range("onset_range", onset_range, 0.0, 1.0)
        self.strength_range = _check_range("strength_range", strength_range, 0.0, 1.0)
        self.clean_threshold = float(clean_threshold)
        self.onset_length_range = _check_range("onset_length_range", onset_length_range, 1e-3, math.inf)
        self.clean_edge_range = _check_range("clean_edge_range", clean_edge_range, 1e-3, math.inf)
        self.dirty_edge_range = _check_range("dirty_edge_range", dirty_edge_range, 1e-3, math.inf)
        if noise_std < 0 or not 0 < hole_threshold <= 1:
            raise ValueError(
                f"USAcousticShadowSimulator: need noise_std >= 0 and 0 < hole_threshold <= 1, got {noise_std}, "
                f"{hole_threshold}."
            )
        self.noise_std = float(noise_std)
        self.hole_threshold = float(hole_threshold)
        self.hole_ratio_range = _check_range("hole_ratio_range", hole_ratio_range, 0.0, 1.0)
        self.max_attempts = int(max_attempts)
        self.anchor = anchor
        lo, hi = (float(v) for v in intensity_range)
        if not hi > lo:
            raise ValueError(
                f"USAcousticShadowSimulator: intensity_range must be (low, high), got {intensity_range!r}."
            )
        self.intensity_range = (lo, hi)

    def resolve_apex(self, fov: np.ndarray) -> tuple[float, float] | None:
        """Apex to use for a field of view (None = linear geometry), warning when a convex estimate fails."""
        if self.probe == "linear":
            return None
        if self.apex is not None:
            return self.apex  # type: ignore[return-value]
        apex = estimate_sector_apex(fov)
        if apex is None and self.probe == "convex":
            warnings.warn(
                "USAcousticShadowSimulator: probe='convex' but no apex is configured and the field of view has no "
                "reliable fan edges; casting linear (column) shadows. Pass apex=(row, column) or a fan-shaped fov.",
                stacklevel=3,
            )
        return apex

    def _onset_below_reflector(
        self, image: np.ndarray, centre: float, apex: tuple[float, float] | None, r_lo: float, r_hi: float
    ) -> float:
        """Depth just below the brightest ridge on the scan line at ``centre`` between r_lo and r_hi."""
        depths = np.arange(r_lo, r_hi + 1.0)
        if apex is None:
            rows, cols = depths, np.full_like(depths, centre)
        else:
            rows, cols = apex[0] + depths * math.cos(centre), apex[1] + depths * math.sin(centre)
        profile = ndimage.map_coordinates(image.mean(axis=0), [rows, cols], order=1, mode="nearest")
        profile = ndimage.gaussian_filter1d(profile, 1.5)
        peak = int(np.argmax(profile))
        # the occluder ends where the ridge has fallen halfway to the line's median level
        half = 0.5 * (profile[peak] + float(np.median(profile)))
        below = np.flatnonzero(profile[peak:] < half)
        return float(depths[peak] + (below[0] if below.size else 0) + 1.0)

    def _draw(
        self,
        rng: np.random.RandomState,
        image: np.ndarray,
        lateral_range: tuple[float, float],
        depth_range: tuple[float, float],
        apex: tuple[float, float] | None,
    ) -> list[USAcousticShadow]:
        u_lo, u_hi = lateral_range
        r_lo, r_hi = depth_range
        shadows = []
        for _ in range(rng.randint(1, self.max_shadows + 1)):
            centre = rng.uniform(u_lo, u_hi)
            width = rng.uniform(*self.width_range) * (u_hi - u_lo)
            onset = r_lo + rng.uniform(*self.onset_range) * (r_hi - r_lo)
            strength = rng.uniform(*self.strength_range)
            onset_length = rng.uniform(*self.onset_length_range)
            dirty = bool(strength < self.clean_threshold)
            edge = rng.uniform(*(self.dirty_edge_range if dirty else self.clean_edge_range))
            if self.anchor == "reflector":
                lo = r_lo + self.onset_range[0] * (r_hi - r_lo)
                hi = r_lo + self.onset_range[1] * (r_hi - r_lo)
                onset = self._onset_below_reflector(image, centre, apex, lo, hi)
            shadows.append(
                USAcousticShadow(
                    float(centre), float(width), float(onset), float(strength), float(onset_length), float(edge), dirty
                )
            )
        return shadows

    def __call__(
        self, rng: np.random.RandomState, image: np.ndarray, fov: np.ndarray | None = None
    ) -> USAcousticShadowResult:
        """Shadow ``image``.

        Args:
            rng: random state (MONAI ``Randomizable.R``).
            image: (C, H, W) float image, rows = depth.
            fov: (H, W) field of view (nonzero inside); default: the whole image.

        Raises:
            ValueError: for a wrongly shaped image or field of view, or an empty field of view.
        """
        image = np.asarray(image)
        if image.ndim != 3:
            raise ValueError(f"USAcousticShadowSimulator: image must be (C, H, W), got shape {image.shape}.")
        shape = image.shape[1:]
        fov = np.ones(shape, bool) if fov is None else np.asarray(fov).astype(bool)
        if fov.shape != shape:
            raise ValueError(
                f"USAcousticShadowSimulator: field of view shape {fov.shape} differs from the image {shape}."
            )
        if not fov.any():
            raise ValueError("USAcousticShadowSimulator: the field of view is empty (no pixel inside).")
        apex = self.resolve_apex(fov)
        lateral, depth = scan_coordinates(shape, apex)
        if apex is not None and self.angle_span is not None:
            u_range = self.angle_span
        else:
            u_range = (float(lateral[fov].min()), float(lateral[fov].max()))
        r_range = (float(depth[fov].min()), float(depth[fov].max()))
        inside = int(fov.sum())
        for attempt in range(1, self.max_attempts + 1):  # noqa: B007 (the count is recorded after the loop)
            shadows = self._draw(rng, image, u_range, r_range, apex)
            transmission, dirty = acoustic_transmission(lateral, depth, shadows, convex=apex is not None)
            transmission[~fov], dirty[~fov] = 1.0, 1.0
            holes = transmission < self.hole_threshold
            ratio = holes.sum() / inside
            if self.hole_ratio_range[0] <= ratio <= self.hole_ratio_range[1]:
                break
        lo, hi = self.intensity_range
        out = lo + (image.astype(np.float64) - lo) * transmission
        if self.noise_std > 0 and any(s.dirty for s in shadows):
            noise = rng.standard_normal(shape) * (self.noise_std * (hi - lo)) * (1.0 - dirty)
            out = out + noise  # one field for all channels: gray replicated to RGB stays gray
        # only shadowed pixels change (T = 1 outside the field of view)
        out = np.where(transmission < 1.0, np.clip(out, lo, hi), image)
        mask = (~holes).astype(np.float32)[None]
        return USAcousticShadowResult(
            image=out.astype(np.float32),
            mask=mask,
            transmission=transmission.astype(np.float32),
            shadows=shadows,
            probe="linear" if apex is None else "convex",
            apex=apex,
            attempts=attempt,
        )
