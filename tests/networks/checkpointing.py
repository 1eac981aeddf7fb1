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

"""Shared check for the multi-decoder networks' activation checkpointing options (MSMO, MGCC and their base)."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def assert_checkpointing_matches(nets: Sequence[torch.nn.Module], x: torch.Tensor, seed: int = 1) -> None:
    """Check that ``nets`` (one architecture, different checkpointing options) train identically.

    ``nets[1:]`` get the weights of ``nets[0]``; each runs one training forward on ``x`` under the same seed (so
    the feature perturbations and dropouts draw the same masks) and a backward of a loss on every head. The
    outputs must be bit-identical and the gradients equal up to float rounding (recomputation may reorder sums).
    """
    for net in nets[1:]:
        net.load_state_dict(nets[0].state_dict())
    results = []
    for net in nets:
        torch.manual_seed(seed)
        outs = net.train()(x)
        sum(o.square().mean() for o in outs).backward()
        results.append((outs, [p.grad for p in net.parameters()]))
    reference_outs, reference_grads = results[0]
    for outs, grads in results[1:]:
        assert len(outs) == len(reference_outs) and len(grads) == len(reference_grads)
        for a, b in zip(reference_outs, outs):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
        for a, b in zip(reference_grads, grads):
            assert a is not None and b is not None
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
