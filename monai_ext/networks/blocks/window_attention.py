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

"""Shadow-masked transformer blocks of SABR-Net: MAT's mask-aware window attention in Swin stages.

Re-implemented (no code copied) from the SABR bundle docs (``bundles/sabr_us_segmentation/docs/README.md``):

- :class:`MaskedWindowAttention` (the "adaptive shadow attention"): queries and keys are computed from the
  L2-normalised tokens, values from the raw tokens; ``attn = q k^T / sqrt(head_dim)`` + the Swin shifted-window region
  mask (-100 between regions) + **-100 on keys whose token is a hole**; softmax; output projection. No LayerNorm, no
  relative position bias, no dropout. Mask update ("adaptive mask"): a window with at least one visible token becomes
  fully visible, ``clamp(sum_window(mask), 0, 1)`` broadcast to all its tokens.
- :class:`MaskedSwinBlock`: windows of ``window_size`` with a cyclic shift of ``window_size // 2`` on odd blocks (the
  mask is shifted identically); if the token map is not larger than the window, the window becomes the whole map and
  the shift 0. After attention ``x = FC_fuse(cat[shortcut, attn_out])`` (2C -> C, lrelu) and ``x = MLP(x)``
  (C -> 2C lrelu -> C linear): **no residual around the MLP, no drop-path**.
- :class:`MaskedSwinStage`: optional :class:`MaskedPatchMerging` (partial 3x3 conv, stride 2, lrelu) or
  :class:`PatchUpsampling` (3x3 conv, up 2, lrelu) -> ``identity`` -> ``depth`` blocks -> partial 3x3 conv (lrelu)
  on the 2-D map -> ``+ identity``.

Deviation: the window size and shift are chosen from the actual token map at every call (the public code fixes them at
construction for a 256 px input; the result is the same there) and the region mask is computed on the fly. A token map
that is larger than the window but not a multiple of it is rejected with an error (the public code asserts).
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from monai_ext.networks.arg_checks import check_choice, check_positive_float, check_positive_int
from monai_ext.networks.blocks.partial_conv import Conv2dLayerPartial
from monai_ext.networks.blocks.stylegan_ops import Conv2dLayer, FullyConnectedLayer

__all__ = [
    "partition_windows",
    "merge_windows",
    "shifted_window_region_mask",
    "MaskedWindowAttention",
    "MaskedSwinBlock",
    "MaskedPatchMerging",
    "PatchUpsampling",
    "MaskedSwinStage",
]

_MASK_VALUE = -100.0


def partition_windows(x: torch.Tensor, window: int) -> torch.Tensor:
    """(B, H, W, C) -> (B * nW, window * window, C), windows in row-major order per sample."""
    b, h, w, c = x.shape
    x = x.reshape(b, h // window, window, w // window, window, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, window * window, c)


def merge_windows(windows: torch.Tensor, window: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`partition_windows`: (B * nW, window * window, C) -> (B, H, W, C)."""
    c = windows.shape[-1]
    x = windows.reshape(-1, h // window, w // window, window, window, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, h, w, c)


def shifted_window_region_mask(h: int, w: int, window: int, shift: int, device=None) -> torch.Tensor:
    """Swin's additive mask for shifted windows: (nW, N, N) with -100 between tokens of different regions, else 0.

    After the cyclic shift by ``-shift`` the last ``window`` rows (columns) of the map hold two regions that were not
    adjacent in the image: rows ``[h - window, h - shift)`` and ``[h - shift, h)``; every other row is region 0.
    """
    rows = torch.arange(h, device=device)
    cols = torch.arange(w, device=device)
    rid = (rows >= h - window).long() + (rows >= h - shift).long()
    cid = (cols >= w - window).long() + (cols >= w - shift).long()
    region = (rid[:, None] * 3 + cid[None, :]).to(torch.float32)
    win = partition_windows(region[None, :, :, None], window).squeeze(-1)  # (nW, N)
    different = (win[:, None, :] - win[:, :, None]) != 0
    return different.to(torch.float32) * _MASK_VALUE


class MaskedWindowAttention(nn.Module):
    """Multi-head window attention with hole-aware keys and the window-level mask update.

    Args:
        dim: token channels.
        num_heads: attention heads (``dim`` must be divisible by it).
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        check_positive_int("MaskedWindowAttention", "dim", dim)
        check_positive_int("MaskedWindowAttention", "num_heads", num_heads)
        if dim % num_heads != 0:
            raise ValueError(f"MaskedWindowAttention: dim ({dim}) must be divisible by num_heads, got {num_heads!r}.")
        self.dim, self.num_heads = dim, num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.q = FullyConnectedLayer(dim, dim)
        self.k = FullyConnectedLayer(dim, dim)
        self.v = FullyConnectedLayer(dim, dim)
        self.proj = FullyConnectedLayer(dim, dim)

    def forward(
        self, x: torch.Tensor, hole_mask: Optional[torch.Tensor] = None, region_mask: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Attend within windows.

        Args:
            x: (B * nW, N, C) window tokens.
            hole_mask: (B * nW, N, 1) with 1 = visible, 0 = hole, or None (no masking).
            region_mask: (nW, N, N) additive shifted-window mask, or None.

        Returns:
            ``(out, new_hole_mask)``: (B * nW, N, C) and (B * nW, N, 1) (window-constant) or None.
        """
        bw, n, c = x.shape
        heads = self.num_heads
        xn = F.normalize(x, p=2.0, dim=-1)
        q = self.q(xn).reshape(bw, n, heads, c // heads).transpose(1, 2)
        k = self.k(xn).reshape(bw, n, heads, c // heads).transpose(1, 2)
        v = self.v(x).reshape(bw, n, heads, c // heads).transpose(1, 2)
        attn = (q @ k.transpose(-2, -1)) * self.scale  # (B * nW, heads, N, N)
        if region_mask is not None:
            nw = region_mask.shape[0]
            attn = attn.reshape(-1, nw, heads, n, n) + region_mask.to(attn.dtype)[None, :, None]
            attn = attn.reshape(bw, heads, n, n)
        new_mask = None
        if hole_mask is not None:
            keys = hole_mask.reshape(bw, 1, 1, n).to(attn.dtype)
            attn = attn + (keys <= 0.5).to(attn.dtype) * _MASK_VALUE
            with torch.no_grad():
                new_mask = hole_mask.sum(dim=1, keepdim=True).clamp(0.0, 1.0).expand(bw, n, 1)
        attn = attn.softmax(dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(bw, n, c)
        return self.proj(out), new_mask


class MaskedSwinBlock(nn.Module):
    """Swin block of MAT / SABR-Net: (shifted) masked window attention, fuse FC and MLP, no norm, no MLP residual.

    Args:
        dim: token channels.
        num_heads: attention heads.
        window_size: window side (tokens).
        shift_size: cyclic shift (0 or ``window_size // 2``).
        mlp_ratio: hidden width of the MLP relative to ``dim`` (2).
    """

    def __init__(self, dim: int, num_heads: int, window_size: int, shift_size: int = 0, mlp_ratio: float = 2.0) -> None:
        super().__init__()
        check_positive_int("MaskedSwinBlock", "window_size", window_size)
        if isinstance(shift_size, bool) or not isinstance(shift_size, int) or not 0 <= shift_size < window_size:
            raise ValueError(f"MaskedSwinBlock: shift_size must be an int in [0, window_size), got {shift_size!r}.")
        mlp_ratio = check_positive_float("MaskedSwinBlock", "mlp_ratio", mlp_ratio)
        self.window_size, self.shift_size = window_size, shift_size
        self.attn = MaskedWindowAttention(dim, num_heads)
        self.fuse = FullyConnectedLayer(2 * dim, dim, activation="lrelu")
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(FullyConnectedLayer(dim, hidden, activation="lrelu"), FullyConnectedLayer(hidden, dim))

    def window_and_shift(self, h: int, w: int) -> Tuple[int, int]:
        """The window and shift used on an ``h`` x ``w`` token map (whole map, no shift if it fits in one window)."""
        if min(h, w) <= self.window_size:
            window, shift = min(h, w), 0
        else:
            window, shift = self.window_size, self.shift_size
        if h % window != 0 or w % window != 0:
            raise ValueError(
                f"MaskedSwinBlock: the {h}x{w} token map is not a multiple of the window size {window}; "
                "use an input size whose token maps are multiples of the windows (e.g. a multiple of 32 px)."
            )
        return window, shift

    def forward(
        self, x: torch.Tensor, mask: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """``x``: (B, H, W, C) tokens; ``mask``: (B, H, W, 1) or None. Returns the updated ``(x, mask)``."""
        _, h, w, c = x.shape
        window, shift = self.window_and_shift(h, w)
        shortcut = x
        if shift > 0:
            x = torch.roll(x, shifts=(-shift, -shift), dims=(1, 2))
            if mask is not None:
                mask = torch.roll(mask, shifts=(-shift, -shift), dims=(1, 2))
        x_win = partition_windows(x, window)
        m_win = partition_windows(mask, window) if mask is not None else None
        region = shifted_window_region_mask(h, w, window, shift, device=x.device) if shift > 0 else None
        out, m_win = self.attn(x_win, m_win, region)
        x = merge_windows(out, window, h, w)
        if m_win is not None:
            mask = merge_windows(m_win, window, h, w)
        if shift > 0:
            x = torch.roll(x, shifts=(shift, shift), dims=(1, 2))
            if mask is not None:
                mask = torch.roll(mask, shifts=(shift, shift), dims=(1, 2))
        x = self.fuse(torch.cat([shortcut, x], dim=-1))
        return self.mlp(x), mask


class MaskedPatchMerging(nn.Module):
    """Down-sampling between stages: partial 3x3 convolution with stride 2 and lrelu (mask updated with it)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = Conv2dLayerPartial(in_channels, out_channels, 3, activation="lrelu", down=2)

    def forward(
        self, x: torch.Tensor, mask: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        return self.conv(x, mask)


class PatchUpsampling(nn.Module):
    """Up-sampling between stages: 3x3 convolution with ``up=2`` ([1, 3, 3, 1] blur) and lrelu; never masked."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = Conv2dLayer(in_channels, out_channels, 3, activation="lrelu", up=2)

    def forward(
        self, x: torch.Tensor, mask: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        if mask is not None:
            raise ValueError("PatchUpsampling: up-sampling stages run without a hole mask (mask must be None).")
        return self.conv(x), None


class MaskedSwinStage(nn.Module):
    """One stage (MAT ``BasicLayer``): optional resampling, ``depth`` Swin blocks, partial 3x3 conv, stage residual.

    Args:
        dim: channels (constant through the stage).
        depth: number of :class:`MaskedSwinBlock` (odd blocks shifted by ``window_size // 2``).
        num_heads: attention heads.
        window_size: window side.
        resample: None, ``"down"`` (:class:`MaskedPatchMerging`) or ``"up"`` (:class:`PatchUpsampling`).
        mlp_ratio: MLP hidden width relative to ``dim``.
    """

    def __init__(
        self,
        dim: int,
        depth: int,
        num_heads: int,
        window_size: int,
        resample: Optional[str] = None,
        mlp_ratio: float = 2.0,
    ) -> None:
        super().__init__()
        check_positive_int("MaskedSwinStage", "depth", depth)
        check_choice("MaskedSwinStage", "resample", resample, (None, "down", "up"))
        self.resample: Optional[nn.Module] = None
        if resample == "down":
            self.resample = MaskedPatchMerging(dim, dim)
        elif resample == "up":
            self.resample = PatchUpsampling(dim, dim)
        self.blocks = nn.ModuleList(
            MaskedSwinBlock(dim, num_heads, window_size, 0 if i % 2 == 0 else window_size // 2, mlp_ratio)
            for i in range(depth)
        )
        self.conv = Conv2dLayerPartial(dim, dim, 3, activation="lrelu")

    def forward(
        self, x: torch.Tensor, mask: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """``x``: (B, C, H, W); ``mask``: (B, 1, H, W) or None. Returns ``(x, mask)`` at the stage's resolution."""
        if self.resample is not None:
            x, mask = self.resample(x, mask)
        identity = x
        t = x.permute(0, 2, 3, 1)
        m = mask.permute(0, 2, 3, 1) if mask is not None else None
        for block in self.blocks:
            t, m = block(t, m)
        x = t.permute(0, 3, 1, 2)
        mask = m.permute(0, 3, 1, 2) if m is not None else None
        x, mask = self.conv(x, mask)
        return x + identity, mask
