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
"""MONAI's ``PILWriter`` with atomic files: inference's PNG masks appear whole or not at all, and say who wrote them.

``SaveImaged(writer="monai_ext.io.USAtomicPILWriter", ...)`` writes each mask to a hidden temporary name in the
output folder and renames it into place (:func:`monai_ext.utils.atomic_output`), so a crash or a kill never leaves a
truncated ``*_mask.png``. PNGs get a ``Software`` text chunk (``monai_ext <version>``): a later inference run
recognises them as our outputs and does not take them as inputs (:func:`monai_ext.data.list_inference_inputs`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from monai.config import PathLike
from monai.data import PILWriter
from PIL.PngImagePlugin import PngInfo

from monai_ext.utils.atomic import atomic_output

__all__ = ["OUTPUT_SOFTWARE_TAG", "USAtomicPILWriter"]

OUTPUT_SOFTWARE_TAG = "monai_ext"
"""First word of the ``Software`` text chunk of the PNGs we write."""

logger = logging.getLogger(__name__)


class USAtomicPILWriter(PILWriter):
    """``monai.data.PILWriter`` that writes to a temporary sibling and renames it onto the final name.

    Everything else (dtype, scale, ``reverse_indexing``, ``image_mode``) is MONAI's; PNG files also carry the text
    chunk ``Software = "monai_ext <version>"`` unless ``pnginfo`` is passed.
    """

    def write(self, filename: PathLike, verbose: bool = False, **kwargs) -> None:
        """Write the image to ``filename`` atomically (see the class docstring)."""
        final = Path(filename)
        if final.suffix.lower() == ".png" and "pnginfo" not in kwargs:
            from monai_ext import __version__

            info = PngInfo()
            info.add_text("Software", f"{OUTPUT_SOFTWARE_TAG} {__version__}")
            kwargs["pnginfo"] = info
        if verbose:
            logger.info(f"writing: {final}")
        with atomic_output(final) as tmp:
            super().write(tmp, verbose=False, **kwargs)
