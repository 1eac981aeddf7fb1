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
"""Tests of monai_ext.data.phantom (the package): every public import path of the phantom keeps working."""

from __future__ import annotations

import importlib

import pytest

import monai_ext.data
import monai_ext.data.phantom as phantom

# the phantom's public names before it became a package: all must stay importable from both paths
FORMER_API = [
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
MODULES = [
    "tasks",
    "fields",
    "shapes",
    "probe",
    "bmode",
    "lesions",
    "patient",
    "breast",
    "thyroid",
    "cardiac",
    "dataset",
]


def test_former_names_are_importable_from_the_package_and_from_monai_ext_data():
    assert set(FORMER_API) <= set(phantom.__all__)
    for name in FORMER_API:
        assert getattr(monai_ext.data, name) is getattr(phantom, name), name
        assert name in monai_ext.data.__all__
    assert phantom.USCardiacParams is phantom.USCardiacPatient
    for name in ("USPhantomPatient", "USBreastPatient", "USThyroidPatient", "USCardiacPatient"):
        assert getattr(monai_ext.data, name) is getattr(phantom, name)


@pytest.mark.parametrize("module", MODULES)
def test_every_module_declares_its_public_names(module):
    mod = importlib.import_module(f"monai_ext.data.phantom.{module}")
    assert mod.__doc__ and len(mod.__doc__) > 200  # the model and its simplifications are stated
    assert mod.__all__ and all(not n.startswith("_") for n in mod.__all__)
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.{name}"
    # the package re-exports objects of the modules, not copies
    for name in set(mod.__all__) & set(phantom.__all__):
        assert getattr(phantom, name) is getattr(mod, name)
