# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""USLatentDiffusionTrainer: finite L1 loss on epsilon, latent statistics and scale factor, checkpoint and resume."""

from __future__ import annotations

import json
import math

import pytest
import torch
from ignite.engine import Events
from monai.inferers import LatentDiffusionInferer, SimpleInferer
from monai.networks.schedulers import DDPMScheduler

from monai_ext.generative import USLatentDiffusionTrainer, latent_statistics
from monai_ext.handlers import ResumableCheckpointHandler, latest_checkpoint

from .conftest import image_loader, tiny_autoencoder, tiny_unet


def _ddpm(prediction_type: str = "epsilon") -> DDPMScheduler:
    return DDPMScheduler(
        num_train_timesteps=1000, schedule="scaled_linear_beta", beta_start=0.002, beta_end=0.02,
        prediction_type=prediction_type, clip_sample=False,
    )


def _trainer(loader, ae, unet, max_epochs, handlers=None, **kw):
    return USLatentDiffusionTrainer(
        "cpu", max_epochs=max_epochs, train_data_loader=loader, network=unet,
        optimizer=torch.optim.AdamW(unet.parameters(), lr=1e-3), autoencoder=ae,
        inferer=LatentDiffusionInferer(_ddpm(), scale_factor=1.0), train_handlers=handlers, decollate=False, **kw,
    )


def test_schedule_is_medfusion():
    betas = _ddpm().betas
    assert math.isclose(float(betas[0]), 0.002, rel_tol=1e-5) and math.isclose(float(betas[-1]), 0.02, rel_tol=1e-5)
    # scaled linear: the square roots of the betas are equally spaced
    assert torch.allclose(betas.sqrt().diff(), betas.sqrt().diff()[0].expand(999), atol=1e-7)


def test_argument_checks(phantom_split):
    root, split = phantom_split
    loader, ae, unet = image_loader(split, root), tiny_autoencoder(), tiny_unet()
    opt = torch.optim.AdamW(unet.parameters())
    with pytest.raises(TypeError, match="LatentDiffusionInferer"):
        USLatentDiffusionTrainer("cpu", 1, loader, unet, opt, ae, SimpleInferer())
    with pytest.raises(ValueError, match="epsilon"):
        USLatentDiffusionTrainer("cpu", 1, loader, unet, opt, ae, LatentDiffusionInferer(_ddpm("v_prediction")))
    with pytest.raises(ValueError, match="scale_factor"):
        USLatentDiffusionTrainer("cpu", 1, loader, unet, opt, ae, LatentDiffusionInferer(_ddpm()), scale_factor="max")


def test_latent_statistics(phantom_split):
    root, split = phantom_split
    torch.manual_seed(0)
    ae = tiny_autoencoder(latent_channels=3).eval()
    std, shape = latent_statistics(ae, image_loader(split, root, size=32, batch_size=4), "cpu")
    assert shape == (3, 4, 4)  # 32 px, 8x down-sampling
    assert 0 < std < 10


def test_train_checkpoint_resume(phantom_split, tmp_path):
    root, split = phantom_split
    torch.manual_seed(0)
    loader = image_loader(split, root, size=32, batch_size=3)  # 9 training images: 3 iterations per epoch
    ae, unet = tiny_autoencoder(), tiny_unet()
    stats = tmp_path / "latent_stats.json"
    ckpt = ResumableCheckpointHandler(str(tmp_path / "resume"), {"model": unet}, save_interval=3)
    losses = []
    trainer = _trainer(loader, ae, unet, 4, [ckpt], scale_factor="auto", latent_stats_file=str(stats))
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: losses.append(float(e.state.output["loss"])))
    trainer.run()
    assert len(losses) == 12 and all(math.isfinite(v) and v > 0 for v in losses)
    assert sum(losses[-3:]) < sum(losses[:3])  # L1 on epsilon falls from ~0.8 within a few steps
    assert not any(p.requires_grad for p in ae.parameters())
    out = trainer.state.output
    assert out["pred"].shape == out["label"].shape == (3, 2, 4, 4)
    written = json.loads(stats.read_text())
    assert math.isclose(written["scale_factor"], 1.0 / written["latent_std"], rel_tol=1e-9)
    assert written["latent_shape"] == [2, 4, 4]
    assert trainer.inferer.scale_factor == pytest.approx(written["scale_factor"])
    path = latest_checkpoint(tmp_path / "resume")
    assert path is not None and path.endswith("iteration=12.pt")

    # resume into fresh objects: the iteration and the scale factor come from the checkpoint, not a new measurement
    unet2 = tiny_unet()
    resumed = _trainer(
        loader, ae, unet2, 5,
        [ResumableCheckpointHandler(str(tmp_path / "resume"), {"model": unet2}, save_interval=3, resume=True)],
        scale_factor="auto",
    )
    first = []
    resumed.add_event_handler(Events.ITERATION_STARTED(once=13), lambda e: first.append(e.state.iteration))
    resumed.run()
    assert first == [13] and resumed.state.iteration == 15
    assert resumed.inferer.scale_factor == pytest.approx(written["scale_factor"])
    # the checkpoint holds the first run's weights at iteration 12 (where that run ended)
    saved = torch.load(path, weights_only=False)["model"]
    assert all(torch.equal(saved[k], v) for k, v in unet.state_dict().items())
