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

"""Convolutional LSTM cell of the MSMO hierarchical ConvLSTM decoder (docs/methods/msmo.md, "HConvLSTM decoder").

One convolution (bias, "same" padding) on ``cat[x, h_prev]`` gives the pre-activations of the four gates, split along
channels in the order ``(i, f, o, g)``; ``i, f, o = sigmoid``, ``g = tanh``; ``c = f * c_prev + i * g`` and
``h = o * tanh(c)``. No peepholes, no normalisation (the cell of the RVOS recurrent mask decoder, as used by the public
MSMO code). A missing state means zeros on the input's device and dtype (the public code hard-codes ``.cuda()``).
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from monai.networks.layers.factories import Conv
from torch import nn

from monai_ext.networks.blocks.dense_gradient import dense_gradient

__all__ = ["MSMOConvLSTMCell"]


class MSMOConvLSTMCell(nn.Module):
    """ConvLSTM cell with all four gates computed by one convolution (``in + hid -> 4 * hid`` channels).

    ``forward(x, state)`` returns the new ``(h, c)``, each of shape (B, hidden_channels, *spatial). With
    ``state=None`` the previous state is zero: the convolution then only uses the input part of its weight and the
    forget term vanishes, which equals the computation on ``cat[x, 0]`` up to floating-point rounding at a
    ``in / (in + hid)`` fraction of the cost.

    The parameter layout is that of the published cell: ``conv.weight`` of shape
    (4·hid, in + hid, k, k), input channels first, output blocks in gate order (i, f, o, g), and ``conv.bias``.
    ConvLSTM(1024 -> 512), kernel 3, has 28,313,600 parameters.

    Args:
        spatial_dims: number of spatial dimensions (2 or 3).
        in_channels: number of input channels.
        hidden_channels: number of hidden (and cell) state channels.
        kernel_size: odd kernel size of the gate convolution (padding ``kernel_size // 2``). Default 3.
    """

    def __init__(self, spatial_dims: int, in_channels: int, hidden_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"MSMOConvLSTMCell: spatial_dims must be 2 or 3, got {spatial_dims!r}.")
        for arg, value in (("in_channels", in_channels), ("hidden_channels", hidden_channels)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"MSMOConvLSTMCell: {arg} must be a positive int, got {value!r}.")
        if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"MSMOConvLSTMCell: kernel_size must be a positive odd int, got {kernel_size!r}.")
        self.spatial_dims = spatial_dims
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.padding = kernel_size // 2
        self.conv = Conv[Conv.CONV, spatial_dims](
            in_channels + hidden_channels, 4 * hidden_channels, kernel_size=kernel_size, padding=self.padding
        )

    def gate_conv(self, x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]) -> torch.Tensor:
        """The gate convolution of ``x`` with (a column block of) the gate weight, "same" padding.

        A convolution is linear in its input channels, ``conv(cat[a, b], [Wa | Wb]) = conv(a, Wa) + conv(b, Wb)``: the
        decoder uses this to compute the part of the gates that does not depend on the object once per forward
        pass (see :meth:`split_weight`).

        Args:
            x: input of shape (B, weight.shape[1], *spatial).
            weight: (4·hid, x channels, k, k) block of columns of ``conv.weight``.
            bias: the gate bias, or None (add it once per gate sum).
        """
        if self.spatial_dims == 2:
            return F.conv2d(x, weight, bias, padding=self.padding)
        return F.conv3d(x, weight, bias, padding=self.padding)

    def split_weight(self, start: int, stop: int) -> Tuple[torch.Tensor, torch.Tensor]:
        """Split ``conv.weight`` by input channel, without changing the parameter.

        Args:
            start: first input channel of the block (0 <= start < stop <= in_channels).
            stop: end (exclusive) of the block.

        Returns:
            ``(w_block, w_rest)``: the columns acting on input channels ``[start, stop)``, and the columns acting on
            the other input channels followed by those acting on ``h_prev`` (in that order). Both are differentiable
            functions of ``conv.weight``; compute them once per forward pass and reuse them for every object.
        """
        if not 0 <= start < stop <= self.in_channels:
            raise ValueError(
                f"MSMOConvLSTMCell: need 0 <= start < stop <= in_channels ({self.in_channels}), got {start}, {stop}."
            )
        w = self.conv.weight
        block = w[:, start:stop]
        if start == 0:
            rest = w[:, stop:]
        else:
            rest = torch.cat([w[:, :start], w[:, stop:]], dim=1)
        return block, rest

    def pointwise(self, gates: torch.Tensor, c_prev: Optional[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        """The LSTM update from the gate pre-activations (B, 4·hid, *spatial) in the order (i, f, o, g).

        Args:
            gates: gate pre-activations (bias included).
            c_prev: previous cell state, or None for zeros (the forget term then vanishes).

        Returns:
            the new ``(h, c)``.
        """
        hid = self.hidden_channels
        # split (not slicing): its backward concatenates the gate gradients in the memory format of `gates`, where
        # slicing's backward scatters each into a fresh NCHW zero tensor, which the channels-last gate convolution then
        # has to reorder; dense_gradient covers the zero-state case, where the forget gate gets no gradient
        ifo_pre, g_pre = dense_gradient(gates).split([3 * hid, hid], dim=1)
        ifo = torch.sigmoid(ifo_pre)
        g = torch.tanh(g_pre)
        i, f, o = ifo.split(hid, dim=1)
        if c_prev is None:
            c = i * g
        else:
            c = torch.addcmul(f * c_prev, i, g)
        h = o * torch.tanh(c)
        return h, c

    def forward(
        self, x: torch.Tensor, state: Optional[Tuple[torch.Tensor, torch.Tensor]] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """One step.

        Args:
            x: input of shape (B, in_channels, *spatial).
            state: previous ``(h, c)``, each (B, hidden_channels, *spatial), or None for a zero state.

        Returns:
            the new ``(h, c)``.
        """
        if not torch.jit.is_tracing():
            if x.dim() != self.spatial_dims + 2 or x.shape[1] != self.in_channels:
                raise ValueError(
                    f"MSMOConvLSTMCell: expected input (B, {self.in_channels}, *spatial) with {self.spatial_dims} "
                    f"spatial dims, got shape {list(x.shape)}."
                )
            if state is not None:
                expected = [x.shape[0], self.hidden_channels] + list(x.shape[2:])
                if list(state[0].shape) != expected or list(state[1].shape) != expected:
                    raise ValueError(
                        f"MSMOConvLSTMCell: state (h, c) must both have shape {expected}, got "
                        f"{list(state[0].shape)} and {list(state[1].shape)}."
                    )
        if state is None:
            # zero h_prev contributes nothing to the gates: convolve the input with the input part of the weight only
            return self.pointwise(self.gate_conv(x, self.conv.weight[:, : self.in_channels], self.conv.bias), None)
        gates = self.gate_conv(torch.cat([x, state[0]], dim=1), self.conv.weight, self.conv.bias)
        return self.pointwise(gates, state[1])

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, hidden_channels={self.hidden_channels}, gate_order=(i, f, o, g)"
