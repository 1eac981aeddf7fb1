# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Shared fixtures of the latent-diffusion tests: a tiny phantom dataset with its split, tiny stage-1/2 models."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from monai.data import DataLoader, Dataset
from monai.inferers import LatentDiffusionInferer
from monai.networks.nets import AutoencoderKL, DiffusionModelUNet
from monai.networks.schedulers import DDIMScheduler

from monai_ext.data import make_split_file, write_phantom_dataset
from monai_ext.generative import USLatentImageSampler


@pytest.fixture(scope="session")
def phantom_split(tmp_path_factory) -> tuple[Path, Path]:
    """(dataset root, split file): 16 breast phantom images of 64 px, 70/10/20-style split (9 train, 4 val, 3 test)."""
    root = tmp_path_factory.mktemp("ldm_data") / "phantom"
    write_phantom_dataset(root, task="breast", num=16, size=64, seed=0)
    split = make_split_file(root, val=0.2, test=0.2, labeled=0.5, seed=0)
    return root, Path(split)


def tiny_autoencoder(latent_channels: int = 2) -> AutoencoderKL:
    """4 levels (8x down-sampling) as the full model, 8 channels per level."""
    return AutoencoderKL(
        spatial_dims=2,
        in_channels=1,
        out_channels=1,
        channels=(8, 8, 8, 8),
        latent_channels=latent_channels,
        num_res_blocks=1,
        attention_levels=(False, False, False, False),
        norm_num_groups=4,
        with_encoder_nonlocal_attn=False,
        with_decoder_nonlocal_attn=False,
    )


def tiny_unet(latent_channels: int = 2) -> DiffusionModelUNet:
    return DiffusionModelUNet(
        spatial_dims=2,
        in_channels=latent_channels,
        out_channels=latent_channels,
        channels=(8, 16),
        attention_levels=(False, False),
        num_res_blocks=1,
        norm_num_groups=8,
    )


def image_loader(split: Path, root: Path, size: int = 32, batch_size: int = 4, part: str = "training"):
    """Images of one part of the split, gray, scaled to [-1, 1] and resized to size x size (the bundle pipeline)."""
    from monai.data import DataLoader, Dataset, load_decathlon_datalist
    from monai.transforms import Compose, EnsureTyped, LoadImaged, Resized, ScaleIntensityRanged

    from monai_ext.transforms import USImageChannelsd

    items = [{"image": d["image"]} for d in load_decathlon_datalist(str(split), True, part, str(root))]
    tf = Compose(
        [
            LoadImaged("image", reader="PILReader", image_only=True, ensure_channel_first=True),
            USImageChannelsd("image", channels=1),
            ScaleIntensityRanged("image", a_min=0, a_max=255, b_min=-1.0, b_max=1.0, clip=True),
            Resized("image", spatial_size=(size, size), mode="bilinear", anti_aliasing=True),
            EnsureTyped("image", track_meta=False),
        ]
    )
    torch.manual_seed(0)
    return DataLoader(Dataset(items, tf), batch_size=batch_size, shuffle=False)


def tiny_ddim() -> DDIMScheduler:
    return DDIMScheduler(
        num_train_timesteps=1000, schedule="scaled_linear_beta", beta_start=0.002, beta_end=0.02, clip_sample=False
    )


def tiny_sampler(out_dir, n=5, batch_size=2, eta=1.0, seed=0, output_size=(40, 40), handlers=None, refs=None, ids=None):
    torch.manual_seed(0)
    ae, unet = tiny_autoencoder().eval(), tiny_unet().eval()
    loader = DataLoader(Dataset([{"index": i} for i in range(n)]), batch_size=batch_size, shuffle=False)
    return USLatentImageSampler(
        "cpu", loader, unet, ae, LatentDiffusionInferer(tiny_ddim(), scale_factor=1.0), tiny_ddim(), latent_shape=(2, 4, 4),
        output_dir=out_dir, num_inference_steps=3, eta=eta, seed=seed, output_size=output_size, val_handlers=handlers,
        reference_images=refs, reference_ids=ids,
    )
