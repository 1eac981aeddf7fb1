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

"""monai_ext.networks.nets."""

from __future__ import annotations

from .cct_unet import CCTUNet, USUNet, USUNetDecoder, USUNetEncoder
from .mgcc import MGCCDecoder, MGCCEncoder, MGCCNet
from .msmo import MSMOEncoder, MSMOHConvLSTMDecoder, MSMONet, MSMOResidualBlock
from .sabr_discriminators import SABRDiscriminatorResBlock, SABRImageDiscriminator, SABRMaskDiscriminator
from .sabr_encoder import SABRMaskedEncoder, check_sabr_token_sizes
from .sabr_generator import SABRGenerator, SABRStyleDecoder
from .sabr_segmentation import (
    SABR_ENCODER_KEY_MAP,
    SABRSegmentationNet,
    SABRUNetDecoder,
    SABRUNetDecoderBlock,
    sabr_encoder_state_from_generator,
)

__all__ = ["CCTUNet", "USUNet", "USUNetDecoder", "USUNetEncoder", "MGCCDecoder", "MGCCEncoder", "MGCCNet"]
__all__ += ["MSMOEncoder", "MSMOHConvLSTMDecoder", "MSMONet", "MSMOResidualBlock"]
__all__ += ["SABRMaskedEncoder", "check_sabr_token_sizes", "SABRGenerator", "SABRStyleDecoder"]
__all__ += ["SABRDiscriminatorResBlock", "SABRImageDiscriminator", "SABRMaskDiscriminator"]
__all__ += ["SABRSegmentationNet", "SABRUNetDecoder", "SABRUNetDecoderBlock", "SABR_ENCODER_KEY_MAP"]
__all__ += ["sabr_encoder_state_from_generator"]
