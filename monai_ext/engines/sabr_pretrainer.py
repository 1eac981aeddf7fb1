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
"""The adversarial pretraining engine of SABR-Net (stages 0 and 1), in the manner of MONAI's ``AdversarialTrainer``.

Re-implemented (no code copied) from the SABR bundle docs (``bundles/sabr_us_segmentation/docs/README.md``, "Stage 1
losses" and "Pipeline"), which describe the released SemanticGAN-derived ``train_seg_pretrain.py``. One iteration, in
this order:

1. **D_img step** on an unlabelled batch ``x_u`` with its shadow mask ``m_u``: logistic loss of ``D_img(x_u)`` (real)
   vs ``D_img(G_img(x_u, m_u))`` (fake, drawn without gradient);
2. **D_seg step**: hinge loss, real ``cat[x_l, onehot(y_l)]`` vs fake ``cat[G_img(x_u), softmax(G_seg(x_u))]``
   (the public code feeds raw logits as fake: ``legacy_dseg_logits=True`` reproduces it);
3. **lazy R1** every ``d_reg_every`` (16) iterations on both discriminators (gamma 10, times the interval);
4. **generator step on the unlabelled batch** (its own Adam, gradient norm clipped at 2): (a) image adversarial,
   (b) segmentation hinge adversarial on ``cat[x_hat.detach(), softmax(s_hat)]``, (c) D_seg feature matching
   against the (unpaired) labelled real, (d) reconstruction L1 x 10, (e) perceptual L1 x 10 and (f) Gram style
   L1 x 250 through the frozen encoder E (``E(x, m)`` vs ``E(x_hat, 1)``);
5. **path-length regulariser** every ``path_length.interval`` (4) iterations (weight 2 x 4), stepped by the same
   optimiser;
6. **generator step on the labelled batch** (a second Adam over the same parameters, clipped at 5): the terms a-f on
   ``x_l, m_l`` plus CE with temperature 0.1 and Dice (:class:`~monai_ext.losses.USSABRSegLoss`), then the
   path-length regulariser again at its interval;
7. **EMA** of the generator (decay 0.99778): parameters averaged, buffers (the tracked average w) copied.

Stage 0 (the warm-up of the ``warmup_snapshot`` option) is the same engine with ``segmentation=False``: no labelled
batch, no D_seg, no segmentation terms, and usually no path length and no perceptual encoder (terms 1, 3, 4a, 4d).

The regularisers run in float32 outside autocast (their inner gradients need no loss scaling); a regulariser's
value is carried in ``engine.state.output`` from the iteration it last ran (0 before it first runs in this process).
The run length is counted in iterations (``max_iterations``); the unlabelled (stage 1) or training-pool (stage 0)
loader drives the epochs and the labelled loader is an independent stream cycled endlessly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from monai.engines.utils import IterationEvents, default_metric_cmp_fn
from monai.utils import IgniteInfo, min_version, optional_import
from monai.utils.enums import CommonKeys as Keys
from torch import nn
from torch.optim.optimizer import Optimizer

from monai_ext.engines.methods import unwrap_network
from monai_ext.engines.mixed_precision import USMixedPrecisionTrainer
from monai_ext.engines.plain_tensors import as_plain_tensor
from monai_ext.losses import (
    USGramStyleLoss,
    USPathLengthRegularizer,
    USPerceptualL1Loss,
    USReconstructionL1Loss,
    USSABRSegLoss,
    composite_inpainting,
    feature_matching_l1_loss,
    hinge_discriminator_loss,
    hinge_generator_loss,
    label_to_one_hot,
    logistic_discriminator_loss,
    logistic_generator_loss,
    r1_penalty,
)

if TYPE_CHECKING:
    from ignite.engine import Engine, EventEnum, Events
    from ignite.metrics import Average, Metric
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")
    Events, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Events")
    EventEnum, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "EventEnum")
    Metric, _ = optional_import("ignite.metrics", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Metric")
    Average, _ = optional_import("ignite.metrics", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Average")

__all__ = ["SABR_LOSS_WEIGHTS", "SABRIterationEvents", "SABRPretrainer", "sabr_pretrain_output_keys"]

#: Stage-1 loss weights of the released code: image / segmentation adversarial 1, feature matching 2 (spread over the
#: scales), reconstruction 10, perceptual 10, style 250 (hard-coded in the public script), segmentation (CE + Dice) 1.
SABR_LOSS_WEIGHTS: dict[str, float] = {
    "adv_img": 1.0,
    "adv_seg": 1.0,
    "feature_matching": 2.0,
    "reconstruction": 10.0,
    "perceptual": 10.0,
    "style": 250.0,
    "segmentation": 1.0,
}


class SABRIterationEvents(EventEnum):
    """Events of :class:`SABRPretrainer` besides MONAI's ``IterationEvents``.

    ``DISCRIMINATORS_COMPLETED``: after the D_img and D_seg steps and their R1 step of the iteration.
    ``UNLABELED_GENERATOR_COMPLETED``: after the unlabelled generator step and its path-length step.
    """

    DISCRIMINATORS_COMPLETED = "sabr_discriminators_completed"
    UNLABELED_GENERATOR_COMPLETED = "sabr_unlabeled_generator_completed"


def sabr_pretrain_output_keys(
    segmentation: bool = True, perceptual: bool = True, path_length: bool = True
) -> list[str]:
    """The loss and monitor entries :class:`SABRPretrainer` writes into ``engine.state.output`` (each is logged).

    ``loss_*_u`` / ``loss_*_l`` are the unweighted terms of the unlabelled / labelled generator steps,
    ``loss_g_unlabeled`` / ``loss_g_labeled`` their weighted sums and ``loss`` the sum of both; ``loss_r1_*`` and
    ``loss_path_*`` are returned by the regularisers with their weight and interval; ``d_img_real`` / ``d_img_fake``
    are the mean D_img logits of the D step; ``path_length`` is the running mean path length.
    """
    keys = ["loss", "loss_d_img", "loss_r1_img", "loss_g_unlabeled", "loss_adv_img_u", "loss_rec_u", "d_img_real",
            "d_img_fake"]
    if perceptual:
        keys += ["loss_perc_u", "loss_style_u"]
    if path_length:
        keys += ["loss_path_u", "path_length"]
    if segmentation:
        keys += ["loss_d_seg", "loss_r1_seg", "loss_adv_seg_u", "loss_fm_u", "loss_g_labeled", "loss_adv_img_l",
                 "loss_adv_seg_l", "loss_fm_l", "loss_rec_l", "loss_ce_l", "loss_dice_l"]
        if perceptual:
            keys += ["loss_perc_l", "loss_style_l"]
        if path_length:
            keys += ["loss_path_l"]
    return keys


class _EndlessStream:
    """An endless stream of batches from a loader, reshuffled (``set_epoch`` under DDP) on every new pass."""

    def __init__(self, loader: Iterable, name: str) -> None:
        self.loader, self.name, self.passes = loader, name, 0
        self._it: Iterator | None = None

    def next(self) -> Any:
        for _ in range(2):
            if self._it is None:
                sampler = getattr(self.loader, "sampler", None)
                if hasattr(sampler, "set_epoch"):
                    sampler.set_epoch(self.passes)  # type: ignore[union-attr]
                self.passes += 1
                self._it = iter(self.loader)
            try:
                return next(self._it)
            except StopIteration:
                self._it = None
        raise ValueError(f"the {self.name} data loader yields no batch: it is empty or smaller than its batch size "
                         "with drop_last.")


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_requires_grad(module: nn.Module | None, flag: bool) -> None:
    if module is not None:
        for p in module.parameters():
            p.requires_grad_(flag)


class SABRPretrainer(USMixedPrecisionTrainer):
    """SABR-Net stage 0 (inpainting warm-up) and stage 1 (adversarial pretraining) of generator B.

    Each batch is a dict with ``image_key`` (B, 3, H, W) in [-1, 1], ``mask_key`` (B, 1, H, W) hole mask (1 visible,
    0 hole; :class:`~monai_ext.transforms.USShadowImitationd`) and, for labelled batches, ``label_key`` (B, 1, H, W)
    class indices. The iteration is described in the module docstring; ``engine.state.output`` holds ``image`` (the
    unlabelled input), ``pred`` (its inpainting, detached), ``r1_applied`` / ``path_length_applied`` (1.0 on the
    iterations the regularisers ran) and the entries of :func:`sabr_pretrain_output_keys`, each of which is also
    averaged per epoch into ``engine.state.metrics`` (so ``--tracking mlflow`` logs it) unless
    ``average_losses=False``. Events: MONAI's ``FORWARD_COMPLETED``, ``LOSS_COMPLETED`` and ``BACKWARD_COMPLETED`` for
    every generator step (one in stage 0, two in stage 1), :class:`SABRIterationEvents`, and ``MODEL_COMPLETED`` once,
    last, after the EMA update.

    Args:
        device: device to run on.
        max_epochs: number of epochs; if None, ``ceil(max_iterations / epoch_length)``.
        train_data_loader: the loader that drives the epochs: unlabelled images (stage 1) or the whole training pool
            (stage 0), each item with its own shadow mask.
        generator: generator B (:class:`~monai_ext.networks.nets.SABRGenerator`).
        image_discriminator: D_img; images are resized (bilinear) to its ``img_size`` when they differ (power-of-two
            discriminator for e.g. 96 px inputs).
        generator_optimizer: the optimiser of the unlabelled generator step (and of everything in stage 0).
        image_discriminator_optimizer: D_img's optimiser.
        max_iterations: hard stop after this many iterations.
        labeled_data_loader: labelled batches (stage 1), cycled endlessly.
        mask_discriminator: D_seg (stage 1).
        mask_discriminator_optimizer: D_seg's optimiser (stage 1).
        generator_labeled_optimizer: the second generator optimiser of the labelled step; None uses
            ``generator_optimizer`` for both (``single_generator_optimizer``).
        ema_generator: the EMA copy (e.g. :func:`~monai_ext.engines.make_ema_teacher` of the generator), or None.
        ema_decay: EMA decay (0.5 ** (32 / 10000) = 0.99778).
        perceptual_encoder: the frozen encoder E (:func:`~monai_ext.engines.sabr_perceptual_encoder`); None drops the
            perceptual and style terms.
        path_length: the path-length regulariser (weight, interval, running mean), or None.
        segmentation: False for stage 0 (no labelled batch, D_seg or segmentation terms).
        seg_loss: the labelled segmentation loss; default CE with temperature 0.1 + softmax Dice.
        reconstruction_loss: default whole-image mean L1; ``USReconstructionL1Loss("hole_weighted")`` also composites
            the output (``x_hat = G (1 - m) + x m``) for D_img and E.
        loss_weights: overrides of :data:`SABR_LOSS_WEIGHTS`.
        r1_gamma: R1 weight (10).
        d_reg_every: R1 interval (16); R1 runs on iterations 1, 1 + interval, ... (the public 0-based ``i % 16 == 0``).
        unlabeled_grad_clip: gradient-norm clip of the unlabelled generator step (2.0; None: no clipping).
        labeled_grad_clip: gradient-norm clip of the labelled generator step (5.0).
        legacy_dseg_logits: feed D_seg raw fake logits (public-code bug) instead of softmax probabilities.
        image_key, mask_key, label_key: batch keys.
        epoch_length: iterations per epoch; default ``len(train_data_loader)``.
        non_blocking: non-blocking host-to-device copies.
        iteration_update: replaces ``_iteration`` if given.
        postprocessing: applied on MODEL_COMPLETED.
        key_train_metric: key metric on the outputs.
        additional_metrics: more metrics (merged over the per-loss averages).
        metric_cmp_fn: key metric comparison.
        train_handlers: handlers to attach.
        amp: mixed precision (:class:`~monai_ext.engines.USMixedPrecision`; bool or config string).
        amp_dtype: ``"bfloat16"`` (CPU and CUDA) or ``"float16"`` (CUDA, with a gradient scaler).
        event_names: additional custom events.
        event_to_attr: custom event to state attribute map.
        decollate: decollate outputs before post-processing.
        optim_set_to_none: ``zero_grad(set_to_none=...)``.
        to_kwargs: extra ``Tensor.to`` arguments.
        average_losses: attach an ``ignite.metrics.Average`` for every output entry.

    Raises:
        ValueError: inconsistent stage-1 parts (segmentation without labelled loader, D_seg or its optimiser), bad
            intervals or weights.
    """

    def __init__(
        self,
        device: str | torch.device,
        max_epochs: int | None,
        train_data_loader: Iterable,
        generator: nn.Module,
        image_discriminator: nn.Module,
        generator_optimizer: Optimizer,
        image_discriminator_optimizer: Optimizer,
        max_iterations: int | None = None,
        labeled_data_loader: Iterable | None = None,
        mask_discriminator: nn.Module | None = None,
        mask_discriminator_optimizer: Optimizer | None = None,
        generator_labeled_optimizer: Optimizer | None = None,
        ema_generator: nn.Module | None = None,
        ema_decay: float = 0.99778,
        perceptual_encoder: nn.Module | None = None,
        path_length: USPathLengthRegularizer | None = None,
        segmentation: bool = True,
        seg_loss: Callable | None = None,
        reconstruction_loss: USReconstructionL1Loss | None = None,
        loss_weights: Mapping[str, float] | None = None,
        r1_gamma: float = 10.0,
        d_reg_every: int = 16,
        unlabeled_grad_clip: float | None = 2.0,
        labeled_grad_clip: float | None = 5.0,
        legacy_dseg_logits: bool = False,
        image_key: str = "image",
        mask_key: str = "shadow_mask",
        label_key: str = "label",
        epoch_length: int | None = None,
        non_blocking: bool = False,
        iteration_update: Callable[[Engine, Any], Any] | None = None,
        postprocessing: Callable | None = None,
        key_train_metric: dict[str, Metric] | None = None,
        additional_metrics: dict[str, Metric] | None = None,
        metric_cmp_fn: Callable = default_metric_cmp_fn,
        train_handlers: Sequence | None = None,
        amp: bool | str = False,
        amp_dtype: str | torch.dtype = "bfloat16",
        event_names: list | None = None,
        event_to_attr: dict | None = None,
        decollate: bool = True,
        optim_set_to_none: bool = True,
        to_kwargs: dict | None = None,
        average_losses: bool = True,
    ) -> None:
        self.segmentation = bool(segmentation)
        if self.segmentation and (labeled_data_loader is None or mask_discriminator is None
                                  or mask_discriminator_optimizer is None):
            raise ValueError("SABRPretrainer: stage 1 (segmentation=True) needs labeled_data_loader, "
                             "mask_discriminator and mask_discriminator_optimizer; use segmentation=False for the "
                             "stage-0 warm-up.")
        if isinstance(d_reg_every, bool) or not isinstance(d_reg_every, int) or d_reg_every < 1:
            raise ValueError(f"SABRPretrainer: d_reg_every must be a positive int, got {d_reg_every!r}.")
        if not 0.0 <= float(ema_decay) < 1.0 or r1_gamma < 0:
            raise ValueError(f"SABRPretrainer: need 0 <= ema_decay < 1 and r1_gamma >= 0, got {ema_decay}, {r1_gamma}.")
        unknown = set(loss_weights or {}) - set(SABR_LOSS_WEIGHTS)
        if unknown:
            raise ValueError(
                f"SABRPretrainer: unknown loss_weights {sorted(unknown)}; known: {sorted(SABR_LOSS_WEIGHTS)}."
            )
        if max_iterations is not None and max_iterations < 1:
            raise ValueError(f"SABRPretrainer: max_iterations must be a positive integer, got {max_iterations}.")
        if epoch_length is None:
            try:
                epoch_length = len(train_data_loader)  # type: ignore[arg-type]
            except TypeError:
                epoch_length = None
        if epoch_length == 0:
            raise ValueError("SABRPretrainer: the training data loader yields no batch (fewer images than its batch "
                             "size with drop_last); give more images or a smaller batch size.")
        if max_epochs is None:
            if max_iterations is None or epoch_length is None:
                raise ValueError("SABRPretrainer: give max_epochs, or max_iterations with a loader of known length.")
            max_epochs = math.ceil(max_iterations / epoch_length)
        keys = sabr_pretrain_output_keys(self.segmentation, perceptual_encoder is not None, path_length is not None)
        events = [SABRIterationEvents] + list(event_names or [])
        super().__init__(
            device=device, max_epochs=max_epochs, data_loader=train_data_loader, epoch_length=epoch_length,
            non_blocking=non_blocking, prepare_batch=lambda b, *a, **k: b, iteration_update=iteration_update,
            postprocessing=postprocessing, key_metric=key_train_metric, additional_metrics=additional_metrics,
            metric_cmp_fn=metric_cmp_fn, handlers=None, amp=False, event_names=events,
            event_to_attr=event_to_attr, decollate=decollate, to_kwargs=to_kwargs,
        )
        # MONAI registers additional metrics only together with a key metric; the loss averages never need one
        metrics = {k: Average(output_transform=self._entry(k)) for k in keys} if average_losses else {}
        if key_train_metric is None:
            metrics.update(additional_metrics or {})
        for name, metric in metrics.items():
            metric.attach(self, name)
        if train_handlers is not None:  # after the metrics, so epoch-level loggers (MLflow) see this epoch's values
            self._register_handlers(train_handlers)
        self.init_mixed_precision(amp, device, amp_dtype)
        self.max_iterations = max_iterations
        self.output_keys = keys
        self.generator = generator
        self.image_discriminator, self.mask_discriminator = image_discriminator, mask_discriminator
        self.generator_optimizer = generator_optimizer
        self.generator_labeled_optimizer = generator_labeled_optimizer or generator_optimizer
        self.image_discriminator_optimizer = image_discriminator_optimizer
        self.mask_discriminator_optimizer = mask_discriminator_optimizer
        self.ema_generator, self.ema_decay = ema_generator, float(ema_decay)
        self.perceptual_encoder, self.path_length = perceptual_encoder, path_length
        self.seg_loss = seg_loss if seg_loss is not None else USSABRSegLoss(ce_temperature=0.1)
        self.reconstruction_loss = reconstruction_loss if reconstruction_loss is not None else USReconstructionL1Loss()
        self.composite = getattr(self.reconstruction_loss, "mode", "mean") == "hole_weighted"
        self.perceptual_loss, self.style_loss = USPerceptualL1Loss(), USGramStyleLoss()
        self.loss_weights = {**SABR_LOSS_WEIGHTS, **{k: float(v) for k, v in (loss_weights or {}).items()}}
        self.r1_gamma, self.d_reg_every = float(r1_gamma), d_reg_every
        self.unlabeled_grad_clip, self.labeled_grad_clip = unlabeled_grad_clip, labeled_grad_clip
        self.legacy_dseg_logits = bool(legacy_dseg_logits)
        self.image_key, self.mask_key, self.label_key = image_key, mask_key, label_key
        self.optim_set_to_none = optim_set_to_none
        self.labeled_stream = None if labeled_data_loader is None else _EndlessStream(labeled_data_loader, "labelled")
        self._carried: dict[str, torch.Tensor] = {}
        # the latents and the path-length noise come from torch's generator: checkpoint it with the engine's state so
        # that a resumed run draws what the uninterrupted run would have drawn (Ignite saves state_dict_user_keys)
        self.state_dict_user_keys.append("rng_state")
        self.state.rng_state = _rng_state()
        if max_iterations is not None:
            self.add_event_handler(Events.ITERATION_COMPLETED, self._stop_at_max_iterations)

    @staticmethod
    def _entry(key: str) -> Callable[[Any], torch.Tensor]:
        def read(output: Any) -> torch.Tensor:
            out = output[0] if isinstance(output, (list, tuple)) else output  # decollated: one dict per item
            return out[key]
        return read

    def load_state_dict(self, state_dict: Mapping) -> None:
        """Restore the engine's state (iteration, epoch) and the random generator state saved with it."""
        super().load_state_dict(state_dict)
        rng = getattr(self.state, "rng_state", None) or {}
        if "torch" in rng:
            torch.set_rng_state(rng["torch"].cpu())
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in rng["cuda"]])

    def _stop_at_max_iterations(self, engine: Engine) -> None:
        # end the epoch (not the run) so EPOCH_COMPLETED still fires: epoch metrics, final validation and checkpoint
        if engine.state.iteration >= self.max_iterations:  # type: ignore[operator]
            engine.terminate_epoch()
            engine.state.max_epochs = engine.state.epoch

    # ----------------------------------------------------------------------------------------------- helpers
    def _to_device(self, batch: Mapping[str, Any], key: str, what: str) -> torch.Tensor:
        if key not in batch:
            raise KeyError(f"SABRPretrainer: the {what} batch has no {key!r} entry (keys: {sorted(batch)}); add "
                           "USShadowImitationd (mask_key) and the label to the data pipeline.")
        return as_plain_tensor(batch[key]).to(self.state.device, non_blocking=self.non_blocking, **self.to_kwargs)

    def _d_img_input(self, x: torch.Tensor) -> torch.Tensor:
        size = getattr(unwrap_network(self.image_discriminator), "img_size", None)
        if size is None or tuple(x.shape[-2:]) == (size, size):
            return x
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=x.shape[-1] > size)

    def _fake_seg(self, image: torch.Tensor, seg_logits: torch.Tensor) -> torch.Tensor:
        probs = seg_logits if self.legacy_dseg_logits else torch.softmax(seg_logits.float(), dim=1)
        return torch.cat([image.float(), probs.float()], dim=1)

    def _step(self, optimizer: Optimizer, loss: torch.Tensor, clip: float | None = None,
              params: Iterable[torch.Tensor] | None = None, fire: bool = False) -> None:
        amp = self.mixed_precision
        optimizer.zero_grad(set_to_none=self.optim_set_to_none)
        amp.backward(loss)
        if fire:
            self.fire_event(IterationEvents.BACKWARD_COMPLETED)
        if clip is not None:
            if amp.scaler is not None:
                amp.scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(list(params or []), float(clip))
        amp.step(optimizer)
        amp.update()  # one optimiser per scaler update: the generator optimisers step twice in an iteration

    def _carry(self, key: str, value: torch.Tensor | None) -> torch.Tensor:
        if value is not None:
            self._carried[key] = value.detach().float()
        return self._carried.get(key, torch.zeros((), device=self.state.device))

    # ----------------------------------------------------------------------------------------------- the steps
    def _discriminator_steps(self, x_u, m_u, real_seg, r1: bool, out: dict) -> None:
        G, D, S = self.generator, self.image_discriminator, self.mask_discriminator
        _set_requires_grad(D, True)
        _set_requires_grad(S, True)
        with torch.no_grad(), self.mixed_precision.autocast():
            fake, seg, _ = G(x_u, m_u)
            if self.composite:
                fake = composite_inpainting(fake, x_u, m_u)
        with self.mixed_precision.autocast():
            real_logits, fake_logits = D(self._d_img_input(x_u)).float(), D(self._d_img_input(fake)).float()
            loss_d_img = logistic_discriminator_loss(real_logits, fake_logits)
        self._step(self.image_discriminator_optimizer, loss_d_img)
        out.update(loss_d_img=loss_d_img.detach(), d_img_real=real_logits.detach().mean(),
                   d_img_fake=fake_logits.detach().mean())
        out[Keys.PRED] = fake.detach()
        if self.segmentation:
            with self.mixed_precision.autocast():
                loss_d_seg = hinge_discriminator_loss(S(real_seg), S(self._fake_seg(fake, seg)))
            self._step(self.mask_discriminator_optimizer, loss_d_seg.float())
            out["loss_d_seg"] = loss_d_seg.detach().float()
        r1_img = r1_seg = None
        if r1:
            real = self._d_img_input(x_u).detach().float().requires_grad_(True)
            r1_img = r1_penalty(D(real), real, self.r1_gamma, self.d_reg_every)
            self._step(self.image_discriminator_optimizer, r1_img)
            if self.segmentation:
                real = real_seg.detach().requires_grad_(True)
                r1_seg = r1_penalty(S(real), real, self.r1_gamma, self.d_reg_every)
                self._step(self.mask_discriminator_optimizer, r1_seg)
        out["loss_r1_img"] = self._carry("loss_r1_img", r1_img)
        if self.segmentation:
            out["loss_r1_seg"] = self._carry("loss_r1_seg", r1_seg)
        out["r1_applied"] = float(r1)

    def _generator_terms(self, x, m, real_features, y=None) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The unweighted terms a-f (and CE, Dice with a label) of one generator step, and their weighted sum."""
        w, terms = self.loss_weights, {}
        image, seg, _ = self.generator(x, m)
        self.fire_event(IterationEvents.FORWARD_COMPLETED)
        shown = composite_inpainting(image, x, m) if self.composite else image
        terms["adv_img"] = logistic_generator_loss(self.image_discriminator(self._d_img_input(shown)).float())
        total = w["adv_img"] * terms["adv_img"]
        if self.segmentation:
            fake_out = self.mask_discriminator(self._fake_seg(shown.detach(), seg))
            terms["adv_seg"] = hinge_generator_loss(fake_out).float()
            # feature_matching_l1_loss spreads its weight over the scales itself
            terms["fm"] = feature_matching_l1_loss(fake_out, real_features, weight=1.0).float()
            total = total + w["adv_seg"] * terms["adv_seg"] + w["feature_matching"] * terms["fm"]
        terms["rec"] = self.reconstruction_loss(image.float(), x.float(), m).float()
        total = total + w["reconstruction"] * terms["rec"]
        if self.perceptual_encoder is not None:
            with torch.no_grad():
                target = self.perceptual_encoder.feature_taps(x, m)
            feats = self.perceptual_encoder.feature_taps(shown, torch.ones_like(m))
            feats, target = [f.float() for f in feats], [t.float() for t in target]
            terms["perc"] = self.perceptual_loss(feats, target)
            terms["style"] = self.style_loss(feats, target)
            total = total + w["perceptual"] * terms["perc"] + w["style"] * terms["style"]
        if y is not None:
            seg_total = self.seg_loss(seg.float(), y)
            parts = getattr(self.seg_loss, "last_terms", {})
            terms["ce"], terms["dice"] = parts.get("ce", seg_total.detach()), parts.get("dice", seg_total.new_zeros(()))
            total = total + w["segmentation"] * seg_total
        self.fire_event(IterationEvents.LOSS_COMPLETED)
        return terms, total

    def _generator_step(self, x, m, real_features, optimizer, clip, suffix, y=None, path_length=False, out=None):
        with self.mixed_precision.autocast():
            terms, total = self._generator_terms(x, m, real_features, y)
        self._step(optimizer, total, clip, self.generator.parameters(), fire=True)
        names = {"adv_img": "loss_adv_img", "adv_seg": "loss_adv_seg", "fm": "loss_fm", "rec": "loss_rec",
                 "perc": "loss_perc", "style": "loss_style", "ce": "loss_ce", "dice": "loss_dice"}
        for k, v in terms.items():
            out[f"{names[k]}_{suffix}"] = v.detach().float()
        out["loss_g_unlabeled" if suffix == "u" else "loss_g_labeled"] = total.detach().float()
        if self.path_length is not None:
            penalty = None
            if path_length:
                ws = unwrap_network(self.generator).sample_ws(x.shape[0], x.device)
                image = self.generator(x, m, ws=ws)[0]
                penalty = self.path_length(image.float(), ws)
                self._step(optimizer, penalty)
            out[f"loss_path_{suffix}"] = self._carry(f"loss_path_{suffix}", penalty)
            out["path_length"] = self.path_length.mean_path_length.detach().float().clone()

    @torch.no_grad()
    def _update_ema(self) -> None:
        if self.ema_generator is None:
            return
        ema, model = unwrap_network(self.ema_generator), unwrap_network(self.generator)
        for p_ema, p in zip(ema.parameters(), model.parameters()):
            p_ema.lerp_(p.detach().to(p_ema.dtype), 1.0 - self.ema_decay)
        for b_ema, b in zip(ema.buffers(), model.buffers()):
            b_ema.copy_(b)

    def _iteration(self, engine: SABRPretrainer, batchdata: dict[str, Any]) -> dict:
        """One SABR-Net pretraining iteration (see the module docstring).

        Raises:
            ValueError: when `batchdata` is None.
        """
        if batchdata is None:
            raise ValueError("Must provide batch data for current iteration.")
        x_u = engine._to_device(batchdata, engine.image_key, "unlabelled")
        m_u = engine._to_device(batchdata, engine.mask_key, "unlabelled")
        out: dict[str, Any] = {Keys.IMAGE: x_u}
        engine.state.output = out
        real_seg = real_features = x_l = m_l = y_l = None
        for net in (engine.generator, engine.image_discriminator, engine.mask_discriminator):
            if net is not None:
                net.train()
        if engine.segmentation:
            labeled = engine.labeled_stream.next()  # type: ignore[union-attr]
            x_l = engine._to_device(labeled, engine.image_key, "labelled")
            m_l = engine._to_device(labeled, engine.mask_key, "labelled")
            y_l = engine._to_device(labeled, engine.label_key, "labelled")
            num_classes = unwrap_network(engine.generator).out_channels
            real_seg = torch.cat([x_l.float(), label_to_one_hot(y_l, num_classes, "label")], dim=1)
        it = engine.state.iteration
        engine._discriminator_steps(x_u, m_u, real_seg, (it - 1) % engine.d_reg_every == 0, out)
        engine.fire_event(SABRIterationEvents.DISCRIMINATORS_COMPLETED)

        _set_requires_grad(engine.image_discriminator, False)
        _set_requires_grad(engine.mask_discriminator, False)
        if engine.segmentation:
            with torch.no_grad(), engine.mixed_precision.autocast():
                real_features = engine.mask_discriminator(real_seg)
        pl = engine.path_length is not None and (it - 1) % engine.path_length.interval == 0
        engine._generator_step(x_u, m_u, real_features, engine.generator_optimizer, engine.unlabeled_grad_clip, "u",
                               path_length=pl, out=out)
        engine.fire_event(SABRIterationEvents.UNLABELED_GENERATOR_COMPLETED)
        loss = out["loss_g_unlabeled"]
        if engine.segmentation:
            engine._generator_step(x_l, m_l, real_features, engine.generator_labeled_optimizer,
                                   engine.labeled_grad_clip, "l", y=y_l, path_length=pl, out=out)
            loss = loss + out["loss_g_labeled"]
        _set_requires_grad(engine.image_discriminator, True)
        _set_requires_grad(engine.mask_discriminator, True)
        out["path_length_applied"] = float(pl)
        out[Keys.LOSS] = loss
        engine._update_ema()
        engine.state.rng_state = _rng_state()  # what a checkpoint taken after this iteration must restore
        engine.fire_event(IterationEvents.MODEL_COMPLETED)
        return engine.state.output  # decollated on MODEL_COMPLETED
