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

"""Artefacts exchanged between the latent-diffusion stages: frozen network weights, file hashes, latent statistics.

The three stages (autoencoder, diffusion model, sampling) run as separate bundle configs and exchange files only
(docs/methods/bundles.md, "Multi-stage methods"): ``autoencoder.pt`` and ``diffusion.pt`` (plain ``state_dict`` files
written by MONAI's ``CheckpointSaver``) and ``latent_stats.json`` (the latent standard deviation and the scale factor
the diffusion model was trained with, which the sampler must reuse).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from monai_ext.utils.atomic import atomic_output
from monai_ext.utils.flags import parse_flag

__all__ = ["file_sha256", "load_network_weights", "read_latent_stats", "save_network_weights", "write_latent_stats"]


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (recorded in the synthetic-image manifest for every checkpoint used).

    Raises:
        FileNotFoundError: when the file does not exist.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"cannot hash {p}: file not found")
    h = hashlib.sha256()
    with p.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_network_weights(
    network: torch.nn.Module,
    path: str | Path,
    key: str | None = None,
    device: str | torch.device | None = None,
    freeze: bool = True,
    stage_hint: str = "",
) -> torch.nn.Module:
    """Load a trained network from a checkpoint file, move it to ``device`` and (by default) freeze it.

    The checkpoint may be a plain ``state_dict`` (what ``CheckpointSaver`` writes for a one-entry ``save_dict``) or
    a dict holding it under ``key`` (e.g. a resumable checkpoint ``{"model": ..., "optimizer": ...}``).

    Args:
        network: the network to fill (its architecture must match the checkpoint).
        path: checkpoint file.
        key: entry of the checkpoint holding the state dict; None: the whole file is the state dict.
        device: where to put the network (None: leave it).
        freeze: ``eval()`` mode and ``requires_grad=False`` on all parameters (stage-1 models are frozen in the
            later stages).
        stage_hint: appended to the missing-file message (e.g. "run configs/train_autoencoder.json first").

    Returns:
        the network (the same object).

    Raises:
        FileNotFoundError: when the checkpoint does not exist.
        ValueError: when the checkpoint does not match the network (the message names the file).
    """
    p = Path(path)
    if not p.is_file():
        hint = f": {stage_hint}" if stage_hint else ""
        raise FileNotFoundError(f"checkpoint not found: {p}{hint}")
    state = torch.load(p, map_location="cpu", weights_only=True)
    if key is not None:
        if not isinstance(state, Mapping) or key not in state:
            raise ValueError(f"checkpoint {p} has no entry {key!r}")
        state = state[key]
    try:
        network.load_state_dict(state)
    except RuntimeError as e:
        raise ValueError(f"checkpoint {p} does not match {type(network).__name__}: {e}") from e
    if device is not None:
        network = network.to(device)
    if parse_flag(freeze, "freeze"):
        network.eval()
        for prm in network.parameters():
            prm.requires_grad_(False)
    return network


def save_network_weights(network: torch.nn.Module, path: str | Path) -> Path:
    """Save ``network.state_dict()`` (of ``network.module`` under DDP) to ``path`` atomically.

    Bundles call it in ``run`` after the trainer returns, so the stage artefact exists only for a completed run
    (an interrupted run leaves its resumable checkpoint instead).
    """
    module = network.module if isinstance(network, torch.nn.parallel.DistributedDataParallel) else network
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    torch.save(module.state_dict(), tmp)
    tmp.replace(p)
    return p


def write_latent_stats(path: str | Path, latent_std: float, scale_factor: float, **extra: Any) -> Path:
    """Write ``{"latent_std": ..., "scale_factor": ..., **extra}`` as JSON (parent folders are created)."""
    for name, v in (("latent_std", latent_std), ("scale_factor", scale_factor)):
        if not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise ValueError(f"{name} must be a positive finite number, got {v!r}")
    p = Path(path)
    stats = {"latent_std": float(latent_std), "scale_factor": float(scale_factor), **extra}
    with atomic_output(p) as tmp:  # the sampler must never read a half-written file
        tmp.write_text(json.dumps(stats, indent=4) + "\n", encoding="utf-8")
    return p


def read_latent_stats(path: str | Path) -> dict[str, Any]:
    """Read the latent statistics written by the diffusion stage.

    Raises:
        FileNotFoundError: when the file does not exist (run the diffusion stage first).
        ValueError: when it lacks a positive ``scale_factor``.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"latent statistics not found: {p}: run configs/train_diffusion.json first")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read latent statistics {p}: {e}") from e
    sf = data.get("scale_factor") if isinstance(data, dict) else None
    if not isinstance(sf, (int, float)) or not math.isfinite(sf) or sf <= 0:
        raise ValueError(f"latent statistics {p}: 'scale_factor' must be a positive number, got {sf!r}")
    return data
