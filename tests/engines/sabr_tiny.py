# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tiny SABR-Net stage-1 parts (32 px, a few thousand parameters each) shared by the engine tests and their worker."""

from __future__ import annotations

import torch
from monai.data import DataLoader, Dataset

from monai_ext.engines import SABRPretrainer, make_ema_teacher
from monai_ext.losses import USPathLengthRegularizer
from monai_ext.networks.nets import SABRGenerator, SABRImageDiscriminator, SABRMaskDiscriminator

SIZE = 32
GENERATOR = {"img_size": SIZE, "dim": 8, "num_heads": 2, "depths": (1, 1, 1, 1, 1), "z_dim": 16, "w_dim": 16,
             "mapping_layers": 2}
IMAGE_D = {"img_size": SIZE, "channel_base": 256, "channel_max": 16}
MASK_D = {"in_channels": 5, "base_channels": 4, "max_channels": 16}


def items(n: int, labeled: bool, seed: int) -> list[dict]:
    """``n`` random images in [-1, 1] with a hole mask (and a disc label when ``labeled``)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    yy, xx = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    for i in range(n):
        d = {"image": torch.rand(3, SIZE, SIZE, generator=g) * 2 - 1,
             "shadow_mask": (torch.rand(1, SIZE, SIZE, generator=g) > 0.3).float()}
        if labeled:
            d["label"] = (((yy - 16) ** 2 + (xx - 12 - i) ** 2) < 64).float()[None]
        out.append(d)
    return out


def adam(params, lr: float = 1e-3) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=lr, betas=(0.0, 0.99))


def build(max_iterations: int, segmentation: bool = True, d_reg_every: int = 2, pl_interval: int = 3,
          train_handlers=None, seed: int = 0, **kwargs) -> tuple[SABRPretrainer, dict]:
    """A stage-1 (or, with ``segmentation=False``, stage-0) engine on fixed data; the parts by name."""
    torch.manual_seed(seed)
    g = SABRGenerator(**GENERATOR)
    d_img = SABRImageDiscriminator(**IMAGE_D)
    parts = {"generator": g, "image_discriminator": d_img, "generator_optimizer": adam(g.parameters()),
             "image_discriminator_optimizer": adam(d_img.parameters())}
    unlabeled = DataLoader(Dataset(items(6, False, seed + 1)), batch_size=2, shuffle=False, drop_last=True)
    if segmentation:
        d_seg = SABRMaskDiscriminator(**MASK_D)
        parts.update(
            mask_discriminator=d_seg, mask_discriminator_optimizer=adam(d_seg.parameters()),
            generator_labeled_optimizer=adam(g.parameters()), ema_generator=make_ema_teacher(g),
            path_length=USPathLengthRegularizer(interval=pl_interval),
        )
        parts["perceptual_encoder"] = g.encoder.frozen_copy()
        labeled = DataLoader(Dataset(items(2, True, seed + 2)), batch_size=2, shuffle=False, drop_last=True)
    else:
        labeled = None
    trainer = SABRPretrainer("cpu", None, unlabeled, max_iterations=max_iterations, labeled_data_loader=labeled,
                             segmentation=segmentation, d_reg_every=d_reg_every, train_handlers=train_handlers,
                             **parts, **kwargs)
    return trainer, parts
