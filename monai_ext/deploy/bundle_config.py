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

"""A bundle's ``inference.json`` as a MONAI ``ConfigParser``: what export, calibration and the agreement check share."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

__all__ = ["read_inference_config", "network_input_shape"]


def read_inference_config(bundle_dir: str | os.PathLike, overrides: Optional[Mapping[str, Any]] = None):
    """Parse ``<bundle>/configs/inference.json`` (with ``metadata.json``) with ``bundle_root`` and ``overrides`` set.

    Args:
        bundle_dir: the bundle folder.
        overrides: config ids -> values, applied after ``bundle_root`` (e.g. ``{"image_size": [64, 64]}``).

    Returns:
        a ``monai.bundle.ConfigParser``; read items with ``get_parsed_content``.

    Raises:
        FileNotFoundError: the bundle has no ``configs/inference.json``.
    """
    from monai.bundle import ConfigParser

    bundle = Path(bundle_dir).expanduser().resolve()
    config = bundle / "configs" / "inference.json"
    if not config.is_file():
        raise FileNotFoundError(f"{config}: no inference config in bundle {bundle}.")
    parser = ConfigParser()
    parser.read_config(str(config))
    meta = bundle / "configs" / "metadata.json"
    if meta.is_file():
        parser.read_meta(str(meta))
    parser["bundle_root"] = str(bundle)
    for key, value in dict(overrides or {}).items():
        parser[key] = value
    return parser


def network_input_shape(parser, batch: int = 1) -> list[int]:
    """The network input (batch, C, H, W) of an inference config: ``in_channels`` and ``image_size``, else metadata.

    Raises:
        ValueError: neither the config nor its metadata gives the channels and the spatial size.
    """
    meta_in = "_meta_#network_data_format#inputs#image"
    channels = parser.get_parsed_content("in_channels", default=None)
    if channels is None:
        channels = parser.get_parsed_content(f"{meta_in}#num_channels", default=None)
    size = parser.get_parsed_content("image_size", default=None)
    if size is None:
        size = parser.get_parsed_content(f"{meta_in}#spatial_shape", default=None)
    if channels is None or not size:
        raise ValueError("inference config: cannot tell the network input; set in_channels and image_size.")
    return [int(batch), int(channels), *(int(s) for s in size)]
