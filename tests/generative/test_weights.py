# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Stage artefacts: weight save/load with freezing and clear errors, file hashes, latent statistics."""

from __future__ import annotations

import hashlib

import pytest
import torch

from monai_ext.generative import (
    file_sha256,
    load_network_weights,
    read_latent_stats,
    save_network_weights,
    write_latent_stats,
)


def test_sha256(tmp_path):
    f = tmp_path / "a.bin"
    f.write_bytes(b"abc")
    assert file_sha256(f) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert file_sha256(f) == hashlib.sha256(b"abc").hexdigest()
    with pytest.raises(FileNotFoundError, match="nope"):
        file_sha256(tmp_path / "nope")


def test_save_load_freeze(tmp_path):
    torch.manual_seed(0)
    src, dst = torch.nn.Conv2d(1, 2, 3), torch.nn.Conv2d(1, 2, 3)
    path = save_network_weights(src, tmp_path / "sub" / "net.pt")
    assert path.is_file() and not (tmp_path / "sub" / "net.pt.tmp").exists()
    out = load_network_weights(dst, path, device="cpu")
    assert out is dst and not dst.training and not any(p.requires_grad for p in dst.parameters())
    assert torch.equal(dst.weight, src.weight)
    trainable = load_network_weights(torch.nn.Conv2d(1, 2, 3), path, freeze=False)
    assert all(p.requires_grad for p in trainable.parameters())
    torch.save({"model": src.state_dict()}, tmp_path / "wrapped.pt")
    wrapped = load_network_weights(torch.nn.Conv2d(1, 2, 3), tmp_path / "wrapped.pt", key="model")
    assert torch.equal(wrapped.bias, src.bias)


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="run stage 1 first"):
        load_network_weights(torch.nn.Conv2d(1, 2, 3), tmp_path / "missing.pt", stage_hint="run stage 1 first")
    save_network_weights(torch.nn.Conv2d(1, 2, 3), tmp_path / "net.pt")
    with pytest.raises(ValueError, match="does not match Conv2d"):
        load_network_weights(torch.nn.Conv2d(1, 4, 3), tmp_path / "net.pt")
    with pytest.raises(ValueError, match="no entry 'model'"):
        load_network_weights(torch.nn.Conv2d(1, 2, 3), tmp_path / "net.pt", key="model")


def test_latent_stats(tmp_path):
    p = write_latent_stats(tmp_path / "s" / "stats.json", 2.0, 0.5, latent_shape=[8, 32, 32])
    assert read_latent_stats(p) == {"latent_std": 2.0, "scale_factor": 0.5, "latent_shape": [8, 32, 32]}
    with pytest.raises(ValueError, match="scale_factor"):
        write_latent_stats(tmp_path / "bad.json", 1.0, 0.0)
    with pytest.raises(FileNotFoundError, match="train_diffusion"):
        read_latent_stats(tmp_path / "none.json")
    (tmp_path / "broken.json").write_text('{"latent_std": 1.0}')
    with pytest.raises(ValueError, match="scale_factor"):
        read_latent_stats(tmp_path / "broken.json")
