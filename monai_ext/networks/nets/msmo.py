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

"""MSMO: Multi-Scale Multi-Object semi-supervised consistency network (Guo, Liu et al., Neural Networks).

Re-implemented from the description of lol88/MSMO (HEAD ``b67d6ec``; no licence, no code copied) in
docs/methods/msmo.md, "Network":

- encoder: five residual blocks (conv3×3-BN-ReLU-conv3×3-BN plus an always-present conv1×1-BN shortcut, then ReLU),
  widths ``16·dim_mult·(1, 2, 4, 8, 16)`` (64..1024 at ``dim_mult=4``), 2×2 max-pooling between them;
- bottleneck, taps, perturbations, four decoders and train/eval outputs exactly as MGCC
  (:class:`~monai_ext.networks.nets.MGCCNet`);
- decoders, all four of the same type (docs/methods/msmo.md, "Decoders"):

  - ``decoder="hconvlstm"`` (default, the paper's method, :class:`MSMOHConvLSTMDecoder`): ConvLSTM cells at 1/16 ..
    1/2 scale fed by MSAG-gated skips; the objects are decoded one after the other, each starting every level from the
    state of the previous object at that level; one head shared by all objects; one logit map per object.
  - ``decoder="unet_msag"`` (what the public ``train.py`` actually trains): the U-Net + MSAG decoder of MGCC
    (:class:`~monai_ext.networks.nets.MGCCDecoder`) with ``out_channels`` logit maps.

Parameters at ``dim_mult=4`` (docs/methods/msmo.md, "Parameter counts"; independent of the number of objects for
HConvLSTM):

======================================================  ================  ===============
configuration                                           training graph    inference graph
======================================================  ================  ===============
``hconvlstm`` (4 levels, no msag1; default)             235,086,660       80,894,913
``hconvlstm``, ``legacy_unused_msag1=True``              235,450,180       80,985,793
``hconvlstm``, ``hconvlstm_levels=5``                     236,131,908       81,156,225
``unet_msag``, 1 object / 3 objects                     122,885,444 /     52,844,609 /
                                                        122,885,964       52,844,739
======================================================  ================  ===============

Public-code bugs not reproduced (docs/methods/msmo.md, "Public-code bugs not reproduced"): the ConvLSTM decoders are not
overwritten by U-Net decoders (the decoder is a named switch); ConvLSTM zero states are created on the input's device
and dtype (no ``.cuda()``); by default the unused MSAG of ``x1`` is not constructed (``legacy_unused_msag1=True``
restores it, computed and discarded).
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from monai.networks.blocks import Convolution
from monai.networks.layers.factories import Conv, Pool
from torch import nn

from monai_ext.networks.arg_checks import check_features, check_positive_int, check_spatial_dims, stage_widths
from monai_ext.networks.blocks.convlstm import MSMOConvLSTMCell
from monai_ext.networks.blocks.dense_gradient import dense_gradient
from monai_ext.networks.blocks.msag import MSAGBlock
from monai_ext.networks.nets.mgcc import MGCCDecoder
from monai_ext.networks.nets.multi_level_consistency import MultiLevelConsistencyNet
from monai_ext.utils.flags import parse_flag

__all__ = ["MSMOResidualBlock", "MSMOEncoder", "MSMOHConvLSTMDecoder", "MSMONet"]

_RELU = ("relu", {"inplace": True})
_DECODERS = ("hconvlstm", "unet_msag")


class MSMOResidualBlock(nn.Module):
    """Residual block of the MSMO encoder: ``ReLU(BN(conv3(ReLU(BN(conv3(x))))) + BN(conv1(x)))``.

    The 1×1 conv + BN projection shortcut is always present, also when ``in_channels == out_channels`` (as the public
    code); every convolution has a bias. ``10·in·out + 9·out² + 9·out`` parameters.

    Args:
        spatial_dims: number of spatial dimensions (2 or 3).
        in_channels: number of input channels.
        out_channels: number of output channels.
    """

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"MSMOResidualBlock: spatial_dims must be 2 or 3, got {spatial_dims!r}.")
        check_positive_int("MSMOResidualBlock", "in_channels", in_channels)
        check_positive_int("MSMOResidualBlock", "out_channels", out_channels)
        self.conv1 = Convolution(spatial_dims, in_channels, out_channels, kernel_size=3, act=_RELU, norm="batch")
        self.conv2 = Convolution(spatial_dims, out_channels, out_channels, kernel_size=3, act=None, norm="batch")
        self.shortcut = Convolution(spatial_dims, in_channels, out_channels, kernel_size=1, act=None, norm="batch")
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


class MSMOEncoder(nn.Module):
    """The MSMO encoder: five residual blocks with 2×2 max-pooling in between.

    19,553,600 parameters at the default widths (3 input channels).

    Args:
        spatial_dims: must be 2.
        in_channels: number of input channels.
        features: widths of the five stages. Default (64, 128, 256, 512, 1024).

    Returns (forward):
        the five stage outputs ``[x1, x2, x3, x4, x5]``, shallowest first.
    """

    def __init__(
        self, spatial_dims: int = 2, in_channels: int = 3, features: Sequence[int] = (64, 128, 256, 512, 1024)
    ) -> None:
        super().__init__()
        check_spatial_dims("MSMOEncoder", spatial_dims)
        check_positive_int("MSMOEncoder", "in_channels", in_channels)
        fea = check_features("MSMOEncoder", features)
        self.stem = MSMOResidualBlock(spatial_dims, in_channels, fea[0])
        self.downs = nn.ModuleList(
            nn.Sequential(
                Pool[Pool.MAX, spatial_dims](kernel_size=2), MSMOResidualBlock(spatial_dims, fea[i], fea[i + 1])
            )
            for i in range(4)
        )

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        x = self.stem(x)
        out: List[torch.Tensor] = [x]
        for down in self.downs:
            x = down(x)
            out.append(x)
        return out


class MSMOHConvLSTMDecoder(nn.Module):
    """Hierarchical ConvLSTM decoder with object-to-object recurrence (MSMO "HConvLSTM", docs/methods/msmo.md,
    "HConvLSTM decoder").

    ``forward([x1, x2, x3, x4, x5])`` returns (B, out_channels, H, W) logits, channel ``t`` = object ``t``:

    1. the skips are gated once per call: ``MSAG(x4), MSAG(x3), MSAG(x2)`` (and ``MSAG(x1)`` with 5 levels);
    2. objects ``t = 0 .. out_channels - 1`` are decoded in order by :meth:`decode_object`. Level ``i`` is a ConvLSTM
       cell at ``1 / 2**(4 - i)`` of the input size with hidden size ``features[3 - i]`` (512, 256, 128, 64 at the
       default widths; ``features[0] // 2`` for a fifth level). Level 0 takes ``x5``; level ``i > 0`` takes
       ``cat[up(drop(h_{i-1})), gated skip]``, where ``drop`` is dropout (training only) and ``up`` bilinear
       interpolation with ``align_corners=True`` to the skip's size. The output of the last level is ``drop(h)``,
       up-sampled ×2 with 4 levels (``x1`` is not used, as the public code), used as is with 5 levels;
    3. each cell of object ``t`` starts from the un-dropped ``(h, c)`` of object ``t - 1`` at the same level (zeros for
       object 0);
    4. one head shared by all objects (conv3×3 ``hid -> hid / 2`` - BN - ReLU - conv3×3 ``hid / 2 -> 1``) gives one
       logit map per object; the maps are concatenated along channels.

    Objects differ only by their position in the sequence, so the channel order is the recurrence order.

    Speed: :meth:`forward` computes the same recurrence as a loop over :meth:`decode_object` (the readable reference),
    but splits each gate convolution by input channel (:meth:`MSMOConvLSTMCell.split_weight`, no change to the
    weights): the part acting on the object-independent input (``x5`` at level 0, the gated skip at the other levels)
    plus the bias is convolved once per call, and per object only ``cat[up(drop(h_{i-1})), h_prev]``. With three
    objects this removes about a third of the gate multiply-adds (level 0 of object 0 needs no convolution at all).

    Parameters at the default widths: 51,397,249 (4 levels), 51,488,129 (``legacy_unused_msag1``), 51,658,561
    (5 levels), for any number of objects.

    Args:
        spatial_dims: must be 2.
        out_channels: number of objects (one logit map each).
        features: widths of the five encoder stages ``x1 .. x5``. Default (64, 128, 256, 512, 1024).
        levels: 4 (the public topology, default) or 5 (a fifth level at full resolution gated with ``MSAG(x1)``, the
            RVOS-faithful variant of docs/methods/msmo.md, "HConvLSTM decoder").
        legacy_unused_msag1: with 4 levels, also construct the MSAG of ``x1`` and compute it in every forward pass, then
            discard its output, as the public code (its parameters never get a gradient: DDP then needs
            ``find_unused_parameters=True``). Default False.
        dropout: dropout probability on the hidden state sent upwards. Default 0.3.
        kernel_size: odd kernel size of the ConvLSTM gate convolutions. Default 3.
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        out_channels: int = 1,
        features: Sequence[int] = (64, 128, 256, 512, 1024),
        levels: int = 4,
        legacy_unused_msag1: bool = False,
        dropout: float = 0.3,
        kernel_size: int = 3,
    ) -> None:
        super().__init__()
        name = "MSMOHConvLSTMDecoder"
        check_spatial_dims(name, spatial_dims)
        check_positive_int(name, "out_channels", out_channels)
        fea = check_features(name, features)
        if levels not in (4, 5) or isinstance(levels, bool):
            raise ValueError(f"{name}: levels must be 4 or 5, got {levels!r}.")
        if legacy_unused_msag1 and levels != 4:
            raise ValueError(f"{name}: legacy_unused_msag1 applies to 4 levels only (5 levels use MSAG(x1)).")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"{name}: dropout must be in [0, 1), got {dropout!r}.")
        hidden = [fea[3], fea[2], fea[1], fea[0]] + ([fea[0] // 2] if levels == 5 else [])
        if hidden[-1] < 2:
            raise ValueError(f"{name}: features[0] is too small for {levels} levels (last hidden size {hidden[-1]}).")
        self.out_channels = out_channels
        self.levels = levels
        self.legacy_unused_msag1 = parse_flag(legacy_unused_msag1, "legacy_unused_msag1")
        # skips in consumption order x4, x3, x2 (, x1); feature index 3 - i for level i + 1
        self.gates = nn.ModuleList(MSAGBlock(spatial_dims, fea[3 - i]) for i in range(levels - 1))
        self.unused_gates = nn.ModuleList([MSAGBlock(spatial_dims, fea[0])] if self.legacy_unused_msag1 else [])
        cell_inputs = [fea[4]] + [hidden[i - 1] + fea[4 - i] for i in range(1, levels)]
        self.cells = nn.ModuleList(
            MSMOConvLSTMCell(spatial_dims, cell_inputs[i], hidden[i], kernel_size) for i in range(levels)
        )
        self.dropout = nn.Dropout(float(dropout))
        self.head = nn.Sequential(
            Convolution(spatial_dims, hidden[-1], hidden[-1] // 2, kernel_size=3, act=_RELU, norm="batch"),
            Conv[Conv.CONV, spatial_dims](hidden[-1] // 2, 1, kernel_size=3, padding=1),
        )

    def gate_skips(self, features: List[torch.Tensor]) -> List[torch.Tensor]:
        """MSAG-gated skips in consumption order ``[MSAG(x4), MSAG(x3), MSAG(x2)(, MSAG(x1))]``, once per forward."""
        skips: List[torch.Tensor] = []
        for i, gate in enumerate(self.gates):
            skips.append(gate(features[3 - i]))
        for gate in self.unused_gates:
            gate(features[0])  # legacy: computed and discarded, as the public code
        return skips

    def decode_object(
        self, x5: torch.Tensor, skips: List[torch.Tensor], states: List[Tuple[torch.Tensor, torch.Tensor]]
    ) -> Tuple[torch.Tensor, List[Tuple[torch.Tensor, torch.Tensor]]]:
        """Decode one object.

        Args:
            x5: the deepest feature (B, features[4], H/16, W/16), the level-0 input of every object.
            skips: the gated skips from :meth:`gate_skips`.
            states: the previous object's ``(h, c)`` per level, or an empty list for the first object.

        Returns:
            the object's logits (B, 1, H, W) and its un-dropped ``(h, c)`` per level (the next object's initial state).
        """
        if len(skips) != self.levels - 1:
            raise ValueError(f"MSMOHConvLSTMDecoder: expected {self.levels - 1} gated skips, got {len(skips)}.")
        if len(states) != 0 and len(states) != self.levels:
            raise ValueError(
                f"MSMOHConvLSTMDecoder: states must be empty or hold one (h, c) per level ({self.levels}), "
                f"got {len(states)}."
            )
        new_states: List[Tuple[torch.Tensor, torch.Tensor]] = []
        inp = x5
        for i, cell in enumerate(self.cells):
            prev: Optional[Tuple[torch.Tensor, torch.Tensor]] = None
            if len(states) > 0:
                prev = states[i]
            h, c = cell(inp, prev)
            new_states.append((h, c))
            # dropout only on the upward path; the state handed to the next object stays un-dropped
            up = self.dropout(h)
            if i < self.levels - 1:
                skip = skips[i]
                up = F.interpolate(up, size=skip.shape[2:], mode="bilinear", align_corners=True)
                inp = torch.cat([up, skip], dim=1)
            elif self.levels == 4:
                inp = F.interpolate(up, scale_factor=2.0, mode="bilinear", align_corners=True)
            else:
                inp = up
        return self.head(inp), new_states

    def forward(self, features: List[torch.Tensor]) -> torch.Tensor:
        if len(features) != 5:
            raise ValueError(f"MSMOHConvLSTMDecoder: expected 5 features [x1, x2, x3, x4, x5], got {len(features)}.")
        skips = self.gate_skips(features)
        x5 = features[4]
        # The gate convolution of level i acts on cat[object input, h_prev]; its object-independent part (x5 at level
        # 0, the gated skip at levels > 0) and the bias are the same for every object, so they are convolved once here
        # with the matching columns of the (unchanged) gate weight; per object only the up-sampled hidden state and
        # h_prev are convolved. Same parameters and result as decode_object, up to floating-point rounding.
        shared: List[torch.Tensor] = []
        w_obj: List[torch.Tensor] = []
        n_up: List[int] = []
        for i, cell in enumerate(self.cells):
            src = x5 if i == 0 else skips[i - 1]
            start = cell.in_channels - src.shape[1]
            w_src, w_rest = cell.split_weight(start, cell.in_channels)
            shared.append(cell.gate_conv(src, w_src, cell.conv.bias))
            w_obj.append(w_rest)
            n_up.append(start)
        h_prev: List[torch.Tensor] = []
        c_prev: List[torch.Tensor] = []
        logits: List[torch.Tensor] = []
        for t in range(self.out_channels):
            h_new: List[torch.Tensor] = []
            c_new: List[torch.Tensor] = []
            up = x5  # placeholder: level 0 has no per-object input besides h_prev
            for i, lstm in enumerate(self.cells):
                gates = shared[i]
                if t == 0:
                    if i > 0:  # zero state: only the up-sampled hidden state of the level below
                        gates = gates + lstm.gate_conv(up, w_obj[i][:, : n_up[i]], None)
                    h, c = lstm.pointwise(gates, None)
                else:
                    # dense gradients for the up-sampling and LSTM backward (slow on channel slices, see dense_gradient)
                    inp = h_prev[i] if i == 0 else torch.cat([dense_gradient(up), dense_gradient(h_prev[i])], dim=1)
                    gates = gates + lstm.gate_conv(inp, w_obj[i], None)
                    h, c = lstm.pointwise(gates, c_prev[i])
                h_new.append(h)
                c_new.append(c)
                # dropout only on the upward path; the state handed to the next object stays un-dropped
                hd = self.dropout(h)
                if i < self.levels - 1:
                    up = F.interpolate(hd, size=skips[i].shape[2:], mode="bilinear", align_corners=True)
                elif self.levels == 4:
                    up = F.interpolate(hd, scale_factor=2.0, mode="bilinear", align_corners=True)
                else:
                    up = hd
            logits.append(dense_gradient(self.head(up)))
            h_prev, c_prev = h_new, c_new
        if len(logits) == 1:
            return logits[0]
        return torch.cat(logits, dim=1)


class MSMONet(MultiLevelConsistencyNet):
    """The MSMO network: residual encoder, three tapped ConvMixer blocks, a main and three perturbed auxiliary decoders.

    Training mode returns ``(main, aux1, aux2, aux3)`` logits, each (B, out_channels, H, W); evaluation mode returns the
    main logits only and computes no auxiliary decoder. One independent sigmoid per object channel is applied outside
    the network (no background channel). Taps and perturbations as MGCC: aux1 gets the encoder output (0 ConvMixer
    layers) with feature dropout, aux2 the output of ConvMixer1 with dropout p = 0.3, aux3 the output of ConvMixer2
    with feature noise U(-0.3, 0.3), each perturbation applied to all five features; the main decoder gets the clean
    output of ConvMixer3. Height and width must be divisible by 16.

    Args:
        spatial_dims: must be 2.
        in_channels: number of input channels (3: grey ultrasound replicated).
        out_channels: number of objects C (one logit map each). With ``"hconvlstm"`` the channel order is the order in
            which the objects are decoded.
        decoder: ``"hconvlstm"`` (default; :class:`MSMOHConvLSTMDecoder`, the method) or ``"unet_msag"`` (the U-Net +
            MSAG decoder the public code trains, :class:`~monai_ext.networks.nets.MGCCDecoder`).
        dim_mult: width multiplier (any positive number); stage widths are ``round(16 * dim_mult * (1, 2, 4, 8, 16))``:
            64..1024 at the published 4, 8..128 at 0.5 (a CPU preset).
        kernel_size: odd depthwise kernel size of the ConvMixer layers.
        length: numbers of layers of the three ConvMixer blocks (three positive ints).
        hconvlstm_levels: 4 (default, the public topology) or 5; ``"hconvlstm"`` only.
        legacy_unused_msag1: construct and compute the unused MSAG of ``x1`` (4 levels); ``"hconvlstm"`` only.
        checkpoint_aux_decoders: run each auxiliary branch under :func:`torch.utils.checkpoint.checkpoint` in training
            (activations recomputed in backward; random draws replayed identically), as :class:`MGCCNet`. Useful with
            HConvLSTM, whose activation memory grows with the number of objects.
        checkpoint_main_decoder: also run the main decoder under activation checkpointing in training (the least
            memory; one more decoder forward per step), as :class:`MGCCNet`.
        features: explicit widths of the five encoder stages (the ConvMixer width is the last); overrides `dim_mult`.

    The forward pass (taps, perturbations, optional checkpointing, eval path) and :meth:`parameter_count` are those of
    :class:`~monai_ext.networks.nets.multi_level_consistency.MultiLevelConsistencyNet`, shared with MGCC.

    Performance: the network keeps the memory format of its input (``channels_last`` works end to end). HConvLSTM
    compute grows linearly with the number of objects (docs/methods/msmo.md, "Parameter counts"). In channels-last
    training the concatenated features and the ConvLSTM gates pass dense gradients backwards (as :class:`MGCCNet`; the
    gate activations are split, not sliced, so the gate convolution's gradient stays channels-last), which matters most
    under bfloat16 autocast (``--amp true``); no option is needed and no value changes.
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 3,
        out_channels: int = 1,
        decoder: str = "hconvlstm",
        dim_mult: float = 4,
        kernel_size: int = 7,
        length: Sequence[int] = (3, 3, 3),
        hconvlstm_levels: int = 4,
        legacy_unused_msag1: bool = False,
        checkpoint_aux_decoders: bool = False,
        checkpoint_main_decoder: bool = False,
        features: Optional[Sequence[int]] = None,
    ) -> None:
        legacy_unused_msag1 = parse_flag(legacy_unused_msag1, "legacy_unused_msag1")
        check_spatial_dims("MSMONet", spatial_dims)
        check_positive_int("MSMONet", "in_channels", in_channels)
        check_positive_int("MSMONet", "out_channels", out_channels)
        if decoder not in _DECODERS:
            raise ValueError(f"MSMONet: decoder must be one of {_DECODERS}, got {decoder!r}.")
        if decoder == "unet_msag" and (hconvlstm_levels != 4 or legacy_unused_msag1):
            raise ValueError(
                "MSMONet: hconvlstm_levels and legacy_unused_msag1 apply to decoder='hconvlstm' only, got "
                f"decoder='unet_msag' with hconvlstm_levels={hconvlstm_levels!r}, "
                f"legacy_unused_msag1={legacy_unused_msag1!r}."
            )
        if isinstance(length, str) or not isinstance(length, Sequence) or len(length) != 3:
            raise ValueError(f"MSMONet: length must be three positive ints (layers per ConvMixer), got {length!r}.")
        for n in length:
            check_positive_int("MSMONet", "each of length", n)
        features = stage_widths("MSMONet", dim_mult, features)

        def make_decoder() -> nn.Module:
            if decoder == "unet_msag":
                return MGCCDecoder(spatial_dims, out_channels, features)
            return MSMOHConvLSTMDecoder(
                spatial_dims, out_channels, features, levels=hconvlstm_levels, legacy_unused_msag1=legacy_unused_msag1
            )

        super().__init__(
            name="MSMONet",
            spatial_dims=spatial_dims,
            in_channels=in_channels,
            encoder=MSMOEncoder(spatial_dims, in_channels, features),
            make_decoder=make_decoder,
            bottleneck_channels=features[4],
            kernel_size=kernel_size,
            length=length,
            checkpoint_aux_decoders=checkpoint_aux_decoders,
            checkpoint_main_decoder=checkpoint_main_decoder,
        )
        self.decoder_name = decoder
