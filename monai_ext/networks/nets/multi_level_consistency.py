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

"""Shared skeleton of the multi-level global-context cross-consistency networks (MGCC and MSMO).

Both networks (docs/methods/mgcc.md and docs/methods/msmo.md, "Network") are: a five-stage encoder ``[x1 .. x5]``; three
ConvMixer blocks applied in sequence to ``x5`` and tapped after 0, ``length[0]``, ``length[0] + length[1]`` and all
layers; a main decoder fed the clean features with the deepest tap; three auxiliary decoders fed perturbed copies of all
five features (aux1: feature dropout on the 0-layer tap, aux2: dropout p = 0.3 on the first tap, aux3: feature noise
U(-0.3, 0.3) on the second). They differ only in the encoder and in the decoder type, which a subclass passes to
:class:`MultiLevelConsistencyNet`; the forward pass (taps, perturbations, optional activation checkpointing of the
auxiliary branches, eval path through the main decoder only), :meth:`~MultiLevelConsistencyNet.forward_all_heads` (all
four heads on clean features, for the decoder-disagreement uncertainty map of ``docs/uncertainty.md``) and
:meth:`~MultiLevelConsistencyNet.parameter_count` live here once.

Module names (and therefore ``state_dict`` keys) are fixed: ``encoder``, ``convmixer1`` .. ``convmixer3``,
``main_decoder``, ``aux_decoder1`` .. ``aux_decoder3`` (each a
:class:`~monai_ext.networks.blocks.PerturbedDecoder` with ``perturbation`` and ``decoder``).
"""

from __future__ import annotations

from typing import Callable, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from monai_ext.networks.blocks.convmixer import ConvMixerBlock
from monai_ext.networks.blocks.perturbations import (
    DropoutPerturbation,
    FeatureDropoutPerturbation,
    FeatureNoisePerturbation,
    PerturbedDecoder,
)
from monai_ext.utils.flags import parse_flag

__all__ = ["MultiLevelConsistencyNet", "default_multi_level_perturbations"]


def default_multi_level_perturbations() -> List[nn.Module]:
    """The perturbations of aux1, aux2, aux3 in the order of the public MGCC HEAD (commit ``81350d5``).

    Feature dropout (gamma ~ U(0.7, 0.9)), elementwise dropout p = 0.3, feature noise U(-0.3, 0.3).
    """
    return [FeatureDropoutPerturbation((0.7, 0.9)), DropoutPerturbation(0.3, "element"), FeatureNoisePerturbation(0.3)]


class MultiLevelConsistencyNet(nn.Module):
    """Encoder, three tapped ConvMixer blocks, a main decoder and three perturbed auxiliary decoders.

    Training mode returns ``(main, aux1, aux2, aux3)`` logits; evaluation mode returns the main logits only and computes
    no auxiliary decoder (the exported / scripted eval path). Height and width must be divisible by 16 (four 2×2
    poolings).

    Subclasses build their encoder and pass a decoder factory; everything else is shared::

        class MyNet(MultiLevelConsistencyNet):
            def __init__(self, in_channels=3, out_channels=1, dim_mult=4, ...):
                features = [16 * dim_mult * 2**i for i in range(5)]
                super().__init__(
                    name="MyNet", spatial_dims=2, in_channels=in_channels, encoder=MyEncoder(2, in_channels, features),
                    make_decoder=lambda: MyDecoder(2, out_channels, features), bottleneck_channels=features[4],
                )

    Args:
        name: class name used in error messages.
        spatial_dims: must be 2.
        in_channels: number of input channels (checked in ``forward``).
        encoder: module mapping the input to the five features ``[x1, x2, x3, x4, x5]`` (a ``List[Tensor]``).
        make_decoder: zero-argument factory returning a fresh decoder that maps ``[x1, x2, x3, x4, tap]`` to logits; it
            is called four times (main, aux1, aux2, aux3), after the ConvMixer blocks are built (so the parameter
            initialisation order is encoder, ConvMixers, main, aux1, aux2, aux3).
        bottleneck_channels: channels of ``x5`` (the ConvMixer width).
        kernel_size: odd depthwise kernel size of the ConvMixer layers.
        length: numbers of layers of the three ConvMixer blocks (three positive ints).
        checkpoint_aux_decoders: in training with gradients, run each auxiliary branch (perturbation + decoder) under
            non-reentrant :func:`torch.utils.checkpoint.checkpoint`: its activations are recomputed in backward instead
            of stored (about 3/4 less decoder activation memory, about one extra auxiliary forward of compute). The
            random perturbations are replayed identically (the RNG state is preserved). Side effect: the BatchNorm
            running statistics of the auxiliary decoders are updated twice per step; inference never uses them.
        multi_level_taps: True (the method): aux decoders tapped after 0, ``length[0]``, ``length[0] + length[1]``
            layers. False feeds every auxiliary decoder the output of the last block (plain CCT on this backbone, the
            minimal ablation).
        perturbations: the three perturbation modules of aux1, aux2, aux3; default
            :func:`default_multi_level_perturbations`.
        checkpoint_main_decoder: in training with gradients, also run the main decoder under activation checkpointing
            (the last resort for memory: every decoder then stores only its inputs, at the cost of one more decoder
            forward per step). Deterministic, so the result is unchanged.

    Raises:
        ValueError: for an unsupported ``spatial_dims``, a bad ``in_channels``, ``length`` or ``kernel_size``, or not
            exactly three perturbations.
        TypeError: when ``encoder`` is not a module or ``make_decoder`` is not callable.
    """

    def __init__(
        self,
        name: str,
        spatial_dims: int,
        in_channels: int,
        encoder: nn.Module,
        make_decoder: Callable[[], nn.Module],
        bottleneck_channels: int,
        kernel_size: int = 7,
        length: Sequence[int] = (3, 3, 3),
        checkpoint_aux_decoders: bool = False,
        multi_level_taps: bool = True,
        perturbations: Optional[Sequence[nn.Module]] = None,
        checkpoint_main_decoder: bool = False,
    ) -> None:
        super().__init__()
        if spatial_dims != 2:
            raise ValueError(f"{name}: only spatial_dims=2 is supported, got {spatial_dims!r}.")
        for arg, value in (("in_channels", in_channels), ("bottleneck_channels", bottleneck_channels)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: {arg} must be a positive int, got {value!r}.")
        if isinstance(length, str) or not isinstance(length, Sequence) or len(length) != 3:
            raise ValueError(f"{name}: length must be three positive ints (layers per ConvMixer), got {length!r}.")
        for n in length:
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ValueError(f"{name}: each of length must be a positive int, got {n!r}.")
        if not isinstance(encoder, nn.Module):
            raise TypeError(f"{name}: encoder must be a torch.nn.Module, got {type(encoder).__name__}.")
        if not callable(make_decoder):
            raise TypeError(f"{name}: make_decoder must be a callable returning a decoder module.")
        perts = default_multi_level_perturbations() if perturbations is None else list(perturbations)
        if len(perts) != 3 or not all(isinstance(p, nn.Module) for p in perts):
            raise ValueError(f"{name}: perturbations must be three torch.nn.Module instances (aux1, aux2, aux3).")
        self.net_name = name
        self.in_channels = in_channels
        self.checkpoint_aux_decoders = parse_flag(checkpoint_aux_decoders, "checkpoint_aux_decoders")
        self.checkpoint_main_decoder = parse_flag(checkpoint_main_decoder, "checkpoint_main_decoder")
        self.multi_level_taps = parse_flag(multi_level_taps, "multi_level_taps")

        self.encoder = encoder
        self.convmixer1 = ConvMixerBlock(spatial_dims, bottleneck_channels, int(length[0]), kernel_size)
        self.convmixer2 = ConvMixerBlock(spatial_dims, bottleneck_channels, int(length[1]), kernel_size)
        self.convmixer3 = ConvMixerBlock(spatial_dims, bottleneck_channels, int(length[2]), kernel_size)
        self.main_decoder = make_decoder()
        self.aux_decoder1 = PerturbedDecoder(perts[0], make_decoder())
        self.aux_decoder2 = PerturbedDecoder(perts[1], make_decoder())
        self.aux_decoder3 = PerturbedDecoder(perts[2], make_decoder())

    def _check_input(self, x: torch.Tensor) -> None:
        if not torch.jit.is_tracing():
            if x.dim() != 4 or x.shape[1] != self.in_channels:
                raise ValueError(
                    f"{self.net_name}: expected input of shape (B, {self.in_channels}, H, W), got {list(x.shape)}."
                )
            if x.shape[2] % 16 != 0 or x.shape[3] % 16 != 0:
                raise ValueError(
                    f"{self.net_name}: height and width must be divisible by 16, got {list(x.shape[2:])}."
                )

    def forward(
        self, x: torch.Tensor
    ) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
        self._check_input(x)
        feats = self.encoder(x)
        x1, x2, x3, x4, x5 = feats[0], feats[1], feats[2], feats[3], feats[4]
        t3 = self.convmixer1(x5)
        t6 = self.convmixer2(t3)
        t9 = self.convmixer3(t6)
        if not self.training:
            return self.main_decoder([x1, x2, x3, x4, t9])
        if self.checkpoint_main_decoder and torch.is_grad_enabled() and not torch.jit.is_scripting():
            main = checkpoint(self.main_decoder, [x1, x2, x3, x4, t9], use_reentrant=False)
        else:
            main = self.main_decoder([x1, x2, x3, x4, t9])
        if self.multi_level_taps:
            f1, f2, f3 = [x1, x2, x3, x4, x5], [x1, x2, x3, x4, t3], [x1, x2, x3, x4, t6]
        else:
            f1, f2, f3 = [x1, x2, x3, x4, t9], [x1, x2, x3, x4, t9], [x1, x2, x3, x4, t9]
        # TorchScript does not compile the checkpointed branch (``is_scripting`` is folded); a scripted model never
        # checkpoints
        if self.checkpoint_aux_decoders and torch.is_grad_enabled() and not torch.jit.is_scripting():
            # non-reentrant checkpointing: inputs may be lists, and gradients reach the shared encoder features
            aux1 = checkpoint(self.aux_decoder1, f1, use_reentrant=False)
            aux2 = checkpoint(self.aux_decoder2, f2, use_reentrant=False)
            aux3 = checkpoint(self.aux_decoder3, f3, use_reentrant=False)
        else:
            aux1, aux2, aux3 = self.aux_decoder1(f1), self.aux_decoder2(f2), self.aux_decoder3(f3)
        return main, aux1, aux2, aux3

    @torch.jit.unused
    def forward_all_heads(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(main, aux1, aux2, aux3)`` logits in evaluation mode, each auxiliary decoder on its clean tap.

        The auxiliary decoders receive the features they are trained on (the multi-level taps, or the last ConvMixer
        output with ``multi_level_taps=False``) without their perturbations (each branch's decoder is called
        directly), so the heads differ only by what the decoders learned; their disagreement is the uncertainty map
        of ``docs/uncertainty.md``. The main logits equal ``forward(x)`` in evaluation mode.

        Raises:
            RuntimeError: in training mode (batch norm and dropout would then act as in training; call ``eval()``).
        """
        if self.training:
            raise RuntimeError(
                f"{self.net_name}.forward_all_heads runs in evaluation mode only; call network.eval() first."
            )
        self._check_input(x)
        x1, x2, x3, x4, x5 = self.encoder(x)
        t3 = self.convmixer1(x5)
        t6 = self.convmixer2(t3)
        t9 = self.convmixer3(t6)
        taps = (x5, t3, t6) if self.multi_level_taps else (t9, t9, t9)
        branches = (self.aux_decoder1, self.aux_decoder2, self.aux_decoder3)
        aux = [b.decoder([x1, x2, x3, x4, t]) for b, t in zip(branches, taps)]
        return self.main_decoder([x1, x2, x3, x4, t9]), aux[0], aux[1], aux[2]

    def inference_modules(self) -> List[nn.Module]:
        """The modules of the eval path: encoder, the three ConvMixer blocks and the main decoder."""
        return [self.encoder, self.convmixer1, self.convmixer2, self.convmixer3, self.main_decoder]

    def parameter_count(self, inference: bool = False) -> int:
        """Number of parameters of the training graph, or of the inference graph (encoder, ConvMixers, main decoder)."""
        modules = self.inference_modules()
        if not inference:
            modules += [self.aux_decoder1, self.aux_decoder2, self.aux_decoder3]
        return sum(p.numel() for m in modules for p in m.parameters())
