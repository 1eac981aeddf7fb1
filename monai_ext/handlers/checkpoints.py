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
"""Resumable training checkpoints: everything needed to continue an interrupted run at the same iteration."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from monai.handlers import CheckpointSaver
from monai.utils import IgniteInfo, min_version, optional_import

from monai_ext.utils.flags import parse_flag

from .checkpoint_loader import USCheckpointLoader

if TYPE_CHECKING:
    from ignite.engine import Engine
    from ignite.handlers import DiskSaver
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")
    DiskSaver, _ = optional_import("ignite.handlers", IgniteInfo.OPT_IMPORT_VERSION, min_version, "DiskSaver")

__all__ = ["ResumableCheckpointHandler", "USAtomicCheckpointSaver", "latest_checkpoint"]

_NUMBER = re.compile(r"=(\d+)\.pt$")


def latest_checkpoint(directory: str | Path, prefix: str = "checkpoint") -> str | None:
    """
    The newest `<prefix>_*.pt` in `directory` by the iteration/epoch number in its name
    (`..._iteration=12.pt`, `..._epoch=3.pt`); None if there is none.

    Args:
        directory: folder written by a `CheckpointSaver`.
        prefix: the saver's `file_prefix`.
    """
    folder = Path(directory)
    if not folder.is_dir():
        return None
    best: tuple[int, float, str] | None = None
    for f in folder.glob(f"{prefix}_*.pt"):
        m = _NUMBER.search(f.name)
        key = (int(m.group(1)) if m else -1, f.stat().st_mtime, str(f))
        if best is None or key > best:
            best = key
    return None if best is None else best[2]


class _AtomicDiskSaver(DiskSaver):
    """Ignite's ``DiskSaver`` with ``atomic=True`` (a temporary file in the same folder, then ``os.replace``) and
    MONAI's optional fixed file name."""

    def __init__(self, dirname: str, filename: str | None = None) -> None:
        super().__init__(dirname=dirname, require_empty=False, atomic=True)
        self.filename = filename

    def __call__(self, checkpoint: Mapping, filename: str, metadata: Mapping | None = None) -> None:
        super().__call__(checkpoint, self.filename or filename, metadata)

    def remove(self, filename: str) -> None:
        super().remove(self.filename or filename)


class USAtomicCheckpointSaver(CheckpointSaver):
    """MONAI's ``CheckpointSaver`` whose files are written atomically: a run killed while it saves leaves the previous
    checkpoint (or none), never a truncated one that makes ``--resume true`` or inference fail with an EOFError.

    MONAI 1.6 writes in place (``atomic=False``, to keep group/others read permission; Ignite's atomic writer adds
    those permissions after the rename, so nothing is lost). The arguments are ``CheckpointSaver``'s.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # MONAI keeps its three ignite Checkpoints in these attributes; the test of this class fails if that changes
        for attr, filename in (("_final_checkpoint", self._final_filename), ("_key_metric_checkpoint", None),
                               ("_interval_checkpoint", None)):
            checkpoint = getattr(self, attr, None)
            if checkpoint is not None:
                fixed = getattr(checkpoint.save_handler, "filename", None) if filename is None else filename
                checkpoint.save_handler = _AtomicDiskSaver(self.save_dir, fixed)


class ResumableCheckpointHandler:
    """
    Save the training state every `save_interval` iterations (and at the end, or when an exception ends the run),
    and, with `resume=True`, restore the newest such checkpoint when the run starts.

    The state is `objects` (network, optimizer, scheduler, ...) plus the trainer engine itself, added at attach time
    under `"trainer"` (a bundle config cannot name the trainer inside the trainer's own handler list without a
    circular reference), plus, under `"method"`, the engine's method object when it has a state of its own (e.g. the
    Mean Teacher's EMA teacher; see :mod:`monai_ext.engines.methods`). Restoring the engine restores its iteration and epoch, so iteration-driven
    handlers (consistency ramp-up, poly learning rate, EMA warm-up) continue exactly where they stopped.

    Args:
        save_dir: folder of the checkpoints (`checkpoint_checkpoint_iteration=N.pt`).
        objects: objects with `state_dict`/`load_state_dict` to save and restore.
        save_interval: iterations between checkpoints.
        n_saved: how many interval checkpoints to keep.
        resume: restore the newest checkpoint in `save_dir` at start (a fresh start, with a warning, if none); a bool
            or "true"/"false" (also yes/no, 1/0), anything else is refused.
        map_location: `torch.load` map location when resuming.
    """

    def __init__(
        self,
        save_dir: str,
        objects: Mapping[str, Any],
        save_interval: int,
        n_saved: int = 1,
        resume: bool = False,
        map_location: str | torch.device | None = None,
    ) -> None:
        if save_interval < 1:
            raise ValueError(f"save_interval must be a positive number of iterations, got {save_interval}.")
        if "trainer" in objects:
            raise ValueError("objects must not contain 'trainer': the engine is added when the handler is attached.")
        self.save_dir = str(save_dir)
        self.objects = dict(objects)
        self.save_interval = int(save_interval)
        self.n_saved = int(n_saved)
        self.resume = parse_flag(resume, "resume")  # "--resume false" from the bundle CLI is the string 'false'
        self.map_location = map_location
        self.logger = logging.getLogger(__name__)
        self.resumed_from: str | None = None

    def attach(self, engine: Engine) -> None:
        """Attach the loader (when resuming) and the saver to `engine`."""
        objects = dict(self.objects, trainer=engine)
        method = getattr(engine, "method", None)
        if callable(getattr(method, "state_dict", None)) and callable(getattr(method, "load_state_dict", None)):
            objects.setdefault("method", method)
        if self.resume:
            path = latest_checkpoint(self.save_dir)
            if path is None:
                self.logger.warning(f"resume requested but no checkpoint in {self.save_dir}: starting from scratch.")
            else:
                self.resumed_from = path
                USCheckpointLoader(load_path=path, load_dict=objects, map_location=self.map_location).attach(engine)
        USAtomicCheckpointSaver(
            save_dir=self.save_dir,
            save_dict=objects,
            file_prefix="checkpoint",
            save_interval=self.save_interval,
            epoch_level=False,
            n_saved=self.n_saved,
            save_final=True,
            final_filename="checkpoint_final.pt",
        ).attach(engine)
