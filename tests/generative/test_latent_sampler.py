# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""USLatentImageSampler: reproducible PNGs, DDIM with eta 0, argument checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import DataLoader, Dataset
from monai.inferers import LatentDiffusionInferer
from monai.networks.schedulers import DDPMScheduler
from monai.transforms import LoadImage
from PIL import Image

from monai_ext.generative import (
    USLatentImageSampler,
)

from .conftest import tiny_autoencoder, tiny_ddim, tiny_sampler, tiny_unet


def test_writes_pngs_reproducibly(tmp_path):
    s = tiny_sampler(tmp_path / "a")
    s.run()
    files = sorted((tmp_path / "a").glob("*.png"))
    assert [f.name for f in files] == [f"syn_{i:04d}.png" for i in range(5)]
    for f in files:
        im = Image.open(f)
        assert im.mode == "L" and im.size == (40, 40)
        assert np.asarray(im).dtype == np.uint8
    # the file reloads (MONAI PILReader, as the bundles read) as exactly the quantised output tensor
    last = s.state.output["pred"][-1]  # index 4 (last batch holds only index 4)
    expected = ((last.clamp(-1, 1) + 1) * 127.5).round()
    loaded = LoadImage(reader="PILReader", image_only=True, ensure_channel_first=True)(str(files[4]))
    assert torch.equal(torch.as_tensor(loaded).float(), expected)
    # same seed and batch size: byte-identical; another seed: different images
    tiny_sampler(tmp_path / "b").run()
    assert all(f.read_bytes() == (tmp_path / "b" / f.name).read_bytes() for f in files)
    tiny_sampler(tmp_path / "c", seed=1).run()
    assert files[0].read_bytes() != (tmp_path / "c" / files[0].name).read_bytes()


def test_eta_zero_uses_inferer_and_initial_noise_is_per_sample(tmp_path):
    # eta = 0 is deterministic DDIM (LatentDiffusionInferer.sample); the initial noise of sample i depends only on
    # (seed, i), so batch size 1 and 3 give the same images
    tiny_sampler(tmp_path / "b1", n=3, batch_size=1, eta=0.0).run()
    tiny_sampler(tmp_path / "b3", n=3, batch_size=3, eta=0.0).run()
    a = [np.asarray(Image.open(tmp_path / "b1" / f"syn_{i:04d}.png"), dtype=int) for i in range(3)]
    b = [np.asarray(Image.open(tmp_path / "b3" / f"syn_{i:04d}.png"), dtype=int) for i in range(3)]
    assert all(np.abs(x - y).max() <= 1 for x, y in zip(a, b))  # batched convolutions may round differently
    assert np.abs(a[0] - a[1]).max() > 0


def test_argument_checks(tmp_path):
    loader = DataLoader(Dataset([{"index": 0}]), batch_size=1)
    ae, unet = tiny_autoencoder(), tiny_unet()
    inf = LatentDiffusionInferer(tiny_ddim())
    with pytest.raises(TypeError, match="DDIMScheduler"):
        USLatentImageSampler("cpu", loader, unet, ae, inf, DDPMScheduler(), (2, 4, 4), tmp_path)
    with pytest.raises(ValueError, match="num_inference_steps"):
        USLatentImageSampler("cpu", loader, unet, ae, inf, tiny_ddim(), (2, 4, 4), tmp_path, num_inference_steps=0)
    with pytest.raises(ValueError, match="eta"):
        USLatentImageSampler("cpu", loader, unet, ae, inf, tiny_ddim(), (2, 4, 4), tmp_path, eta=-1.0)
    with pytest.raises(ValueError, match="output_size"):
        USLatentImageSampler("cpu", loader, unet, ae, inf, tiny_ddim(), (2, 4, 4), tmp_path, output_size=(8, 8, 8))
