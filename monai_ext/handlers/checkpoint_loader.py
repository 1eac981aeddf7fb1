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
"""Loading checkpoints with errors that name the file: MONAI's ``CheckpointLoader`` plus a readable mismatch report.

MONAI's ``CheckpointLoader`` fails on a checkpoint that does not fit the network with torch's ``Error(s) in loading
state_dict for USUNet: size mismatch for ...`` (the file is not named), on a missing file with an ``Errno 2`` from
inside ``torch.load``, and on a corrupt file with a zip-reader error. :class:`USCheckpointLoader` behaves exactly like
it when the checkpoint is good and otherwise raises :class:`USCheckpointError`, which names the file and, for a
mismatch, the differing entries with both shapes (:func:`describe_state_dict_mismatch`). The bundles use it wherever
they load weights (evaluation, inference, resuming training).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from monai.handlers import CheckpointLoader
from monai.utils import IgniteInfo, min_version, optional_import

from monai_ext.utils.errors import USInputError

if TYPE_CHECKING:
    from ignite.engine import Engine
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")

__all__ = ["USCheckpointError", "USCheckpointLoader", "describe_state_dict_mismatch"]


class USCheckpointError(USInputError):
    """A checkpoint cannot be loaded; the message names the file and the problem.

    Args:
        path: the checkpoint file.
        problem: what is wrong (and how to fix it). Omitted, ``path`` is the whole message (as torch's DataLoader
            re-creates errors raised in worker processes).
    """

    def __init__(self, path: str | os.PathLike, problem: str | None = None) -> None:
        self.path = str(path) if problem is not None else ""
        self.problem = problem if problem is not None else str(path)
        super().__init__(f"checkpoint {self.path}: {problem}" if problem is not None else str(path))


def _shape(value: Any) -> tuple[int, ...] | None:
    return tuple(value.shape) if isinstance(value, torch.Tensor) else None


def describe_state_dict_mismatch(expected: Mapping[str, Any], found: Mapping[str, Any], limit: int = 4) -> str:
    """What differs between a network's ``state_dict()`` (``expected``) and a checkpoint's (``found``); "" if nothing.

    Lists up to ``limit`` entries of each kind: shape mismatches ``key: checkpoint (16, 1, 3, 3), network (4, 1, 3,
    3)``, keys missing from the checkpoint and keys the network does not have.
    """

    def shown(keys: list[str]) -> str:
        return ", ".join(keys[:limit]) + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")

    shapes = [
        f"{k}: checkpoint {_shape(found[k])}, network {_shape(expected[k])}"
        for k in expected
        if k in found and _shape(found[k]) != _shape(expected[k])
    ]
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    parts = []
    if shapes:
        parts.append(f"{len(shapes)} of {len(expected)} entries have other shapes ({'; '.join(shapes[:limit])}"
                     + (f"; +{len(shapes) - limit} more" if len(shapes) > limit else "") + ")")
    if missing:
        parts.append(f"{len(missing)} network entries are missing from the checkpoint ({shown(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} checkpoint entries are not in the network ({shown(unexpected)})")
    return "; ".join(parts)


class USCheckpointLoader(CheckpointLoader):
    """``monai.handlers.CheckpointLoader`` whose failures are a :class:`USCheckpointError` naming the file.

    Same arguments and behaviour as MONAI's handler (``load_path``, ``load_dict``, ``name``, ``map_location``,
    ``strict``, ``strict_shape``); use it in configs as ``"_target_": "monai_ext.handlers.USCheckpointLoader"``.
    A missing file, a file ``torch.load(weights_only=True)`` refuses or cannot read, and a checkpoint that does not
    fit the objects (the differing network entries and their shapes are listed) all raise before any weight is used.
    """

    def __call__(self, engine: Engine) -> None:
        """Load the checkpoint into ``load_dict`` (see the class docstring)."""
        path = Path(self.load_path)
        if not path.is_file():
            raise USCheckpointError(
                path, "no such file: train the bundle first, or point the checkpoint loader's load_path at a model.pt"
            )
        try:
            super().__call__(engine)
        except Exception as e:
            raise USCheckpointError(path, self._problem(path, e)) from e

    def _problem(self, path: Path, error: Exception) -> str:
        """A one-line account of why loading failed: the state-dict mismatch if there is one, else the error."""
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            return f"cannot be read with torch.load(weights_only=True) ({type(e).__name__}: {str(e).splitlines()[0]})"
        if not isinstance(checkpoint, Mapping):
            return f"holds a {type(checkpoint).__name__}, not a state dict or a dict of state dicts"
        name0 = next(iter(self.load_dict))
        if len(self.load_dict) == 1 and name0 not in checkpoint:
            checkpoint = {name0: checkpoint}
        reports = []
        for name, obj in self.load_dict.items():
            if isinstance(obj, torch.nn.Module) and isinstance(checkpoint.get(name), Mapping):
                module = obj.module if isinstance(obj, torch.nn.parallel.DistributedDataParallel) else obj
                report = describe_state_dict_mismatch(module.state_dict(), checkpoint[name])
                if report:
                    reports.append(f"does not fit the network {type(module).__name__} ('{name}'): {report}")
        if reports:
            return "; ".join(reports) + (
                ". Was it trained with other network settings (features, in_channels, task / number of structures)?"
            )
        return f"cannot be loaded into {sorted(self.load_dict)} ({type(error).__name__}: {first_line})"
