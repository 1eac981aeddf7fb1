# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of scripts/gpu_check.sh / gpu_check.py on a CPU with the tiny setting (GPU_CHECK_TINY=1)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu_check.py"
SHELL = ROOT / "scripts" / "gpu_check.sh"

# run gpu_check.py where MLflow, Ignite and the DICOM packages cannot be imported (as on a bare CUDA machine)
WITHOUT_OPTIONAL_PACKAGES = """
import importlib.abc, runpy, sys
class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"mlflow", "ignite", "pydicom", "highdicom"}:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
        return None
sys.meta_path.insert(0, Blocked())
sys.argv = [sys.argv[1]] + sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPU_CHECK_") and k != "OUT"}
    env.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), **extra})
    return env


def test_figures_from_log(gpu_check):
    log = (
        "INFO - Epoch[1] Metrics -- val_dice_lesion: 0.0089 val_mean_dice: 0.0089 \n"
        "INFO - Key metric: val_mean_dice best value: 0.008910966105759144 at epoch: 1\n"
        "INFO - Key metric: train_mean_dice best value: 0.0673874244093895 at epoch: 1\n"
        "INFO - Epoch[2] Metrics -- val_dice_lesion: 0.31 val_mean_dice: 0.3100 \n"
        "INFO - Key metric: val_mean_dice best value: 0.31 at epoch: 2\n"
        "INFO - Key metric: train_mean_dice best value: 0.5 at epoch: 2\n"
        "ignite.engine.engine.SemiSupervisedTrainer - INFO - Engine run finished. Time taken: 00:01:02.500\n"
    )
    assert gpu_check.figures_from_log(log) == {"best_val_dice": 0.31, "validations": 2, "last_val_dice": 0.31,
                                               "train_s": 62.5}
    assert gpu_check.figures_from_log("Traceback ...") == {"best_val_dice": None, "validations": 0,
                                                          "last_val_dice": None, "train_s": None}


def test_bundle_settings_are_the_train_json_literals(gpu_check):
    mgcc = gpu_check.bundle_settings("mgcc_us_segmentation")
    assert mgcc["dim_mult"] == 4 and mgcc["image_size"] == [256, 256] and mgcc["channels_last"] is True
    assert (mgcc["labeled_batch_size"], mgcc["unlabeled_batch_size"]) == (4, 4)
    assert gpu_check.bundle_settings("msmo_us_segmentation")["decoder"] == "hconvlstm"


def test_unknown_part_is_refused(gpu_check, tmp_path):
    with pytest.raises(SystemExit, match=r"unknown part\(s\) \['train'\]"):
        gpu_check.main(["--out", str(tmp_path), "--parts", "steps,train"])


def test_tiny_steps_run_without_mlflow_ignite_or_dicom(tmp_path):
    from monai_ext.networks.nets import MGCCNet, MSMONet

    proc = subprocess.run([sys.executable, "-c", WITHOUT_OPTIONAL_PACKAGES, str(SCRIPT), "--tiny", "--parts", "steps",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=300, env=_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads((tmp_path / "gpu_check.json").read_text())
    assert json.loads(proc.stdout.strip().splitlines()[-1])["steps"] == r["steps"]
    assert r["tiny"] is True and r["device"] == "cpu" and r["bundle_runs"] is None
    assert r["optional_packages_loaded"] == {"mlflow": False, "ignite": False, "pydicom": False}
    steps = r["steps"]
    train = [s for s in steps if s["figure"] == "train_step"]
    evals = [s for s in steps if s["figure"] == "eval_forward"]
    # per network: fp32 and AMP with train.json's checkpointing and without any; eval forward fp32 and AMP
    assert [(s["network"], s["precision"], s["checkpointing"]) for s in train] == [
        (n, p, c) for n in ("mgcc", "msmo") for c in ("train.json", "none") for p in ("fp32", "amp_bf16")]
    assert [(s["network"], s["precision"]) for s in evals] == [
        (n, p) for n in ("mgcc", "msmo") for p in ("fp32", "amp_bf16")]
    mgcc_params = MGCCNet(dim_mult=0.25).parameter_count()
    msmo = MSMONet(out_channels=3, dim_mult=0.25)
    for s in train:
        assert s["size"] == 64 and s["dim_mult"] == 0.25 and s["batch"] == "4+4" and s["timed_steps"] == 2
        assert s["memory_format"] == "channels_last" and s["peak_gpu_gib"] is None and s["loss_finite"]
        assert 0 < s["s_per_step_min"] <= s["s_per_step_median"]
        assert s["parameters"] == (mgcc_params if s["network"] == "mgcc" else msmo.parameter_count())
        if s["checkpointing"] == "train.json":  # both bundles checkpoint all decoders in train.json
            assert s["checkpoint_aux_decoders"] and s["checkpoint_main_decoder"]
    for s in evals:
        assert s["output_shape"] == [1, 1 if s["network"] == "mgcc" else 3, 64, 64] and s["ms_per_image_median"] > 0
    assert [s["parameters_inference"] for s in evals if s["network"] == "msmo"] == [
        msmo.parameter_count(inference=True)] * 2


@pytest.mark.slow
def test_shell_script_tiny_bundle_runs(tmp_path):
    # the four-iteration MGCC and supervised runs through `python -m monai.bundle run` (about a minute on one thread)
    out = tmp_path / "out"
    proc = subprocess.run(["bash", str(SHELL)], capture_output=True, text=True, timeout=600,
                          env=_env(OUT=str(out), GPU_CHECK_TINY="1", GPU_CHECK_PARTS="bundles", PYTHON=sys.executable))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"figures in {out}/gpu_check.json" in proc.stderr.strip().splitlines()[-1]
    r = json.loads((out / "gpu_check.json").read_text())
    assert r["steps"] is None and [b["bundle"] for b in r["bundle_runs"]] == ["mgcc_us_segmentation",
                                                                             "supervised_us_segmentation"]
    for b in r["bundle_runs"]:
        overlay = "research.json" if (ROOT / "bundles" / b["bundle"] / "configs" / "research.json").is_file() \
            else "quick.json"
        assert b["configs"] == ["train.json", overlay] and b["max_iterations"] == 4
        assert b["rc"] == 0 and not b["timed_out"] and b["model_saved"], b["log_tail"]
        assert b["validations"] == 2 and 0.0 <= b["best_val_dice"] <= 1.0 and b["train_s"] is not None
        assert (out / f"bundle_{b['bundle']}.log").is_file()
    assert (out / "data" / "phantom_breast_n24_s64_seed0" / "dataset.json").is_file()
    assert not (ROOT / "bundles" / "mgcc_us_segmentation" / "data" / "phantom_breast_n24_s64_seed0").exists()
