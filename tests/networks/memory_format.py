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

"""Shared checks of the multi-decoder networks' training path in channels-last memory and under bfloat16 autocast."""

from __future__ import annotations

import copy

import torch
from torch import nn

CL = torch.channels_last


def without_randomness(net: nn.Module) -> nn.Module:
    """The network with identity perturbations and no dropout, so that two layouts draw no random numbers."""
    for aux in (net.aux_decoder1, net.aux_decoder2, net.aux_decoder3):
        aux.perturbation = nn.Identity()
    for module in net.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    return net.train()


def _heads_loss(outs, targets) -> torch.Tensor:
    # positive and of order 1, so that relative differences are meaningful
    return sum(((o.to(t.dtype) - t) ** 2).mean() for o, t in zip(outs, targets))


def assert_channels_last_training_matches(net: nn.Module, x: torch.Tensor) -> None:
    """One training forward + backward in float64, NCHW against channels-last: same outputs and parameter gradients.

    The channels-last path gets its gradients through :func:`~monai_ext.networks.blocks.dense_gradient.dense_gradient`
    and split gate activations; both must leave the values unchanged.
    """
    ref = without_randomness(net).double()
    cl = copy.deepcopy(ref).to(memory_format=CL)
    x = x.double()
    outs_ref = ref(x)
    outs_cl = cl(x.contiguous(memory_format=CL))
    g = torch.Generator().manual_seed(3)
    targets = [torch.randn(o.shape, generator=g, dtype=torch.float64) for o in outs_ref]
    _heads_loss(outs_ref, targets).backward()
    _heads_loss(outs_cl, targets).backward()
    assert len(outs_ref) == len(outs_cl) == 4
    for a, b in zip(outs_ref, outs_cl):
        assert b.is_contiguous(memory_format=CL)
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)
    names = dict(ref.named_parameters())
    for name, p in cl.named_parameters():
        assert p.grad is not None and names[name].grad is not None, name
        torch.testing.assert_close(p.grad, names[name].grad, rtol=1e-8, atol=1e-10, msg=lambda m, name=name: f"{name}: {m}")


def bfloat16_training_curves(net: nn.Module, x: torch.Tensor, steps: int = 6) -> tuple[list[float], list[float]]:
    """Losses of ``steps`` SGD steps on one fixed batch, channels-last, in float32 and under CPU bfloat16 autocast.

    The loss (BCE with logits against fixed binary maps, summed over the four heads) is computed in float32 from the
    heads, as the trainer does under autocast. Both copies start from the same weights.
    """
    fp32 = without_randomness(net).to(memory_format=CL)
    bf16 = copy.deepcopy(fp32)
    x = x.contiguous(memory_format=CL)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        targets = [(torch.rand(o.shape, generator=g) > 0.7).float() for o in copy.deepcopy(fp32)(x)]
    curves = []
    for model, autocast in ((fp32, False), (bf16, True)):
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        losses = []
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                outs = model(x)
                assert all(o.dtype == (torch.bfloat16 if autocast else torch.float32) for o in outs)
            loss = sum(nn.functional.binary_cross_entropy_with_logits(o.float(), t) for o, t in zip(outs, targets))
            loss.backward()
            assert all(p.grad.dtype == torch.float32 and bool(p.grad.isfinite().all()) for p in model.parameters())
            opt.step()
            losses.append(float(loss.detach()))
        curves.append(losses)
    return curves[0], curves[1]
