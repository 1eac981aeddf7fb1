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

"""Stage 1c of MGCC's synthetic-image pipeline: sample, decode and export synthetic unlabelled images
(mgcc.md section 7.4, steps 5-8).

:class:`USLatentImageSampler` is a MONAI ``Evaluator`` whose data are sample indices: each iteration denoises a
batch of latents with DDIM (``eta`` as medfusion, default 1), decodes them with the frozen autoencoder, writes
``syn_XXXX.png`` (8-bit) and measures the distance of every sample to its nearest training image (memorisation
check). :class:`USSyntheticManifestHandler` then writes the manifest JSON and the derived split file
``<split stem>_syn<N>.json`` that adds the images as unlabelled training items.
"""

from __future__ import annotations

import copy
import json
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
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

from monai_ext.data.synthetic import SYNTHETIC_MANIFEST_FORMAT
from monai_ext.generative.weights import file_sha256
from monai_ext.utils.atomic import atomic_output
from monai_ext.utils.flags import parse_flag

if TYPE_CHECKING:
    from ignite.engine import Engine, EventEnum, Events
    from ignite.metrics import Metric
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")
    Events, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Events")
    EventEnum, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "EventEnum")
    Metric, _ = optional_import("ignite.metrics", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Metric")

__all__ = [
    "MANIFEST_FORMAT_VERSION",
    "USLatentImageSampler",
    "USSyntheticManifestHandler",
    "load_reference_images",
    "synthetic_split_path",
    "write_synthetic_split",
]

MANIFEST_FORMAT_VERSION = 1


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
        size: side of the square comparison grid (mgcc.md 7.4 suggests 64).
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


def synthetic_split_path(split_file: str | Path, num: int) -> Path:
    """``<split folder>/<split stem>_syn<num>.json``: the derived split next to the original one."""
    p = Path(split_file)
    return p.with_name(f"{p.stem}_syn{int(num)}.json")


def write_synthetic_split(
    split_file: str | Path,
    images: Sequence[str | Path],
    manifest: str | Path | None = None,
    out_path: str | Path | None = None,
) -> Path:
    """Write a copy of a split file whose training part also lists synthetic images as unlabelled items.

    The original split file is never modified. The new items are ``{"image": <absolute path>, "labeled": false,
    "synthetic": true}`` (absolute paths, so ``monai.data.load_decathlon_datalist(path, True, "training",
    base_dir=<dataset root>)`` still resolves both the real, dataset-relative items and these). Validation and
    test are copied unchanged. A ``"synthetic"`` block records the source split, its SHA-256, the manifest and N.

    Like split files in general, the derived file is written once: an existing file with identical content is
    reused, a different one is an error (delete it, or generate into another folder).

    Args:
        split_file: the original split file (validated with ``monai_ext.data.load_split``).
        images: synthetic image files (must exist).
        manifest: the manifest describing them (recorded, optional).
        out_path: target; default :func:`synthetic_split_path`.

    Returns:
        the path of the derived split file.

    Raises:
        FileNotFoundError: when a listed image does not exist.
        ValueError: when the split already holds synthetic items, or ``images`` is empty.
        FileExistsError: when a different derived split already exists at the target.
    """
    from monai_ext.data.splits import load_split, split_file_sha256

    src = Path(split_file).expanduser().resolve()
    split = load_split(src)
    if any(it.get("synthetic") for it in split["training"]) or "synthetic" in split:
        raise ValueError(f"split file {src} already contains synthetic items: derive from the original split.")
    paths = [Path(p).expanduser().resolve() for p in images]
    if not paths:
        raise ValueError("no synthetic images to add to the split.")
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"synthetic images not found: {missing[:3]}{' ...' if len(missing) > 3 else ''}")
    out = Path(out_path) if out_path is not None else synthetic_split_path(src, len(paths))
    derived = copy.deepcopy(split)
    derived["synthetic"] = {
        "source_split": src.name,
        "source_split_sha256": split_file_sha256(src),
        "manifest": None if manifest is None else str(Path(manifest).expanduser().resolve()),
        "num": len(paths),
    }
    derived["training"] = list(split["training"]) + [
        {"image": str(p), "labeled": False, "synthetic": True} for p in paths
    ]
    text = json.dumps(derived, indent=4) + "\n"
    if out.exists():
        try:
            same = json.loads(out.read_text(encoding="utf-8")) == json.loads(text)
        except (OSError, json.JSONDecodeError):
            same = False
        if not same:
            raise FileExistsError(
                f"derived split {out} exists with other content: split files are written once; delete it or "
                "generate into another output folder."
            )
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    return out


class USSyntheticManifestHandler:
    """
    On COMPLETED of a :class:`USLatentImageSampler`, write the manifest JSON and (optionally) the derived split.

    Manifest keys: ``format``, ``format_version``, ``created``, ``files`` (names relative to the manifest's
    folder; read them with ``monai_ext.data.load_synthetic_items``), ``num_samples``, ``num_files``, ``width``,
    ``height``, ``channels``, ``dtype``, the sampler settings (``sampler``, ``seed``, ``batch_size``, ``latent_shape``,
    ``scale_factor``), ``checkpoints`` (``{name: {"path", "sha256"}}``), ``split_file``, ``split_sha256``,
    ``derived_split_file``, ``memorisation`` (per-image nearest training image and RMSE, summary statistics,
    threshold and the flagged files) and ``versions`` (monai_ext, monai, torch) plus ``params``.

    Args:
        manifest_file: where to write the manifest (the PNGs should be in the same folder or below).
        split_file: the split the models were trained on; with ``write_split`` a derived split is written.
        checkpoints: ``{name: path}`` of the model files used (hashed into the manifest).
        params: extra parameters recorded as is.
        memorisation_threshold: samples whose nearest-training-image RMSE is below it are flagged and left out
            of ``files`` and the derived split (None: keep all).
        write_split: write ``<split stem>_syn<N>.json`` next to ``split_file``.
    """

    def __init__(
        self,
        manifest_file: str | Path,
        split_file: str | Path | None = None,
        checkpoints: Mapping[str, str | Path] | None = None,
        params: Mapping[str, Any] | None = None,
        memorisation_threshold: float | None = None,
        write_split: bool = True,
    ) -> None:
        if memorisation_threshold is not None and memorisation_threshold < 0:
            raise ValueError(f"memorisation_threshold must be >= 0 or None, got {memorisation_threshold}.")
        self.manifest_file = Path(manifest_file)
        self.split_file = None if not split_file else Path(split_file)
        self.checkpoints = dict(checkpoints or {})
        self.params = dict(params or {})
        self.memorisation_threshold = memorisation_threshold
        self.write_split = parse_flag(write_split, "write_split")
        self.logger = logging.getLogger(__name__)
        self.derived_split_file: Path | None = None

    def attach(self, engine: Engine) -> None:
        """Write the outputs when ``engine`` completes."""
        engine.add_event_handler(Events.COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        """Write the manifest (and the derived split) from ``engine.state.synthetic_records``."""
        import monai

        import monai_ext

        records = sorted(getattr(engine.state, "synthetic_records", []), key=lambda r: r["index"])
        if not records:
            raise ValueError("the sampler wrote no image: nothing to put in the manifest.")
        out_dir = Path(getattr(engine, "output_dir", self.manifest_file.parent)).resolve()
        root = self.manifest_file.resolve().parent
        thr = self.memorisation_threshold
        flagged = [r for r in records if thr is not None and r["rmse"] is not None and r["rmse"] < thr]
        kept = [r for r in records if r not in flagged]
        # relative to the manifest when below it, so the folder can be moved as a whole
        paths = [out_dir / r["file"] for r in kept]
        files = [str(f.relative_to(root)) if f.is_relative_to(root) else str(f) for f in paths]
        with Image.open(out_dir / records[0]["file"]) as first:
            width, height, channels = first.width, first.height, len(first.getbands())
        rmses = [r["rmse"] for r in records if r["rmse"] is not None]
        stats = (("min", np.min), ("median", np.median), ("mean", np.mean), ("max", np.max))
        summary = {k: float(f(rmses)) for k, f in stats} if rmses else None
        manifest: dict[str, Any] = {
            "format": SYNTHETIC_MANIFEST_FORMAT,
            "format_version": MANIFEST_FORMAT_VERSION,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "files": files,
            "num_samples": len(records),
            "num_files": len(files),
            "width": width,
            "height": height,
            "channels": channels,
            "dtype": "uint8",
        }
        if hasattr(engine, "provenance"):
            manifest.update(engine.provenance())
        manifest["checkpoints"] = {
            k: {"path": str(Path(v).resolve()), "sha256": file_sha256(v)} for k, v in self.checkpoints.items()
        }
        if self.split_file is not None:
            from monai_ext.data.splits import split_file_sha256

            manifest["split_file"] = str(self.split_file.resolve())
            manifest["split_sha256"] = split_file_sha256(self.split_file)
        manifest["memorisation"] = {
            "reference": "training-split images" if rmses else None,
            "metric": "RMSE of [0, 1] intensities at the reference size to the nearest reference image",
            "threshold": thr,
            "summary": summary,
            "flagged": [r["file"] for r in flagged],
            "per_image": [{"file": r["file"], "nearest": r["nearest"], "rmse": r["rmse"]} for r in records],
        }
        manifest["params"] = self.params
        manifest["versions"] = {
            "monai_ext": monai_ext.__version__,
            "monai": monai.__version__,
            "torch": torch.__version__,
        }
        if self.split_file is not None and self.write_split and kept:
            self.derived_split_file = write_synthetic_split(
                self.split_file, [out_dir / r["file"] for r in kept], manifest=self.manifest_file
            )
            manifest["derived_split_file"] = str(self.derived_split_file)
        with atomic_output(self.manifest_file) as tmp:
            tmp.write_text(json.dumps(manifest, indent=4) + "\n", encoding="utf-8")
        engine.state.synthetic_manifest = str(self.manifest_file)
        self.logger.info(
            f"wrote {len(files)} synthetic images to {out_dir}, manifest {self.manifest_file}"
            + (f", derived split {self.derived_split_file}" if self.derived_split_file else "")
        )
