# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of monai_ext.bundle_sync: the checked-in bundle files are base + layers + overlay, merged as MONAI merges
config files; a hand edit is reported with a diff; handler lists survive merging on every rank."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import pytest

from monai_ext.bundle_sync import (
    COPIED_FILES,
    BundleSyncError,
    base_configs,
    is_override_config,
    merge_sections,
    render_bundle,
    sync_bundles,
)
from monai_ext.cli import main
from tests.fixtures import parse_bundle_configs

ROOT = Path(__file__).resolve().parents[1]
BUNDLES = ROOT / "bundles"
GENERATED = sorted(p.stem for p in (BUNDLES / "_base" / "overlays").glob("*.json"))


def _copy_bundles(dst: Path) -> Path:
    shutil.copytree(BUNDLES, dst, ignore=shutil.ignore_patterns("models", "eval", "data", "docs"))
    return dst


def test_checked_in_bundle_files_are_base_plus_overlay():
    out = io.StringIO()
    assert sync_bundles(BUNDLES, check=True, stream=out) == 0, out.getvalue()[-4000:]
    assert set(GENERATED) >= {"supervised_us_segmentation", "meanteacher_us_segmentation", "cct_us_segmentation",
                              "mgcc_us_segmentation", "msmo_us_segmentation"}
    per_bundle = len(base_configs(BUNDLES / "_base")) + len(COPIED_FILES)
    assert f"{len(GENERATED) * per_bundle} of {len(GENERATED) * per_bundle} generated bundle files up to date" in \
        out.getvalue()
    for bundle in GENERATED:  # logging.conf and LICENSE are byte copies of the base's
        for dst, src in COPIED_FILES.items():
            assert (BUNDLES / bundle / dst).read_bytes() == (BUNDLES / "_base" / src).read_bytes()


def test_check_names_a_hand_edit_with_a_diff_and_sync_repairs_it(tmp_path):
    bundles = _copy_bundles(tmp_path / "bundles")
    train = bundles / "msmo_us_segmentation" / "configs" / "train.json"
    shipped = train.read_text()
    train.write_text(shipped.replace('"seed": 456,', '"seed": 457,'))
    (bundles / "cct_us_segmentation" / "configs" / "logging.conf").unlink()
    out = io.StringIO()
    assert sync_bundles(bundles, check=True, stream=out) == 1
    report = out.getvalue()
    assert "--- bundles/msmo_us_segmentation/configs/train.json (checked in)\n" in report
    assert "+++ bundles/msmo_us_segmentation/configs/train.json (generated from bundles/_base + " \
           "overlays/msmo_us_segmentation.json)\n" in report
    assert '\n-    "seed": 457,\n+    "seed": 456,\n' in report
    assert "--- bundles/cct_us_segmentation/configs/logging.conf (checked in: missing)" in report
    assert report.splitlines()[-1].startswith(
        "error: 2 bundle file(s) differ from bundles/_base + overlay: "
        "bundles/cct_us_segmentation/configs/logging.conf, bundles/msmo_us_segmentation/configs/train.json. "
        "These files are generated: edit bundles/_base/")
    # the command line: exit 1 on the difference, then writing repairs both files
    assert main(["sync-bundles", "--check", "--bundles-dir", str(bundles)]) == 1
    assert main(["sync-bundles", "--bundles-dir", str(bundles)]) == 0
    assert train.read_text() == shipped
    assert main(["sync-bundles", "--check", "--bundles-dir", str(bundles)]) == 0


def test_a_folder_without_overlays_is_an_error_naming_it(tmp_path, capsys):
    assert main(["sync-bundles", "--check", "--bundles-dir", str(tmp_path)]) == 2
    assert f"error: no overlays in {tmp_path / '_base' / 'overlays'}; run from the repository root" in \
        capsys.readouterr().err


def test_merging_is_monai_config_merging(tmp_path):
    from monai.bundle import ConfigParser

    base = {"imports": [], "a": 1, "net": {"_target_": "X", "k": 1}, "network_def": None,
            "train": {"handlers": [{"_target_": "H1"}], "params": {"p": 1}}, "run": ["$@train#x"]}
    overlay = {"new_key": 2, "net#k": 3, "+train#handlers": [{"_target_": "H2"}], "+train#params": {"q": 2},
               "train#extra": {"_target_": "E"}, "a": 5}
    merged = merge_sections(base, [("overlay", overlay)])
    for i, part in enumerate((base, overlay)):
        (tmp_path / f"{i}.json").write_text(json.dumps(part))
    assert merged == ConfigParser.load_config_files([str(tmp_path / "0.json"), str(tmp_path / "1.json")])
    assert list(merged) == ["imports", "a", "net", "new_key", "network_def", "train", "run"]  # before the anchor
    assert base["train"]["handlers"] == [{"_target_": "H1"}]  # the base is not modified
    # override files keep id paths as literal keys; "+" still appends
    literal = merge_sections({"network": {"m": 1}, "train#x": 1, "initialize": []},
                             [("layer", {"train#y": 2, "+network": {"f": True}})], literal_keys=True)
    assert literal == {"network": {"m": 1, "f": True}, "train#x": 1, "train#y": 2, "initialize": []}
    assert list(literal) == ["network", "train#x", "train#y", "initialize"]


@pytest.mark.parametrize(
    "section,message",
    [
        ({"trian#handlers#0": 1}, "overlay.json, section 'train.json': cannot set 'trian#handlers#0' (KeyError"),
        ({"+train#handlerz": []}, "overlay.json, section 'train.json': '+train#handlerz' appends to id "
                                  "'train#handlerz', which the base and earlier layers do not define"),
        ({"+train#handlers": {"a": 1}}, "cannot set '+train#handlers' (ValueError"),
        ({"train#handlers#9": {}}, "cannot set 'train#handlers#9' (IndexError"),
    ],
)
def test_a_key_that_does_not_merge_names_the_file_and_key(section, message):
    with pytest.raises(BundleSyncError, match=message.replace("(", r"\(").replace("+", r"\+")):
        merge_sections({"train": {"handlers": []}}, [("overlay.json, section 'train.json'", section)])


def test_bad_overlays_name_the_file_and_the_fix(tmp_path):
    base = tmp_path / "_base"
    shutil.copytree(BUNDLES / "_base", base, ignore=shutil.ignore_patterns("overlays"))
    (base / "overlays").mkdir()
    cases = {
        '{"train.jsn": {}}': "unknown section 'train.jsn'; name sections after the generated files",
        '{"layers": ["unet", "resnet"]}': "unknown layer 'resnet'; layers in",
        '{"layers": "unet"}': "'layers' must be a list of layer names, got 'unet'",
        '{"train.json": {"seed": 1}, "train.json": {}}': "not valid JSON (duplicate key 'train.json')",
        '{"train.json": [1]}': "section 'train.json' must be a JSON object of id: value, got [1]",
        '{"train.json": {': "not valid JSON",
    }
    for i, (text, message) in enumerate(cases.items()):
        overlay = base / "overlays" / f"b{i}.json"
        overlay.write_text(text)
        with pytest.raises(BundleSyncError, match=rf"^{re.escape(str(overlay))}: .*{re.escape(message)}"):
            render_bundle(base, overlay)


def test_no_config_retypes_the_label_tables_or_the_phantom_folder():
    configs = sorted(BUNDLES.glob("*/configs/*.json")) + sorted((BUNDLES / "_base").glob("*.json"))
    assert len(configs) > 30
    for path in configs:
        text = path.read_text()
        assert '"task_labels"' not in text and "@task_labels" not in text and "PHANTOM_LABELS" not in text, path
        assert "/data/phantom_" not in text, path
        cfg = json.loads(text)
        if isinstance(cfg.get("phantom"), dict):
            assert cfg["phantom"]["dir"].startswith("$monai_ext.data.phantom_dataset_dir(@bundle_root, @task,"), path
        if "labels" in cfg:
            assert cfg["labels"] == "$monai_ext.data.task_labels(@task)", path


def _parse(bundle: str, files: list[str], overrides: dict):
    return parse_bundle_configs(BUNDLES / bundle, files, **overrides)


@pytest.fixture(scope="module")
def phantom(tmp_path_factory) -> Path:
    from monai_ext.data import write_phantom_dataset

    return write_phantom_dataset(tmp_path_factory.mktemp("data") / "ph", task="breast", num=24, size=64, seed=5,
                                 progress=False)


def test_handler_lists_survive_merging_on_every_rank(phantom, tmp_path, monkeypatch):
    """multi_gpu_train.json keeps the shared handlers (and one appended with `+train#handlers` /
    `+validate#handlers`) on every rank and the rank-0 handlers on rank 0 only; no torchrun needed."""
    import torch.distributed as dist

    overrides = {"bundle_root": str(BUNDLES / "meanteacher_us_segmentation"), "dataset_dir": str(phantom),
                 "ckpt_dir": str(tmp_path / "models"), "output_dir": str(tmp_path / "eval"),
                 "device": "$torch.device('cpu')", "network": "$@network_def.to(@device)",
                 "features": [4, 8, 16, 32, 64], "image_size": [64, 64], "labeled_batch_size": 2,
                 "unlabeled_batch_size": 2, "split#labeled": 0.5}
    appended = {"_target_": "GarbageCollector"}  # a handler a user appends with "+train#handlers"
    shared = ["ResumableCheckpointHandler", "LrScheduleHandler", "ValidationHandler", "MLflowParamsHandler",
              "ConsistencyRampUpHandler", "GarbageCollector"]
    for rank in (0, 1):
        monkeypatch.setattr(dist, "get_rank", lambda group=None, r=rank: r)
        cfg = _parse("meanteacher_us_segmentation", ["train.json", "multi_gpu_train.json"], overrides)
        cfg["train#handlers"] = cfg["train#handlers"] + [appended]  # what a "+train#handlers" overlay does
        cfg["validate#handlers"] = cfg["validate#handlers"] + [appended]
        for sampler in ("train#sampler", "train#unlabeled_sampler", "validate#sampler"):  # a world of 2, no group
            cfg[f"{sampler}#num_replicas"], cfg[f"{sampler}#rank"] = 2, rank
        train = [type(h).__name__ for h in cfg.get_parsed_content("train#trainer#train_handlers")]
        val = [type(h).__name__ for h in cfg.get_parsed_content("validate#evaluator#val_handlers")]
        if rank == 0:
            assert train == shared + ["TerminalProgressBar", "StatsHandler"]
            assert val == ["GarbageCollector", "USAtomicCheckpointSaver", "TerminalProgressBar", "StatsHandler"]
        else:
            assert train == shared and val == ["GarbageCollector"]
    # one process: every handler, shared first
    single = _parse("supervised_us_segmentation", ["train.json"], overrides)
    assert [type(h).__name__ for h in single.get_parsed_content("train#trainer#train_handlers")] == [
        "ResumableCheckpointHandler", "LrScheduleHandler", "ValidationHandler", "MLflowParamsHandler",
        "TerminalProgressBar", "StatsHandler"]


def test_the_trainer_derives_max_epochs(phantom, tmp_path):
    overrides = {"bundle_root": str(BUNDLES / "supervised_us_segmentation"), "dataset_dir": str(phantom),
                 "ckpt_dir": str(tmp_path / "models"), "output_dir": str(tmp_path / "eval"),
                 "device": "$torch.device('cpu')", "features": [4, 8, 16, 32, 64], "image_size": [64, 64],
                 "labeled_batch_size": 2, "split#labeled": 0.5, "max_iterations": 7}
    cfg = _parse("supervised_us_segmentation", ["train.json"], overrides)
    assert cfg["train#trainer#max_epochs"] is None
    trainer = cfg.get_parsed_content("train#trainer")
    per_epoch = len(cfg.get_parsed_content("train#dataloader"))
    assert per_epoch > 1 and trainer.state.max_epochs == -(-7 // per_epoch)


def test_every_base_config_is_written_for_every_overlay():
    configs = base_configs(BUNDLES / "_base")
    assert {"evaluate.json", "inference.json", "multi_gpu_train.json", "train.json"} <= set(configs)
    overrides = {c for c in configs if is_override_config(json.loads((BUNDLES / "_base" / c).read_text()))}
    assert {"evaluate.json", "multi_gpu_train.json"} <= overrides  # their keys are literal ids
    assert not {"train.json", "inference.json"} & overrides
    for bundle in GENERATED:
        files = render_bundle(BUNDLES / "_base", BUNDLES / "_base" / "overlays" / f"{bundle}.json")
        assert sorted(files) == sorted([f"configs/{c}" for c in configs] + list(COPIED_FILES))
