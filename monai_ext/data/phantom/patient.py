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
"""Patient parameters of the phantom: one frozen dataclass per task, all derived from :class:`USPhantomPatient`.

A patient type holds everything that makes one simulated patient: the anatomy (layer depths, organ and lesion
shapes, echogenicities) and, for the cardiac task, the probe and scanner settings of the acquisition. The same type
describes the patient as drawn and as seen in each of its 1-3 views: a view is a :func:`dataclasses.replace` copy
with small changes (probe moved, lesion shifted and rotated), so the anatomy is shared between the views. Every
task module has the same three functions around its type:

============  ==========================  ===========================  ============================================
task          sample (draw a patient)     view (another acquisition)   render (image, mask, info)
============  ==========================  ===========================  ============================================
breast        ``sample_breast_patient``   ``breast_view``              ``render_breast``
thyroid       ``sample_thyroid_patient``  ``thyroid_view``             ``render_thyroid``
cardiac       ``make_cardiac_params``     ``cardiac_view``             ``render_cardiac`` / ``make_cardiac_frame``
============  ==========================  ===========================  ============================================

Breast and thyroid renderers draw the probe field of view and scanner settings per image; a cardiac patient carries
them (``geometry``, ``imaging``) and a texture seed, so that every phase of a cine clip is rendered with the same
probe, settings and tissue. Construction validates every field (a :func:`dataclasses.replace` copy too) and the
error quotes the bad value. ``USCardiacParams``, the name of the cardiac type before the patient types were unified,
is kept as an alias of :class:`USCardiacPatient`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .bmode import USImagingParams
from .lesions import USLesion
from .probe import USProbeGeometry
from .shapes import USBlob

__all__ = [
    "USPhantomPatient",
    "USBreastPatient",
    "USThyroidPatient",
    "USCardiacPatient",
    "USCardiacParams",
    "PHANTOM_PATIENT_TYPES",
]


def _fail(obj: object, name: str, rule: str) -> None:
    raise ValueError(f"{type(obj).__name__}.{name} must be {rule}, got {getattr(obj, name)!r}.")


def _check_range(obj: object, names: tuple[str, ...], low: float, high: float, closed: str = "[]") -> None:
    """Check ``low <(=) value <(=) high`` for each named field; ``closed`` says which ends are included."""
    for name in names:
        v = getattr(obj, name)
        ok_low = v >= low if closed[0] == "[" else v > low
        ok_high = v <= high if closed[1] == "]" else v < high
        if not (ok_low and ok_high):
            _fail(obj, name, f"in {closed[0]}{low}, {high}{closed[1]}")


def _check_positive(obj: object, names: tuple[str, ...]) -> None:
    for name in names:
        if not getattr(obj, name) > 0:
            _fail(obj, name, "> 0")


def _check_non_negative(obj: object, names: tuple[str, ...]) -> None:
    for name in names:
        if not getattr(obj, name) >= 0:
            _fail(obj, name, ">= 0")


def _check_choice(obj: object, name: str, choices: tuple[Any, ...]) -> None:
    if getattr(obj, name) not in choices:
        _fail(obj, name, "one of " + ", ".join(repr(c) for c in choices))


def _check_type(obj: object, name: str, kinds: tuple[type, ...]) -> None:
    if not isinstance(getattr(obj, name), kinds):
        names = " or ".join("None" if k is type(None) else k.__name__ for k in kinds)
        raise TypeError(f"{type(obj).__name__}.{name} must be a {names}, got {type(getattr(obj, name)).__name__}.")


@dataclass(frozen=True, kw_only=True)
class USPhantomPatient:
    """Base of the patient types: the task, the patient class and the checks every patient type shares.

    Subclasses set the class variables ``task`` (one of ``PHANTOM_TASKS``) and ``patient_classes`` (the classes a
    patient of the task may have) and validate their own fields after calling this ``__post_init__``, which checks
    the patient class and that every numeric field is finite.

    Attributes:
        patient_class: class of the patient, one of ``patient_classes`` (breast: normal, benign, malignant;
            thyroid: benign, malignant; cardiac: heart).

    Raises:
        TypeError: the base class is instantiated itself.
        ValueError: an unknown patient class or a non-finite number.
    """

    task: ClassVar[str] = ""
    patient_classes: ClassVar[tuple[str, ...]] = ()

    patient_class: str

    def __post_init__(self) -> None:
        if type(self) is USPhantomPatient:
            raise TypeError(
                "USPhantomPatient is a base class; use USBreastPatient, USThyroidPatient or USCardiacPatient."
            )
        self.check_patient_class(self.patient_class)
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            is_number = isinstance(v, (float, int, np.floating, np.integer)) and not isinstance(v, bool)
            if is_number and not math.isfinite(v):
                _fail(self, f.name, "finite")

    @classmethod
    def check_patient_class(cls, patient_class: Any) -> str:
        """Return ``patient_class`` if it is a class of this task, else raise a ValueError naming the choices."""
        if patient_class not in cls.patient_classes:
            raise ValueError(
                f"{cls.task} patient class must be one of {', '.join(cls.patient_classes)}, got {patient_class!r}."
            )
        return patient_class


@dataclass(frozen=True, kw_only=True)
class USBreastPatient(USPhantomPatient):
    """A breast (BUSI-like) patient: tissue layers under a linear or convex probe and at most one lesion.

    Depths are normalised (unit = image size) from the probe surface, of the lower boundary of each layer; the
    renderer adds lateral undulations to them.

    Attributes:
        probe: ``"linear"`` or ``"convex"`` (the field of view itself is drawn per image).
        skin_depth: lower boundary of the skin, in (0, 1).
        fat_depth: lower boundary of the subcutaneous fat (< ``gland_depth``).
        gland_depth: lower boundary of the glandular layer, at most 1.
        retromammary: thickness of the retromammary fat above the pectoral muscle (>= 0).
        echo_skin, echo_fat, echo_gland, echo_muscle, echo_ligament: echogenicities (>= 0) of the skin, fat,
            glandular tissue (the lesion host), pectoral muscle and Cooper's ligaments.
        has_rib: a rib (costal cartilage) with its posterior shadow lies deep in the image.
        lesion: the lesion (None exactly for the ``"normal"`` class).
    """

    task: ClassVar[str] = "breast"
    patient_classes: ClassVar[tuple[str, ...]] = ("normal", "benign", "malignant")

    probe: str
    skin_depth: float
    fat_depth: float
    gland_depth: float
    retromammary: float
    echo_skin: float
    echo_fat: float
    echo_gland: float
    echo_muscle: float
    echo_ligament: float
    has_rib: bool
    lesion: USLesion | None

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_choice(self, "probe", ("linear", "convex"))
        _check_range(self, ("skin_depth",), 0.0, 1.0, "()")
        if not self.fat_depth < self.gland_depth <= 1.0:
            raise ValueError(
                f"USBreastPatient layers must satisfy fat_depth < gland_depth <= 1, got fat_depth={self.fat_depth!r}, "
                f"gland_depth={self.gland_depth!r}."
            )
        _check_non_negative(
            self, ("retromammary", "echo_skin", "echo_fat", "echo_gland", "echo_muscle", "echo_ligament")
        )
        _check_type(self, "has_rib", (bool,))
        _check_type(self, "lesion", (USLesion, type(None)))
        if (self.lesion is None) != (self.patient_class == "normal"):
            raise ValueError(
                f"a {self.patient_class!r} breast patient must have "
                f"{'no lesion' if self.patient_class == 'normal' else 'a lesion'}, got lesion={self.lesion!r}."
            )


@dataclass(frozen=True, kw_only=True)
class USThyroidPatient(USPhantomPatient):
    """A thyroid (TN-SCUI-like) patient in a transverse view: one gland lobe with one nodule, and its neighbours.

    Attributes:
        probe: ``"linear"`` or ``"convex"`` (the field of view itself is drawn per image).
        gland: shape of the thyroid lobe.
        trachea_side: +1.0 or -1.0, the side (image right / left) of the trachea; the carotid lies on the other.
        echo_gland, echo_muscle, echo_deep: echogenicities (>= 0) of the gland (the nodule host), the strap
            muscles and the deep neck tissue.
        strap_thickness: thickness of the strap muscles (> 0, normalised).
        carotid_radius, trachea_radius: radii of the carotid artery and the trachea (> 0, normalised).
        lesion: the nodule.
    """

    task: ClassVar[str] = "thyroid"
    patient_classes: ClassVar[tuple[str, ...]] = ("benign", "malignant")

    probe: str
    gland: USBlob
    trachea_side: float
    echo_gland: float
    echo_muscle: float
    echo_deep: float
    strap_thickness: float
    carotid_radius: float
    trachea_radius: float
    lesion: USLesion

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_choice(self, "probe", ("linear", "convex"))
        _check_type(self, "gland", (USBlob,))
        _check_choice(self, "trachea_side", (1.0, -1.0))
        _check_non_negative(self, ("echo_gland", "echo_muscle", "echo_deep"))
        _check_positive(self, ("strap_thickness", "carotid_radius", "trachea_radius"))
        _check_type(self, "lesion", (USLesion,))


def _default_cardiac_probe() -> USProbeGeometry:
    return USProbeGeometry("sector", half_angle=0.68, r_max=0.98)


@dataclass(frozen=True)
class USCardiacPatient(USPhantomPatient):
    """One heart seen in one apical view; normalised image units, end-diastolic sizes.

    Render it at any phase with ``make_cardiac_frame``. Views of one patient share the anatomy fields and differ by
    ``view`` and small changes (see ``cardiac_view``). ``seed`` fixes the tissue texture and the scatterer field, so
    a sequence of phases gives a coherent cine clip. The fields (not ``patient_class``) may be given by position,
    in the order below.

    Attributes:
        patient_class: always ``"heart"`` (keyword only).
        view: ``"a4c"`` (LV, LA, RV, RA) or ``"a2c"`` (LV, LA).
        apex_x, apex_y: LV endocardial apex.
        tilt: LV long axis angle from the beam axis (radians, positive: base to the right).
        lv_length, lv_width_left, lv_width_right: LV cavity length and half widths (> 0).
        lv_equator: widest point of the LV, fraction of its length, in (0, 1).
        base_narrowing: narrowing of the LV towards the mitral annulus, in [0, 1).
        wall_left, wall_right, wall_apex: end-diastolic myocardial thickness (> 0; ``wall_left`` is the septum in
            a4c).
        shortening, long_shortening: fractional LV width and length reduction at end systole, in [0, 1).
        thickening: fractional wall thickening at end systole (>= 0).
        la_length, la_width: LA length and half width (> 0).
        la_offset, la_tilt: LA lateral offset and tilt from the LV axis.
        la_expansion: fractional LA length increase at end systole (>= 0).
        rv_width: RV width (> 0); rv_length: RV length as a fraction of the LV length (> 0).
        es_phase: end-systolic phase of the cycle, in (0, 1).
        echo_blood, echo_myo, echo_bg, echo_pericardium: echogenicities (>= 0).
        clutter: near-field haze over the apex (>= 0).
        specular: wall dropout where beams run along the wall, in [0, 1].
        geometry: probe field of view (a phased-array sector when drawn by ``make_cardiac_params``).
        imaging: scanner settings.
        seed: texture and scatterer seed (integer >= 0).
    """

    task: ClassVar[str] = "cardiac"
    patient_classes: ClassVar[tuple[str, ...]] = ("heart",)

    patient_class: str = field(default="heart", kw_only=True)
    view: str = "a4c"
    apex_x: float = 0.53
    apex_y: float = 0.14
    tilt: float = 0.0
    lv_length: float = 0.45
    lv_width_left: float = 0.12
    lv_width_right: float = 0.12
    lv_equator: float = 0.68
    base_narrowing: float = 0.12
    wall_left: float = 0.045
    wall_right: float = 0.04
    wall_apex: float = 0.035
    shortening: float = 0.25
    long_shortening: float = 0.1
    thickening: float = 0.45
    la_length: float = 0.2
    la_width: float = 0.11
    la_offset: float = 0.0
    la_tilt: float = 0.0
    la_expansion: float = 0.2
    rv_width: float = 0.09
    rv_length: float = 0.7
    es_phase: float = 0.35
    echo_blood: float = 0.05
    echo_myo: float = 0.9
    echo_bg: float = 0.45
    echo_pericardium: float = 1.8
    clutter: float = 0.2
    specular: float = 0.5
    geometry: USProbeGeometry = field(default_factory=_default_cardiac_probe)
    imaging: USImagingParams = field(default_factory=USImagingParams)
    seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_choice(self, "view", ("a2c", "a4c"))
        _check_positive(
            self,
            (
                "lv_length",
                "lv_width_left",
                "lv_width_right",
                "wall_left",
                "wall_right",
                "wall_apex",
                "la_length",
                "la_width",
                "rv_width",
                "rv_length",
            ),
        )
        _check_range(self, ("lv_equator", "es_phase"), 0.0, 1.0, "()")
        _check_range(self, ("base_narrowing", "shortening", "long_shortening"), 0.0, 1.0, "[)")
        _check_range(self, ("specular",), 0.0, 1.0, "[]")
        _check_non_negative(
            self, ("thickening", "la_expansion", "echo_blood", "echo_myo", "echo_bg", "echo_pericardium", "clutter")
        )
        _check_type(self, "geometry", (USProbeGeometry,))
        _check_type(self, "imaging", (USImagingParams,))
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            _fail(self, "seed", "an integer >= 0")


USCardiacParams = USCardiacPatient
"""The former name of :class:`USCardiacPatient` (kept: existing code imports it)."""

PHANTOM_PATIENT_TYPES: dict[str, type[USPhantomPatient]] = {
    "breast": USBreastPatient,
    "cardiac": USCardiacPatient,
    "thyroid": USThyroidPatient,
}
"""Task -> its patient type."""
