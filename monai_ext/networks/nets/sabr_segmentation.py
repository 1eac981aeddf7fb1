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

"""Model C of SABR-Net: frozen shadow-masked encoder, ASPP, U-Net decoder and SegFix-style boundary refinement.

Re-implemented (no code copied) from the SABR bundle docs (``bundles/sabr_us_segmentation/docs/README.md``), which
describe the released ``finetune/model/model_segfix.py``. At 256 px and the defaults:

1. encoder: ``conv_first``, ``enc_conv`` and stages 0-2 of generator B (:class:`SABRMaskedEncoder`), run with
   ``mask=None``, all parameters frozen; weights transferred from the finetuned generator B by an explicit key mapping
   (:func:`sabr_encoder_state_from_generator`, :meth:`SABRSegmentationNet.load_generator_encoder`);
2. ASPP on the 16^2 x 128 middle map (:class:`~monai_ext.networks.blocks.SABRASPP`);
3. U-Net decoder (segmentation_models_pytorch-style blocks): 4 blocks ``nearest x2 -> cat[x, skip] -> (3x3 conv + BN
   + ReLU) x 2`` with the skips 32^2 (stage 1), 64^2 (stage 0), 128^2 (``enc_conv[0]``), 256^2 (``conv_first``), then a
   5th block ``conv3x3-BN-ReLU 128 -> C`` and a **plain 3x3 convolution with bias** C -> C (the coarse logits);
   ``legacy_relu_logits=True`` restores the public conv-BN-ReLU (non-negative logits, a bug of the public code);
4. ``boundary_refinement="segfix"`` (default): boundary (2) and direction (8) heads on the 3rd (up-sampled) and 4th
   decoder blocks and the one-pixel offset refinement (:mod:`monai_ext.networks.blocks.segfix`);
   ``boundary_refinement="eri"``: three chained edge-region-inpainting modules on the 4th decoder block, started from
   the confidence of the coarse logits (:mod:`monai_ext.networks.blocks.eri`; unverified against the paper).

Training mode returns ``(coarse, boundary, direction, refined)`` for SegFix (``(coarse, refined)`` for ERI); evaluation
mode returns the refined logits only, one (B, C, H, W) tensor. The evaluation forward has no data-dependent Python
control flow and exports to ONNX with a dynamic batch axis.

Parameters at the defaults with C = 2: 4,548,266 (the public inference path has 4,548,268; the plain last convolution
has 2 fewer), of which 2,027,818 trainable (public 2,027,820): encoder 2,520,448 (frozen), ASPP 186,624, decoder
1,773,866, heads 67,328. The unused modules of the public model (style decoder, mapping network, ``down_conv``,
stages 3-4) are not constructed.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from monai.networks.blocks import Convolution
from torch import nn

from monai_ext.networks.arg_checks import (
    check_choice,
    check_int_sequence,
    check_positive_int,
    check_probability,
    check_spatial_dims,
)
from monai_ext.networks.blocks.aspp import SABRASPP
from monai_ext.networks.blocks.eri import EdgeRegionInpainting
from monai_ext.networks.blocks.segfix import SegFixHeads, SegFixOffsetRefinement
from monai_ext.networks.nets.sabr_encoder import SABRMaskedEncoder

__all__ = [
    "SABRUNetDecoderBlock",
    "SABRUNetDecoder",
    "SABRSegmentationNet",
    "SABR_ENCODER_KEY_MAP",
    "sabr_encoder_state_from_generator",
]

_RELU = ("relu", {"inplace": True})

#: Explicit key mapping from generator B's state dict (prefix on the left) to model C's encoder (prefix on the right).
#: Keys of B outside these prefixes (up-sampling stages, style path, mapping, decoders) are not transferred.
SABR_ENCODER_KEY_MAP: Tuple[Tuple[str, str], ...] = (
    ("encoder.conv_first.", "conv_first."),
    ("encoder.enc_conv.", "enc_conv."),
    ("encoder.stages.", "stages."),
)


def _conv_bn_relu(in_channels: int, out_channels: int) -> Convolution:
    return Convolution(2, in_channels, out_channels, kernel_size=3, bias=False, norm="batch", act=_RELU)


class SABRUNetDecoderBlock(nn.Module):
    """``nearest x2 -> cat[x, skip] -> (3x3 conv + BN + ReLU) x 2`` (segmentation_models_pytorch ``DecoderBlock``)."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = _conv_bn_relu(in_channels + skip_channels, out_channels)
        self.conv2 = _conv_bn_relu(out_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[2:], mode="nearest")
        return self.conv2(self.conv1(torch.cat([x, skip], dim=1)))


class SABRUNetDecoder(nn.Module):
    """U-Net decoder of model C: up-sampling blocks with skips, then the logit block.

    Args:
        in_channels: channels of the deepest input (the ASPP output, 128).
        skip_channels: channels of the skips, deepest first (4 x 128).
        channels: output channels of the up-sampling blocks (4 x 128).
        out_channels: classes including background (C).
        legacy_relu_logits: end with conv-BN-ReLU (public code, non-negative logits) instead of a plain 3x3 conv.

    Returns (forward):
        ``(logits, block_outputs)``: (B, C, H, W) and the outputs of the up-sampling blocks, deepest first.
    """

    def __init__(
        self,
        in_channels: int = 128,
        skip_channels: Sequence[int] = (128, 128, 128, 128),
        channels: Sequence[int] = (128, 128, 128, 128),
        out_channels: int = 2,
        legacy_relu_logits: bool = False,
    ) -> None:
        super().__init__()
        skip_channels = check_int_sequence("SABRUNetDecoder", "skip_channels", skip_channels)
        channels = check_int_sequence("SABRUNetDecoder", "channels", channels, length=len(skip_channels))
        check_positive_int("SABRUNetDecoder", "out_channels", out_channels)
        ins = [in_channels] + channels[:-1]
        self.blocks = nn.ModuleList(SABRUNetDecoderBlock(i, s, o) for i, s, o in zip(ins, skip_channels, channels))
        last = (
            _conv_bn_relu(out_channels, out_channels)
            if legacy_relu_logits
            else nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=True)
        )
        self.head = nn.Sequential(_conv_bn_relu(channels[-1], out_channels), last)

    def forward(self, x: torch.Tensor, skips: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        if len(skips) != len(self.blocks):
            raise ValueError(f"SABRUNetDecoder: expected {len(self.blocks)} skips, got {len(skips)}.")
        outs: List[torch.Tensor] = []
        for block, skip in zip(self.blocks, skips):
            x = block(x, skip)
            outs.append(x)
        return self.head(x), outs


def _strip_module_prefix(state: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    if state and all(k.startswith("module.") for k in state):  # DistributedDataParallel / DataParallel wrapper
        return {k[len("module.") :]: v for k, v in state.items()}
    return dict(state)


def sabr_encoder_state_from_generator(
    generator: Union[nn.Module, Mapping[str, torch.Tensor]],
) -> Dict[str, torch.Tensor]:
    """The state dict of model C's encoder taken from generator B by :data:`SABR_ENCODER_KEY_MAP`.

    Args:
        generator: a :class:`~monai_ext.networks.nets.SABRGenerator` or its state dict (a ``module.`` prefix from a
            distributed wrapper is removed).

    Returns:
        ``{encoder key: tensor}`` for ``SABRSegmentationNet.encoder.load_state_dict``.

    Raises:
        ValueError: when no key of the generator's encoder is found (not a SABR generator state dict).
    """
    state = generator.state_dict() if isinstance(generator, nn.Module) else generator
    state = _strip_module_prefix(state)
    out: Dict[str, torch.Tensor] = {}
    for key, value in state.items():
        for src, dst in SABR_ENCODER_KEY_MAP:
            if key.startswith(src):
                out[dst + key[len(src) :]] = value
                break
    if not out:
        sample = ", ".join(list(state)[:3]) or "(empty)"
        raise ValueError(
            "sabr_encoder_state_from_generator: no key starts with 'encoder.conv_first.', 'encoder.enc_conv.' or "
            f"'encoder.stages.' (keys begin {sample}); pass a SABRGenerator or its state dict."
        )
    return out


class SABRSegmentationNet(nn.Module):
    """SABR-Net model C (stage 2b and inference).

    Args:
        spatial_dims: must be 2.
        in_channels: image channels (3).
        out_channels: classes including background (2 for one structure).
        dim: encoder width (128); must match the generator the encoder comes from.
        num_heads: encoder attention heads (8).
        depths: blocks of the encoder stages (2, 3, 4), as in the generator's first stages.
        window_sizes: windows of the encoder stages (8, 16, 16).
        num_downsamples: stride-2 partial convolutions of the encoder stem (2).
        decoder_channels: channels of the ASPP and of the U-Net decoder blocks (128).
        head_channels: hidden channels of the SegFix heads (128).
        aspp_dilations: dilations of the separable ASPP branches (12, 24, 36).
        aspp_dropout: dropout after the ASPP projection (0.5).
        boundary_refinement: ``"segfix"`` (default, the released pipeline) or ``"eri"`` (unverified alternative).
        eri_modules: chained ERI modules for ``"eri"`` (3).
        eri_max_iter: iterations of each ERI module (1).
        legacy_relu_logits: public last decoder layer (conv-BN-ReLU, non-negative logits).
        freeze_encoder: freeze the encoder parameters (True, as the public model).
        refine: evaluation forward returns the refined logits (True) or the coarse logits of the decoder without
            running the refinement (False; for the with/without-refinement comparison). Training is unaffected.
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 3,
        out_channels: int = 2,
        dim: int = 128,
        num_heads: int = 8,
        depths: Sequence[int] = (2, 3, 4),
        window_sizes: Sequence[int] = (8, 16, 16),
        num_downsamples: int = 2,
        decoder_channels: int = 128,
        head_channels: int = 128,
        aspp_dilations: Sequence[int] = (12, 24, 36),
        aspp_dropout: float = 0.5,
        boundary_refinement: str = "segfix",
        eri_modules: int = 3,
        eri_max_iter: int = 1,
        legacy_relu_logits: bool = False,
        freeze_encoder: bool = True,
        refine: bool = True,
    ) -> None:
        super().__init__()
        name = "SABRSegmentationNet"
        check_spatial_dims(name, spatial_dims)
        self.out_channels = check_positive_int(name, "out_channels", out_channels)
        check_positive_int(name, "decoder_channels", decoder_channels)
        check_probability(name, "aspp_dropout", aspp_dropout)
        self.boundary_refinement = check_choice(name, "boundary_refinement", boundary_refinement, ("segfix", "eri"))
        self.encoder = SABRMaskedEncoder(
            spatial_dims, in_channels, dim, num_heads, depths, window_sizes, num_downsamples, 2.0
        )
        self.num_downsamples = num_downsamples
        n_skips = num_downsamples + len(self.encoder.depths) - 1
        if n_skips < 2:
            raise ValueError(f"{name}: the decoder needs >= 2 skips (num_downsamples + stages - 1), got {n_skips}.")
        self.aspp = SABRASPP(dim, decoder_channels, aspp_dilations, aspp_dropout)
        self.decoder = SABRUNetDecoder(
            decoder_channels, [dim] * n_skips, [decoder_channels] * n_skips, out_channels, legacy_relu_logits
        )
        if self.boundary_refinement == "segfix":
            self.heads = SegFixHeads(2 * decoder_channels, head_channels, 8)
            self.refiner = SegFixOffsetRefinement()
        else:
            check_positive_int(name, "eri_modules", eri_modules)
            if out_channels < 2:
                raise ValueError(f"{name}: boundary_refinement='eri' needs out_channels >= 2, got {out_channels}.")
            self.eri = nn.ModuleList(
                EdgeRegionInpainting(decoder_channels, out_channels, eri_max_iter) for _ in range(eri_modules)
            )
        self.refine = bool(refine)
        self.freeze_encoder = bool(freeze_encoder)
        if self.freeze_encoder:
            self.encoder.requires_grad_(False)

    def train(self, mode: bool = True) -> "SABRSegmentationNet":
        super().train(mode)
        if self.freeze_encoder:
            self.encoder.eval()  # frozen: behaves as at inference whatever the mode
        return self

    def load_generator_encoder(self, generator: Union[nn.Module, Mapping[str, torch.Tensor]]) -> None:
        """Copy the encoder weights of generator B (module or state dict) into this model's encoder.

        Raises:
            ValueError: when a key is missing or a shape differs (e.g. a generator of another ``dim``).
        """
        state = sabr_encoder_state_from_generator(generator)
        own = self.encoder.state_dict()
        missing = [k for k in own if k not in state]
        if missing:
            raise ValueError(
                f"SABRSegmentationNet: the generator lacks {len(missing)} encoder weights (first: {missing[0]!r}); "
                "its depths / num_downsamples must match model C's encoder."
            )
        for k, v in own.items():
            if tuple(state[k].shape) != tuple(v.shape):
                raise ValueError(
                    f"SABRSegmentationNet: encoder weight {k!r} has shape {tuple(state[k].shape)} in the generator "
                    f"but {tuple(v.shape)} here; build model C with the generator's dim / in_channels."
                )
        self.encoder.load_state_dict({k: state[k] for k in own}, strict=True)

    def forward(self, x: torch.Tensor):
        """``x``: (B, in_channels, H, W) in [-1, 1], H and W multiples of 16 (token maps fitting the windows).

        Returns:
            training: ``(coarse, boundary, direction, refined)`` (SegFix) or ``(coarse, refined)`` (ERI);
            evaluation: the refined logits (B, out_channels, H, W); the coarse logits with ``refine=False``.
        """
        self.encoder.check_input(x, None, owner="SABRSegmentationNet")
        feats = self.encoder(x)
        nd = self.num_downsamples
        skips = feats[:nd] + feats[nd + 1 : -1]  # conv_first, enc_conv[:-1], stages[:-1]: shallowest first
        coarse, blocks = self.decoder(self.aspp(feats[-1]), skips[::-1])
        if not self.training and not self.refine:
            return coarse
        if self.boundary_refinement == "segfix":
            boundary, direction = self.heads([blocks[-2], blocks[-1]])
            refined = self.refiner(coarse, boundary, direction)
            if self.training:
                return coarse, boundary, direction, refined
            return refined
        feature, refined = blocks[-1], coarse
        for module in self.eri:
            feature, refined = module(feature, module.confidence(refined))
        if self.training:
            return coarse, refined
        return refined
