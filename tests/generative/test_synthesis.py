# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""USLatentImageSampler, USSyntheticManifestHandler and the derived split file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.data import DataLoader, Dataset, load_decathlon_datalist
from monai.inferers import LatentDiffusionInferer
from monai.networks.schedulers import DDIMScheduler, DDPMScheduler
from monai.transforms import LoadImage
from PIL import Image

from monai_ext.data import load_split, load_synthetic_items
from monai_ext.generative import (
    USLatentImageSampler,
    USSyntheticManifestHandler,
    load_reference_images,
    save_network_weights,
    synthetic_split_path,
    write_synthetic_split,
)

from .conftest import tiny_autoencoder, tiny_unet


def _ddim() -> DDIMScheduler:
    return DDIMScheduler(
        num_train_timesteps=1000, schedule="scaled_linear_beta", beta_start=0.002, beta_end=0.02, clip_sample=False
    )


def _sampler(out_dir, n=5, batch_size=2, eta=1.0, seed=0, output_size=(40, 40), handlers=None, refs=None, ids=None):
    torch.manual_seed(0)
    ae, unet = tiny_autoencoder().eval(), tiny_unet().eval()
    loader = DataLoader(Dataset([{"index": i} for i in range(n)]), batch_size=batch_size, shuffle=False)
    return USLatentImageSampler(
        "cpu", loader, unet, ae, LatentDiffusionInferer(_ddim(), scale_factor=1.0), _ddim(), latent_shape=(2, 4, 4),
        output_dir=out_dir, num_inference_steps=3, eta=eta, seed=seed, output_size=output_size, val_handlers=handlers,
        reference_images=refs, reference_ids=ids,
    )


def test_writes_pngs_reproducibly(tmp_path):
    s = _sampler(tmp_path / "a")
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
    _sampler(tmp_path / "b").run()
    assert all(f.read_bytes() == (tmp_path / "b" / f.name).read_bytes() for f in files)
    _sampler(tmp_path / "c", seed=1).run()
    assert files[0].read_bytes() != (tmp_path / "c" / files[0].name).read_bytes()


def test_eta_zero_uses_inferer_and_initial_noise_is_per_sample(tmp_path):
    # eta = 0 is deterministic DDIM (LatentDiffusionInferer.sample); the initial noise of sample i depends only on
    # (seed, i), so batch size 1 and 3 give the same images
    _sampler(tmp_path / "b1", n=3, batch_size=1, eta=0.0).run()
    _sampler(tmp_path / "b3", n=3, batch_size=3, eta=0.0).run()
    a = [np.asarray(Image.open(tmp_path / "b1" / f"syn_{i:04d}.png"), dtype=int) for i in range(3)]
    b = [np.asarray(Image.open(tmp_path / "b3" / f"syn_{i:04d}.png"), dtype=int) for i in range(3)]
    assert all(np.abs(x - y).max() <= 1 for x, y in zip(a, b))  # batched convolutions may round differently
    assert np.abs(a[0] - a[1]).max() > 0


def test_argument_checks(tmp_path):
    loader = DataLoader(Dataset([{"index": 0}]), batch_size=1)
    ae, unet = tiny_autoencoder(), tiny_unet()
    inf = LatentDiffusionInferer(_ddim())
    with pytest.raises(TypeError, match="DDIMScheduler"):
        USLatentImageSampler("cpu", loader, unet, ae, inf, DDPMScheduler(), (2, 4, 4), tmp_path)
    with pytest.raises(ValueError, match="num_inference_steps"):
        USLatentImageSampler("cpu", loader, unet, ae, inf, _ddim(), (2, 4, 4), tmp_path, num_inference_steps=0)
    with pytest.raises(ValueError, match="eta"):
        USLatentImageSampler("cpu", loader, unet, ae, inf, _ddim(), (2, 4, 4), tmp_path, eta=-1.0)
    with pytest.raises(ValueError, match="output_size"):
        USLatentImageSampler("cpu", loader, unet, ae, inf, _ddim(), (2, 4, 4), tmp_path, output_size=(8, 8, 8))


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
    s = _sampler(out, n=4, handlers=[handler], refs=refs, ids=ids)
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
    _sampler(out, n=2, handlers=[handler], refs=refs).run()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["files"] == [] and manifest["num_files"] == 0
    assert manifest["memorisation"]["flagged"] == ["syn_0000.png", "syn_0001.png"]
    assert "derived_split_file" not in manifest
