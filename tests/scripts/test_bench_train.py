# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of scripts/bench_train.py --compare-public: CPU description, targets, the comparison run and its JSON.

The public side needs a local checkout of the public code: set ``MONAI_EXT_PUBLIC_MGCC`` (FengheTan9/
Multi-Level_Global_Context_Cross_Consistency) and / or ``MONAI_EXT_PUBLIC_MSMO`` (lol88/MSMO) to run those tests;
they are skipped otherwise.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "bench_train.py"

CPUINFO_BF16 = "processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n"
CPUINFO_AVX2 = "processor\t: 0\nmodel name\t: Other CPU\nflags\t\t: fpu sse2 avx2 avx_vnni\n"
LSCPU = "Architecture:  x86_64\nModel name:    AMD EPYC 9654 96-Core Processor\nThread(s) per core: 2\n"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_train_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(bench, argv: list[str], monkeypatch) -> dict:
    for var in bench.PUBLIC_REPO_ENV.values():
        monkeypatch.delenv(var, raising=False)
    return bench.compare_public(bench.build_parser().parse_args(argv))


def test_cpu_description_reads_model_and_flags(bench):
    cpu = bench.cpu_description(CPUINFO_BF16, LSCPU)
    assert cpu["model"] == "AMD EPYC 9654 96-Core Processor"  # lscpu first
    assert cpu["flags"] == {"avx2": True, "avx512f": True, "avx512_bf16": True, "amx_bf16": False,
                            "avx512_vnni": True, "avx_vnni": False}
    assert cpu["native_bf16"] is True
    cpu = bench.cpu_description(CPUINFO_AVX2, "")
    assert cpu["model"] == "Other CPU"  # /proc/cpuinfo when lscpu says nothing
    assert cpu["native_bf16"] is False and cpu["flags"]["avx_vnni"] is True and cpu["flags"]["avx512f"] is False
    assert bench.cpu_description("", "")["model"] == "unknown"


def test_targets_ratios_and_limits(bench):
    public = {"min": 10.0, "median": 12.0, "cpu_min": 8.0, "cpu_median": 9.0}
    t = bench.evaluate_targets("mgcc", {"min": 10.0, "median": 12.6, "cpu_min": 6.0, "cpu_median": 9.9}, public,
                               {"min": 5.0, "median": 6.0})
    assert t["fp32"] == {"limit": 1.05, "ratio_min": 1.0, "ratio_median": 1.05, "cpu_ratio_min": 0.75,
                         "cpu_ratio_median": 1.1, "pass": True}  # pass / fail on the wall-clock medians
    assert t["bf16"] == {"limit": 0.5, "ratio_min": 0.5, "ratio_median": 0.5, "cpu_ratio_min": None,
                         "cpu_ratio_median": None, "pass": True}
    t = bench.evaluate_targets("msmo_unet_msag", {"min": 10.0, "median": 12.7}, public, {"min": 5.0, "median": 6.1})
    assert t["fp32"]["pass"] is False and t["bf16"]["pass"] is False
    t = bench.evaluate_targets("msmo_hconvlstm", {"min": 7.5, "median": 9.0}, public, None)
    assert t["fp32"]["limit"] == 0.75 and t["fp32"]["ratio_median"] == 0.75 and t["fp32"]["pass"] is True
    assert t["bf16"]["ratio_median"] is None and t["bf16"]["pass"] is None
    t = bench.evaluate_targets("msmo_hconvlstm", {"min": 7.6, "median": 9.1}, public, None)
    assert t["fp32"]["pass"] is False
    assert bench.evaluate_targets("mgcc", {"min": 1.0, "median": 1.0}, None, None)["fp32"]["pass"] is None


def test_compare_without_public_code_times_ours_and_skips_the_ratios(bench, monkeypatch, capsys, tmp_path):
    from monai_ext.networks.nets import MGCCNet

    out = tmp_path / "mgcc.json"
    r = _run(bench, ["--compare-public", "mgcc", "--size", "32", "--dim-mult", "0.25", "--repeats", "2", "--warmup",
                     "0", "--threads", "1", "--json", str(out)], monkeypatch)
    printed = capsys.readouterr().out.strip().splitlines()
    assert json.loads(printed[-1]) == r == json.loads(out.read_text())
    assert printed[0].startswith("CPU: ") and r["cpu"]["model"] in printed[0]
    assert r["comparison"] == "mgcc" and r["config"]["objects"] == 1 and r["config"]["size"] == 32
    assert r["config"]["memory_format_ours"] == "channels_last" and r["config"]["threads"] == 1
    assert r["ours"]["parameters"] == MGCCNet(dim_mult=0.25).parameter_count() == 512_520
    assert r["ours"]["gflop_per_step"] > 0
    fp32 = r["ours"]["fp32"]
    assert len(fp32["times"]) == 2 and 0 < fp32["min"] <= fp32["median"] and 0 < fp32["cpu_min"] <= fp32["cpu_median"]
    assert r["public"] is None and "--public-repo" in r["public_skipped"]
    assert "public: skipped" in "\n".join(printed)
    assert r["targets"]["fp32"]["ratio_median"] is None and r["targets"]["fp32"]["pass"] is None
    assert set(r["cpu"]["flags"]) == {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "avx512_vnni", "avx_vnni"}
    assert len(r["load_average"]["before"]) == 3
    if r["cpu"]["native_bf16"]:
        assert r["bf16_skipped"] is None and len(r["ours"]["bf16"]["times"]) == 2
    else:
        assert r["ours"]["bf16"] is None and "avx512_bf16" in r["bf16_skipped"]


def test_compare_msmo_bf16_off_and_objects(bench, monkeypatch, capsys):
    from monai_ext.networks.nets import MSMONet

    r = _run(bench, ["--compare-public", "msmo_unet_msag", "--size", "32", "--dim-mult", "0.25", "--objects", "2",
                     "--repeats", "1", "--warmup", "0", "--threads", "1", "--bf16", "off", "--memory-format",
                     "contiguous"], monkeypatch)
    assert r["config"]["objects"] == 2 and r["config"]["memory_format_ours"] == "contiguous"
    net = MSMONet(out_channels=2, decoder="unet_msag", dim_mult=0.25)
    assert r["ours"]["parameters"] == sum(p.numel() for p in net.parameters())
    assert r["ours"]["bf16"] is None and r["bf16_skipped"] == "--bf16 off"
    assert "bf16 target (<= 0.5x public fp32): skipped: --bf16 off" in capsys.readouterr().out


def test_bad_arguments_and_wrong_checkout_are_refused(bench, monkeypatch, tmp_path):
    with pytest.raises(SystemExit, match="the public MGCC has one output channel"):
        _run(bench, ["--compare-public", "mgcc", "--objects", "3"], monkeypatch)
    with pytest.raises(SystemExit, match="must be a positive multiple of 16"):
        _run(bench, ["--compare-public", "mgcc", "--size", "40"], monkeypatch)
    with pytest.raises(SystemExit, match="--repeats 0: must be at least 1"):
        _run(bench, ["--compare-public", "mgcc", "--size", "32", "--repeats", "0"], monkeypatch)
    with pytest.raises(SystemExit, match=r"src/network/MGCC.py not found"):
        bench.load_public_code("mgcc", tmp_path)
    fake = tmp_path / "fake_msmo"
    (fake / "src" / "network").mkdir(parents=True)
    (fake / "src" / "utils").mkdir(parents=True)
    (fake / "src" / "network" / "MGCC.py").write_text("class CLSTM_Decoder:\n    pass\n")
    (fake / "src" / "utils" / "losses.py").write_text("")
    with pytest.raises(SystemExit, match="is not from the MGCC repository"):
        bench.load_public_code("mgcc", fake)
    (fake / "src" / "network" / "MGCC.py").write_text("class MGCC:\n    pass\n")
    with pytest.raises(SystemExit, match="needs a checkout of lol88/MSMO"):
        bench.load_public_code("msmo_hconvlstm", fake)


@pytest.mark.slow
def test_command_line_prints_one_json_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONAI_EXT_PUBLIC_")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--compare-public", "msmo_hconvlstm", "--size", "32", "--dim-mult", "0.25",
         "--objects", "2", "--repeats", "1", "--warmup", "0", "--threads", "1", "--bf16", "off"],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["comparison"] == "msmo_hconvlstm" and r["config"]["objects"] == 2 and r["public"] is None
    proc = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2 and "give a BUNDLE, or --compare-public" in proc.stderr.strip().splitlines()[-1]


def _public_repo(var: str) -> Path:
    return Path(os.environ[var])  # tests/conftest.py deselects these tests when it is not set


@pytest.mark.slow
@pytest.mark.public_code("MONAI_EXT_PUBLIC_MGCC")
def test_public_mgcc_same_parameters_and_flops(bench, monkeypatch):
    repo = _public_repo("MONAI_EXT_PUBLIC_MGCC")
    r = _run(bench, ["--compare-public", "mgcc", "--public-repo", str(repo), "--size", "32", "--repeats", "1",
                     "--warmup", "0", "--threads", "1", "--bf16", "off"], monkeypatch)
    assert r["public"]["parameters"] == r["ours"]["parameters"] == 7_749_204
    assert r["public"]["gflop_per_step"] == r["ours"]["gflop_per_step"] > 0
    assert r["targets"]["fp32"]["ratio_median"] > 0 and isinstance(r["targets"]["fp32"]["pass"], bool)


@pytest.mark.slow
@pytest.mark.parametrize("decoder, public_params, ours_params", [("hconvlstm", 14_826_196, 14_802_900),
                                                                  ("unet_msag", 7_794_396, 7_794_396)])
@pytest.mark.public_code("MONAI_EXT_PUBLIC_MSMO")
def test_public_msmo_parameters_and_flops(bench, monkeypatch, decoder, public_params, ours_params):
    repo = _public_repo("MONAI_EXT_PUBLIC_MSMO")
    r = _run(bench, ["--compare-public", f"msmo_{decoder}", "--public-repo", str(repo), "--size", "32", "--repeats",
                     "1", "--warmup", "0", "--threads", "1", "--bf16", "off"], monkeypatch)
    # the public HConvLSTM builds (and computes) the unused MSAG of x1; ours does not by default
    assert (r["public"]["parameters"], r["ours"]["parameters"]) == (public_params, ours_params)
    if decoder == "unet_msag":
        assert r["public"]["gflop_per_step"] == r["ours"]["gflop_per_step"]
    else:  # the public cell convolves the zero state and the shared input once per object
        assert r["ours"]["gflop_per_step"] < 0.75 * r["public"]["gflop_per_step"]


@pytest.mark.slow
def test_sabr_bundle_is_benchmarked_per_stage_and_at_inference(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(SCRIPT), "sabr_us_segmentation", "--iterations", "1", "--warmup", "0",
                           "--threads", "1"], capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    for stage in ("warmup", "pretrain", "finetune", "train"):
        row = next(line for line in lines if line.startswith(stage + " "))
        seconds, memory = float(row.split()[1]), float(row.split("peak RSS")[1].split()[0])
        assert seconds > 0 and memory > 100, row
    inference = next(line for line in lines if line.startswith("model C inference, 256x256"))
    assert "with refinement" in inference and "without" in inference
