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
the maps are sampled on the beam grid of the probe, speckle is formed by scatterers convolved with the
point-spread function at baseband, attenuation, noise and imperfect time-gain compensation are applied, and the
envelope is log-compressed to 8 bits and scan-converted, black outside the field of view. Gain, dynamic range, PSF
size, focus, attenuation, TGC error and noise are drawn per image; anatomy (layers, lesion shape, size, position
and contrast) per patient, with small changes between the 1-3 views of a patient. Everything is vectorised
numpy/scipy and deterministic for a seed.

Modules (each states its own model and simplifications):

- :mod:`.tasks`: tasks, label tables, version, argument checks.
- :mod:`.fields`, :mod:`.shapes`: smooth random fields, soft masks and star-shaped regions.
- :mod:`.probe`: probe fields of view and beam grids; :mod:`.bmode`: speckle and B-mode image formation.
- :mod:`.lesions`: focal lesions and nodules (breast and thyroid).
- :mod:`.patient`: the patient types, one per task, all :class:`USPhantomPatient`.
- :mod:`.breast`, :mod:`.thyroid`, :mod:`.cardiac`: sample, view and render a patient of each task.
- :mod:`.dataset`: samples in memory and dataset folders.

Public API:

- :func:`write_phantom_dataset` writes ``DIR/images/<id>.png``, ``DIR/masks/<id>.png`` and ``DIR/dataset.json``
  (data contract of the project); ids are ``p%04d_%02d`` (patient, view) with 1-3 views per patient.
- :func:`make_phantom_sample` renders one independent sample in memory.
- :func:`make_cardiac_params` and :func:`make_cardiac_frame` render one cardiac anatomy at any phase of the
  cardiac cycle (for cine clips): the same :class:`USCardiacPatient` (formerly ``USCardiacParams``, still
  importable) gives the same anatomy, texture and (mostly) the same speckle at every phase, the LV contracts from
  end diastole (phase 0) to end systole (``params.es_phase``) and relaxes back, periodic in phase.
- :func:`task_labels` is the label table of a task (the bundles' ``labels``).
- :func:`speckle_envelope` is the speckle kernel used by the renderer (exposed for tests and other simulators).
- :class:`USPhantomPatient` and its task types :class:`USBreastPatient`, :class:`USThyroidPatient`,
  :class:`USCardiacPatient` are the typed patient parameters of every task.
"""

from __future__ import annotations

from .bmode import USImagingParams, speckle_envelope
from .cardiac import cardiac_contraction, make_cardiac_frame, make_cardiac_params
from .dataset import make_phantom_sample, write_phantom_dataset
from .patient import (
    PHANTOM_PATIENT_TYPES,
    USBreastPatient,
    USCardiacParams,
    USCardiacPatient,
    USPhantomPatient,
    USThyroidPatient,
)
from .probe import USProbeGeometry
from .tasks import PHANTOM_GROUP_REGEX, PHANTOM_LABELS, PHANTOM_TASKS, PHANTOM_VERSION, task_labels

__all__ = [
    "PHANTOM_TASKS",
    "PHANTOM_LABELS",
    "PHANTOM_GROUP_REGEX",
    "PHANTOM_VERSION",
    "PHANTOM_PATIENT_TYPES",
    "USProbeGeometry",
    "USImagingParams",
    "USPhantomPatient",
    "USBreastPatient",
    "USThyroidPatient",
    "USCardiacPatient",
    "USCardiacParams",
    "speckle_envelope",
    "cardiac_contraction",
    "make_cardiac_params",
    "make_cardiac_frame",
    "make_phantom_sample",
    "write_phantom_dataset",
    "task_labels",
]
