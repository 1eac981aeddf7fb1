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
"""Offline checks of a monai_ext bundle with MONAI's own bundle tools (what model-zoo CI runs, without network).

Offline means no network, not no code: the checks parse ``configs/inference.json`` with MONAI's ``ConfigParser``,
which evaluates its ``$`` expressions with Python's ``eval`` and imports and calls every ``_target_`` it
instantiates. Checking a bundle runs that bundle's code, with the rights of the user: check only bundles you trust.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["SCHEMA_NAME", "find_schema", "check_bundle"]

SCHEMA_NAME = "meta_schema_monai_ext.json"


def find_schema(bundle_dir: str | Path) -> Path:
    """The project's metadata JSON schema (`schemas/` at the repository root, two levels above a bundle)."""
    for parent in Path(bundle_dir).resolve().parents:
        candidate = parent / "schemas" / SCHEMA_NAME
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"cannot find schemas/{SCHEMA_NAME} above {bundle_dir}.")


def check_bundle(
    bundle_dir: str | Path, ckpt_file: str | None = None, export_override: dict | None = None, **net_override: Any
) -> dict[str, str]:
    """
    Run the offline bundle checks: `verify_metadata` against the project's schema, version listed in the
    changelog, required files, `verify_net_in_out` on `network_def` of `inference.json`, and, when a checkpoint
    exists (`models/model.pt` or `ckpt_file`), `ckpt_export` to TorchScript followed by `torch.jit.load`.

    Args:
        bundle_dir: the bundle folder.
        ckpt_file: checkpoint to export (default `models/model.pt` when present).
        export_override: further overrides for the export only (e.g. `{"task": "cardiac"}` for a checkpoint
            trained on another task than the metadata describes).
        net_override: config overrides for the network (e.g. `features=[4, 8, 16, 32, 64]` for a small test net).

    Returns:
        check name -> "ok" or "skipped: ..." (a failing check raises).

    Raises:
        ValueError: a required file is missing or the metadata is inconsistent.
        monai_ext.handlers.USCheckpointError: the checkpoint cannot be read or does not fit ``network_def`` (the
            message names the file and the differing entries).

    Note:
        The checks evaluate ``inference.json`` (its ``$`` expressions and ``_target_`` imports): they run the
        bundle's code.
    """
    import torch
    from monai.bundle import ckpt_export, verify_metadata, verify_net_in_out

    root = Path(bundle_dir).resolve()
    results: dict[str, str] = {}
    required = ["LICENSE", "configs/metadata.json", "configs/train.json", "configs/evaluate.json",
                "configs/inference.json", "configs/multi_gpu_train.json", "configs/quick.json",
                "configs/logging.conf", "docs/README.md"]
    missing = [f for f in required if not (root / f).is_file()]
    if missing:
        raise ValueError(f"bundle {root} lacks {', '.join(missing)}.")
    results["files"] = "ok"
    meta_file = str(root / "configs" / "metadata.json")
    meta = json.loads(Path(meta_file).read_text())
    if meta.get("version") not in meta.get("changelog", {}):
        raise ValueError(f"{meta_file}: version {meta.get('version')!r} is not a key of changelog.")
    verify_metadata(meta_file=meta_file, filepath=str(find_schema(root)))
    results["verify_metadata"] = "ok"
    inference = str(root / "configs" / "inference.json")
    verify_net_in_out(net_id="network_def", meta_file=meta_file, config_file=inference, device="cpu",
                      bundle_root=str(root), **net_override)
    results["verify_net_in_out"] = "ok"
    ckpt = Path(ckpt_file) if ckpt_file else root / "models" / "model.pt"
    if not ckpt.is_file():
        results["ckpt_export"] = "skipped: no checkpoint (train the bundle first)"
        return results
    # MONAI's export fails on a checkpoint of another network with torch's message, without the file: check first
    _check_checkpoint_fits(inference, meta_file, root, ckpt, {**net_override, **(export_override or {})})
    out = ckpt.with_suffix(".ts")
    export_args = {**_trace_args(inference, meta), **(export_override or {})}
    ckpt_export(net_id="network_def", filepath=str(out), ckpt_file=str(ckpt), meta_file=meta_file,
                config_file=inference, bundle_root=str(root), key_in_ckpt="model", **net_override, **export_args)
    torch.jit.load(str(out))
    results["ckpt_export"] = f"ok: {out}"
    return results


def _trace_args(config_file: str, meta: dict[str, Any]) -> dict[str, Any]:
    """``use_trace`` and ``input_shape`` for ``ckpt_export`` when the bundle's inference.json sets
    ``"export_use_trace": true`` (networks TorchScript cannot script, e.g. SABR-Net's model C), the shape being the
    metadata's input: ``[1, num_channels, *spatial_shape]``."""
    config = json.loads(Path(config_file).read_text())
    if config.get("export_use_trace") is not True:
        return {}
    image = meta["network_data_format"]["inputs"]["image"]
    return {"use_trace": True, "input_shape": [1, int(image["num_channels"]), *map(int, image["spatial_shape"])]}


def _check_checkpoint_fits(config_file: str, meta_file: str, root: Path, ckpt: Path, override: dict[str, Any]) -> None:
    """Raise a USCheckpointError naming ``ckpt`` when its ``model`` weights do not fit ``network_def``."""
    from collections.abc import Mapping

    import torch
    from monai.bundle import ConfigParser

    from monai_ext.handlers.checkpoint_loader import USCheckpointError, describe_state_dict_mismatch

    parser = ConfigParser()
    parser.read_config(f=config_file)
    parser.read_meta(f=meta_file)
    parser["bundle_root"] = str(root)
    for key, value in override.items():
        parser[key] = value
    network = parser.get_parsed_content("network_def")
    try:
        checkpoint = torch.load(ckpt, map_location="cpu", weights_only=True)
    except Exception as e:
        first = (str(e).strip().splitlines() or [""])[0]
        problem = f"cannot be read with torch.load(weights_only=True) ({type(e).__name__}: {first})"
        raise USCheckpointError(ckpt, problem) from None
    state = checkpoint.get("model", checkpoint) if isinstance(checkpoint, Mapping) else None
    if not isinstance(state, Mapping):
        raise USCheckpointError(ckpt, f"holds a {type(checkpoint).__name__}, not a state dict")
    report = describe_state_dict_mismatch(network.state_dict(), state)
    if report:
        raise USCheckpointError(
            ckpt,
            f"does not fit network_def ({type(network).__name__}) of {config_file}: {report}. Was it trained with "
            "other network settings (features, in_channels, task / number of structures)?",
        )
