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
"""Tests of monai_ext.data.phantom.patient: the patient types of all tasks, their validation and round trips."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import replace

import numpy as np
import pytest

from monai_ext.data.phantom import (
    PHANTOM_PATIENT_TYPES,
    PHANTOM_TASKS,
    USBreastPatient,
    USCardiacParams,
    USCardiacPatient,
    USImagingParams,
    USPhantomPatient,
    USProbeGeometry,
    USThyroidPatient,
    make_cardiac_params,
)
from monai_ext.data.phantom.breast import sample_breast_patient
from monai_ext.data.phantom.dataset import PHANTOM_CLASS_MIX
from monai_ext.data.phantom.thyroid import sample_thyroid_patient


def _patients() -> dict[str, USPhantomPatient]:
    rng = np.random.default_rng(0)
    return {
        "breast": sample_breast_patient(rng, "malignant"),
        "cardiac": make_cardiac_params(rng, "a4c"),
        "thyroid": sample_thyroid_patient(rng, "benign"),
    }


def _shallow_fields(p: USPhantomPatient) -> dict:
    return {f.name: getattr(p, f.name) for f in dataclasses.fields(p)}


def test_one_patient_type_per_task_all_from_one_base():
    assert set(PHANTOM_PATIENT_TYPES) == set(PHANTOM_TASKS)
    assert PHANTOM_PATIENT_TYPES == {
        "breast": USBreastPatient,
        "cardiac": USCardiacPatient,
        "thyroid": USThyroidPatient,
    }
    for task, patient in _patients().items():
        kind = PHANTOM_PATIENT_TYPES[task]
        assert type(patient) is kind and isinstance(patient, USPhantomPatient) and kind.task == task
        assert patient.patient_class in kind.patient_classes
        with pytest.raises(dataclasses.FrozenInstanceError):
            patient.patient_class = "other"
    assert USCardiacParams is USCardiacPatient  # the former name still works
    # the class names of the dataset mix are the classes of the patient types
    for task, mix in PHANTOM_CLASS_MIX.items():
        assert {name for name, _ in mix} == set(PHANTOM_PATIENT_TYPES[task].patient_classes)
        assert math.isclose(sum(f for _, f in mix), 1.0)
    assert USCardiacPatient.patient_classes == ("heart",)
    with pytest.raises(TypeError, match="base class"):
        USPhantomPatient(patient_class="x")


def test_round_trip_through_the_fields_and_replace():
    for patient in _patients().values():
        again = type(patient)(**_shallow_fields(patient))
        assert again == patient and hash(again) == hash(patient)
        assert replace(patient) == patient
        assert replace(patient, patient_class=patient.patient_class) == patient


def test_cardiac_defaults_and_positional_fields_are_kept():
    heart = USCardiacPatient()
    assert heart.patient_class == "heart" and heart.view == "a4c" and heart.seed == 0
    assert heart.geometry == USProbeGeometry("sector", half_angle=0.68, r_max=0.98)
    assert heart.imaging == USImagingParams()
    assert USCardiacPatient("a2c", 0.5).apex_x == 0.5  # fields by position, in the former order
    with pytest.raises(TypeError):
        USBreastPatient("normal")  # breast and thyroid fields are keyword-only


@pytest.mark.parametrize(
    "task, change, error, match",
    [
        ("breast", {"patient_class": "cancer"}, ValueError, r"one of normal, benign, malignant, got 'cancer'"),
        (
            "breast",
            {"probe": "sector"},
            ValueError,
            r"USBreastPatient.probe must be one of 'linear', 'convex', got 'sector'",
        ),
        ("breast", {"echo_fat": -0.2}, ValueError, r"USBreastPatient.echo_fat must be >= 0, got -0.2"),
        ("breast", {"echo_gland": float("nan")}, ValueError, r"USBreastPatient.echo_gland must be finite, got nan"),
        ("breast", {"fat_depth": 0.7, "gland_depth": 0.6}, ValueError, r"fat_depth=0.7, gland_depth=0.6"),
        ("breast", {"skin_depth": 0.0}, ValueError, r"USBreastPatient.skin_depth must be in \(0.0, 1.0\), got 0.0"),
        ("breast", {"lesion": None}, ValueError, r"'malignant' breast patient must have a lesion, got lesion=None"),
        ("breast", {"has_rib": 1}, TypeError, r"USBreastPatient.has_rib must be a bool, got int"),
        (
            "thyroid",
            {"trachea_side": 0.5},
            ValueError,
            r"USThyroidPatient.trachea_side must be one of 1.0, -1.0, got 0.5",
        ),
        ("thyroid", {"patient_class": "normal"}, ValueError, r"thyroid patient class must be one of benign, malignant"),
        ("thyroid", {"carotid_radius": 0.0}, ValueError, r"USThyroidPatient.carotid_radius must be > 0, got 0.0"),
        ("thyroid", {"lesion": None}, TypeError, r"USThyroidPatient.lesion must be a USLesion, got NoneType"),
        ("cardiac", {"view": "plax"}, ValueError, r"USCardiacPatient.view must be one of 'a2c', 'a4c', got 'plax'"),
        ("cardiac", {"es_phase": 1.2}, ValueError, r"USCardiacPatient.es_phase must be in \(0.0, 1.0\), got 1.2"),
        ("cardiac", {"seed": -1}, ValueError, r"USCardiacPatient.seed must be an integer >= 0, got -1"),
        ("cardiac", {"seed": True}, ValueError, r"seed must be an integer >= 0, got True"),
        ("cardiac", {"lv_length": 0.0}, ValueError, r"USCardiacPatient.lv_length must be > 0, got 0.0"),
        ("cardiac", {"specular": 1.5}, ValueError, r"USCardiacPatient.specular must be in \[0.0, 1.0\], got 1.5"),
        ("cardiac", {"geometry": "sector"}, TypeError, r"geometry must be a USProbeGeometry, got str"),
        ("cardiac", {"patient_class": "sick"}, ValueError, r"cardiac patient class must be one of heart, got 'sick'"),
    ],
)
def test_validation_errors_quote_the_bad_value(task, change, error, match):
    patient = _patients()[task]
    with pytest.raises(error, match=match):
        replace(patient, **change)
    with pytest.raises(error, match=match):  # the constructor checks too, not only replace
        type(patient)(**(_shallow_fields(patient) | change))


def test_a_normal_breast_patient_has_no_lesion():
    normal = sample_breast_patient(np.random.default_rng(3), "normal")
    assert normal.lesion is None
    lesion = _patients()["breast"].lesion
    with pytest.raises(ValueError, match="'normal' breast patient must have no lesion"):
        replace(normal, lesion=lesion)
    assert replace(normal, patient_class="benign", lesion=lesion).lesion is lesion
