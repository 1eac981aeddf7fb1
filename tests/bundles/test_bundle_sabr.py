# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""The SABR-Net bundle at tiny size: the four stages (warm-up, pretraining, finetuning, boundary model), evaluation
and inference (PNG folder and DICOM clip) tracked in MLflow with every loss logged, the offline bundle checks, a
stage that is missing its predecessor's file, and a pretraining run killed with SIGKILL and resumed with
``--resume true`` through ``python -m monai.bundle run``; plus config-level checks of the recipe (no training)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.fixtures import parse_bundle_configs

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "bundles" / "sabr_us_segmentation"
WORKER = Path(__file__).with_name("sabr_worker.py")
sys.path.insert(0, str(Path(__file__).parent))

from sabr_worker import NETWORK, TINY  # noqa: E402

PRETRAIN_KEYS = {"loss_d_img", "loss_d_seg", "loss_r1_img", "loss_r1_seg", "loss_adv_img_u", "loss_adv_seg_u",
                 "loss_fm_u", "loss_rec_u", "loss_perc_u", "loss_style_u", "loss_path_u", "loss_g_unlabeled",
                 "loss_adv_img_l", "loss_ce_l", "loss_dice_l", "loss_path_l", "loss_g_labeled", "path_length"}


def _env() -> dict:
    return dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(ROOT))


def _bundle_run(configs: list[str], args: dict, **popen) -> list[str]:
    cmd = [sys.executable, "-m", "monai.bundle", "run", "--config_file",
           json.dumps([str(BUNDLE / "configs" / c) for c in configs])]
    for k, v in args.items():
        cmd += [f"--{k}", v if isinstance(v, str) else json.dumps(v)]
    return cmd


@pytest.fixture(scope="module")
def tiny_overlay(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("overlay") / "tiny.json"
    path.write_text(json.dumps(TINY))
    return path


@pytest.mark.slow
def test_sabr_stages_evaluate_infer_track_and_check(tmp_path, tiny_overlay):
    result = tmp_path / "result.json"
    uri = f"sqlite:///{tmp_path}/mlruns.db"
    proc = subprocess.run([sys.executable, str(WORKER), str(BUNDLE), str(tmp_path), "cardiac", uri, str(result)],
                          env=_env(), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    r = json.loads(result.read_text())
    stages = r["stages"]
    assert all(stages[s]["properties"] == [] for s in stages), {s: stages[s]["properties"] for s in stages}
    assert [stages[s]["iterations"] for s in ("warmup", "pretrain", "finetune", "train")] == [2, 4, 2, 4]
    # every stage hands its files to the next; model C is models/model.pt as in the other bundles
    for f in ("models/warmup/generator.pt", "models/warmup/discriminator_image.pt", "models/warmup/encoder.pt",
              "models/pretrain/generator_ema.pt", "models/finetune/generator.pt", "models/model.pt",
              "models/pretrain/resume/checkpoint_final.pt"):
        assert f in r["checkpoints"], (f, r["checkpoints"])
    # every loss and regulariser reaches MLflow (epoch averages) with the stage's parameters
    assert {"loss_d_img", "loss_r1_img", "loss_rec_u", "loss_adv_img_u", "train_loss"} <= set(
        stages["warmup"]["mlflow_metrics"])
    assert "loss_d_seg" not in stages["warmup"]["mlflow_metrics"]
    assert PRETRAIN_KEYS | {"val_mean_dice", "train_loss"} <= set(stages["pretrain"]["mlflow_metrics"])
    assert {"loss_ce", "loss_dice", "grad_norm", "val_mean_dice"} <= set(stages["finetune"]["mlflow_metrics"])
    names = ["lv", "myocardium", "la"]
    assert {"loss_coarse", "loss_segfix", "loss_refined", "loss_segfix_mask", "loss_segfix_direction",
            "val_mean_dice"} | {f"val_dice_{n}" for n in names} <= set(stages["train"]["mlflow_metrics"])
    assert stages["pretrain"]["mlflow_params"]["stage"] == "pretrain"
    assert stages["pretrain"]["mlflow_params"]["perceptual_encoder"] == "warmup_snapshot"
    train_params = stages["train"]["mlflow_params"]
    assert train_params["method"] == "sabr" and train_params["task"] == "cardiac"
    assert all(stages[s]["mlflow_status"] == "FINISHED" for s in stages)
    assert stages["train"]["mlflow_history_train_loss"] == 4
    # validation of the EMA generator (stage 1) and of model C's refined output (stage 2b), three cardiac structures
    for s in ("pretrain", "finetune", "train"):
        assert 0.0 <= stages[s]["val_metrics"]["val_mean_dice"] <= 1.0
    # evaluation on the test split and inference (PNG: masks at the input size; DICOM clip: SR + key-frame SEGs)
    assert r["eval_run_status"] == ["FINISHED"] and {f"test_dice_{n}" for n in names} <= set(r["eval_run_metrics"])
    assert r["test_csv_rows"] > 0 and r["test_csv_rows"] % 3 == 0
    assert r["infer_properties"] == [] and r["infer_masks"] == [[72, 80]] * 3
    assert set(r["infer_values"]) <= {0, 1, 2, 3}
    assert r["clip_written"][0] == "clip_sr.dcm" and any(n.endswith("_seg.dcm") for n in r["clip_written"])
    assert r["clip_masks"] == [f"clip_f{i:04d}_mask.png" for i in range(4)]
    checks = r["checks"]
    assert checks["verify_metadata"] == "ok" and checks["verify_net_in_out"] == "ok"
    assert checks["ckpt_export"].startswith("ok")

    # a stage whose predecessor did not run: the error names the missing file and the command that writes it
    empty = tmp_path / "empty_models"
    proc = subprocess.run(_bundle_run(["pretrain.json", str(tiny_overlay)], {
        "bundle_root": str(BUNDLE), "ckpt_dir": str(empty), "dataset_dir": str(tmp_path / "data"),
        "task": "cardiac"}), env=_env(), capture_output=True, text=True, timeout=300, cwd=str(BUNDLE))
    assert proc.returncode != 0
    last = [line for line in proc.stderr.splitlines() if line.strip()][-1]  # repeated last by monai_ext's excepthook
    assert last.startswith(f"USCheckpointError: checkpoint {empty / 'warmup' / 'generator.pt'}: the warm-up generator "
                           "is not there"), last
    assert "Run `python -m monai.bundle run --config_file configs/warmup.json` first" in last
    assert not (empty / "pretrain").exists()  # nothing was trained or written

    # stage 1 killed after a checkpoint and resumed with --resume true continues from the checkpointed iteration
    models = tmp_path / "resume_models"
    shutil.copytree(tmp_path / "models" / "warmup", models / "warmup", ignore=shutil.ignore_patterns("resume"))
    args = {"bundle_root": str(BUNDLE), "ckpt_dir": str(models), "task": "cardiac",
            "dataset_dir": str(tmp_path / "data"), "pretrain_iterations": 12,
            "checkpoint_interval": 4, "pretrain_val_interval": 6}
    log1 = (tmp_path / "first.log").open("w")
    first = subprocess.Popen(_bundle_run(["pretrain.json", str(tiny_overlay)], args), env=_env(), stdout=log1,
                             stderr=subprocess.STDOUT, cwd=str(BUNDLE))
    saved = models / "pretrain" / "resume" / "checkpoint_checkpoint_iteration=4.pt"
    try:
        deadline = time.time() + 300
        # MONAI's CheckpointSaver writes in place (not atomically): wait for its log line, not for the file
        while "Saved checkpoint at iteration: 4" not in (tmp_path / "first.log").read_text():
            assert first.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
            assert time.time() < deadline, "no checkpoint at iteration 4"
            time.sleep(0.05)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
        log1.close()
    kept = sorted(p.name for p in saved.parent.glob("*.pt"))
    assert kept == [saved.name], kept  # killed before the next checkpoint (8) and without a final one
    second = subprocess.run(_bundle_run(["pretrain.json", str(tiny_overlay)], {**args, "resume": "true"}),
                            env=_env(), capture_output=True, text=True, timeout=300, cwd=str(BUNDLE))
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    log2 = second.stdout + second.stderr
    assert f"Restored all variables from {saved}" in log2
    # the resumed process trains iterations 5-12 only: it saves at 8 and 12, never again at 4
    assert "Saved checkpoint at iteration: 8" in log2 and "Saved checkpoint at iteration: 4" not in log2
    final = torch.load(saved.parent / "checkpoint_final.pt", map_location="cpu", weights_only=True)
    assert final["trainer"]["iteration"] == 12
    assert {"generator", "image_discriminator", "mask_discriminator", "ema_generator", "generator_optimizer",
            "generator_labeled_optimizer", "image_discriminator_optimizer", "mask_discriminator_optimizer",
            "path_length", "generator_lr_scheduler", "generator_labeled_lr_scheduler"} <= set(final)
    assert (models / "pretrain" / "generator_ema.pt").is_file()


def _parse(configs: list[str], **override):
    return parse_bundle_configs(BUNDLE, configs, **override)


def test_overlays_are_valid_for_every_stage():
    """quick.json, research.json and the labelled-fraction presets set only ids that every stage config has."""
    stages = ["warmup.json", "pretrain.json", "finetune.json", "train.json"]
    for overlay in ("quick.json", "research.json", "labeled20.json", "labeled50.json"):
        for stage in stages:
            cfg = _parse([stage, overlay], bundle_root=str(BUNDLE))
            assert cfg.get("image_size") is not None, (overlay, stage)
    research = json.loads((BUNDLE / "configs" / "research.json").read_text())
    assert (research["phantom#num"], research["phantom#size"], research["image_size"]) == (600, 128, [96, 96])
    batches = (research["labeled_batch_size"], research["unlabeled_batch_size"])
    assert batches == (4, 4) and research["max_iterations"] == 2000
    assert json.loads((BUNDLE / "configs" / "labeled20.json").read_text()) == {"split#labeled": 0.2}
    assert json.loads((BUNDLE / "configs" / "labeled50.json").read_text()) == {"split#labeled": 0.5}


def test_stage_recipes_follow_the_released_code():
    """Optimisers, clips, temperatures, intervals and file hand-over of the shipped configs (no data needed)."""
    pre = _parse(["pretrain.json"], bundle_root=str(BUNDLE))
    assert pre.get_parsed_content("generator_lr") == pytest.approx(1.6e-4)
    assert pre.get_parsed_content("discriminator_lr") == pytest.approx(2e-4 * 16 / 17)
    assert pre.get_parsed_content("generator_betas") == pytest.approx([0.0, 0.99 ** 0.8])
    assert pre.get_parsed_content("ema_decay") == pytest.approx(0.99778, abs=1e-5)
    assert (pre["pretrain_iterations"], pre["d_reg_every"], pre["path_length_interval"]) == (60000, 16, 4)
    assert (pre["unlabeled_grad_clip"], pre["labeled_grad_clip"], pre["r1_gamma"]) == (2.0, 5.0, 10.0)
    assert pre["seg_loss_def"]["ce_temperature"] == 0.1 and pre["perceptual_encoder"] == "warmup_snapshot"
    assert (pre.get_parsed_content("lr_schedule#cosine_start"), pre.get_parsed_content("lr_schedule#cosine_end")) == (
        30000, 100000)
    assert pre.get_parsed_content("pretrain_generator_file").endswith("models/pretrain/generator_ema.pt")
    fine = _parse(["finetune.json"], bundle_root=str(BUNDLE))
    assert fine.get_parsed_content("finetune_learning_rate") == pytest.approx(8e-5)
    assert (fine["finetune_iterations"], fine["labeled_batch_size"], fine["grad_clip"], fine["ce_temperature"]) == (
        15000, 8, 5.0, 1.0)
    train = _parse(["train.json"], bundle_root=str(BUNDLE))
    assert (train["learning_rate"], train["weight_decay"], train["labeled_batch_size"]) == (1e-4, 1e-5, 8)
    assert train["network_def"]["_target_"] == "monai_ext.networks.nets.SABRSegmentationNet"
    assert train.get_parsed_content("loss_weights") == {"coarse": 0.5, "segfix": 1.0, "refined": 1.0}
    inference = json.loads((BUNDLE / "configs" / "inference.json").read_text())
    # the same network as training; inference.json also turns it off for the ONNX Runtime / OpenVINO backends
    deployed = {k: v for k, v in inference["network_def"].items() if k != "_disabled_"}
    assert inference["network_def"]["_disabled_"] == "$@backend != 'torch'"
    assert deployed == json.loads((BUNDLE / "configs" / "train.json").read_text())["network_def"]
    net = _parse(["inference.json"], bundle_root=str(BUNDLE), **NETWORK).get_parsed_content("network_def")
    assert net.training and net.boundary_refinement == "segfix"


def test_bundle_readme_lists_deviations_and_claims_no_paper_numbers():
    text = (BUNDLE / "docs" / "README.md").read_text()
    for needle in ("warmup.json", "pretrain.json", "finetune.json", "train.json", "shadow_modes.png",
                   "project extension", "not available", "legacy_relu_logits", "leak_hole_ring", "Configs are code"):
        assert needle in text, needle
