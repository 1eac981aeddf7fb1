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
"""What the stages of the SABR-Net bundle hand to each other, and the small parts they share.

The bundle (``bundles/sabr_us_segmentation/docs/README.md``, "Pipeline") runs four training stages in sequence, each
its own config; they exchange files only:

===========  ==================================  =====================================================================
stage        config                              writes (under ``ckpt_dir``)
===========  ==================================  =====================================================================
0 warm-up    ``warmup.json``                     ``warmup/generator.pt``, ``warmup/discriminator_image.pt``,
                                                 ``warmup/encoder.pt`` (the frozen perceptual encoder E)
1 pretrain   ``pretrain.json``                   ``pretrain/generator_ema.pt`` (EMA generator, best validation Dice)
2a finetune  ``finetune.json``                   ``finetune/generator.pt`` (best validation Dice)
2b boundary  ``train.json``                      ``model.pt`` (model C, best validation Dice of the refined output)
===========  ==================================  =====================================================================

:func:`load_stage_weights` and :func:`transfer_generator_encoder` fail with a
:class:`~monai_ext.handlers.USCheckpointError` naming the file and, when it is missing, the command that writes it
(through ``python -m monai.bundle run`` it is repeated as the last lines of the output).
:func:`sabr_perceptual_encoder` builds E for the ``perceptual_encoder`` option (nothing is ever downloaded);
:class:`SABRGeneratorLRLambda` is the stage-1 generator schedule with the project's fix (the cosine starts from the
lazy-regularisation-scaled rate, so the rate does not jump); :class:`SABRGeneratorSegInferer` lets a MONAI evaluator
score the segmentation path of generator B.
"""

from __future__ import annotations

import math
import os
import pickle
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from monai.inferers import Inferer
from torch import nn

from monai_ext.engines.methods import unwrap_network
from monai_ext.handlers.checkpoint_loader import USCheckpointError, describe_state_dict_mismatch

__all__ = [
    "PERCEPTUAL_ENCODER_OPTIONS",
    "SABR_STAGE_CONFIGS",
    "SABRGeneratorLRLambda",
    "SABRGeneratorSegInferer",
    "load_stage_weights",
    "sabr_perceptual_encoder",
    "sabr_stage_command",
    "save_stage_weights",
    "transfer_generator_encoder",
]

#: Stage name -> the bundle config that runs it.
SABR_STAGE_CONFIGS: dict[str, str] = {
    "warmup": "warmup.json",
    "pretrain": "pretrain.json",
    "finetune": "finetune.json",
    "train": "train.json",
}

PERCEPTUAL_ENCODER_OPTIONS = ("warmup_snapshot", "ema", "local_weights", "none")


def sabr_stage_command(stage: str) -> str:
    """The command that runs a stage of the bundle (from the bundle folder)."""
    if stage not in SABR_STAGE_CONFIGS:
        raise ValueError(f"unknown SABR stage {stage!r}; known: {sorted(SABR_STAGE_CONFIGS)}.")
    return f"python -m monai.bundle run --config_file configs/{SABR_STAGE_CONFIGS[stage]}"


def _missing(path: Path, stage: str, what: str) -> USCheckpointError:
    return USCheckpointError(
        path,
        f"the {what} is not there: it is written by SABR stage '{stage}'. Run `{sabr_stage_command(stage)}` first, "
        "with the same --bundle_root / --ckpt_dir, --task and preset overlays (e.g. configs/quick.json) as this stage.",
    )


def _read_state(path: str | os.PathLike, stage: str, what: str) -> dict[str, torch.Tensor]:
    p = Path(path)
    if not p.is_file():
        raise _missing(p, stage, what)
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError, ValueError, pickle.UnpicklingError) as e:  # truncated or foreign file
        first = (str(e).strip().splitlines() or [""])[0]
        raise USCheckpointError(p, f"the {what} is not a readable PyTorch state dict ({type(e).__name__}: {first}); "
                                   f"rerun SABR stage '{stage}' (`{sabr_stage_command(stage)}`).") from None
    if isinstance(state, Mapping) and "model" in state and isinstance(state["model"], Mapping):
        state = state["model"]  # a resumable checkpoint or a one-entry CheckpointSaver file with its key
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise USCheckpointError(p, f"the {what} does not hold a state dict of tensors (got {type(state).__name__}).")
    if state and all(k.startswith("module.") for k in state):  # saved from a DistributedDataParallel wrapper
        state = {k[len("module."):]: v for k, v in state.items()}
    return dict(state)


def save_stage_weights(network: nn.Module, path: str | os.PathLike) -> str:
    """Write ``network``'s state dict (unwrapped from DDP) to ``path`` atomically; returns the path.

    The file appears complete or not at all, so a stage killed while writing never leaves a truncated hand-over file.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    torch.save(unwrap_network(network).state_dict(), tmp)
    os.replace(tmp, p)
    return str(p)


def load_stage_weights(
    network: nn.Module, path: str | os.PathLike, stage: str, what: str = "checkpoint"
) -> nn.Module:
    """Fill ``network`` (unwrapped from DDP) with the weights an earlier stage wrote; returns ``network``.

    Args:
        network: the network of the same architecture and widths as in the stage that wrote the file.
        path: the hand-over file (a plain state dict, or a dict holding it under ``"model"``).
        stage: the stage that writes it (``"warmup"``, ``"pretrain"``, ``"finetune"``), for the error message.
        what: what the file is, for messages (e.g. ``"warm-up generator"``).

    Raises:
        USCheckpointError: the file is missing (the message names it and the command that writes it), unreadable, or
            does not fit ``network`` (other widths, task or image size; the differing entries are listed).
    """
    state = _read_state(path, stage, what)
    target = unwrap_network(network)
    mismatch = describe_state_dict_mismatch(target.state_dict(), state)
    if mismatch:
        raise USCheckpointError(
            path,
            f"the {what} does not fit the network {type(target).__name__}: {mismatch}. It was written with other "
            f"widths, image size or task: rerun SABR stage '{stage}' with this stage's overrides "
            f"(`{sabr_stage_command(stage)}`).",
        )
    target.load_state_dict(state, strict=True)
    return network


def transfer_generator_encoder(network: nn.Module, path: str | os.PathLike, stage: str = "finetune") -> nn.Module:
    """Copy the encoder of a stage-2a generator file into model C (explicit key mapping); returns ``network``.

    Raises:
        USCheckpointError: the generator file is missing (the message names the command that writes it), holds no
            SABR generator encoder, or its widths differ from model C's.
    """
    state = _read_state(path, stage, "finetuned generator")
    target = unwrap_network(network)
    if not callable(getattr(target, "load_generator_encoder", None)):
        raise TypeError(f"transfer_generator_encoder needs model C (SABRSegmentationNet), got {type(target).__name__}.")
    try:
        target.load_generator_encoder(state)
    except ValueError as e:
        raise USCheckpointError(path, f"the finetuned generator does not fit model C: {e}") from None
    return network


def sabr_perceptual_encoder(
    option: str,
    generator: nn.Module,
    snapshot_file: str | os.PathLike | None = None,
    ema_generator: nn.Module | None = None,
    local_file: str | os.PathLike | None = None,
) -> nn.Module | None:
    """The frozen feature encoder E of the perceptual and style losses of stage 1 (bundle README, "Perceptual encoder").

    Args:
        option: ``"warmup_snapshot"`` (default of the bundle: the encoder snapshot written at the end of stage 0),
            ``"ema"`` (the encoder of the EMA generator, a moving target), ``"local_weights"`` (a SABR encoder state
            dict in a local file the user supplies, e.g. a warm-up snapshot trained on other local data; never
            downloaded) or ``"none"`` (no perceptual or style terms).
        generator: the generator B being trained; E has the layout of its encoder.
        snapshot_file: the stage-0 snapshot (``warmup_snapshot``).
        ema_generator: the EMA copy of the generator (``ema``).
        local_file: the local weights (``local_weights``; mandatory there).

    Returns:
        E (evaluation mode, no parameter requires grad; call ``E.feature_taps(x, mask)``), or None for ``"none"``.

    Raises:
        ValueError: an unknown option, or ``local_weights`` without a path.
        USCheckpointError: a missing or unfitting snapshot or local file.
    """
    if option not in PERCEPTUAL_ENCODER_OPTIONS:
        raise ValueError(f"perceptual_encoder must be one of {PERCEPTUAL_ENCODER_OPTIONS}, got {option!r}.")
    if option == "none":
        return None
    if option == "ema":
        if ema_generator is None:
            raise ValueError("perceptual_encoder='ema' needs the EMA generator (ema_generator).")
        encoder = unwrap_network(ema_generator).encoder
        encoder.requires_grad_(False)
        return encoder
    encoder = unwrap_network(generator).encoder.frozen_copy()
    if option == "local_weights":
        if not local_file:
            raise ValueError(
                "perceptual_encoder='local_weights' needs a local file: set perceptual_encoder_file to the path of a "
                "SABR encoder state dict (nothing is ever downloaded)."
            )
        if not Path(local_file).is_file():
            raise USCheckpointError(local_file, "perceptual_encoder_file not found (perceptual_encoder="
                                                "'local_weights').")
        load_stage_weights(encoder, local_file, "warmup", what="perceptual encoder weights")
    else:
        load_stage_weights(encoder, snapshot_file or "", "warmup", what="warm-up encoder snapshot")
    return encoder.eval().requires_grad_(False)


class SABRGeneratorLRLambda:
    """Stage-1 generator learning-rate factor for ``torch.optim.lr_scheduler.LambdaLR``, stepped per iteration.

    Constant (factor 1) until ``cosine_start``, then a half cosine down to ``final_factor`` at ``cosine_end``, constant
    after that: ``final + (1 - final) * (1 + cos(pi * (t - start) / (end - start))) / 2``. With the optimiser created
    at the lazy-regularisation-scaled rate (2e-4 x 4/5 = 1.6e-4) this is the public schedule with its fix: the public
    code restarts the cosine from the unscaled 2e-4, so its rate jumps at ``cosine_start``; here it continues
    smoothly from 1.6e-4 to 1.6e-5 (public defaults: 30,000 -> 100,000 of a 60,000-iteration run).

    Args:
        cosine_start: scheduler step at which the cosine begins (30,000).
        cosine_end: scheduler step at which it reaches ``final_factor`` (100,000).
        final_factor: end factor (2e-5 / 2e-4 = 0.1).
    """

    def __init__(self, cosine_start: int = 30000, cosine_end: int = 100000, final_factor: float = 0.1) -> None:
        if cosine_start < 0 or cosine_end <= cosine_start or not 0.0 <= final_factor <= 1.0:
            raise ValueError(
                "SABRGeneratorLRLambda: need 0 <= cosine_start < cosine_end and 0 <= final_factor <= 1, got "
                f"{cosine_start}, {cosine_end}, {final_factor}."
            )
        self.cosine_start, self.cosine_end, self.final_factor = int(cosine_start), int(cosine_end), float(final_factor)

    def __call__(self, step: int) -> float:
        if step <= self.cosine_start:
            return 1.0
        t = min((step - self.cosine_start) / (self.cosine_end - self.cosine_start), 1.0)
        return self.final_factor + (1.0 - self.final_factor) * 0.5 * (1.0 + math.cos(math.pi * t))


class SABRGeneratorSegInferer(Inferer):
    """Run generator B without a hole mask and return its segmentation logits (validation of stages 1 and 2a).

    In evaluation mode the generator uses its tracked average latent, so validation is deterministic.

    Args:
        output_index: position of the segmentation logits in the generator's output tuple (1).
    """

    def __init__(self, output_index: int = 1) -> None:
        self.output_index = int(output_index)

    def __call__(self, inputs: torch.Tensor, network: Callable[..., Any], *args: Any, **kwargs: Any) -> torch.Tensor:
        out = network(inputs, *args, **kwargs)
        return out[self.output_index] if isinstance(out, (tuple, list)) else out
