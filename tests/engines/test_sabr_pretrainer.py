# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""SABRPretrainer (SABR-Net stages 0 and 1) at tiny size: the iteration's steps, logged entries, regulariser
intervals, EMA, stage-0 switches, and a killed run resuming at the same iteration with the same final state."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from ignite.engine import Events
from monai.engines.utils import IterationEvents

from monai_ext.engines import SABRIterationEvents, sabr_pretrain_output_keys
from monai_ext.losses import USReconstructionL1Loss

from .sabr_tiny import build


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _changed(before: dict, module: torch.nn.Module, prefix: str = "") -> bool:
    return any(not torch.equal(before[k], v) for k, v in module.state_dict().items() if k.startswith(prefix))


def _record(trainer) -> list[dict]:
    rows = []

    @trainer.on(Events.ITERATION_COMPLETED)
    def _(engine):
        out = engine.state.output[0]  # decollated: one dict per item, scalars replicated
        rows.append({k: (float(v) if isinstance(v, (torch.Tensor, float, int)) else v) for k, v in out.items()
                     if k not in ("image", "pred")})

    return rows


def test_stage1_iteration_logs_every_term_updates_all_networks_and_the_ema():
    trainer, parts = build(max_iterations=4, d_reg_every=2, pl_interval=3)
    g, d_img = parts["generator"], parts["image_discriminator"]
    d_seg, ema = parts["mask_discriminator"], parts["ema_generator"]
    before = {n: _snapshot(m) for n, m in (("g", g), ("d_img", d_img), ("d_seg", d_seg), ("ema", ema))}
    events = []
    for e in (SABRIterationEvents.DISCRIMINATORS_COMPLETED, SABRIterationEvents.UNLABELED_GENERATOR_COMPLETED,
              IterationEvents.FORWARD_COMPLETED, IterationEvents.BACKWARD_COMPLETED, IterationEvents.MODEL_COMPLETED):
        trainer.add_event_handler(e, lambda engine, name=e.name: events.append((engine.state.iteration, name)))
    rows = _record(trainer)
    trainer.run()

    assert trainer.state.iteration == 4 and len(rows) == 4
    keys = sabr_pretrain_output_keys(segmentation=True, perceptual=True, path_length=True)
    assert len(keys) == 26
    for row in rows:
        assert set(keys) <= set(row), sorted(set(keys) - set(row))
        assert all(math.isfinite(row[k]) for k in keys), {k: row[k] for k in keys}
    # lazy R1 every 2 iterations (1, 3), path length every 3 (1, 4); the logged value is carried in between
    assert [r["r1_applied"] for r in rows] == [1.0, 0.0, 1.0, 0.0]
    assert [r["path_length_applied"] for r in rows] == [1.0, 0.0, 0.0, 1.0]
    assert rows[1]["loss_r1_img"] == rows[0]["loss_r1_img"] and rows[3]["loss_r1_img"] == rows[2]["loss_r1_img"]
    assert rows[2]["loss_r1_img"] != rows[0]["loss_r1_img"]
    assert rows[1]["loss_path_u"] == rows[0]["loss_path_u"] and rows[3]["loss_path_u"] != rows[0]["loss_path_u"]
    assert all(r["loss_r1_img"] > 0 and r["loss_r1_seg"] > 0 for r in rows)
    # the totals are the weighted sums of the unweighted terms (weights of the released code)
    r = rows[-1]
    unlabeled = (r["loss_adv_img_u"] + r["loss_adv_seg_u"] + 2 * r["loss_fm_u"] + 10 * r["loss_rec_u"]
                 + 10 * r["loss_perc_u"] + 250 * r["loss_style_u"])
    assert r["loss_g_unlabeled"] == pytest.approx(unlabeled, rel=1e-4)
    labeled = (r["loss_adv_img_l"] + r["loss_adv_seg_l"] + 2 * r["loss_fm_l"] + 10 * r["loss_rec_l"]
               + 10 * r["loss_perc_l"] + 250 * r["loss_style_l"] + r["loss_ce_l"] + r["loss_dice_l"])
    assert r["loss_g_labeled"] == pytest.approx(labeled, rel=1e-4)
    assert r["loss"] == pytest.approx(r["loss_g_unlabeled"] + r["loss_g_labeled"], rel=1e-5)
    # epoch averages of every entry are engine metrics (what --tracking mlflow logs)
    assert set(keys) <= set(trainer.state.metrics)
    # all three networks are trained; the EMA moved but lags the generator
    assert _changed(before["g"], g) and _changed(before["d_img"], d_img) and _changed(before["d_seg"], d_seg)
    assert _changed(before["ema"], ema, "dec_seg.")
    key = next(k for k, _ in g.named_parameters() if k.startswith("dec_seg."))
    w_g, w_ema, w_0 = g.state_dict()[key], ema.state_dict()[key], before["g"][key]
    assert 0 < (w_ema - w_0).abs().max() < (w_g - w_0).abs().max()
    assert torch.equal(ema.state_dict()["mapping.w_avg"], g.state_dict()["mapping.w_avg"])  # buffers copied
    # order of the steps inside one iteration
    first = [name for it, name in events if it == 1]
    assert first == ["DISCRIMINATORS_COMPLETED", "FORWARD_COMPLETED", "BACKWARD_COMPLETED",
                     "UNLABELED_GENERATOR_COMPLETED", "FORWARD_COMPLETED", "BACKWARD_COMPLETED", "MODEL_COMPLETED"]


def test_ema_update_is_the_exponential_average_of_the_generator():
    trainer, parts = build(max_iterations=1, ema_decay=0.9)
    g, ema = parts["generator"], parts["ema_generator"]
    start = _snapshot(ema)
    trainer.run()
    key = next(k for k, _ in g.named_parameters() if k.startswith("encoder."))
    expected = 0.9 * start[key] + 0.1 * g.state_dict()[key]
    assert torch.allclose(ema.state_dict()[key], expected, atol=1e-6)


def test_stage0_warmup_trains_only_the_inpainting_path():
    trainer, parts = build(max_iterations=3, segmentation=False)
    g = parts["generator"]
    before = _snapshot(g)
    rows = _record(trainer)
    trainer.run()
    keys = sabr_pretrain_output_keys(segmentation=False, perceptual=False, path_length=False)
    assert keys == ["loss", "loss_d_img", "loss_r1_img", "loss_g_unlabeled", "loss_adv_img_u", "loss_rec_u",
                    "d_img_real", "d_img_fake"]
    assert set(keys) <= set(rows[-1]) and "loss_d_seg" not in rows[-1] and "loss_ce_l" not in rows[-1]
    assert rows[-1]["loss_g_unlabeled"] == pytest.approx(rows[-1]["loss_adv_img_u"] + 10 * rows[-1]["loss_rec_u"],
                                                         rel=1e-5)
    assert _changed(before, g, "encoder.") and _changed(before, g, "dec_image.")
    assert not _changed(before, g, "dec_seg.")  # no segmentation term reaches the segmentation decoder


def test_stage0_reconstruction_decreases_on_fixed_images():
    trainer, parts = build(max_iterations=24, segmentation=False, loss_weights={"adv_img": 0.0})
    rows = _record(trainer)
    trainer.run()
    first, last = sum(r["loss_rec_u"] for r in rows[:3]) / 3, sum(r["loss_rec_u"] for r in rows[-3:]) / 3
    assert last < 0.8 * first, (first, last)


def test_hole_weighted_reconstruction_composites_the_inpainting():
    hole_weighted = USReconstructionL1Loss("hole_weighted")
    trainer, _ = build(max_iterations=1, segmentation=False, reconstruction_loss=hole_weighted)
    seen = {}
    trainer.add_event_handler(SABRIterationEvents.DISCRIMINATORS_COMPLETED,
                              lambda e: seen.update(pred=e.state.output["pred"], image=e.state.output["image"]))
    trainer.run()
    batch = next(iter(trainer.data_loader))
    visible = batch["shadow_mask"].expand_as(seen["image"]) > 0
    assert torch.equal(seen["pred"][visible], seen["image"][visible])  # x_hat = G (1 - m) + x m


def test_image_discriminator_sees_images_resized_to_its_size():
    from monai_ext.networks.nets import SABRImageDiscriminator

    small = SABRImageDiscriminator(img_size=16, channel_base=256, channel_max=16)
    trainer, _ = build(max_iterations=1, segmentation=False)
    trainer.image_discriminator = small
    trainer.image_discriminator_optimizer = torch.optim.Adam(small.parameters())
    shapes = []
    small.register_forward_pre_hook(lambda m, args: shapes.append(tuple(args[0].shape[-2:])))
    trainer.run()
    assert shapes and set(shapes) == {(16, 16)}  # 32 px generator images, 16 px discriminator


def test_inconsistent_stage1_parts_are_refused():
    from monai_ext.engines import SABRPretrainer

    _, parts = build(max_iterations=1, segmentation=False)
    loader = [{"image": torch.zeros(1, 3, 32, 32), "shadow_mask": torch.ones(1, 1, 32, 32)}]
    with pytest.raises(ValueError, match="needs labeled_data_loader, mask_discriminator"):
        SABRPretrainer("cpu", None, loader, max_iterations=1, **parts)
    with pytest.raises(ValueError, match="unknown loss_weights"):
        SABRPretrainer("cpu", None, loader, max_iterations=1, segmentation=False, loss_weights={"styel": 1}, **parts)
    with pytest.raises(ValueError, match="d_reg_every"):
        SABRPretrainer("cpu", None, loader, max_iterations=1, segmentation=False, d_reg_every=0, **parts)


@pytest.mark.slow
def test_killed_run_resumes_at_the_same_iteration_with_the_same_final_state(tmp_path: Path):
    worker = Path(__file__).with_name("sabr_resume_worker.py")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).parents[2]))
    ckpt, log1, log2 = tmp_path / "ckpt", tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    proc = subprocess.Popen([sys.executable, str(worker), str(ckpt), str(log1), "--hang-at", "8"], env=env)
    try:
        deadline = time.time() + 240
        while time.time() < deadline:
            if log1.exists() and len(log1.read_text().splitlines()) >= 8:
                break
            assert proc.poll() is None, "the training worker exited early"
            time.sleep(0.2)
        else:
            pytest.fail("the training worker did not reach iteration 8")
        os.kill(proc.pid, signal.SIGKILL)  # a hard kill: nothing gets saved on the way out
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    saved = sorted(p.name for p in ckpt.glob("*.pt"))
    assert saved == ["checkpoint_checkpoint_iteration=6.pt"], saved
    subprocess.run([sys.executable, str(worker), str(ckpt), str(log2), "--resume"], env=env, check=True, timeout=300)
    ref_ckpt, ref_log = tmp_path / "ref", tmp_path / "ref.jsonl"
    # the uninterrupted reference in a process like the workers: with another thread count the reductions round
    # differently, and Adam turns that rounding into full-size steps on parameters whose true gradient is zero
    # (an attention key's bias, which softmax ignores)
    subprocess.run([sys.executable, str(worker), str(ref_ckpt), str(ref_log)], env=env, check=True, timeout=300)

    resumed = [json.loads(r) for r in log2.read_text().splitlines()]
    reference = {r["iteration"]: r for r in map(json.loads, ref_log.read_text().splitlines())}
    assert [r["iteration"] for r in resumed] == [7, 8, 9, 10]  # continues after the checkpoint at iteration 6
    for r in resumed:  # same learning rates, losses and regulariser schedule as the uninterrupted run
        ref = reference[r["iteration"]]
        assert r["lr"] == pytest.approx(ref["lr"]) and r["r1_applied"] == ref["r1_applied"]
        assert r["loss"] == pytest.approx(ref["loss"], rel=1e-4)
    final = torch.load(ckpt / "checkpoint_final.pt", map_location="cpu", weights_only=True)
    ref_final = torch.load(ref_ckpt / "checkpoint_final.pt", map_location="cpu", weights_only=True)
    assert final["trainer"]["iteration"] == ref_final["trainer"]["iteration"] == 10
    for name in ("generator", "image_discriminator", "mask_discriminator", "ema_generator", "path_length"):
        for k, v in ref_final[name].items():
            assert torch.allclose(final[name][k].float(), v.float(), atol=1e-5), (name, k)


@pytest.mark.parametrize("legacy", [False, True])
def test_mask_discriminator_sees_softmax_probabilities_not_raw_logits(legacy):
    trainer, parts = build(max_iterations=1, legacy_dseg_logits=legacy)
    assert trainer.seg_loss.ce_temperature == 0.1  # stage-1 labelled CE temperature of the released code
    inputs = []
    parts["mask_discriminator"].register_forward_pre_hook(lambda m, args: inputs.append(args[0].detach()))
    trainer.run()
    # D_seg calls: real, fake (D step), real (R1), real features, fake (unlabelled G step), fake (labelled G step)
    assert len(inputs) == 6
    real, fake = inputs[0][:, 3:], inputs[1][:, 3:]
    assert set(torch.unique(real).tolist()) == {0.0, 1.0}  # one-hot {0, 1} labels, not the public (mask + 1) / 2
    sums = fake.sum(dim=1)
    if legacy:  # the public code's raw logits: not a distribution over the classes
        assert not torch.allclose(sums, torch.ones_like(sums), atol=1e-3)
    else:
        assert torch.allclose(sums, torch.ones_like(sums), atol=1e-5) and fake.min() >= 0
