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

"""Stage 1a of MGCC's synthetic-image pipeline: train a KL-regularised autoencoder (docs/methods/mgcc.md, "Synthetic
images").

The loss follows medfusion's VAE (docs/methods/mgcc.md, "Synthetic images") without its LPIPS term, which needs
downloaded weights: ``pixel + w_ssim * (1 - SSIM) + w_kl * KL`` and, optionally, a patch-adversarial term (VAE-GAN).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from monai.engines.utils import IterationEvents, default_metric_cmp_fn, default_prepare_batch
from monai.inferers import Inferer, SimpleInferer
from monai.losses import PatchAdversarialLoss, SSIMLoss
from monai.utils import IgniteInfo, min_version, optional_import
from monai.utils.enums import CommonKeys as Keys
from torch.optim.optimizer import Optimizer
from torch.utils.data import DataLoader

from monai_ext.engines import USMixedPrecisionTrainer, as_plain_tensor

if TYPE_CHECKING:
    from ignite.engine import Engine, EventEnum
    from ignite.metrics import Metric
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")
    EventEnum, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "EventEnum")
    Metric, _ = optional_import("ignite.metrics", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Metric")

__all__ = ["USAutoencoderTrainer", "gaussian_kl_loss"]

_PIXEL_LOSSES = {"mse": torch.nn.functional.mse_loss, "l1": torch.nn.functional.l1_loss}



def gaussian_kl_loss(z_mu: torch.Tensor, z_sigma: torch.Tensor, num_pixels: int | None = None) -> torch.Tensor:
    """KL divergence of N(mu, sigma^2) from N(0, I), summed over the latent, averaged over the batch.

    ``0.5 * sum(mu^2 + sigma^2 - log(sigma^2) - 1)`` per sample (the MONAI tutorial form). With ``num_pixels`` the
    value is divided by the number of image elements (C*H*W): medfusion sums its pixel losses over the image and
    adds ``1e-6 * KL``; dividing the KL by the image size instead keeps the same ratio with mean-reduced pixel
    losses (the scale of the whole loss does not matter to Adam).

    Args:
        z_mu: latent means (B, C, ...).
        z_sigma: latent standard deviations, same shape, > 0.
        num_pixels: image elements per sample, or None for the plain per-sample sum.

    Raises:
        ValueError: for mismatched shapes or a non-positive ``num_pixels``.
    """
    if z_mu.shape != z_sigma.shape:
        raise ValueError(
            f"z_mu and z_sigma must have the same shape, got {tuple(z_mu.shape)} and {tuple(z_sigma.shape)}"
        )
    if num_pixels is not None and num_pixels < 1:
        raise ValueError(f"num_pixels must be positive, got {num_pixels}")
    var = z_sigma.float().pow(2)
    kl = 0.5 * (z_mu.float().pow(2) + var - torch.log(var.clamp_min(1e-12)) - 1.0)
    kl = kl.flatten(1).sum(1).mean()
    return kl / num_pixels if num_pixels else kl


class USAutoencoderTrainer(USMixedPrecisionTrainer):
    """
    Train a MONAI ``AutoencoderKL`` on images scaled to [-1, 1], optionally with a patch discriminator (VAE-GAN).

    Each iteration: ``recon, z_mu, z_sigma = inferer(x, network)``;
    ``loss = pixel_weight * pixel(recon, x) + ssim_weight * SSIMLoss(recon, x) + kl_weight * KL / (C*H*W)``
    (+ ``adversarial_weight * generator loss`` once the iteration exceeds ``adversarial_start_iteration``); one
    optimizer step; then, with a discriminator, one discriminator step on real vs detached reconstructions.
    Fires MONAI's ``IterationEvents`` FORWARD_COMPLETED, LOSS_COMPLETED, BACKWARD_COMPLETED and MODEL_COMPLETED
    (last), like ``SupervisedTrainer``.

    ``engine.state.output``: ``image`` and ``label`` (both the input), ``pred`` (reconstruction, detached),
    ``loss`` (total generator loss), ``loss_pixel``, ``loss_ssim``, ``loss_kl`` (unweighted KL / (C*H*W)),
    ``loss_gen``, ``loss_disc`` (0 without discriminator) and ``latent_std`` (standard deviation of the sampled
    latent, ``sqrt(var(mu) + mean(sigma^2))``, for diagnosis of the latent scale).

    Args:
        device: device to run on.
        max_epochs: number of epochs.
        train_data_loader: loader of dicts with ``image`` in [-1, 1] (channel-first).
        network: the autoencoder; ``inferer(x, network)`` must return ``(reconstruction, z_mu, z_sigma)``.
        optimizer: optimizer of the autoencoder.
        pixel_loss: ``"mse"`` (medfusion), ``"l1"``, or a callable ``(recon, x) -> scalar``.
        pixel_weight: weight of the pixel loss.
        ssim_weight: weight of ``1 - SSIM`` (0 disables it).
        kl_weight: weight of the KL term (medfusion: 1e-6).
        spatial_dims: spatial dimensions (for ``SSIMLoss``).
        data_range: intensity range of the images (2 for [-1, 1]).
        discriminator: optional ``PatchDiscriminator``; its last output is used as logits.
        discriminator_optimizer: its optimizer (required with a discriminator).
        adversarial_weight: weight of the generator's adversarial loss.
        adversarial_start_iteration: iterations without adversarial terms (warm-up; discriminator not trained).
        adversarial_criterion: ``PatchAdversarialLoss`` criterion (``"hinge"`` as medfusion's VAE-GAN,
            ``"least_squares"`` as the MONAI tutorials, or ``"bce"``).
        epoch_length: iterations per epoch; default ``len(train_data_loader)``.
        non_blocking: non-blocking host-to-device copies.
        prepare_batch: batch to ``(image, ...)``.
        iteration_update: replaces ``_iteration`` if given.
        inferer: runs the network (default ``SimpleInferer``).
        postprocessing: applied on MODEL_COMPLETED.
        key_train_metric: key metric on the outputs.
        additional_metrics: more metrics (e.g. ``ignite.metrics.Average`` of ``loss_kl``).
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
        ValueError: for an unknown pixel loss, negative weights, or a discriminator without optimizer.
    """

    def __init__(
        self,
        device: str | torch.device,
        max_epochs: int,
        train_data_loader: Iterable | DataLoader,
        network: torch.nn.Module,
        optimizer: Optimizer,
        pixel_loss: str | Callable = "mse",
        pixel_weight: float = 1.0,
        ssim_weight: float = 1.0,
        kl_weight: float = 1e-6,
        spatial_dims: int = 2,
        data_range: float = 2.0,
        discriminator: torch.nn.Module | None = None,
        discriminator_optimizer: Optimizer | None = None,
        adversarial_weight: float = 0.0,
        adversarial_start_iteration: int = 0,
        adversarial_criterion: str = "hinge",
        epoch_length: int | None = None,
        non_blocking: bool = False,
        prepare_batch: Callable = default_prepare_batch,
        iteration_update: Callable[[Engine, Any], Any] | None = None,
        inferer: Inferer | None = None,
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
        if isinstance(pixel_loss, str):
            if pixel_loss.lower() not in _PIXEL_LOSSES:
                raise ValueError(
                    f"pixel_loss must be one of {sorted(_PIXEL_LOSSES)} or a callable, got {pixel_loss!r}."
                )
            pixel_fn: Callable = _PIXEL_LOSSES[pixel_loss.lower()]
        elif callable(pixel_loss):
            pixel_fn = pixel_loss
        else:
            raise TypeError(f"pixel_loss must be a string or a callable, got {type(pixel_loss).__name__}.")
        for name, w in (
            ("pixel_weight", pixel_weight),
            ("ssim_weight", ssim_weight),
            ("kl_weight", kl_weight),
            ("adversarial_weight", adversarial_weight),
        ):
            if w < 0:
                raise ValueError(f"{name} must be non-negative, got {w}.")
        if adversarial_start_iteration < 0:
            raise ValueError(f"adversarial_start_iteration must be >= 0, got {adversarial_start_iteration}.")
        if discriminator is not None and discriminator_optimizer is None:
            raise ValueError("a discriminator needs a discriminator_optimizer.")
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
        self.inferer = SimpleInferer() if inferer is None else inferer
        self.pixel_loss = pixel_fn
        self.pixel_weight = float(pixel_weight)
        self.ssim_weight = float(ssim_weight)
        self.kl_weight = float(kl_weight)
        self.ssim_loss = SSIMLoss(spatial_dims=spatial_dims, data_range=data_range) if ssim_weight > 0 else None
        self.discriminator = discriminator
        self.discriminator_optimizer = discriminator_optimizer
        self.adversarial_weight = float(adversarial_weight)
        self.adversarial_start_iteration = int(adversarial_start_iteration)
        self.adversarial_loss = None
        if discriminator is not None:
            self.adversarial_loss = PatchAdversarialLoss(criterion=adversarial_criterion, reduction="mean")
        self.optim_set_to_none = optim_set_to_none

    def _adversarial_active(self, engine: USAutoencoderTrainer) -> bool:
        return engine.discriminator is not None and engine.state.iteration > engine.adversarial_start_iteration

    @staticmethod
    def _logits(d_out: Any) -> torch.Tensor:
        # PatchDiscriminator returns its intermediate features too; the last entry is the patch logit map
        return d_out[-1] if isinstance(d_out, (list, tuple)) else d_out

    def _iteration(self, engine: USAutoencoderTrainer, batchdata: dict[str, torch.Tensor]) -> dict:
        """
        One autoencoder iteration (see the class docstring for the output dictionary).

        Raises:
            ValueError: when `batchdata` is None or the network does not return (recon, z_mu, z_sigma).
        """
        if batchdata is None:
            raise ValueError("Must provide batch data for current iteration.")
        batch = engine.prepare_batch(batchdata, engine.state.device, engine.non_blocking, **engine.to_kwargs)
        images = as_plain_tensor(batch[0])
        engine.state.output = {Keys.IMAGE: images, Keys.LABEL: images}
        adversarial = self._adversarial_active(engine)
        out = engine.state.output

        def _generator_loss() -> None:
            result = engine.inferer(images, engine.network)
            if not isinstance(result, (tuple, list)) or len(result) != 3:
                raise ValueError("the autoencoder must return (reconstruction, z_mu, z_sigma), e.g. AutoencoderKL.")
            recon, z_mu, z_sigma = result
            out[Keys.PRED] = recon
            engine.fire_event(IterationEvents.FORWARD_COMPLETED)
            recon_f = recon.float()
            loss_pixel = engine.pixel_loss(recon_f, images.float())
            loss_ssim = recon_f.new_zeros(())
            if engine.ssim_loss is not None:
                loss_ssim = engine.ssim_loss(recon_f, images.float())
            loss_kl = gaussian_kl_loss(z_mu, z_sigma, num_pixels=images[0].numel())
            loss = engine.pixel_weight * loss_pixel + engine.ssim_weight * loss_ssim + engine.kl_weight * loss_kl
            loss_gen = recon_f.new_zeros(())
            if adversarial:
                logits_fake = self._logits(engine.discriminator(recon_f.contiguous()))
                loss_gen = engine.adversarial_loss(logits_fake, target_is_real=True, for_discriminator=False)
                loss = loss + engine.adversarial_weight * loss_gen
            out[Keys.LOSS] = loss
            out["loss_pixel"] = loss_pixel.detach()
            out["loss_ssim"] = loss_ssim.detach()
            out["loss_kl"] = loss_kl.detach()
            out["loss_gen"] = loss_gen.detach()
            with torch.no_grad():
                out["latent_std"] = torch.sqrt(z_mu.float().var() + z_sigma.float().pow(2).mean())
            engine.fire_event(IterationEvents.LOSS_COMPLETED)

        def _discriminator_loss() -> torch.Tensor:
            logits_fake = self._logits(engine.discriminator(out[Keys.PRED].detach().float().contiguous()))
            logits_real = self._logits(engine.discriminator(images.float().contiguous()))
            loss_fake = engine.adversarial_loss(logits_fake, target_is_real=False, for_discriminator=True)
            loss_real = engine.adversarial_loss(logits_real, target_is_real=True, for_discriminator=True)
            return 0.5 * (loss_fake + loss_real)

        engine.network.train()
        engine.optimizer.zero_grad(set_to_none=engine.optim_set_to_none)
        amp = engine.mixed_precision
        if adversarial:
            engine.discriminator.train()
        with amp.autocast():
            _generator_loss()
        amp.backward(out[Keys.LOSS])
        engine.fire_event(IterationEvents.BACKWARD_COMPLETED)
        amp.step(engine.optimizer)
        loss_disc = images.new_zeros((), dtype=torch.float32)
        if adversarial:
            engine.discriminator_optimizer.zero_grad(set_to_none=engine.optim_set_to_none)
            with amp.autocast():
                loss_disc = _discriminator_loss()
            amp.backward(loss_disc)
            amp.step(engine.discriminator_optimizer)
        # one scaler for both optimizers: update once per iteration, after every step (torch AMP recipe)
        amp.update()
        out["loss_disc"] = loss_disc.detach()
        out[Keys.PRED] = out[Keys.PRED].detach()
        engine.fire_event(IterationEvents.MODEL_COMPLETED)
        return engine.state.output
