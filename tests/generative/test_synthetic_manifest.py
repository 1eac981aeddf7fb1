# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""USSyntheticManifestHandler and the derived split file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from monai.data import load_decathlon_datalist

from monai_ext.data import load_split, load_synthetic_items
from monai_ext.generative import (
    USSyntheticManifestHandler,
    load_reference_images,
    save_network_weights,
    synthetic_split_path,
    write_synthetic_split,
)

from .conftest import tiny_autoencoder, tiny_sampler


def test_manifest_and_derived_split(phantom_split, tmp_path):
    root, split = phantom_split
    original = split.read_bytes()
    train = load_decathlon_datalist(str(split), True, "training", str(root))
    refs = load_reference_images([d["image"] for d in train], size=16)
    assert refs.shape == (9, 1, 16, 16) and 0 <= float(refs.min()) and float(refs.max()) <= 1
    ids = [Path(d["image"]).stem for d in train]
    ckpt = save_network_weights(tiny_autoencoder(), tmp_path / "ae.pt")
    out = tmp_path / "syn"
    handler = USSyntheticManifestHandler(out / "manifest.json", split_file=split, checkpoints={"autoencoder": ckpt})
    s = tiny_sampler(out, n=4, handlers=[handler], refs=refs, ids=ids)
    s.run()

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["files"] == [f"syn_{i:04d}.png" for i in range(4)]
    assert (manifest["width"], manifest["height"], manifest["channels"], manifest["dtype"]) == (40, 40, 1, "uint8")
    assert manifest["seed"] == 0 and manifest["sampler"]["num_inference_steps"] == 3
    assert manifest["sampler"]["eta"] == 1.0 and manifest["batch_size"] == 2
    assert len(manifest["checkpoints"]["autoencoder"]["sha256"]) == 64
    per_image = manifest["memorisation"]["per_image"]
    assert [p["nearest"] in ids for p in per_image] == [True] * 4 and all(0 <= p["rmse"] <= 1 for p in per_image)
    assert load_synthetic_items(out / "manifest.json") == [{"image": str(out / f)} for f in manifest["files"]]

    derived = Path(manifest["derived_split_file"])
    assert derived == synthetic_split_path(split, 4) == split.with_name(split.stem + "_syn4.json")
    assert split.read_bytes() == original  # the original split file is untouched
    d = load_split(derived)  # the project's validator accepts it
    o = json.loads(original)
    assert d["validation"] == o["validation"] and d["test"] == o["test"]
    assert d["training"][: len(o["training"])] == o["training"]
    added = d["training"][len(o["training"]):]
    assert added == [{"image": str(out / f), "labeled": False, "synthetic": True} for f in manifest["files"]]
    # MONAI's loader still reads it: real items relative to the dataset root, synthetic ones absolute
    loaded = load_decathlon_datalist(str(derived), True, "training", str(root))
    assert len(loaded) == len(o["training"]) + 4 and all(Path(x["image"]).is_file() for x in loaded)
    # no validation or test image is a source: the memorisation references and the real training items are the
    # training part only
    held_out = {Path(x["image"]).stem for part in ("validation", "test") for x in o[part]}
    assert held_out and not held_out & set(ids) and not held_out & {Path(x["image"]).stem for x in loaded}
    # a second identical run reuses the derived split; other content is refused
    assert write_synthetic_split(split, [out / f for f in manifest["files"]], manifest=out / "manifest.json") == derived
    with pytest.raises(FileExistsError, match="written once"):
        write_synthetic_split(split, [out / f for f in manifest["files"]], manifest=tmp_path / "other.json")
    with pytest.raises(ValueError, match="already contains synthetic"):
        write_synthetic_split(derived, [out / "syn_0000.png"], out_path=tmp_path / "x.json")
    with pytest.raises(FileNotFoundError, match="not found"):
        write_synthetic_split(split, [out / "missing.png"], out_path=tmp_path / "y.json")


def test_memorisation_threshold_flags(phantom_split, tmp_path):
    root, split = phantom_split
    out = tmp_path / "syn"
    refs = torch.rand(3, 1, 8, 8)
    handler = USSyntheticManifestHandler(
        out / "manifest.json", split_file=split, memorisation_threshold=2.0, write_split=False
    )
    tiny_sampler(out, n=2, handlers=[handler], refs=refs).run()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["files"] == [] and manifest["num_files"] == 0
    assert manifest["memorisation"]["flagged"] == ["syn_0000.png", "syn_0001.png"]
    assert "derived_split_file" not in manifest
