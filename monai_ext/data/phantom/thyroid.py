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
"""Thyroid phantom (TN-SCUI-like): a transverse view of one thyroid lobe with one nodule, and its neighbours.

Anatomy: skin, subcutaneous fat, the strap muscles over the gland with the fascia under them, the
sternocleidomastoid laterally, the gland lobe with a thin bright capsule, the carotid artery lateral to it
(anechoic, bright wall, posterior enhancement) and the trachea medial to it (hypoechoic cartilage ring, bright air
interface, reverberation arcs, then a dense air shadow), deep neck tissue below. Nodules: malignant ones are solid
hypoechoic, irregular, sometimes taller than wide, with microcalcifications and sometimes a shadow; benign ones are
iso-echoic with a hypoechoic halo, hypoechoic, cystic (anechoic, capsule, edge shadows) or spongiform (many small
cystic spaces); about 10 % have a coarse rim calcification. The views of a patient share the anatomy, with a
slightly moved probe.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from .bmode import render_bmode, sample_imaging_params
from .fields import FIELD_DTYPE, mix, pixel_grid, smooth_field, smooth_step, wave
from .lesions import USLesion, draw_lesion
from .patient import USThyroidPatient
from .probe import beam_grid_maps, sample_convex_probe, sample_linear_probe
from .shapes import USBlob, random_blob

__all__ = ["sample_thyroid_patient", "thyroid_view", "render_thyroid"]

_F = FIELD_DTYPE


def _sample_nodule(rng: np.random.Generator, patient_class: str, g: USBlob) -> USLesion:
    """Draw the nodule of a patient inside the gland ``g``."""
    if patient_class == "malignant":
        kind = "solid_hypo"
    else:
        kind = str(rng.choice(["solid_iso_halo", "solid_hypo", "cystic", "spongiform"], p=[0.25, 0.35, 0.2, 0.2]))
    a = float(math.exp(rng.uniform(math.log(0.06), math.log(0.25))))
    a = min(a, g.ax * 0.85)
    if patient_class == "malignant":
        aspect = float(rng.uniform(1.0, 1.5) if rng.random() < 0.4 else rng.uniform(0.6, 1.0))
    else:
        aspect = float(rng.uniform(0.55, 0.95))
    b = min(a * aspect, g.ay * 1.05)
    cx = g.cx + float(rng.uniform(-0.5, 0.5)) * max(g.ax - a, 0.0)
    cy = g.cy + float(rng.uniform(-0.4, 0.4)) * max(g.ay - b, 0.0)
    macro = float(rng.uniform(1.0, 2.5)) if rng.random() < 0.1 else 0.0
    if patient_class == "malignant":
        blob = random_blob(rng, cx, cy, a, b, float(rng.normal(0, 0.3)), 0.2, 8, int(rng.integers(0, 4)))
        return USLesion(
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
    blob = random_blob(rng, cx, cy, a, b, float(rng.normal(0, 0.25)), 0.05, 4)
    contrast, inner, halo, cysts, het = {
        "solid_iso_halo": (float(rng.uniform(0.75, 0.95)), 1.0, -float(rng.uniform(0.6, 0.9)), 0, 0.15),
        "solid_hypo": (float(rng.uniform(0.35, 0.65)), 1.0, 0.0, 0, 0.2),
        "cystic": (float(rng.uniform(0.03, 0.12)), 0.1, 0.0, 0, 0.3),
        "spongiform": (float(rng.uniform(0.6, 0.9)), 0.7, 0.0, int(rng.integers(8, 25)), 0.2),
    }[kind]  # every entry is drawn, whatever the kind: the draws stay in step
    return USLesion(
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


def sample_thyroid_patient(rng: np.random.Generator, patient_class: str) -> USThyroidPatient:
    """Draw a thyroid patient of a class: probe, gland, neighbours and echogenicities, then the nodule.

    Args:
        rng: numpy random generator.
        patient_class: ``"benign"`` or ``"malignant"``.

    Returns:
        the patient (its first view).

    Raises:
        ValueError: an unknown class.
    """
    USThyroidPatient.check_patient_class(patient_class)
    probe = "linear" if rng.random() < 0.85 else "convex"
    g = random_blob(
        rng,
        float(rng.uniform(0.42, 0.58)),
        float(rng.uniform(0.4, 0.52)),
        float(rng.uniform(0.24, 0.34)),
        float(rng.uniform(0.14, 0.2)),
        float(rng.normal(0, 0.1)),
        0.08,
        3,
    )
    side = 1.0 if rng.random() < 0.5 else -1.0  # side of the trachea (medial); carotid on the other side
    echo_gland = float(rng.uniform(1.0, 1.4))
    echo_muscle = float(rng.uniform(0.25, 0.45))
    echo_deep = float(rng.uniform(0.35, 0.6))
    strap = float(rng.uniform(0.05, 0.09))
    carotid_r = float(rng.uniform(0.065, 0.1))
    trachea_r = float(rng.uniform(0.12, 0.16))
    return USThyroidPatient(
        patient_class=patient_class,
        probe=probe,
        gland=g,
        trachea_side=side,
        echo_gland=echo_gland,
        echo_muscle=echo_muscle,
        echo_deep=echo_deep,
        strap_thickness=strap,
        carotid_radius=carotid_r,
        trachea_radius=trachea_r,
        lesion=_sample_nodule(rng, patient_class, g),
    )


def thyroid_view(patient: USThyroidPatient, rng: np.random.Generator, index: int) -> USThyroidPatient:
    """Another view of the same neck: gland and nodule moved together, slightly rotated and scaled.

    Args:
        patient: the patient as drawn by :func:`sample_thyroid_patient`.
        rng: numpy random generator (nothing is drawn for view 0).
        index: view index; view 0 is the patient itself.

    Returns:
        the patient as seen in that view.
    """
    if index == 0:
        return patient
    dx = float(rng.normal(0, 0.03))
    g = patient.gland.moved(rng, 0.0, 0.08, 0.06)
    les = patient.lesion
    blob = les.blob.moved(rng, 0.015, 0.15, 0.06)
    return replace(patient, gland=replace(g, cx=g.cx + dx), lesion=replace(les, blob=replace(blob, cx=blob.cx + dx)))


def render_thyroid(
    patient: USThyroidPatient, size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Render one view of a thyroid patient (probe field of view and scanner settings drawn for this image).

    Args:
        patient: the patient as seen in this view.
        size: image height and width in pixels (speckle needs >= 128; see ``render_oversampled``).
        rng: numpy random generator.

    Returns:
        image (size, size) uint8, mask (size, size) uint8 (nodule 255) and the info dict (``task``, ``class``,
        ``kind``, ``probe``, ``fov``).
    """
    p = patient
    geom = sample_linear_probe(rng) if p.probe == "linear" else sample_convex_probe(rng)
    imaging = sample_imaging_params(rng, "thyroid")
    gm = beam_grid_maps(geom, size)
    x, y = pixel_grid(size)
    d, lat = gm.depth, gm.lateral
    px = 1.0 / size
    g = p.gland
    side = p.trachea_side
    deep = p.echo_deep * np.clip(1.0 + 0.3 * smooth_field(rng, size, 0.06), 0.2, None)
    phi = float(rng.normal(0, 0.15))
    stri = 0.5 + 0.5 * np.cos(2 * np.pi * (y * math.cos(phi) - x * math.sin(phi)) / float(rng.uniform(0.015, 0.03)))
    muscle = p.echo_muscle * (0.75 + 0.6 * stri**4) * np.clip(1 + 0.2 * smooth_field(rng, size, 0.05), 0.3, None)
    skin_b = 0.02 + wave(rng, lat, 0.003)
    fat_b = skin_b + float(rng.uniform(0.02, 0.05)) + wave(rng, lat, 0.01)
    strap_top = fat_b
    strap_bot = np.minimum(g.cy - g.ay * 0.9, fat_b + p.strap_thickness + wave(rng, lat, 0.015))
    echo = np.full((size, size), 1.8, dtype=_F)
    fat = 0.45 * np.clip(1 + 0.3 * smooth_field(rng, size, 0.04), 0.3, None)
    echo = mix(echo, fat, smooth_step(d - skin_b, px))
    echo = mix(echo, muscle, smooth_step(d - strap_top, px))
    echo = mix(echo, deep, smooth_step(d - strap_bot, 2 * px))
    echo += 0.8 * np.exp(-(((d - strap_bot) / max(0.005, px)) ** 2))  # fascia under the strap muscles
    # sternocleidomastoid on the lateral side, above the carotid
    scm = USBlob(g.cx + side * -0.35, fat_b.mean() + 0.07, 0.22, 0.06, float(-side * 0.2))
    echo = mix(echo, muscle * 0.9, smooth_step(1.0 - scm.q(size), 0.05))
    atten = np.ones((size, size), dtype=_F)
    # gland with a thin bright capsule
    gq = g.q(size)
    gl = p.echo_gland * np.clip(1.0 + 0.12 * smooth_field(rng, size, 0.03), 0.3, None)
    echo = mix(echo, gl, smooth_step(1.0 - gq, 0.02))
    echo += 0.6 * np.exp(-(((gq - 1.01) / 0.02) ** 2))
    # carotid artery (anechoic, bright wall, posterior enhancement) lateral to the gland
    cr = p.carotid_radius
    car = USBlob(g.cx - side * (g.ax + cr * 0.6), g.cy + 0.03, cr, cr * 0.95)
    cq = car.q(size)
    echo = mix(echo, 0.03, smooth_step(1.0 - cq, 0.03))
    echo += 1.2 * np.exp(-(((cq - 1.03) / 0.05) ** 2))
    atten = mix(atten, 0.05, smooth_step(1.0 - cq, 0.03))
    # trachea (medial): bright anterior wall, reverberations and a dense air shadow
    tr = p.trachea_radius
    tra = USBlob(g.cx + side * (g.ax + tr * 0.7), g.cy - 0.03 + tr * 0.3, tr, tr * 0.9)
    tq = tra.q(size)
    # cartilage ring (hypoechoic) around a bright air interface; below it only reverberation arcs, then shadow
    cart = smooth_step(1.0 - tq, 0.03)
    echo = mix(echo, 0.25, cart)
    air = smooth_step(0.8 - tq, 0.02)
    echo += 3.0 * np.exp(-(((tq - 0.8) / 0.05) ** 2)) * (y < tra.cy + 0.2 * tr)
    period = float(rng.uniform(0.15, 0.25))
    reverb = 0.8 * (0.5 + 0.5 * np.cos(2 * np.pi * (0.8 - tq) / period)) ** 8 * np.clip(tq / 0.8, 0.0, 1.0)
    echo = mix(echo, reverb, air)
    # the air stops the beam: reverberations show in the upper half, total shadow below
    atten = mix(atten, 40.0 / (imaging.atten_db * tr), air * (y > tra.cy - 0.3 * tr))
    mask = draw_lesion(p.lesion, echo, atten, p.echo_gland, size, rng, imaging.atten_db)
    img = render_bmode(echo, atten, geom, imaging, size, rng)
    mask &= gm.fov
    out = np.where(mask, np.uint8(255), np.uint8(0))
    info = {
        "task": "thyroid",
        "class": p.patient_class,
        "kind": p.lesion.kind,
        "probe": geom.kind,
        "fov": gm.fov.copy(),
    }
    return img, out, info
