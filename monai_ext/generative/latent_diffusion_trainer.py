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

"""Stage 1b of MGCC's synthetic-image pipeline: an epsilon-prediction diffusion model on the latents of a frozen
autoencoder (docs/methods/mgcc.md, "Synthetic images"), trained through MONAI's ``LatentDiffusionInferer``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any

import torch
from monai.engines.utils import IterationEvents, default_metric_cmp_fn, default_prepare_batch
from monai.inferers import LatentDiffusionInferer
from monai.utils import IgniteInfo, min_version, optional_import
from monai.utils.enums import CommonKeys as Keys
from torch.optim.optimizer import Optimizer
from torch.utils.data import DataLoader

from monai_ext.engines import USMixedPrecisionTrainer, as_plain_tensor
from monai_ext.generative.weights import write_latent_stats

if TYPE_CHECKING:
    from ignite.engine import Engine, EventEnum, Events
    from ignite.metrics import Metric
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")
    Events, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Events")
    EventEnum, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "EventEnum")
    Metric, _ = optional_import("ignite.metrics", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Metric")

__all__ = ["USLatentDiffusionTrainer", "latent_statistics"]



@torch.no_grad()
def latent_statistics(
    autoencoder: torch.nn.Module,
    data_loader: Iterable,
    device: str | torch.device,
    max_batches: int | None = None,
    prepare_batch: Callable = default_prepare_batch,
) -> tuple[float, tuple[int, ...]]:
    """Standard deviation of the sampled latents ``autoencoder.encode_stage_2_inputs(x)`` over some batches.

    This is the quantity the MONAI tutorials invert into ``scale_factor``; medfusion (and this project's default)
    keeps ``scale_factor = 1`` but the value is still logged to diagnose the latent scale.

    Args:
        autoencoder: a stage-1 model with ``encode_stage_2_inputs``.
        data_loader: loader of image batches.
        device: device of the autoencoder.
        max_batches: number of batches to use (None: all).
        prepare_batch: batch to ``(image, ...)``.

    Returns:
        ``(std, latent_shape)`` with the per-sample latent shape ``(C, h, w)``.

    Raises:
        ValueError: when the loader yields no batch.
    """
    was_training = autoencoder.training
    autoencoder.eval()
    total, total_sq, count, shape = 0.0, 0.0, 0, None
    for batch in islice(data_loader, max_batches):
        x = as_plain_tensor(prepare_batch(batch, device, False)[0])
        z = autoencoder.encode_stage_2_inputs(x).double()
        total += float(z.sum())
        total_sq += float((z * z).sum())
        count += z.numel()
        shape = tuple(z.shape[1:])
    autoencoder.train(was_training)
    if count == 0 or shape is None:
        raise ValueError("cannot compute latent statistics: the data loader yields no batch.")
    mean = total / count
    var = max(total_sq / count - mean * mean, 0.0)
    return var**0.5, shape


class USLatentDiffusionTrainer(USMixedPrecisionTrainer):
    """
    Train a diffusion model (e.g. MONAI ``DiffusionModelUNet``) on the latents of a frozen autoencoder.

    Each iteration draws noise of the latent shape and uniform timesteps in ``[0, T)``, runs
    ``LatentDiffusionInferer(inputs=x, autoencoder_model, diffusion_model, noise, timesteps)`` (which encodes x
    without gradients, scales the latent, adds noise with the scheduler and predicts the noise), and minimises
    ``loss_function(prediction, noise)`` (medfusion: L1). Fires MONAI's ``IterationEvents`` as
    ``SupervisedTrainer`` does.

    Latent scale: at the start of a run (not when resuming) the standard deviation of the latents is measured on
    up to ``latent_stats_batches`` batches and stored in ``engine.state.latent_std``; ``scale_factor="auto"`` then
    sets the inferer's scale factor to ``1 / std`` (MONAI-tutorial practice), a number sets it, and None keeps the
    inferer's value (medfusion and the project default: 1.0). ``engine.state.scale_factor`` and ``latent_std`` are
    part of the engine's ``state_dict``, so a resumed run reuses them. With ``latent_stats_file`` both values are
    written as JSON for the sampling stage.

    ``engine.state.output``: ``image``, ``pred`` (predicted noise, detached), ``label`` (the noise), ``loss``,
    ``timesteps``, ``latent_std`` and ``scale_factor``.

    Args:
        device: device to run on.
        max_epochs: number of epochs.
        train_data_loader: loader of dicts with ``image`` scaled as for the autoencoder.
        network: the diffusion model ``network(x, timesteps=t)``.
        optimizer: its optimizer.
        autoencoder: the trained stage-1 model (kept frozen, in eval mode).
        inferer: a ``LatentDiffusionInferer`` holding the training noise scheduler (e.g. ``DDPMScheduler``).
        loss_function: loss between predicted and true noise (default L1, as medfusion).
        scale_factor: None, a positive number, or ``"auto"`` (see above).
        latent_stats_batches: batches used to measure the latent standard deviation (None: one epoch).
        latent_stats_file: optional JSON path for ``latent_std`` and ``scale_factor``.
        epoch_length: iterations per epoch; default ``len(train_data_loader)``.
        non_blocking: non-blocking host-to-device copies.
        prepare_batch: batch to ``(image, ...)``.
        iteration_update: replaces ``_iteration`` if given.
        postprocessing: applied on MODEL_COMPLETED.
        key_train_metric: key metric on the outputs.
        additional_metrics: more metrics.
        metric_cmp_fn: key metric comparison.
        train_handlers: handlers to attach.
        amp: mixed precision on the engine's device (CPU or CUDA; see
            :class:`~monai_ext.engines.USMixedPrecision`), a bool or a config string.
        event_names: additional custom events.
        event_to_attr: custom event to state attribute map.
        decollate: decollate the outputs on MODEL_COMPLETED (MONAI handlers with `from_engine(..., first=True)`,
            e.g. the `--tracking mlflow` defaults, expect it).
        optim_set_to_none: ``zero_grad(set_to_none=...)``.
        to_kwargs: extra ``Tensor.to`` arguments.
        amp_kwargs: kept for MONAI compatibility; only its ``dtype`` entry is read.
        amp_dtype: "bfloat16" (default) or "float16" (CUDA only, with a gradient scaler).

    Raises:
        TypeError: when ``inferer`` is not a ``LatentDiffusionInferer``.
        ValueError: for a scheduler that does not predict epsilon, or an invalid ``scale_factor``.
    """

    def __init__(
        self,
        device: str | torch.device,
        max_epochs: int,
        train_data_loader: Iterable | DataLoader,
        network: torch.nn.Module,
        optimizer: Optimizer,
        autoencoder: torch.nn.Module,
        inferer: LatentDiffusionInferer,
        loss_function: Callable | None = None,
        scale_factor: float | str | None = None,
        latent_stats_batches: int | None = 16,
        latent_stats_file: str | None = None,
        epoch_length: int | None = None,
        non_blocking: bool = False,
        prepare_batch: Callable = default_prepare_batch,
        iteration_update: Callable[[Engine, Any], Any] | None = None,
        postprocessing: Callable | None = None,
        key_train_metric: dict[str, Metric] | None = None,
        additional_metrics: dict[str, Metric] | None = None,
        metric_cmp_fn: Callable = default_metric_cmp_fn,
        train_handlers: Sequence | None = None,
        amp: bool | str = False,
        event_names: list[str | EventEnum | type[EventEnum]] | None = None,
        event_to_attr: dict | None = None,
        decollate: bool = True,
        optim_set_to_none: bool = True,
        to_kwargs: dict | None = None,
        amp_kwargs: dict | None = None,
        amp_dtype: str | torch.dtype | None = None,
    ) -> None:
        if not isinstance(inferer, LatentDiffusionInferer):
            raise TypeError(f"inferer must be a monai.inferers.LatentDiffusionInferer, got {type(inferer).__name__}.")
        prediction_type = str(getattr(inferer.scheduler, "prediction_type", "epsilon"))
        if prediction_type != "epsilon":
            raise ValueError(f"the noise scheduler must predict 'epsilon' (medfusion), got {prediction_type!r}.")
        if isinstance(scale_factor, str) and scale_factor != "auto":
            raise ValueError(f"scale_factor must be None, a positive number or 'auto', got {scale_factor!r}.")
        if isinstance(scale_factor, (int, float)) and not scale_factor > 0:
            raise ValueError(f"scale_factor must be positive, got {scale_factor}.")
        if latent_stats_batches is not None and latent_stats_batches < 1:
            raise ValueError(f"latent_stats_batches must be positive or None, got {latent_stats_batches}.")
        super().__init__(
            device=device,
            max_epochs=max_epochs,
            data_loader=train_data_loader,
            epoch_length=epoch_length,
            non_blocking=non_blocking,
            prepare_batch=prepare_batch,
            iteration_update=iteration_update,
            postprocessing=postprocessing,
            key_metric=key_train_metric,
            additional_metrics=additional_metrics,
            metric_cmp_fn=metric_cmp_fn,
            handlers=train_handlers,
            amp=False,  # see init_mixed_precision below
            event_names=event_names,
            event_to_attr=event_to_attr,
            decollate=decollate,
            to_kwargs=to_kwargs,
            amp_kwargs=amp_kwargs,
        )
        self.init_mixed_precision(amp, device, amp_dtype, amp_kwargs)
        self.network = network
        self.optimizer = optimizer
        self.autoencoder = autoencoder
        self.inferer = inferer
        self.loss_function = torch.nn.L1Loss() if loss_function is None else loss_function
        self.scale_factor = scale_factor
        self.latent_stats_batches = latent_stats_batches
        self.latent_stats_file = latent_stats_file
        self.optim_set_to_none = optim_set_to_none
        self.state.latent_std = None
        self.state.scale_factor = None
        self.state.latent_shape = None
        # ignite saves these state attributes with the engine, so a resumed run keeps the scale it trained with
        self._state_dict_user_keys.extend(["latent_std", "scale_factor"])
        for p in self.autoencoder.parameters():
            p.requires_grad_(False)
        # registered after the train handlers, so a checkpoint loader (STARTED) has restored the state already
        self.add_event_handler(Events.STARTED, self._prepare_latent_scale)

    def _prepare_latent_scale(self, engine: USLatentDiffusionTrainer) -> None:
        if engine.state.iteration > 0 and engine.state.scale_factor is not None:
            engine.inferer.scale_factor = float(engine.state.scale_factor)
            self.logger.info(f"resumed with latent scale factor {engine.inferer.scale_factor:.6g}")
            return
        std, shape = latent_statistics(
            engine.autoencoder,
            engine.data_loader,
            engine.state.device,
            engine.latent_stats_batches,
            engine.prepare_batch,
        )
        if engine.scale_factor == "auto":
            if std <= 0:
                raise ValueError("latent standard deviation is 0: cannot use scale_factor='auto'.")
            engine.inferer.scale_factor = 1.0 / std
        elif engine.scale_factor is not None:
            engine.inferer.scale_factor = float(engine.scale_factor)
        engine.state.latent_std = std
        engine.state.scale_factor = float(engine.inferer.scale_factor)
        engine.state.latent_shape = shape
        self.logger.info(f"latent std {std:.6g}, latent shape {shape}, scale factor {engine.state.scale_factor:.6g}")
        if engine.latent_stats_file:
            write_latent_stats(
                engine.latent_stats_file, std, engine.state.scale_factor, latent_shape=list(shape), source="training"
            )

    def _latent_shape(self, engine: USLatentDiffusionTrainer, images: torch.Tensor) -> tuple[int, ...]:
        if engine.state.latent_shape is None:
            with torch.no_grad():
                engine.autoencoder.eval()
                engine.state.latent_shape = tuple(engine.autoencoder.encode_stage_2_inputs(images[:1]).shape[1:])
        return engine.state.latent_shape

    def _iteration(self, engine: USLatentDiffusionTrainer, batchdata: dict[str, torch.Tensor]) -> dict:
        """
        One diffusion iteration (see the class docstring for the output dictionary).

        Raises:
            ValueError: when `batchdata` is None.
        """
        if batchdata is None:
            raise ValueError("Must provide batch data for current iteration.")
        batch = engine.prepare_batch(batchdata, engine.state.device, engine.non_blocking, **engine.to_kwargs)
        images = as_plain_tensor(batch[0])
        n = images.shape[0]
        noise = torch.randn((n, *self._latent_shape(engine, images)), device=images.device)
        num_steps = int(engine.inferer.scheduler.num_train_timesteps)
        timesteps = torch.randint(0, num_steps, (n,), device=images.device).long()
        engine.state.output = {
            Keys.IMAGE: images,
            Keys.LABEL: noise,
            "timesteps": timesteps,
            # constants of the run, in the output so that metric handlers (and MLflow) can record them
            "latent_std": float(engine.state.latent_std or float("nan")),
            "scale_factor": float(engine.inferer.scale_factor),
        }
        out = engine.state.output

        def _compute_pred_loss() -> None:
            out[Keys.PRED] = engine.inferer(
                inputs=images,
                autoencoder_model=engine.autoencoder,
                diffusion_model=engine.network,
                noise=noise,
                timesteps=timesteps,
            )
            engine.fire_event(IterationEvents.FORWARD_COMPLETED)
            out[Keys.LOSS] = engine.loss_function(out[Keys.PRED].float(), noise.float())
            engine.fire_event(IterationEvents.LOSS_COMPLETED)

        engine.autoencoder.eval()
        engine.network.train()
        engine.optimizer.zero_grad(set_to_none=engine.optim_set_to_none)
        amp = engine.mixed_precision
        with amp.autocast():
            _compute_pred_loss()
        amp.backward(out[Keys.LOSS])
        engine.fire_event(IterationEvents.BACKWARD_COMPLETED)
        amp.step(engine.optimizer)
        amp.update()
        out[Keys.PRED] = out[Keys.PRED].detach()
        engine.fire_event(IterationEvents.MODEL_COMPLETED)
        return engine.state.output
