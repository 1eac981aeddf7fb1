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

"""Stage 1c of MGCC's synthetic-image pipeline, sampling: denoise, decode and write synthetic unlabelled images
(see the MGCC bundle's docs/synthetic_images.md).

:class:`USLatentImageSampler` is a MONAI ``Evaluator`` whose data are sample indices: each iteration denoises a
batch of latents with DDIM (``eta`` as medfusion, default 1), decodes them with the frozen autoencoder, writes
``syn_XXXX.png`` (8-bit) and measures the distance of every sample to its nearest training image (memorisation
check). The manifest and derived split are written by :mod:`monai_ext.generative.synthetic_manifest`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from monai.engines.evaluator import Evaluator
from monai.engines.utils import IterationEvents, default_metric_cmp_fn
from monai.inferers import LatentDiffusionInferer
from monai.networks.schedulers import DDIMScheduler
from monai.utils import IgniteInfo, min_version, optional_import
from monai.utils.enums import CommonKeys as Keys
from PIL import Image
from torch.utils.data import DataLoader

from monai_ext.utils.atomic import atomic_output

if TYPE_CHECKING:
    from ignite.engine import Engine, EventEnum, Events
    from ignite.metrics import Metric
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")
    Events, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Events")
    EventEnum, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "EventEnum")
    Metric, _ = optional_import("ignite.metrics", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Metric")

__all__ = ["USLatentImageSampler", "load_reference_images"]


def _seed_int(*words: int) -> int:
    # independent, reproducible streams per (seed, sample index): SeedSequence mixes the words properly
    return int(np.random.SeedSequence([int(w) for w in words]).generate_state(1, dtype=np.uint64)[0] >> 1)


def _to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats to uint8 0..255 (values outside are clipped, as medfusion does before saving)."""
    return ((images.float().clamp(-1.0, 1.0) + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)


def _save_png(arr: np.ndarray, path: Path) -> None:
    # arrays follow MONAI's PILReader layout (C, W, H): transpose so that the file reloads as the same array
    # written whole or not at all: the images become unlabelled training inputs of the next stage
    if arr.shape[0] == 1:
        image = Image.fromarray(np.ascontiguousarray(arr[0].T), mode="L")
    elif arr.shape[0] == 3:
        image = Image.fromarray(np.ascontiguousarray(arr.transpose(2, 1, 0)), mode="RGB")
    else:
        raise ValueError(f"cannot write a {arr.shape[0]}-channel image as PNG: {path}")
    with atomic_output(path) as tmp:
        image.save(tmp, format="PNG")


def load_reference_images(paths: Sequence[str | Path], size: int = 64, channels: int = 1) -> torch.Tensor:
    """Training images as a (N, channels, size, size) float tensor in [0, 1], for the memorisation check.

    Args:
        paths: image files (read with MONAI's ``PILReader``, the reader of the bundles).
        size: side of the square comparison grid (64 as in docs/methods/mgcc.md, "Synthetic images").
        channels: 1 (luminance) or 3.

    Raises:
        ValueError: for an empty list or a bad size.
    """
    from monai.transforms import Compose, LoadImage, Resize, ScaleIntensityRange

    from monai_ext.transforms import USImageChannels

    if not paths:
        raise ValueError("load_reference_images needs at least one image path.")
    if size < 4:
        raise ValueError(f"size must be >= 4, got {size}.")
    load = Compose(
        [
            LoadImage(reader="PILReader", image_only=True, ensure_channel_first=True),
            USImageChannels(channels),
            ScaleIntensityRange(a_min=0, a_max=255, b_min=0.0, b_max=1.0, clip=True),
            Resize((size, size), mode="bilinear", anti_aliasing=True),
        ]
    )
    return torch.stack([torch.as_tensor(load(str(p))).float() for p in paths])


class USLatentImageSampler(Evaluator):
    """
    Generate synthetic images with a trained latent diffusion model and write them as 8-bit PNGs.

    The loader yields batches of sample indices (``{"index": tensor}``, e.g. from
    ``Dataset([{"index": i} for i in range(N)])``). For index ``i`` the initial latent noise is drawn from a
    generator seeded with ``(seed, i)``, so a sample does not depend on the other samples of its batch; with
    ``eta > 0`` the DDIM step noise comes from one generator per batch seeded with ``(seed, first index)``, so a
    run is reproducible for the same seed and batch size.

    Sampling: ``eta == 0`` uses ``LatentDiffusionInferer.sample`` (deterministic DDIM); ``eta > 0`` (medfusion's
    default 1) runs the loop explicitly, because the inferer calls ``scheduler.step`` without ``eta``. The latents
    are divided by the inferer's ``scale_factor`` and decoded, clipped to [-1, 1], resized to ``output_size``
    (bilinear) and quantised to uint8.

    ``engine.state.output``: ``pred`` (decoded images in [-1, 1] at ``output_size``), ``index``, ``nn_rmse``
    (per-sample RMSE in [0, 1] intensity units to the nearest reference image at the reference size; NaN without
    references). ``engine.state.synthetic_records``: one dict per written file (``index``, ``file``, ``nearest``,
    ``rmse``).

    Args:
        device: device to run on.
        val_data_loader: loader of index batches.
        network: the trained diffusion model ``network(x, timesteps=t)``.
        autoencoder: the trained stage-1 model (``decode_stage_2_outputs``).
        inferer: the ``LatentDiffusionInferer`` (its ``scale_factor`` must be the one used in training).
        scheduler: a ``DDIMScheduler`` with the training noise schedule.
        latent_shape: per-sample latent shape ``(C, h, w)``.
        output_dir: folder of the PNG files (created).
        num_inference_steps: DDIM steps (medfusion: 150).
        eta: DDIM stochasticity (medfusion: 1; 0 = deterministic DDIM).
        seed: base seed.
        output_size: spatial size of the written images (tensor layout, as the bundles' ``image_size``); None: the
            decoded size.
        prefix: file name prefix.
        index_width: zero padding of the index (at least; widened for large N).
        reference_images: optional (N_ref, C, s, s) tensor in [0, 1] of training images for the memorisation check.
        reference_ids: names of the reference images (default their positions).
        epoch_length: iterations; default ``len(val_data_loader)``.
        non_blocking: non-blocking host-to-device copies.
        iteration_update: replaces ``_iteration`` if given.
        postprocessing: applied on MODEL_COMPLETED.
        key_val_metric: key metric on the outputs.
        additional_metrics: more metrics, e.g.
            ``ignite.metrics.Average(output_transform=lambda o: o["nn_rmse"][:, None])`` (the outputs are not
            decollated by default, so MONAI's ``from_engine(..., first=True)`` would see one sample only).
        metric_cmp_fn: key metric comparison.
        val_handlers: handlers (e.g. :class:`USSyntheticManifestHandler`).
        amp: mixed precision (CUDA).
        event_names: additional custom events.
        event_to_attr: custom event to state attribute map.
        decollate: decollate outputs before post-processing.
        to_kwargs: extra ``Tensor.to`` arguments.
        amp_kwargs: extra ``torch.autocast`` arguments.

    Raises:
        TypeError: for a scheduler that is not a ``DDIMScheduler`` or an inferer that is not a
            ``LatentDiffusionInferer``.
        ValueError: for bad steps, eta, shapes or reference images.
    """

    def __init__(
        self,
        device: str | torch.device,
        val_data_loader: Iterable | DataLoader,
        network: torch.nn.Module,
        autoencoder: torch.nn.Module,
        inferer: LatentDiffusionInferer,
        scheduler: DDIMScheduler,
        latent_shape: Sequence[int],
        output_dir: str | Path,
        num_inference_steps: int = 150,
        eta: float = 1.0,
        seed: int = 0,
        output_size: Sequence[int] | None = None,
        prefix: str = "syn_",
        index_width: int = 4,
        reference_images: torch.Tensor | None = None,
        reference_ids: Sequence[str] | None = None,
        epoch_length: int | None = None,
        non_blocking: bool = False,
        iteration_update: Callable[[Engine, Any], Any] | None = None,
        postprocessing: Callable | None = None,
        key_val_metric: dict[str, Metric] | None = None,
        additional_metrics: dict[str, Metric] | None = None,
        metric_cmp_fn: Callable = default_metric_cmp_fn,
        val_handlers: Sequence | None = None,
        amp: bool = False,
        event_names: list[str | EventEnum | type[EventEnum]] | None = None,
        event_to_attr: dict | None = None,
        decollate: bool = False,
        to_kwargs: dict | None = None,
        amp_kwargs: dict | None = None,
    ) -> None:
        if not isinstance(scheduler, DDIMScheduler):
            raise TypeError(
                f"scheduler must be a monai.networks.schedulers.DDIMScheduler, got {type(scheduler).__name__}."
            )
        if not isinstance(inferer, LatentDiffusionInferer):
            raise TypeError(f"inferer must be a monai.inferers.LatentDiffusionInferer, got {type(inferer).__name__}.")
        if not 1 <= int(num_inference_steps) <= scheduler.num_train_timesteps:
            raise ValueError(
                f"num_inference_steps must be in [1, {scheduler.num_train_timesteps}], got {num_inference_steps}."
            )
        if not eta >= 0:
            raise ValueError(f"eta must be >= 0, got {eta}.")
        latent_shape = tuple(int(s) for s in latent_shape)
        if len(latent_shape) < 2 or min(latent_shape) < 1:
            raise ValueError(f"latent_shape must be (C, *spatial) with positive sizes, got {latent_shape}.")
        if output_size is not None and (len(output_size) != len(latent_shape) - 1 or min(output_size) < 1):
            raise ValueError(f"output_size must have {len(latent_shape) - 1} positive sizes, got {output_size}.")
        if reference_images is not None:
            if not isinstance(reference_images, torch.Tensor) or reference_images.ndim != len(latent_shape) + 1:
                raise ValueError("reference_images must be a (N, C, *spatial) tensor.")
            if reference_ids is not None and len(reference_ids) != reference_images.shape[0]:
                raise ValueError(
                    f"{len(reference_ids)} reference_ids for {reference_images.shape[0]} reference images."
                )
        super().__init__(
            device=device,
            val_data_loader=val_data_loader,
            epoch_length=epoch_length,
            non_blocking=non_blocking,
            iteration_update=iteration_update,
            postprocessing=postprocessing,
            key_val_metric=key_val_metric,
            additional_metrics=additional_metrics,
            metric_cmp_fn=metric_cmp_fn,
            val_handlers=val_handlers,
            amp=amp,
            event_names=event_names,
            event_to_attr=event_to_attr,
            decollate=decollate,
            to_kwargs=to_kwargs,
            amp_kwargs=amp_kwargs,
        )
        self.network = network
        self.autoencoder = autoencoder
        self.inferer = inferer
        self.scheduler = scheduler
        self.latent_shape = latent_shape
        self.output_dir = Path(output_dir)
        self.num_inference_steps = int(num_inference_steps)
        self.eta = float(eta)
        self.seed = int(seed)
        self.output_size = None if output_size is None else tuple(int(s) for s in output_size)
        self.prefix = prefix
        n = len(getattr(val_data_loader, "dataset", []) or [])
        self.index_width = max(int(index_width), len(str(max(n - 1, 0))))
        self.reference_images = None if reference_images is None else reference_images.float()
        self.reference_ids = None if reference_ids is None else [str(r) for r in reference_ids]
        self.state.synthetic_records = []
        self.add_event_handler(Events.STARTED, self._start)

    def _start(self, engine: USLatentImageSampler) -> None:
        engine.output_dir.mkdir(parents=True, exist_ok=True)
        engine.state.synthetic_records = []
        engine.scheduler.set_timesteps(engine.num_inference_steps)

    def provenance(self) -> dict[str, Any]:
        """Sampler settings recorded in the manifest."""
        sch = self.scheduler
        return {
            "sampler": {
                "name": "DDIM",
                "implementation": "monai.networks.schedulers.DDIMScheduler",
                "num_inference_steps": self.num_inference_steps,
                "eta": self.eta,
                "num_train_timesteps": int(sch.num_train_timesteps),
                "clip_sample": bool(sch.clip_sample),
                "beta_start": float(sch.betas[0]),
                "beta_end": float(sch.betas[-1]),
            },
            "seed": self.seed,
            "batch_size": getattr(self.data_loader, "batch_size", None),
            "latent_shape": list(self.latent_shape),
            "scale_factor": float(self.inferer.scale_factor),
        }

    def _denoise(self, engine: USLatentImageSampler, noise: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if engine.eta == 0:
            return engine.inferer.sample(
                input_noise=noise,
                autoencoder_model=engine.autoencoder,
                diffusion_model=engine.network,
                scheduler=engine.scheduler,
                verbose=False,
            )
        x = noise
        for t in engine.scheduler.timesteps:
            ts = torch.full((x.shape[0],), int(t), device=x.device, dtype=torch.long)
            eps = engine.network(x, timesteps=ts)
            x, _ = engine.scheduler.step(eps, int(t), x, eta=engine.eta, generator=generator)
        return engine.autoencoder.decode_stage_2_outputs(x / engine.inferer.scale_factor)

    def _nearest(self, engine: USLatentImageSampler, images: torch.Tensor) -> tuple[torch.Tensor, list[str | None]]:
        n = images.shape[0]
        if engine.reference_images is None:
            return torch.full((n,), float("nan")), [None] * n
        ref = engine.reference_images
        x = (images.float().clamp(-1, 1) + 1.0) / 2.0
        if x.shape[1] != ref.shape[1]:
            x = x.mean(1, keepdim=True) if ref.shape[1] == 1 else x.expand(-1, ref.shape[1], *x.shape[2:])
        x = F.interpolate(x, size=tuple(ref.shape[2:]), mode="bilinear", align_corners=False, antialias=True)
        d = torch.cdist(x.flatten(1).cpu(), ref.flatten(1).cpu()) / math.sqrt(ref[0].numel())
        rmse, arg = d.min(1)
        ids = engine.reference_ids
        return rmse, [ids[int(a)] if ids is not None else str(int(a)) for a in arg]

    def _iteration(self, engine: USLatentImageSampler, batchdata: Any) -> dict:
        """
        Sample, decode and write one batch (see the class docstring for the output dictionary).

        Raises:
            ValueError: when `batchdata` is None or holds no index.
        """
        if batchdata is None:
            raise ValueError("Must provide batch data for current iteration.")
        idx_t = batchdata["index"] if isinstance(batchdata, Mapping) else batchdata
        indices = [int(i) for i in torch.as_tensor(idx_t).flatten()]
        if not indices:
            raise ValueError("empty index batch.")
        device = engine.state.device
        generators = [torch.Generator().manual_seed(_seed_int(engine.seed, i)) for i in indices]
        noise = torch.stack([torch.randn(engine.latent_shape, generator=g) for g in generators]).to(device)
        generator = torch.Generator(device=device).manual_seed(_seed_int(engine.seed, indices[0], 1))
        engine.state.output = {"index": torch.as_tensor(indices)}
        with engine.mode(engine.network), torch.no_grad():
            engine.autoencoder.eval()
            if engine.amp:
                with torch.autocast("cuda", **engine.amp_kwargs):
                    images = self._denoise(engine, noise, generator)
            else:
                images = self._denoise(engine, noise, generator)
        images = images.float().clamp(-1.0, 1.0)
        if engine.output_size is not None and tuple(images.shape[2:]) != engine.output_size:
            shrink = any(o < s for o, s in zip(engine.output_size, images.shape[2:]))
            images = F.interpolate(
                images, size=engine.output_size, mode="bilinear", align_corners=False, antialias=shrink
            )
        engine.state.output[Keys.PRED] = images
        engine.fire_event(IterationEvents.FORWARD_COMPLETED)
        rmse, nearest = self._nearest(engine, images)
        engine.state.output["nn_rmse"] = rmse
        u8 = _to_uint8(images).cpu().numpy()
        for k, i in enumerate(indices):
            name = f"{engine.prefix}{i:0{engine.index_width}d}.png"
            _save_png(u8[k], engine.output_dir / name)
            dist = None if math.isnan(rmse[k]) else float(rmse[k])
            engine.state.synthetic_records.append({"index": i, "file": name, "nearest": nearest[k], "rmse": dist})
        engine.fire_event(IterationEvents.MODEL_COMPLETED)
        return engine.state.output
