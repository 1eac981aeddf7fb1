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
"""The one semi-supervised training engine of monai_ext (modelled on MONAI's `SupervisedTrainer`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import torch
from monai.engines.utils import IterationEvents, default_metric_cmp_fn, default_prepare_batch
from monai.inferers import Inferer, SimpleInferer
from monai.transforms import Transform
from monai.utils import IgniteInfo, min_version, optional_import
from monai.utils.enums import CommonKeys as Keys
from torch.optim.optimizer import Optimizer
from torch.utils.data import DataLoader

from monai_ext.engines.methods import SSLMethod, USIterationContext
from monai_ext.engines.mixed_precision import USMixedPrecisionTrainer
from monai_ext.engines.plain_tensors import as_plain_tensor

if TYPE_CHECKING:
    from ignite.engine import Engine, EventEnum, Events
    from ignite.metrics import Metric
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")
    Events, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Events")
    EventEnum, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "EventEnum")
    Metric, _ = optional_import("ignite.metrics", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Metric")

__all__ = ["SemiSupervisedTrainer", "unlabeled_prepare_batch"]


def unlabeled_prepare_batch(
    batchdata: dict[str, torch.Tensor] | torch.Tensor, device: str | torch.device | None = None,
    non_blocking: bool = False, **kwargs: Any
) -> torch.Tensor:
    """Return only the image of an unlabelled batch, moved to `device`."""
    return default_prepare_batch(batchdata, device, non_blocking, **kwargs)[0]


class SemiSupervisedTrainer(USMixedPrecisionTrainer):
    """
    Semi-supervised training: each iteration draws a labelled batch and an unlabelled batch and delegates the
    forward pass(es) and the loss to a method object (supervised only, Mean Teacher, cross-consistency, ...).

    The labelled loader drives the epochs (an epoch is one pass over the labelled data, as with the two-stream
    sampler of SSL4MIS/MGCC/MSMO); the unlabelled loader is an independent stream that is cycled endlessly and
    reshuffled on each pass (with `DistributedSampler.set_epoch` under DDP). The run length is counted in
    iterations (`max_iterations`); epochs only pace validation.

    Each iteration calls ``method(network, x_l, y_l, x_u, weight, context=USIterationContext(...))`` (the contract
    is in :mod:`monai_ext.engines.methods`) and writes into `engine.state.output`: `image`, `label` and `pred` of the
    labelled slice (so post-processing and the train key metric see labelled data only), `loss` (total), every other
    entry of the method's loss dictionary, detached (`loss_sup` and `loss_cons` default to the total and 0), and
    `cons_weight`; it fires MONAI's `IterationEvents` FORWARD_COMPLETED, LOSS_COMPLETED, BACKWARD_COMPLETED and
    MODEL_COMPLETED (last). A method's `attach(engine)` is called once, before `train_handlers` are attached.

    Args:
        device: device to run on.
        max_epochs: number of epochs; if None, `ceil(max_iterations / epoch_length)`.
        train_data_loader: the **labelled** data loader (use `drop_last=True`).
        unlabeled_data_loader: the unlabelled data loader (items need only an image), or None for
            labelled-only training.
        network: the network to train.
        optimizer: its optimizer.
        method: the method object computing the losses (see :mod:`monai_ext.engines.methods`).
        max_iterations: hard stop after this many iterations (SSL4MIS-style length); None: run `max_epochs`.
        epoch_length: iterations per epoch; default `len(train_data_loader)`.
        non_blocking: non-blocking host-to-device copies.
        prepare_batch: labelled batch to `(image, label)`.
        unlabeled_prepare_batch: unlabelled batch to the image tensor.
        iteration_update: replaces `_iteration` if given.
        inferer: how the method runs the trained network (``context.inferer``; default ``SimpleInferer``).
        postprocessing: applied on MODEL_COMPLETED to the labelled predictions.
        key_train_metric: the key metric on training data.
        additional_metrics: more metrics on training data.
        metric_cmp_fn: key metric comparison.
        train_handlers: handlers to attach.
        amp: mixed precision: the forward pass and the loss run under ``torch.autocast`` on the engine's device (CPU or
            CUDA) with `amp_dtype` (see :class:`~monai_ext.engines.mixed_precision.USMixedPrecision`); a bool or a
            config string ("true"/"false").
        event_names: additional custom events.
        event_to_attr: custom event to state attribute map.
        decollate: decollate outputs before post-processing.
        optim_set_to_none: `zero_grad(set_to_none=...)`; True saves memory and time.
        to_kwargs: extra `Tensor.to` arguments.
        amp_kwargs: kept for MONAI compatibility; only its ``dtype`` entry is read (the default of `amp_dtype`).
        consistency_weight: initial consistency weight (a ramp-up handler updates it every iteration).
        amp_dtype: "bfloat16" (default; CPU and CUDA, no gradient scaler) or "float16" (CUDA only, with a scaler).

    Raises:
        ValueError: when the labelled loader yields no batch (fewer items than the batch size), or when neither
            `max_epochs` nor `max_iterations` is given.
    """

    def __init__(
        self,
        device: str | torch.device,
        max_epochs: int | None,
        train_data_loader: Iterable | DataLoader,
        unlabeled_data_loader: Iterable | DataLoader | None,
        network: torch.nn.Module,
        optimizer: Optimizer,
        method: SSLMethod,
        max_iterations: int | None = None,
        epoch_length: int | None = None,
        non_blocking: bool = False,
        prepare_batch: Callable = default_prepare_batch,
        unlabeled_prepare_batch: Callable = unlabeled_prepare_batch,
        iteration_update: Callable[[Engine, Any], Any] | None = None,
        inferer: Inferer | None = None,
        postprocessing: Transform | None = None,
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
        consistency_weight: float = 0.0,
        amp_dtype: str | torch.dtype | None = None,
    ) -> None:
        if epoch_length is None:
            try:
                epoch_length = len(train_data_loader)  # type: ignore[arg-type]
            except TypeError:
                epoch_length = None
        if epoch_length == 0:
            n = len(getattr(train_data_loader, "dataset", []) or [])
            bs = getattr(train_data_loader, "batch_size", None)
            raise ValueError(
                f"the labelled data loader yields no batch: {n} labelled items for a batch size of {bs} with "
                "drop_last; give more labelled data or a smaller labelled batch size."
            )
        if max_iterations is not None and max_iterations < 1:
            raise ValueError(f"max_iterations must be a positive integer, got {max_iterations}.")
        if max_epochs is None:
            if max_iterations is None or epoch_length is None:
                raise ValueError("give max_epochs, or max_iterations with a labelled loader of known length.")
            max_epochs = math.ceil(max_iterations / epoch_length)
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
            handlers=None,  # registered below, after the method's own handlers (see `method.attach`)
            amp=False,  # MONAI's own AMP is CUDA float16 only; USMixedPrecision below covers CPU and bfloat16
            event_names=event_names,
            event_to_attr=event_to_attr,
            decollate=decollate,
            to_kwargs=to_kwargs,
            amp_kwargs=amp_kwargs,
        )
        self.init_mixed_precision(amp, device, amp_dtype, amp_kwargs)
        self.network = network
        self.optimizer = optimizer
        self.method = method
        self.inferer = SimpleInferer() if inferer is None else inferer
        self.optim_set_to_none = optim_set_to_none
        self.unlabeled_data_loader = unlabeled_data_loader
        self.unlabeled_prepare_batch = unlabeled_prepare_batch
        self.consistency_weight = float(consistency_weight)
        self.max_iterations = max_iterations
        self.state.consistency_weight = self.consistency_weight
        self._unlabeled_iter: Iterator | None = None
        self._unlabeled_pass = 0
        attach = getattr(method, "attach", None)
        if callable(attach):
            attach(self)
        if train_handlers is not None:
            self._register_handlers(train_handlers)
        if max_iterations is not None:
            self.add_event_handler(Events.ITERATION_COMPLETED, self._stop_at_max_iterations)

    def _stop_at_max_iterations(self, engine: Engine) -> None:
        # max_epochs = ceil(max_iterations / epoch_length), so the limit falls inside the last epoch: ending that
        # epoch (rather than the run) still fires EPOCH_COMPLETED, so the final validation and checkpoint happen.
        if engine.state.iteration >= self.max_iterations:  # type: ignore[operator]
            engine.terminate_epoch()
            engine.state.max_epochs = engine.state.epoch

    def _next_unlabeled_batch(self) -> Any:
        """The next unlabelled batch; a new, reshuffled pass starts whenever the previous one is exhausted."""
        loader = self.unlabeled_data_loader
        for _ in range(2):
            if self._unlabeled_iter is None:
                sampler = getattr(loader, "sampler", None)
                if hasattr(sampler, "set_epoch"):
                    sampler.set_epoch(self._unlabeled_pass)  # type: ignore[union-attr]
                self._unlabeled_pass += 1
                self._unlabeled_iter = iter(loader)  # type: ignore[arg-type]
            try:
                return next(self._unlabeled_iter)
            except StopIteration:
                self._unlabeled_iter = None
        raise ValueError("the unlabelled data loader yields no batch: the unlabelled set is empty or smaller than "
                         "its batch size with drop_last.")

    def _iteration(self, engine: SemiSupervisedTrainer, batchdata: dict[str, torch.Tensor]) -> dict:
        """
        One semi-supervised iteration (see the class docstring for the output dictionary).

        Raises:
            ValueError: when `batchdata` is None.
        """
        if batchdata is None:
            raise ValueError("Must provide batch data for current iteration.")
        inputs, targets = engine.prepare_batch(batchdata, engine.state.device, engine.non_blocking, **engine.to_kwargs)[:2]
        unlabeled = unlabeled_batch = None
        if engine.unlabeled_data_loader is not None:
            unlabeled_batch = engine._next_unlabeled_batch()
            unlabeled = engine.unlabeled_prepare_batch(
                unlabeled_batch, engine.state.device, engine.non_blocking, **engine.to_kwargs
            )
        weight = float(engine.consistency_weight)
        engine.state.output = {Keys.IMAGE: inputs, Keys.LABEL: targets}

        context = USIterationContext(
            iteration=engine.state.iteration,
            max_iterations=engine.max_iterations,
            epoch=engine.state.epoch,
            epoch_length=engine.state.epoch_length,
            consistency_weight=weight,
            labeled_batch=batchdata,
            unlabeled_batch=unlabeled_batch,
            inferer=engine.inferer,
        )

        def _compute_pred_loss() -> None:
            pred, losses = engine.method(
                engine.network, as_plain_tensor(inputs), as_plain_tensor(targets), as_plain_tensor(unlabeled), weight, context=context
            )
            if "loss" not in losses:
                raise KeyError(f"the method {type(engine.method).__name__} returned no 'loss' (got {sorted(losses)}).")
            output = engine.state.output
            output[Keys.PRED] = pred
            engine.fire_event(IterationEvents.FORWARD_COMPLETED)
            output[Keys.LOSS] = losses["loss"]
            for key, value in losses.items():  # every entry can be logged; only `loss` keeps its graph
                if key != "loss":
                    output[key] = value.detach() if isinstance(value, torch.Tensor) else value
            output.setdefault("loss_sup", losses["loss"].detach())
            output.setdefault("loss_cons", losses["loss"].new_zeros(()).detach())
            output["cons_weight"] = weight
            engine.fire_event(IterationEvents.LOSS_COMPLETED)

        engine.network.train()
        engine.optimizer.zero_grad(set_to_none=engine.optim_set_to_none)
        amp = engine.mixed_precision
        with amp.autocast():
            _compute_pred_loss()
        amp.backward(engine.state.output[Keys.LOSS])
        engine.fire_event(IterationEvents.BACKWARD_COMPLETED)
        amp.step(engine.optimizer)
        amp.update()
        engine.state.output[Keys.PRED] = engine.state.output[Keys.PRED].detach()
        engine.fire_event(IterationEvents.MODEL_COMPLETED)
        return engine.state.output
