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
"""Breast phantom (BUSI-like): tissue layers under a linear or convex probe and one lesion, or none.

Anatomy from the probe down: skin, subcutaneous fat crossed by Cooper's ligaments, the glandular layer with a few
ducts (thin anechoic tubes, unlabelled look-alikes of lesions), retromammary fat, the pectoral fascia and the
striated pectoral muscle, sometimes a rib (hypoechoic oval with a bright anterior surface and a posterior shadow).
The lesion lies in the glandular layer (its host tissue): benign patients have a cyst (anechoic, capsule,
posterior enhancement, lateral edge shadows) or a fibroadenoma (oval or lobulated, parallel to the skin);
malignant ones a carcinoma (irregular, spiculated, often taller and shadowing, echogenic halo,
microcalcifications); normal patients have none (empty mask). The views of a patient share the tissue and the
lesion, with a slightly moved probe.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from .bmode import render_bmode, sample_imaging_params
from .fields import FIELD_DTYPE, mix, pixel_grid, smooth_field, smooth_step, wave
from .lesions import USLesion, draw_lesion
from .patient import USBreastPatient
from .probe import beam_grid_maps, sample_convex_probe, sample_linear_probe
from .shapes import USBlob, random_blob

__all__ = ["sample_breast_patient", "breast_view", "render_breast"]

_F = FIELD_DTYPE


def _sample_lesion(rng: np.random.Generator, patient_class: str, fat: float, gland: float) -> USLesion:
    """Draw the lesion of a benign or malignant patient inside the glandular layer ``fat < depth < gland``."""
    if patient_class == "benign":
        kind = "cyst" if rng.random() < 0.35 else "fibroadenoma"
    else:
        kind = "carcinoma"
    a = float(math.exp(rng.uniform(math.log(0.05), math.log(0.2))))
    aspect = {"cyst": (0.55, 1.0), "fibroadenoma": (0.45, 0.8), "carcinoma": (0.65, 1.35)}[kind]
    b = min(a * float(rng.uniform(*aspect)), 0.22)
    # inside the glandular layer (its host tissue), shrunk if the layer is thin
    room = gland - fat - 0.06
    if 1.8 * b > room:
        a, b = a * room / (1.8 * b), room / 1.8
    lo = fat + 0.9 * b + 0.03
    hi = gland - 0.9 * b - 0.03
    cy = float(rng.uniform(lo, hi)) if hi > lo else 0.5 * (lo + hi)
    cx = float(rng.uniform(0.32, 0.68))
    if kind == "carcinoma":
        blob = random_blob(
            rng, cx, cy, a, b, float(rng.uniform(-0.6, 0.6)), 0.25, 10, int(rng.integers(3, 11)), (0.08, 0.35)
        )
        shadow = bool(rng.random() < 0.7)
        return USLesion(
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
    if kind == "cyst":
        blob = random_blob(rng, cx, cy, a, b, float(rng.normal(0, 0.2)), 0.04, 3)
        return USLesion(
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
    lobulated = 2.5 if rng.random() < 0.3 else 1.0
    blob = random_blob(rng, cx, cy, a, b, float(rng.normal(0, 0.2)), 0.06 * lobulated, 4)
    low = rng.random() < 0.2
    return USLesion(
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


def sample_breast_patient(rng: np.random.Generator, patient_class: str) -> USBreastPatient:
    """Draw a breast patient of a class: probe, tissue layers and echogenicities, then the lesion.

    Args:
        rng: numpy random generator.
        patient_class: ``"normal"`` (no lesion), ``"benign"`` or ``"malignant"``.

    Returns:
        the patient (its first view).

    Raises:
        ValueError: an unknown class.
    """
    USBreastPatient.check_patient_class(patient_class)
    probe = "linear" if rng.random() < 0.8 else "convex"
    skin = float(rng.uniform(0.012, 0.03))
    fat = float(rng.uniform(0.08, 0.28))
    gland = float(min(fat + rng.uniform(0.3, 0.55), 0.88))
    retro = float(rng.uniform(0.01, 0.04))
    echo_skin = float(rng.uniform(1.6, 2.4))
    echo_fat = float(rng.uniform(0.3, 0.5))
    echo_gland = float(rng.uniform(0.8, 1.2))
    echo_muscle = float(rng.uniform(0.45, 0.7))
    echo_ligament = float(rng.uniform(0.8, 1.8))
    has_rib = bool(rng.random() < 0.25)
    lesion = None if patient_class == "normal" else _sample_lesion(rng, patient_class, fat, gland)
    return USBreastPatient(
        patient_class=patient_class,
        probe=probe,
        skin_depth=skin,
        fat_depth=fat,
        gland_depth=gland,
        retromammary=retro,
        echo_skin=echo_skin,
        echo_fat=echo_fat,
        echo_gland=echo_gland,
        echo_muscle=echo_muscle,
        echo_ligament=echo_ligament,
        has_rib=has_rib,
        lesion=lesion,
    )


def breast_view(patient: USBreastPatient, rng: np.random.Generator, index: int) -> USBreastPatient:
    """Another view of the same breast: same tissue and lesion, slightly moved probe.

    Args:
        patient: the patient as drawn by :func:`sample_breast_patient`.
        rng: numpy random generator (nothing is drawn for view 0).
        index: view index; view 0 is the patient itself.

    Returns:
        the patient as seen in that view.
    """
    if index == 0:
        return patient
    fat = float(patient.fat_depth + rng.normal(0, 0.02))
    gland = float(patient.gland_depth + rng.normal(0, 0.02))
    gland = float(min(max(gland, fat + 0.25), 0.9))
    lesion = patient.lesion
    if lesion is not None:
        blob = lesion.blob.moved(rng, 0.04, 0.2, 0.08)
        blob = replace(blob, cx=float(np.clip(blob.cx, 0.25, 0.75)), cy=float(np.clip(blob.cy, blob.ay + 0.05, 0.9)))
        lesion = replace(lesion, blob=blob)
    return replace(patient, fat_depth=fat, gland_depth=gland, lesion=lesion)


def render_breast(patient: USBreastPatient, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:
    """Render one view of a breast patient (probe field of view and scanner settings drawn for this image).

    Args:
        patient: the patient as seen in this view.
        size: image height and width in pixels (speckle needs >= 128; see ``render_oversampled``).
        rng: numpy random generator.

    Returns:
        image (size, size) uint8, mask (size, size) uint8 (lesion 255) and the info dict (``task``, ``class``,
        ``kind``, ``probe``, ``fov``).
    """
    p = patient
    geom = sample_linear_probe(rng) if p.probe == "linear" else sample_convex_probe(rng)
    imaging = sample_imaging_params(rng, "breast")
    gm = beam_grid_maps(geom, size)
    x, y = pixel_grid(size)
    d, lat = gm.depth, gm.lateral
    px = 1.0 / size
    b_skin = p.skin_depth + wave(rng, lat, 0.003)
    b_fat = p.fat_depth + wave(rng, lat, 0.04)
    b_gland = p.gland_depth + wave(rng, lat, 0.05)
    b_muscle = b_gland + p.retromammary
    lig = smooth_field(rng, size, 0.12)
    ligaments = np.exp(-((lig / 0.08) ** 2))
    fat = p.echo_fat * np.clip(1.0 + 0.25 * smooth_field(rng, size, 0.04), 0.3, None)
    fat = fat * (0.8 + 0.4 * smooth_step(np.abs(lig) - 0.6, 0.2)) + p.echo_ligament * ligaments
    gland = p.echo_gland * np.clip(
        1.0 + 0.3 * smooth_field(rng, size, 0.07) + 0.15 * smooth_field(rng, size, 0.02), 0.25, None
    )
    gland = gland + 0.5 * p.echo_ligament * ligaments
    phi = float(rng.uniform(-0.5, 0.5))
    period = float(rng.uniform(0.02, 0.04))
    stri = (0.5 + 0.5 * np.cos(2 * np.pi * (y * math.cos(phi) - x * math.sin(phi)) / period)) ** 4
    muscle = p.echo_muscle * (0.7 + 0.8 * stri) * np.clip(1 + 0.2 * smooth_field(rng, size, 0.05), 0.3, None)
    echo = np.full((size, size), p.echo_skin, dtype=_F)
    echo = mix(echo, fat, smooth_step(d - b_skin, px))
    echo = mix(echo, gland, smooth_step(d - b_fat, 3 * px))
    echo = mix(echo, fat * 0.9, smooth_step(d - b_gland, 2 * px))
    echo = mix(echo, muscle, smooth_step(d - b_muscle, px))
    echo += 1.2 * p.echo_ligament * np.exp(-(((d - b_muscle) / max(0.006, px)) ** 2))  # pectoral fascia
    # a few ducts: thin anechoic tubes in the glandular layer (unlabelled look-alikes)
    for _ in range(int(rng.integers(0, 4))):
        duct = USBlob(
            float(rng.uniform(0.1, 0.9)),
            float(rng.uniform(p.fat_depth + 0.05, p.gland_depth)),
            float(rng.uniform(0.04, 0.12)),
            float(rng.uniform(0.008, 0.02)),
            float(rng.normal(0, 0.3)),
        )
        echo *= 1.0 - 0.8 * smooth_step(1.0 - duct.q(size), 0.15)
    atten = np.where(d < b_fat, _F(0.8), _F(1.0))
    if p.has_rib:
        # costal cartilage / rib: hypoechoic oval with a bright anterior surface and a posterior shadow
        rib = USBlob(
            float(rng.uniform(0.2, 0.8)), float(rng.uniform(0.86, 0.95)), 0.14, 0.05, float(rng.normal(0, 0.1))
        )
        rq = rib.q(size)
        inside = smooth_step(1.0 - rq, 0.05)
        echo = mix(echo, 0.35 * p.echo_muscle, inside)
        echo += 2.0 * np.exp(-(((rq - 1.0) / 0.1) ** 2)) * (y < rib.cy)
        atten = mix(atten, 25.0 / (imaging.atten_db * 0.1), inside * (y > rib.cy))
    mask = np.zeros((size, size), dtype=bool)
    kind = "normal"
    if p.lesion is not None:
        kind = p.lesion.kind
        mask = draw_lesion(p.lesion, echo, atten, p.echo_gland, size, rng, imaging.atten_db)
    img = render_bmode(echo, atten, geom, imaging, size, rng)
    mask &= gm.fov
    out = np.where(mask, np.uint8(255), np.uint8(0))
    info = {"task": "breast", "class": p.patient_class, "kind": kind, "probe": geom.kind, "fov": gm.fov.copy()}
    return img, out, info
