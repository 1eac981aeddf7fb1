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

"""monai_ext.data."""

from __future__ import annotations

from .inference_inputs import IMAGE_SUFFIXES, list_inference_inputs, output_stem
from .layouts import (
    IMAGE_EXTENSIONS,
    LAYOUTS,
    DatasetListing,
    USDatasetError,
    USDatasetNotFoundError,
    check_image_file,
    check_listed_files,
    detect_layout,
    list_dataset,
    read_dataset_json,
)
from .phantom import (
    PHANTOM_GROUP_REGEX,
    PHANTOM_LABELS,
    PHANTOM_TASKS,
    PHANTOM_VERSION,
    USBreastPatient,
    USCardiacParams,
    USCardiacPatient,
    USImagingParams,
    USPhantomPatient,
    USProbeGeometry,
    USThyroidPatient,
    cardiac_contraction,
    make_cardiac_frame,
    make_cardiac_params,
    make_phantom_sample,
    speckle_envelope,
    task_labels,
    write_phantom_dataset,
)
from .prepare import phantom_dataset_dir, prepare_split_file, resolve_dataset_dir
from .splits import (
    SPLIT_FORMAT_VERSION,
    SPLIT_PARTS,
    USSplitError,
    build_split,
    default_split_path,
    import_txt_split,
    load_split,
    make_split_file,
    read_id_list,
    split_datalist,
    split_file_sha256,
)

__all__ = [
    "DatasetListing",
    "IMAGE_EXTENSIONS",
    "IMAGE_SUFFIXES",
    "LAYOUTS",
    "PHANTOM_GROUP_REGEX",
    "PHANTOM_LABELS",
    "PHANTOM_TASKS",
    "PHANTOM_VERSION",
    "SPLIT_FORMAT_VERSION",
    "SPLIT_PARTS",
    "USBreastPatient",
    "USCardiacParams",
    "USCardiacPatient",
    "USDatasetError",
    "USDatasetNotFoundError",
    "USImagingParams",
    "USPhantomPatient",
    "USProbeGeometry",
    "USSplitError",
    "USThyroidPatient",
    "build_split",
    "cardiac_contraction",
    "check_image_file",
    "check_listed_files",
    "default_split_path",
    "detect_layout",
    "import_txt_split",
    "list_dataset",
    "list_inference_inputs",
    "output_stem",
    "load_split",
    "phantom_dataset_dir",
    "make_cardiac_frame",
    "make_cardiac_params",
    "make_phantom_sample",
    "make_split_file",
    "prepare_split_file",
    "read_dataset_json",
    "read_id_list",
    "resolve_dataset_dir",
    "speckle_envelope",
    "split_datalist",
    "split_file_sha256",
    "task_labels",
    "write_phantom_dataset",
]

from .synthetic import (
    SYNTHETIC_MANIFEST_FORMAT,
    USSyntheticManifestError,
    load_synthetic_items,
    read_synthetic_manifest,
)

__all__ += ["SYNTHETIC_MANIFEST_FORMAT", "USSyntheticManifestError", "load_synthetic_items", "read_synthetic_manifest"]
