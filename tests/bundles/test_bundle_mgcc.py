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

"""The MGCC bundle trains (real + synthetic unlabelled images), validates, evaluates, infers, tracks to MLflow and
passes the offline checks at tiny size, in its own subprocess (docs/methods/bundles.md, "Tests of bundles"), plus
config-level checks of the paper protocol that need no training."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.fixtures import parse_bundle_configs

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "bundles" / "mgcc_us_segmentation"
WORKER = Path(__file__).with_name("bundle_worker.py")
# dim_mult=1 (widths 16..256, 7.7 M parameters) at 64x64 with 2 + 2 images: the whole worker takes about a minute
TINY = {"dim_mult": 1, "max_iterations": 4, "val_interval": 2, "checkpoint_interval": 2}


def _write_manifest(folder: Path, n: int = 3) -> Path:
    """A synthetic-image manifest (the generate stage's format) listing n small grey PNGs."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = []
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (64, 64), dtype=np.uint8)).save(folder / f"syn_{i:04d}.png")
        names.append(f"syn_{i:04d}.png")
    manifest = folder / "manifest.json"
    manifest.write_text(json.dumps({"format": "monai_ext.synthetic_manifest", "files": names}))
    return manifest


@pytest.mark.slow
def test_mgcc_bundle_train_evaluate_infer_track_and_check(tmp_path):
    manifest = _write_manifest(tmp_path / "synthetic")
    extra = dict(TINY, synthetic_manifest=str(manifest))
    result = tmp_path / "result.json"
    uri = f"sqlite:///{tmp_path}/mlruns.db"
    env = dict(os.environ, OMP_NUM_THREADS="2")
    proc = subprocess.run(
        [sys.executable, str(WORKER), str(BUNDLE), str(tmp_path), "cardiac", uri, str(result), json.dumps(extra)],
        env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    r = json.loads(result.read_text())
    names = ["lv", "myocardium", "la"]
    assert r["train_properties"] == [] and r["infer_properties"] == []
    assert r["train_iterations"] == 4
    assert "models/model.pt" in r["checkpoints"]
    assert "models/resume/checkpoint_checkpoint_iteration=4.pt" in r["checkpoints"]
    # per-structure validation metrics of the main head (sigmoid > 0.5 per structure)
    assert {f"val_{m}_{n}" for m in ("dice", "iou", "hd95") for n in names} | {"val_mean_dice"} <= set(r["val_metrics"])
    assert all(0.0 <= r["val_metrics"][f"val_dice_{n}"] <= 1.0 for n in names)
    # MLflow: losses of both terms, ramped weight, learning rate, per-structure validation metrics, parameters
    assert {"train_loss", "lr_group_0", "val_mean_dice", "loss_sup", "loss_cons", "consistency_weight"} <= set(
        r["mlflow_metrics"]
    )
    assert {f"val_dice_{n}" for n in names} <= set(r["mlflow_metrics"])
    assert r["mlflow_history_train_loss"] == 4
    params = r["mlflow_all_params"]
    assert params["method"] == "mgcc" and params["task"] == "cardiac"
    assert params["num_synthetic"] == "3" and params["legacy_double_normalization"] == "False"
    # the unlabelled stream = the split's real unlabelled images + the 3 synthetic ones
    assert int(params["num_unlabeled"]) >= 3 + 1
    assert any(a.startswith("config_") for a in r["mlflow_artifacts"])
    # evaluation on the test split: its own closed MLflow run and a per-image CSV (one row per image and structure)
    assert r["eval_run_status"] == ["FINISHED"]
    assert {f"test_dice_{n}" for n in names} | {"test_mean_dice"} <= set(r["eval_run_metrics"])
    # an evaluation run logs its scores under test_ names only (no val_* copy that reads as validation in MLflow)
    assert [m for m in r["eval_run_metrics"] if m.startswith("val_")] == []
    assert {"test_mean_iou", "test_mean_hd95"} <= set(r["eval_run_metrics"])
    assert {"structures", "overall", "per_image_csv"} <= set(r["test_summary_keys"])
    assert r["test_csv_rows"] > 0 and r["test_csv_rows"] % 3 == 0
    # inference: one mask per input at the input's own size, cardiac gray values only
    assert r["infer_masks"] == [[72, 80]] * 3
    assert set(r["infer_values"]) <= {0, 1, 2, 3}
    assert r["checks"]["verify_metadata"] == "ok" and r["checks"]["verify_net_in_out"] == "ok"
    assert r["checks"]["ckpt_export"].startswith("ok")


def _parse(configs: list[str], **override):
    return parse_bundle_configs(BUNDLE, configs, **override)


def test_train_config_follows_the_mgcc_protocol():
    """Loss, consistency, ramp, optimiser and schedule resolve to the paper protocol (docs/methods/mgcc.md, "Losses" to
    "Training protocol"), no data."""
    import torch

    from monai_ext.engines import CrossConsistencyMethod, PolyLRLambda
    from monai_ext.losses import USBCEDiceLoss

    cfg = _parse(["train.json"], dim_mult=1, max_iterations=5000, bundle_root=str(BUNDLE))
    assert cfg["network_def"]["_target_"] == "monai_ext.networks.nets.MGCCNet"
    assert cfg.get_parsed_content("in_channels") == 3 and cfg.get_parsed_content("image_size") == [256, 256]
    shipped = json.loads((BUNDLE / "configs" / "train.json").read_text())
    assert shipped["dim_mult"] == 4 and shipped["seed"] == 41  # full-size defaults (the parse above shrinks the net)
    loss = cfg.get_parsed_content("loss")
    assert isinstance(loss, USBCEDiceLoss) and (loss.bce_weight, loss.dice_weight, loss.smooth) == (0.5, 1.0, 1e-5)
    method = cfg.get_parsed_content("method")
    assert isinstance(method, CrossConsistencyMethod) and method.activation == "sigmoid"
    assert not method.detach_main and method.supervise_aux
    ssl = cfg.get_parsed_content("ssl")
    assert (ssl["consistency"], ssl["ramp_length"], ssl["ramp_step"], ssl["ramp_mode"]) == (7.0, 200, 150, "sigmoid")
    opt = cfg.get_parsed_content("optimizer")
    assert isinstance(opt, torch.optim.SGD)
    assert {k: opt.defaults[k] for k in ("lr", "momentum", "weight_decay")} == {
        "lr": 0.01, "momentum": 0.9, "weight_decay": 1e-4}
    sched = cfg.get_parsed_content("lr_scheduler")
    assert isinstance(sched.lr_lambdas[0], PolyLRLambda) and sched.lr_lambdas[0].max_iterations == 5000
    # clamped past the end: no complex learning rate (docs/methods/mgcc.md, "Public-code bugs not reproduced", item 1)
    assert sched.lr_lambdas[0](5001) == 0.0
    assert (cfg["labeled_batch_size"], cfg["unlabeled_batch_size"]) == (4, 4)


def test_max_iterations_and_augmentation_defaults():
    """max_iterations = int(40000 N_l / (N_l + N_u)) counting synthetic images; rot90 k-distribution and flips."""
    from monai.transforms import Flipd, Identityd, OneOf, RandRotate90d

    cfg = _parse(["train.json"], labeled_items=[{}] * 17, unlabeled_items=[{}] * 123, bundle_root=str(BUNDLE))
    assert cfg.get_parsed_content("max_iterations") == int(40000 * 17 / 140)
    assert cfg.get_parsed_content("val_interval") == 17 // 4  # one epoch = |labelled| // 4 iterations
    rot, flips = cfg.get_parsed_content("train#random_transforms")
    assert isinstance(rot, RandRotate90d) and rot.max_k == 3
    assert math.isclose(rot.prob, 0.375)  # P(k=0) = 0.625, P(k=1, 2, 3) = 0.125 each
    assert isinstance(flips, OneOf) and [type(t) for t in flips.transforms] == [Identityd, Flipd, Flipd, Flipd]
    assert np.allclose(flips.weights, [0.5, 1 / 6, 1 / 6, 1 / 6])
    assert [t.flipper.spatial_axis for t in flips.transforms[1:]] == [0, 1, [0, 1]]


def test_imagenet_normalisation_applied_once(tmp_path):
    """A grey PNG becomes 3 channels normalised once with the ImageNet statistics; the /255 legacy switch is off."""
    Image.fromarray(np.full((40, 48), 255, dtype=np.uint8)).save(tmp_path / "x.png")
    Image.fromarray(np.zeros((40, 48), dtype=np.uint8)).save(tmp_path / "m.png")
    item = {"image": str(tmp_path / "x.png"), "label": str(tmp_path / "m.png")}
    for legacy, scale in ((False, 1.0), (True, 1 / 255)):
        cfg = _parse(["train.json"], task="cardiac", image_size=[32, 32], legacy_double_normalization=legacy,
                     bundle_root=str(BUNDLE))
        out = cfg.get_parsed_content("validate#preprocessing")(item)
        img = out["image"]
        assert tuple(img.shape) == (3, 32, 32)
        expected = (1.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225]) * scale
        assert np.allclose(img[:, 0, 0].numpy(), expected, atol=1e-5)
        assert tuple(out["label"].shape) == (3, 48, 40)  # one channel per structure, source resolution (W, H)
