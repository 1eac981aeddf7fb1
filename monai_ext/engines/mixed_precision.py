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
"""Mixed precision for the training engines, on CPU and CUDA alike.

MONAI's trainers (1.6) hard-code ``torch.autocast("cuda")`` with a float16 ``GradScaler``, so ``amp=True`` does nothing
on a CPU. :class:`USMixedPrecision` autocasts on the device the engine runs on, with bfloat16 by default (the same
exponent range as float32, so no loss scaling is needed; native on CPUs with ``avx512_bf16`` or AMX and on Ampere and
later GPUs) or float16 with a gradient scaler (CUDA only). The engines call it for every forward/loss block, backward
and optimizer step, so one object holds the recipe that was copied into each trainer before.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import torch
from monai.engines.trainer import Trainer
from monai.engines.workflow import Workflow
from torch.optim.optimizer import Optimizer

from monai_ext.utils.flags import parse_flag

__all__ = ["USMixedPrecision", "USMixedPrecisionTrainer", "AMP_DTYPES"]

AMP_DTYPES = {"bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}


class USMixedPrecision:
    """Autocast context, backward and optimizer step of one engine, with or without mixed precision.

    Args:
        enabled: mixed precision on or off (a bool or a config string such as ``"true"``; anything else is refused).
        device: the device the engine computes on; autocast uses its type (``cpu`` or ``cuda``).
        dtype: ``"bfloat16"`` (default, CPU and CUDA, no gradient scaler) or ``"float16"`` (CUDA only, with a
            :class:`torch.amp.GradScaler`), or the torch dtype itself.

    Raises:
        ValueError: an unknown dtype, or float16 on a device other than CUDA.

    Example::

        amp = USMixedPrecision(True, "cpu")
        with amp.autocast():
            loss = loss_fn(net(x), y)
        amp.backward(loss)
        amp.step(optimizer)
        amp.update()
    """

    def __init__(self, enabled: bool | str, device: str | torch.device, dtype: str | torch.dtype = "bfloat16") -> None:
        self.enabled = parse_flag(enabled, "amp")
        self.device_type = torch.device(device).type
        if isinstance(dtype, torch.dtype):
            resolved = dtype
        elif isinstance(dtype, str) and dtype.lower() in AMP_DTYPES:
            resolved = AMP_DTYPES[dtype.lower()]
        else:
            raise ValueError(f"amp_dtype must be one of {sorted(AMP_DTYPES)}, got {dtype!r}.")
        if resolved not in (torch.bfloat16, torch.float16):
            raise ValueError(f"amp_dtype must be bfloat16 or float16, got {resolved}.")
        if self.enabled and resolved == torch.float16 and self.device_type != "cuda":
            raise ValueError(
                f"amp_dtype float16 needs a CUDA device (gradient scaling), got device {str(device)!r}; use bfloat16 on "
                "a CPU."
            )
        self.dtype = resolved
        self.scaler: torch.amp.GradScaler | None = (
            torch.amp.GradScaler("cuda") if self.enabled and resolved == torch.float16 else None
        )

    def autocast(self) -> AbstractContextManager:
        """The autocast context of the forward pass and the loss (a no-op when disabled)."""
        return torch.autocast(self.device_type, dtype=self.dtype, enabled=self.enabled)

    def backward(self, loss: torch.Tensor) -> None:
        """``loss.backward()``, scaled when a gradient scaler is in use."""
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def step(self, optimizer: Optimizer) -> None:
        """``optimizer.step()``, through the scaler (which skips steps with inf/nan gradients) when in use."""
        if self.scaler is not None:
            self.scaler.step(optimizer)
        else:
            optimizer.step()

    def update(self) -> None:
        """Update the loss scale once per iteration, after every optimizer step of that iteration."""
        if self.scaler is not None:
            self.scaler.update()

    def state_dict(self) -> dict[str, Any]:
        """The scaler's state (empty without one), so a resumed float16 run continues with the same loss scale."""
        return self.scaler.state_dict() if self.scaler is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; an empty state (bfloat16 or disabled) is accepted."""
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)


class USMixedPrecisionTrainer(Trainer):
    """Base of monai_ext's trainers: a MONAI ``Trainer`` whose mixed precision is :class:`USMixedPrecision`.

    Subclasses pass ``amp=False`` to MONAI (whose AMP is CUDA float16 only), call :meth:`init_mixed_precision` in
    their ``__init__`` and run their forward/loss block under ``self.mixed_precision.autocast()``, then
    ``backward`` / ``step`` / ``update`` through it.
    """

    def init_mixed_precision(
        self, amp: bool | str, device: str | torch.device, amp_dtype: str | torch.dtype | None,
        amp_kwargs: dict | None = None
    ) -> None:
        """Set ``mixed_precision``, ``amp`` (a bool) and ``scaler`` (None unless float16 on CUDA)."""
        dtype = amp_dtype if amp_dtype is not None else (amp_kwargs or {}).get("dtype", "bfloat16")
        self.mixed_precision = USMixedPrecision(amp, device, dtype)
        self.amp = self.mixed_precision.enabled
        self.scaler = self.mixed_precision.scaler

    def run(self) -> None:  # type: ignore[override]
        """Run training. MONAI's ``Trainer.run`` would replace the scaler by a CUDA float16 one whenever `amp` is on, so
        the workflow is started directly with the scaler of :class:`USMixedPrecision` (None for bfloat16)."""
        self.scaler = self.mixed_precision.scaler
        Workflow.run(self)
