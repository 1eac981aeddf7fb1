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

"""Output names of the masks of DICOM clip frames; the frame-loading transforms' old import path.

- :func:`us_frame_name_formatter` names the saved masks of clip frames ``<stem>_f0007_mask.png`` (``SaveImaged``'s
  ``output_name_formatter``).
- :class:`USLoadImageFramed` and :class:`USRegionCropd` moved to :mod:`monai_ext.transforms.dicom_frames`; they are
  re-exported here so that configs naming ``monai_ext.inference.USLoadImageFramed`` keep working.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from monai.data.folder_layout import default_name_formatter

from monai_ext.data.inference_inputs import output_stem
from monai_ext.transforms.dicom_frames import USLoadImageFramed, USRegionCropd
from monai_ext.utils.meta import meta_scalar

__all__ = ["USLoadImageFramed", "USRegionCropd", "us_frame_name_formatter"]


def us_frame_name_formatter(metadict: dict, saver: Any) -> dict:
    """``SaveImage`` name formatter: ``<stem>_f0007`` for frame 7 (0-based) of a multi-frame DICOM, else the default.

    With ``output_postfix="mask"`` the masks of a clip become ``<stem>_f0000_mask.png``, ``<stem>_f0001_mask.png``,
    ...; single-frame DICOM and ordinary images keep ``<stem>_mask.png``. The stem is
    :func:`monai_ext.data.output_stem`, as in the collision check of :func:`monai_ext.data.list_inference_inputs`:
    the name without its image suffix, the whole name for extension-less files. The frame is the reader's
    ``frame_index`` (0-based, 4 digits; more for clips of 10000 frames or more).
    """
    kwargs = default_name_formatter(metadict, saver)
    if not metadict or "SOPInstanceUID" not in metadict:
        return kwargs
    name = str(meta_scalar(metadict.get("filename_or_obj", "")))
    if not name:
        return kwargs
    path = Path(name)
    stem = output_stem(path)
    n_frames = meta_scalar(metadict.get("NumberOfFrames", 1))
    frame = meta_scalar(metadict.get("frame_index"))
    if isinstance(n_frames, (int, np.integer)) and n_frames > 1 and isinstance(frame, (int, np.integer)):
        stem = f"{stem}_f{int(frame):04d}"
    # a ".dcm" suffix for FolderLayout to strip, so that UID-like stems ("1.2.840...") keep all their dots
    kwargs["subject"] = str(path.with_name(f"{stem}.dcm"))
    return kwargs
