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

"""Stage 1c of MGCC's synthetic-image pipeline, bookkeeping: the manifest of the sampled images and the derived split
file ``<split stem>_syn<N>.json`` that adds them as unlabelled training items (see the MGCC bundle's
docs/synthetic_images.md).
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from monai.utils import IgniteInfo, min_version, optional_import
from PIL import Image

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

__all__ = ["MANIFEST_FORMAT_VERSION", "USSyntheticManifestHandler", "synthetic_split_path", "write_synthetic_split"]

MANIFEST_FORMAT_VERSION = 1


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
