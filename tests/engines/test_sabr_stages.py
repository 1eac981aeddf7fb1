# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""The files SABR-Net's stages hand to each other, the perceptual-encoder options, the stage-1 schedule and the
evaluation inferer of generator B."""

from __future__ import annotations

import math

import pytest
import torch

from monai_ext.engines import (
    SABRGeneratorLRLambda,
    SABRGeneratorSegInferer,
    load_stage_weights,
    make_ema_teacher,
    sabr_perceptual_encoder,
    sabr_stage_command,
    save_stage_weights,
    transfer_generator_encoder,
)
from monai_ext.handlers import USCheckpointError
from monai_ext.networks.nets import SABRGenerator, SABRSegmentationNet

TINY_G = {"img_size": 32, "dim": 8, "num_heads": 2, "depths": (1, 1, 1, 1, 1), "z_dim": 16, "w_dim": 16,
          "mapping_layers": 2}


def _generator(seed: int = 0, **kw) -> SABRGenerator:
    torch.manual_seed(seed)
    return SABRGenerator(**{**TINY_G, **kw})


def test_missing_stage_file_names_the_file_and_the_command(tmp_path):
    missing = tmp_path / "models" / "warmup" / "generator.pt"
    with pytest.raises(USCheckpointError) as e:
        load_stage_weights(_generator(), missing, "warmup", "warm-up generator")
    msg = str(e.value)
    assert msg.startswith(f"checkpoint {missing}: the warm-up generator is not there")
    assert "Run `python -m monai.bundle run --config_file configs/warmup.json` first" in msg
    with pytest.raises(USCheckpointError, match="configs/finetune.json"):
        transfer_generator_encoder(SABRSegmentationNet(dim=8, num_heads=2, depths=(1, 1, 1)), tmp_path / "g.pt")
    assert sabr_stage_command("pretrain") == "python -m monai.bundle run --config_file configs/pretrain.json"
    with pytest.raises(ValueError, match="unknown SABR stage"):
        sabr_stage_command("stage3")


def test_stage_weights_round_trip_atomically_and_refuse_other_widths(tmp_path):
    g = _generator(0)
    path = save_stage_weights(g, tmp_path / "a" / "generator.pt")
    assert not list((tmp_path / "a").glob("*.tmp"))
    other = load_stage_weights(_generator(1), path, "warmup")
    assert all(torch.equal(a, b) for a, b in zip(g.state_dict().values(), other.state_dict().values()))
    # a DDP-style "module." prefix and a {"model": ...} wrapper (a CheckpointSaver / resumable file) are accepted
    torch.save({"model": {f"module.{k}": v for k, v in g.state_dict().items()}}, tmp_path / "wrapped.pt")
    load_stage_weights(_generator(2), tmp_path / "wrapped.pt", "warmup")
    with pytest.raises(USCheckpointError, match="does not fit the network SABRGenerator: .* other shapes") as e:
        load_stage_weights(_generator(dim=16), path, "warmup", "warm-up generator")
    assert str(path) in str(e.value) and "configs/warmup.json" in str(e.value)
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(USCheckpointError, match="junk.pt: the checkpoint is not a readable PyTorch state dict"):
        load_stage_weights(_generator(), tmp_path / "junk.pt", "warmup")


def test_encoder_transfer_copies_exactly_the_encoder_by_key_mapping(tmp_path):
    g = _generator(3)
    path = save_stage_weights(g, tmp_path / "finetune" / "generator.pt")
    torch.manual_seed(4)
    c = SABRSegmentationNet(dim=8, num_heads=2, depths=(1, 1, 1), decoder_channels=8, head_channels=8)
    decoder_before = {k: v.clone() for k, v in c.decoder.state_dict().items()}
    assert transfer_generator_encoder(c, path) is c
    for k, v in c.encoder.state_dict().items():
        assert torch.equal(v, g.state_dict()[f"encoder.{k}"]), k
    assert all(torch.equal(v, decoder_before[k]) for k, v in c.decoder.state_dict().items())
    assert all(not p.requires_grad for p in c.encoder.parameters())
    wide = SABRSegmentationNet(dim=16, num_heads=2, depths=(1, 1, 1))
    with pytest.raises(USCheckpointError, match="generator.pt: the finetuned generator does not fit model C.*shape"):
        transfer_generator_encoder(wide, path)


def test_perceptual_encoder_options(tmp_path):
    g = _generator(5)
    snapshot = save_stage_weights(g.encoder.frozen_copy(), tmp_path / "warmup" / "encoder.pt")
    trained = _generator(6)  # stage 1 continues from other weights; E stays the snapshot
    e = sabr_perceptual_encoder("warmup_snapshot", trained, snapshot)
    assert not e.training and all(not p.requires_grad for p in e.parameters())
    assert all(torch.equal(a, b) for a, b in zip(e.state_dict().values(), g.encoder.state_dict().values()))
    assert len(e.feature_taps(torch.zeros(1, 3, 32, 32), torch.ones(1, 1, 32, 32))) == 4
    ema = make_ema_teacher(trained)
    assert sabr_perceptual_encoder("ema", trained, ema_generator=ema) is ema.encoder
    assert sabr_perceptual_encoder("none", trained) is None
    local = sabr_perceptual_encoder("local_weights", trained, local_file=snapshot)
    assert all(torch.equal(a, b) for a, b in zip(local.state_dict().values(), g.encoder.state_dict().values()))
    with pytest.raises(ValueError, match="needs a local file"):
        sabr_perceptual_encoder("local_weights", trained)
    with pytest.raises(USCheckpointError, match="the warm-up encoder snapshot is not there.*configs/warmup.json"):
        sabr_perceptual_encoder("warmup_snapshot", trained, tmp_path / "nothing.pt")
    with pytest.raises(ValueError, match="perceptual_encoder must be one of"):
        sabr_perceptual_encoder("vgg19", trained)


def test_generator_schedule_is_the_public_one_without_the_jump():
    f = SABRGeneratorLRLambda(30000, 100000, 0.1)
    assert f(0) == f(30000) == 1.0
    assert f(30001) == pytest.approx(1.0, abs=1e-8)  # continuous: no jump where the cosine starts
    assert f(65000) == pytest.approx(0.55)
    assert f(100000) == pytest.approx(0.1) and f(150000) == pytest.approx(0.1)
    opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=2e-4 * 4 / 5, betas=(0.0, 0.99 ** 0.8))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, f)
    sched.last_epoch = 59999
    sched.step()
    expected = 1.6e-4 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 30000 / 70000)))
    assert opt.param_groups[0]["lr"] == pytest.approx(expected)  # 1.04e-4 at the public stop (60,000 iterations)
    with pytest.raises(ValueError):
        SABRGeneratorLRLambda(10, 5)


def test_seg_inferer_returns_the_deterministic_segmentation_logits():
    g = _generator(7).eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    a, b = SABRGeneratorSegInferer()(x, g), SABRGeneratorSegInferer()(x, g)
    assert a.shape == (2, 2, 32, 32) and torch.equal(a, b)  # average w in evaluation mode
